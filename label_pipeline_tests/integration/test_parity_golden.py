"""Parity against committed golden outputs of the reference: runs without ../shared/reference."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from label_pipeline_tests.harness.golden_cases import CASES, GOLDEN_DIR, RUN_ID
from label_pipeline_tests.harness.parity import LABEL_ASSETS, assert_frames_match, for_symbol, run_pipeline


@pytest.mark.parametrize("case", list(CASES))
def test_pipeline_matches_golden_reference_outputs(case: str, tmp_path) -> None:
    case_dir = GOLDEN_DIR / case
    runs = tmp_path / "runs"
    shutil.copytree(case_dir / "runs", runs)
    label_cfg = case_dir / "label_override.json"
    cost_cfg = case_dir / "cost_override.json"
    spec = CASES[case]
    symbols, ours, ours_plan = run_pipeline(
        runs,
        tmp_path / "store",
        RUN_ID,
        str(label_cfg) if label_cfg.exists() else None,
        str(cost_cfg) if cost_cfg.exists() else None,
        spec["plan"],
    )
    assert symbols == sorted(spec["symbols"])
    expected = {name: pd.read_parquet(case_dir / "expected" / f"{name}.parquet") for name in ["price_plan_context", *LABEL_ASSETS]}
    assert_frames_match(ours_plan["price_plan_context"], expected["price_plan_context"], "price_plan_context")
    for symbol in symbols:
        for name in LABEL_ASSETS:
            assert_frames_match(ours[symbol][name], for_symbol(expected[name], symbol), f"{case}:{name}[{symbol}]")
        assert len(ours[symbol]["entry_labels"]) > 0


def test_golden_inputs_are_what_the_generator_makes() -> None:
    """The committed inputs still come from the sample generator, so the cases stay reproducible."""
    from label_pipeline_tests.harness.golden_cases import case_inputs

    for case in CASES:
        feature, replay = case_inputs(case)
        stored = pd.read_parquet(GOLDEN_DIR / case / "runs" / RUN_ID / "replay" / "replay_1m.parquet")
        pd.testing.assert_frame_equal(stored, replay.reset_index(drop=True))
        stored_f = pd.read_parquet(GOLDEN_DIR / case / "runs" / RUN_ID / "feature" / "feature_frame.parquet")
        pd.testing.assert_frame_equal(stored_f, feature.reset_index(drop=True))
