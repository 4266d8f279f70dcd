"""label_windows and price_plan_sweep as materialized assets: label_windows equals the slow twin
computed from the stored labels (with the partition processed in several chunks), its leakage
check reports the crossings; every sweep row equals the aggregates of entry_labels materialized
with that plan as the config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from label_pipeline.config import load_effective_config
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import REALISTIC, make_run_frames, write_run
from label_pipeline.kernel.slow_windows import label_windows_slow
from label_pipeline.labels.accumulate import codes
from label_pipeline.partitions import partition_key
from label_pipeline.storage import read_parquet, storage_path
from label_pipeline_tests.harness.common import QUIET

RUN, SYMBOL = "r1", "AAA"
GRID = {"target_bps": [8, 12], "stop_bps": [8, 4], "max_hold_minutes": [1, 45]}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    feature, replay = make_run_frames([SYMBOL], 3 * 1440, seed=11, messiness=REALISTIC)
    hours = (feature["open_time_ms"] - feature["open_time_ms"].min()) // 3_600_000
    feature["split_id"] = np.where(hours % 7 == 6, "valid", "train")  # many split boundaries
    feature["walk_forward_fold"] = (hours // 9).astype("int64")
    write_run(root, RUN, feature, replay)
    return root


def test_label_windows_equals_its_slow_twin_across_chunks(run_dir, tmp_path, instance) -> None:
    store = tmp_path / "store"
    defs = build_definitions(str(run_dir), str(store))
    materialize_run(defs, instance, RUN, [SYMBOL], raise_on_error=True)
    # again, in chunks of one day: three chunks whose windows reach across their boundaries
    result = defs.resolve_job_def("label_job").execute_in_process(
        partition_key=partition_key(RUN, SYMBOL),
        instance=instance,
        run_config={**QUIET, "resources": {"path_stats": {"config": {"chunk_days": 1}}}},
    )
    assert result.success
    windows = read_parquet(storage_path(store, "label_windows", RUN, SYMBOL))
    features = read_parquet(storage_path(store, "feature_frame", RUN, SYMBOL))
    assert windows["sample_id"].tolist() == features["sample_id"].tolist()  # feature order, every row
    config = load_effective_config()
    event_ms = features["open_time_ms"].to_numpy("int64")
    split, _ = codes(pa.array(features["split_id"]))
    fold, _ = codes(pa.array(features["walk_forward_fold"]))
    total = 0
    for family, artifact, section, key in (
        ("direction", "direction_labels", "direction", "horizon_minutes"),
        ("entry", "entry_labels", "entry", "max_hold_minutes"),
        ("continue", "continue_labels", "continue", "horizon_minutes"),
    ):
        labelled_ids = set(read_parquet(storage_path(store, artifact, RUN, SYMBOL))["sample_id"])
        labelled = features["sample_id"].isin(labelled_ids).to_numpy().astype("int8")
        want = label_windows_slow(event_ms, split, fold, labelled, int(config.label[section][key]))
        np.testing.assert_array_equal(windows[f"{family}_labelled"], want["labelled"])
        ends = windows[f"{family}_label_end"]
        got_ms = np.array([np.iinfo(np.int64).min if pd.isna(t) else t.value // 1_000_000 for t in ends])
        np.testing.assert_array_equal(got_ms, want["label_end_ms"])
        np.testing.assert_array_equal(windows[f"{family}_crosses_split"], want["crosses_split"])
        np.testing.assert_array_equal(windows[f"{family}_crosses_fold"], want["crosses_fold"])
        np.testing.assert_allclose(windows[f"{family}_avg_uniqueness"], want["avg_uniqueness"], rtol=1e-12)
        total += int((labelled & (want["crosses_split"] | want["crosses_fold"])).sum())
    assert windows["entry_crosses_split"].sum() > 0  # the data has boundaries to cross
    check = next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "window_leakage"
    )
    assert not check.passed and check.severity.value == "WARN"
    crossings = check.metadata["crossings"].value
    assert set(crossings) == {f"{f}_{w}" for f in ("direction", "entry", "continue") for w in ("split", "fold")}
    assert check.metadata["crossing_rows"].value >= total > 0  # a row may cross several boundaries
    assert set(check.metadata["purge_embargo"].value["entry"]) == {str(f) for f in set(features["walk_forward_fold"])}


@pytest.mark.parametrize("target, stop, hold", [(8, 8, 1), (12, 4, 45), (8, 8, 45)])
def test_every_sweep_row_is_what_that_plans_entry_labels_give(run_dir, tmp_path, instance, target, stop, hold) -> None:
    config_file = tmp_path / "label.json"
    config_file.write_text(
        json.dumps({"entry": {"target_bps": target, "stop_bps": stop, "max_hold_minutes": hold}, "sweep": GRID})
    )
    store = tmp_path / "store"
    defs = build_definitions(str(run_dir), str(store), label_config_path=str(config_file))
    assert all(o.success for o in materialize_run(defs, instance, RUN, [SYMBOL]))
    sweep = read_parquet(storage_path(store, "price_plan_sweep", RUN, SYMBOL))
    assert len(sweep) == 2 * 2 * 2 * 2 * len(set(read_parquet(storage_path(store, "feature_frame", RUN, SYMBOL))["split_id"]))
    entry = read_parquet(storage_path(store, "entry_labels", RUN, SYMBOL))
    cost = load_effective_config(str(config_file)).cost_bps
    mine = sweep[(sweep.target_bps == target) & (sweep.stop_bps == stop) & (sweep.max_hold_minutes == hold)]
    for (side, split), group in entry.groupby(["side", "split_id"]):
        row = mine[(mine.side == side) & (mine.split_id == split)].iloc[0]
        assert row["rows"] == len(group)
        for rate, flag in (
            ("target_rate", "target_hit"),
            ("stop_rate", "stop_hit"),
            ("timeout_rate", "timeout_hit"),
            ("ambiguous_rate", "ambiguous_hit"),
            ("entry_target_rate", "entry_target"),
        ):
            assert row[rate] == group[flag].mean(), rate
        assert row["mean_gross_edge_bps"] == pytest.approx(group["gross_edge_bps"].mean(), rel=1e-12)
        assert row["mean_net_edge_bps"] == pytest.approx(group["gross_edge_bps"].mean() - cost, rel=1e-12)
        for column, flag in (("median_time_to_target_ms", "target_hit"), ("median_time_to_stop_ms", "stop_hit")):
            won = group.loc[group[flag] == 1, column.replace("median_", "")]
            if len(won):
                assert row[column] == won.median(), column
            else:
                assert np.isnan(row[column]), column
