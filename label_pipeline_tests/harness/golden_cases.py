"""The golden fixture cases: small messy runs and the reference's outputs on them, committed under
``label_pipeline_tests/golden/<case>/`` so parity is tested even where the reference is absent.

Regenerate (needs ../shared/reference) with ``python -m label_pipeline_tests.harness.golden_cases``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from label_pipeline.demo.sample_data import Messiness, make_run_frames, write_run

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
RUN_ID = "golden-run"

MESSY = Messiness(
    gap_fraction=0.02,
    nan_close_fraction=0.01,
    nan_spread_fraction=0.03,
    nan_high_low_fraction=0.01,
    shuffle=True,
    naive_event_time=True,
    feature_fraction=0.9,
)

CASES: dict[str, dict] = {
    "messy_defaults": {"symbols": ["BTC/USDT", "ETH-PERP"], "bars": 240, "seed": 5, "label": None, "cost": None, "plan": "default"},
    "messy_overrides": {
        "symbols": ["BTC/USDT", "XRP"],
        "bars": 240,
        "seed": 9,
        "label": {"direction": {"horizon_minutes": 2}, "entry": {"max_hold_minutes": 3, "target_bps": 4}, "continue": {"horizon_minutes": 2}},
        "cost": {"fee_bps": 1.5},
        "plan": "plan-golden",
    },
}


def case_inputs(case: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = CASES[case]
    return make_run_frames(spec["symbols"], spec["bars"], seed=spec["seed"], messiness=MESSY)


def regenerate() -> None:
    from label_pipeline_tests.harness.parity import run_reference, write_json

    for case, spec in CASES.items():
        case_dir = GOLDEN_DIR / case
        shutil.rmtree(case_dir, ignore_errors=True)
        runs = case_dir / "runs"
        feature, replay = case_inputs(case)
        write_run(runs, RUN_ID, feature, replay)
        label_cfg = write_json(case_dir / "label_override.json", spec["label"])
        cost_cfg = write_json(case_dir / "cost_override.json", spec["cost"])
        outputs = run_reference(runs, RUN_ID, label_cfg, cost_cfg, spec["plan"])
        shutil.rmtree(runs / RUN_ID / "label")
        expected = case_dir / "expected"
        expected.mkdir()
        for name, frame in outputs.items():
            frame.to_parquet(expected / f"{name}.parquet", index=False)
        (case_dir / "case.json").write_text(json.dumps(spec, indent=2) + "\n")
        print(f"wrote {case_dir}")


if __name__ == "__main__":
    regenerate()
