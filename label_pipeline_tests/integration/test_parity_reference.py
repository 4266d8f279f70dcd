"""Parity with the reference label builder, run on the same run directory, per asset and symbol.

Each case writes a run, runs the reference's five functions on it, materializes every partition
through Dagster, and compares what the label store holds with the reference's output filtered to
the symbol. Skips when ../shared/reference is absent; the golden fixtures cover that case.
"""

from __future__ import annotations

import pandas as pd
import pytest

from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline_tests.harness.golden_cases import MESSY  # the golden fixtures' messiness
from label_pipeline_tests.harness.parity import (
    LABEL_ASSETS,
    assert_frames_match,
    for_symbol,
    run_pipeline,
    run_reference,
    write_json,
)
from label_pipeline_tests.harness.reference import reference_available

pytestmark = pytest.mark.skipif(not reference_available(), reason="../shared/reference is not present")


H1 = {
    "direction": {"horizon_minutes": 1},
    "entry": {"max_hold_minutes": 1},
    "continue": {"horizon_minutes": 1},
}
H2 = {
    "direction": {"horizon_minutes": 2},
    "entry": {"max_hold_minutes": 2},
    "continue": {"horizon_minutes": 2},
}
TARGET_EQ_STOP = {"entry": {"target_bps": 6, "stop_bps": 6}}
PARTIAL = {"entry": {"target_bps": 3}, "exit": {"adverse_move_bps": 3.0}, "risk": {"spike_bps": 5.0}}

CASES = {
    "clean": dict(messiness=CLEAN),
    "messy": dict(messiness=MESSY),
    "horizon_1": dict(messiness=MESSY, label=H1),
    "horizon_2": dict(messiness=MESSY, label=H2),
    "target_equals_stop": dict(messiness=CLEAN, label=TARGET_EQ_STOP),
    "partial_override": dict(messiness=MESSY, label=PARTIAL, cost={"fee_bps": 1}, plan="plan-B"),
    "no_ret_15m": dict(messiness=CLEAN, drop_ret_15m=True),
}


def _check_case(spec: dict, tmp_path, with_short_symbol: bool) -> None:
    feature, replay = make_run_frames(["AAA", "BTC/USDT", "CCC"], 400, seed=11, messiness=spec["messiness"])
    if with_short_symbol:
        # shorter than every horizon: empty labels for it, rows for the others
        short_f, short_r = make_run_frames(["TINY"], 20, seed=3, messiness=spec["messiness"])
        feature = pd.concat([feature, short_f], ignore_index=True)
        replay = pd.concat([replay, short_r], ignore_index=True)
    if spec.get("drop_ret_15m"):
        feature = feature.drop(columns=["ret_15m_bps"])
    runs = tmp_path / "runs"
    write_run(runs, "run-1", feature, replay)
    label_cfg = write_json(tmp_path / "label.json", spec.get("label"))
    cost_cfg = write_json(tmp_path / "cost.json", spec.get("cost"))
    plan_id = spec.get("plan", "default")

    symbols, ours, ours_plan = run_pipeline(runs, tmp_path / "store", "run-1", label_cfg, cost_cfg, plan_id)
    expected = run_reference(runs, "run-1", label_cfg, cost_cfg, plan_id)

    assert symbols == ["AAA", "BTC/USDT", "CCC"] + (["TINY"] if with_short_symbol else [])
    assert_frames_match(ours_plan["price_plan_context"], expected["price_plan_context"], "price_plan_context")
    for symbol in symbols:
        for name in LABEL_ASSETS:
            assert_frames_match(
                ours[symbol][name],
                for_symbol(expected[name], symbol),
                f"{name}[{symbol}]",
                flag_drift=with_short_symbol,
            )
    for name in LABEL_ASSETS:
        assert sum(len(ours[s][name]) for s in symbols) == len(expected[name]), name
    assert len(ours["AAA"]["entry_labels"]) > 0
    if with_short_symbol and not spec.get("label"):
        # 20 bars against the default horizons (45, 30): nothing has a full window
        assert all(len(ours["TINY"][name]) == 0 for name in LABEL_ASSETS)


@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_reference(case: str, tmp_path) -> None:
    _check_case(CASES[case], tmp_path, with_short_symbol=False)


@pytest.mark.parametrize("case", ["clean", "horizon_2"])
def test_parity_with_a_symbol_shorter_than_the_horizon(case: str, tmp_path) -> None:
    _check_case(CASES[case], tmp_path, with_short_symbol=True)
