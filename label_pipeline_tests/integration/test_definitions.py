"""The code location loads, and what it materializes can be read back through Dagster."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, MultiPartitionKey

from label_pipeline.definitions import build_definitions, defs
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import generate_sample_run
from label_pipeline.settings import REPO_ROOT
from label_pipeline_tests.harness.common import kept_instance

REPO = REPO_ROOT
LABEL_ASSETS = {
    "feature_frame",
    "replay_1m",
    "price_plan_context",
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
    "label_windows",
    "price_plan_sweep",
}


def test_defs_hold_every_asset_with_the_right_partitions() -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert LABEL_ASSETS <= keys
    for name in LABEL_ASSETS - {"price_plan_context"}:
        pdef = graph.get(AssetKey(name)).partitions_def
        assert [d.name for d in pdef.partitions_defs] == ["run_id", "symbol"]
    assert graph.get(AssetKey("price_plan_context")).partitions_def.name == "run_id"


def test_dagster_definitions_validate_loads_the_workspace() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_load_asset_value_reads_a_materialized_partition(tmp_path) -> None:
    generate_sample_run(tmp_path / "runs", "r1", symbols=("BTC/USDT",), days=1)
    local = build_definitions(str(tmp_path / "runs"), str(tmp_path / "store"))
    with kept_instance() as instance:
        outcomes = materialize_run(local, instance, "r1", ["BTC/USDT"])
        assert all(o.success for o in outcomes)
        key = MultiPartitionKey({"run_id": "r1", "symbol": "BTC/USDT"})
        entry = local.load_asset_value("entry_labels", partition_key=key, instance=instance)
        meta = outcomes[1].metadata["entry_labels"]
    assert len(entry) == meta["dagster/row_count"] > 0
    assert list(entry["side"].unique()) == ["LONG", "SHORT"]
    assert (tmp_path / "store" / "entry_labels" / "r1" / "BTC%2FUSDT.parquet").is_file()
    for field in ("label_version", "content_hash", "config_hash", "price_plan_hash", "storage_path", "label_report", "label_distribution", "dagster/column_schema"):
        assert field in meta, field
    assert meta["label_report"].startswith("# Label Report")
