"""Bad input at the foundation: the materialization fails with a message naming the run, symbol,
file and columns, and nothing is written for that partition."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
from dagster import instance_for_test

from label_pipeline.definitions import build_definitions
from label_pipeline.partitions import register_partitions
from label_pipeline.sample_data import CLEAN, make_run_frames, write_run


def _materialize(tmp_path, run_id: str, symbol: str):
    local = build_definitions(str(tmp_path / "runs"), str(tmp_path / "store"))
    with instance_for_test() as instance:
        [key] = register_partitions(instance, run_id, [symbol])
        return local.resolve_job_def("label_job").execute_in_process(partition_key=key, instance=instance, raise_on_error=False)


def _error_text(result) -> str:
    """Every step failure's message and causes, as the UI shows them."""
    parts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error is not None:
                parts.append(error.message)
                error = error.cause
    return "\n".join(parts)


def _write(tmp_path, feature: pd.DataFrame | None = None, replay: pd.DataFrame | None = None) -> None:
    f, r = make_run_frames(["AAA", "BBB"], 120, messiness=CLEAN)
    write_run(tmp_path / "runs", "r1", f if feature is None else feature, r if replay is None else replay)


def _nothing_written(tmp_path) -> bool:
    return not (tmp_path / "store").exists() or not any(p.is_file() for p in (tmp_path / "store").rglob("*.parquet"))


def test_missing_run_directory(tmp_path) -> None:
    result = _materialize(tmp_path, "nope", "AAA")
    assert not result.success
    assert "run 'nope'" in _error_text(result) and "does not exist" in _error_text(result)
    assert _nothing_written(tmp_path)


def test_missing_input_file(tmp_path) -> None:
    _write(tmp_path)
    shutil.rmtree(tmp_path / "runs" / "r1" / "replay")
    result = _materialize(tmp_path, "r1", "AAA")
    assert not result.success
    text = _error_text(result)
    assert "replay_1m.parquet does not exist" in text
    assert not (tmp_path / "store" / "replay_1m").exists()
    assert not any((tmp_path / "store").rglob("*labels*/**/*.parquet"))


@pytest.mark.parametrize("column, which", [("spread_rank_24h_pct", "feature"), ("high", "replay")])
def test_missing_required_column(tmp_path, column: str, which: str) -> None:
    f, r = make_run_frames(["AAA"], 120, messiness=CLEAN)
    if which == "feature":
        f = f.drop(columns=[column])
    else:
        r = r.drop(columns=[column])
    write_run(tmp_path / "runs", "r1", f, r)
    result = _materialize(tmp_path, "r1", "AAA")
    assert not result.success
    text = _error_text(result)
    assert f"missing required columns ['{column}']" in text and "run 'r1'" in text and "'AAA'" in text
    assert not any((tmp_path / "store").rglob("*labels/**/*.parquet"))


def test_symbol_without_rows(tmp_path) -> None:
    _write(tmp_path)
    result = _materialize(tmp_path, "r1", "ZZZ")
    assert not result.success
    text = _error_text(result)
    assert "symbol 'ZZZ' has no rows" in text and "['AAA', 'BBB']" in text
    assert _nothing_written(tmp_path)
