"""The label checks: every rule passes on real label frames and fails on a deliberately corrupted
one; through Dagster, a corrupted entry frame fails its blocking check, recorded against its
partition, and position samples are not built from it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetCheckKey, AssetKey

import label_pipeline.labels.entry as entry_module
from label_pipeline.assets.labels import CONTRACT_CHECK
from label_pipeline.automation.work import WorkFinder
from label_pipeline.config import DEFAULT_LABEL_CONFIG, LABEL_VERSION, load_effective_config
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.label_contract import COLUMNS, CheckOutcome, check_label_frame, check_names
from label_pipeline.partitions import partition_key
from label_pipeline.storage import read_parquet, storage_path
from label_pipeline_tests.harness.common import QUIET, kept_instance

RUN, SYMBOL = "r1", "AAA"
H = int(DEFAULT_LABEL_CONFIG["entry"]["max_hold_minutes"])


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Iterator[dict[str, pd.DataFrame]]:
    """Every stored label frame of one materialized partition, read back from the store."""
    root = tmp_path_factory.mktemp("checks")
    write_run(root / "runs", RUN, *make_run_frames([SYMBOL], 240, seed=5, messiness=CLEAN))
    defs = build_definitions(str(root / "runs"), str(root / "store"))
    with kept_instance() as instance:
        outcomes = materialize_run(defs, instance, RUN, [SYMBOL])
        assert all(o.success for o in outcomes)
        for asset in COLUMNS:
            key = AssetCheckKey(AssetKey(asset), CONTRACT_CHECK)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
            assert record.status.value == "SUCCEEDED", asset
    loaded = {
        asset: read_parquet(
            storage_path(root / "store", asset, RUN, None if asset == "price_plan_context" else SYMBOL)
        )
        for asset in COLUMNS
    }
    assert (loaded["entry_labels"]["entry_target"] == 1).any()  # position samples are not empty
    yield loaded


PLAN = load_effective_config()  # the config the frames were built with


def _run(asset: str, frame: pd.DataFrame, entry: pd.DataFrame | None = None) -> dict[str, CheckOutcome]:
    outcomes = check_label_frame(
        asset,
        frame,
        max_hold_minutes=H,
        entry_labels=entry,
        price_plan_id=PLAN.price_plan_id,
        price_plan_hash=PLAN.price_plan_hash,
    )
    return {o.name: o for o in outcomes}


def _failed(asset: str, frame: pd.DataFrame, entry: pd.DataFrame | None = None) -> set[str]:
    return {name for name, o in _run(asset, frame, entry).items() if not o.passed}


@pytest.mark.parametrize("asset", list(COLUMNS))
def test_every_rule_holds_on_real_frames(frames, asset) -> None:
    outcomes = _run(asset, frames[asset], frames["entry_labels"])
    assert list(outcomes) == check_names(asset)
    assert all(o.passed for o in outcomes.values()), {n: o.metadata for n, o in outcomes.items()}


def _with(frame: pd.DataFrame, column: str, values) -> pd.DataFrame:
    bad = frame.copy()
    bad[column] = values
    return bad


def test_corrupted_entry_frame_fails_each_rule(frames) -> None:
    entry = frames["entry_labels"]
    first = entry.index == 0
    assert _failed("entry_labels", _with(entry, "entry_target", entry["entry_target"].astype("int64"))) == {
        "schema"
    }
    assert _failed("entry_labels", entry.drop(columns=["mfe_bps"])) == {"schema"}
    assert _failed("entry_labels", entry[["side", *[c for c in entry.columns if c != "side"]]]) == {"schema"}
    two = _with(entry, "entry_target", entry["entry_target"].where(~first, 2).astype("int8"))
    assert _failed("entry_labels", two) == {"targets_binary"}
    nan = _with(entry, "entry_target", entry["entry_target"].astype("float64").where(~first, np.nan))
    assert _failed("entry_labels", nan) == {"schema", "targets_not_null"}
    assert _failed("entry_labels", _with(entry, "side", entry["side"].where(~first, "FLAT"))) == {
        "side_long_short"
    }
    late = entry["time_to_stop_ms"].where(entry["stop_hit"] != 1, (H + 1) * 60_000)
    assert _failed("entry_labels", _with(entry, "time_to_stop_ms", late)) == {"time_to_barrier_range"}
    odd = entry["time_to_target_ms"].where(entry["target_hit"] != 1, 90_000 + 1)
    assert _failed("entry_labels", _with(entry, "time_to_target_ms", odd)) == {"time_to_barrier_range"}
    all_timeout = _with(entry, "timeout_hit", pd.Series(1, index=entry.index, dtype="int8"))
    assert _failed("entry_labels", all_timeout) == {"one_outcome_per_row"}
    other_plan = _with(entry, "price_plan_hash", entry["price_plan_hash"].where(~first, "0" * 64))
    assert _failed("entry_labels", other_plan) == {"one_price_plan"}
    assert _failed("entry_labels", _with(entry, "price_plan_id", "another")) == {"one_price_plan"}
    old = _with(entry, "label_version", "OLD_V0")
    assert _failed("entry_labels", old) == {"label_version"}
    assert _run("entry_labels", old)["label_version"].metadata["expected"] == LABEL_VERSION


def test_position_samples_must_be_the_entry_rows_with_target_one(frames) -> None:
    position, entry = frames["position_state_samples"], frames["entry_labels"]
    assert _failed("position_state_samples", position.iloc[1:].reset_index(drop=True), entry) == {
        "rows_match_entry_labels"
    }
    swapped = position.copy()
    swapped["side"] = swapped["side"].map({"LONG": "SHORT", "SHORT": "LONG"})
    assert "rows_match_entry_labels" in _failed("position_state_samples", swapped, entry)
    with pytest.raises(ValueError, match="entry_labels"):
        check_label_frame("position_state_samples", position, max_hold_minutes=H)


def test_other_assets_rules(frames) -> None:
    risk = frames["risk_labels"].copy()
    risk["spike_prob_label"] = risk["spike_prob_label"].astype("int64") * 3
    assert {"targets_binary", "schema"} <= _failed("risk_labels", risk)
    direction = frames["direction_labels"].drop(columns=["label_version"])
    assert {"schema", "label_version"} <= _failed("direction_labels", direction)  # cannot evaluate: fails
    plan = pd.concat([frames["price_plan_context"]] * 2, ignore_index=True)
    assert _failed("price_plan_context", plan) == {"one_row"}


def test_blocking_check_fails_the_partition_and_stops_position_samples(tmp_path, monkeypatch) -> None:
    write_run(tmp_path / "runs", RUN, *make_run_frames([SYMBOL], 240, seed=5, messiness=CLEAN))
    defs = build_definitions(str(tmp_path / "runs"), str(tmp_path / "store"))
    key = partition_key(RUN, SYMBOL)
    samples = storage_path(tmp_path / "store", "position_state_samples", RUN, SYMBOL)
    real = entry_module.build_entry_labels

    def corrupted(*args, **kwargs) -> pa.Table:
        frame = real(*args, **kwargs)
        index = frame.schema.get_field_index("label_version")
        old = pa.repeat(pa.scalar("OLD_V0"), frame.num_rows)  # the dagster type accepts it; only the check sees it
        return frame.set_column(index, "label_version", old)

    with kept_instance() as instance:
        assert all(o.success for o in materialize_run(defs, instance, RUN, [SYMBOL]))
        before = samples.read_bytes()
        monkeypatch.setattr(entry_module, "build_entry_labels", corrupted)
        result = defs.resolve_job_def("label_job").execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET
        )
        assert not result.success
        evaluations = {
            e.event_specific_data.asset_key.to_user_string(): e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        assert not evaluations["entry_labels"].passed
        assert evaluations["entry_labels"].partition == key
        assert evaluations["entry_labels"].metadata["failed_rules"].value == ["label_version"]
        assert evaluations["direction_labels"].passed
        assert "position_state_samples" not in evaluations
        latest = instance.get_latest_materialization_event(AssetKey("position_state_samples"))
        assert latest.run_id != result.run_id and samples.read_bytes() == before
        # the partition counts as failed, so the backfill schedule retries it
        assert WorkFinder(instance, defs.resolve_asset_graph()).labels(RUN, [SYMBOL]) == {key: "failed"}
