"""What the UI shows, asked the way the UI asks: ``workspace.yaml`` loaded as ``dagster dev`` loads it
(a code server in a subprocess) and queried through Dagster's GraphQL schema: the asset graph with
both partition dimensions, the sources, the checks, the manifests and the per-partition stale status
after one symbol's bars changed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dagster import instance_for_test
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from label_pipeline.assets.sources import observe_changed_inputs
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.settings import REPO_ROOT

REPO = REPO_ROOT
RUN = "r1"
SYMBOLS = ["AAA", "BBB"]
LABELS = {
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
    "label_windows",
    "price_plan_sweep",
}

GRAPH = """
query {
  assetNodes {
    assetKey { path }
    groupName
    isObservable
    opVersion
    dependencyKeys { path }
    partitionDefinition {
      type
      name
      dimensionTypes { name type dynamicPartitionsDefinitionName }
    }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking description } }
    }
  }
}
"""

PARTITION = """
query ($path: [String!]!, $partitions: [String!]!) {
  assetNodes(assetKeys: [{path: $path}]) {
    staleStatusByPartition(partitions: $partitions)
    assetMaterializations(partitions: $partitions) {
      partition
      metadataEntries { label }
    }
  }
}
"""


def _node(nodes: list[dict], name: str) -> dict:
    return next(n for n in nodes if n["assetKey"]["path"] == [name])


def test_workspace_through_graphql(tmp_path, monkeypatch) -> None:
    runs, store = tmp_path / "runs", tmp_path / "store"
    feature, replay = make_run_frames(SYMBOLS, 150, seed=2, messiness=CLEAN)
    write_run(runs, RUN, feature, replay)
    monkeypatch.setenv("LABEL_PIPELINE_RUNS_ROOT", str(runs))
    monkeypatch.setenv("LABEL_PIPELINE_STORAGE_ROOT", str(store))
    monkeypatch.chdir(REPO)
    shm = Path("/dev/shm")
    home = tempfile.mkdtemp(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
    try:
        with instance_for_test(temp_dir=home) as instance:
            assert all(o.success for o in materialize_run(build_definitions(), instance, RUN, SYMBOLS))
            edited = replay.copy()
            rows = edited["symbol"] == "AAA"
            edited.loc[rows, ["open", "high", "low", "close"]] *= 1.001
            write_run(runs, RUN, feature, edited)
            for event in observe_changed_inputs(instance, str(runs), RUN, SYMBOLS):
                instance.report_runless_asset_event(event)

            with define_out_of_process_context(str(REPO / "workspace.yaml"), None, instance) as context:
                nodes = execute_dagster_graphql(context, GRAPH).data["assetNodes"]
                names = {n["assetKey"]["path"][0] for n in nodes}
                assert names == LABELS | {
                    "price_plan_context",
                    "feature_frame",
                    "replay_1m",
                    "feature_file",
                    "replay_file",
                }
                for name in names - {"price_plan_context"}:
                    pdef = _node(nodes, name)["partitionDefinition"]
                    assert pdef["type"] == "MULTIPARTITIONED", name
                    assert [
                        (d["name"], d["type"], d["dynamicPartitionsDefinitionName"])
                        for d in pdef["dimensionTypes"]
                    ] == [
                        ("run_id", "DYNAMIC", "run_id"),
                        ("symbol", "DYNAMIC", "symbol"),
                    ]
                assert _node(nodes, "price_plan_context")["partitionDefinition"]["type"] == "DYNAMIC"
                for name in LABELS | {"price_plan_context"}:
                    node = _node(nodes, name)
                    checks = node["assetChecksOrError"]["checks"]
                    expected = [("label_contract", True)]
                    if name == "label_windows":  # and its non-blocking leakage warning
                        expected.append(("window_leakage", False))
                    assert [(c["name"], c["blocking"]) for c in checks] == expected, name
                    assert "reference's contract" in checks[0]["description"]
                    assert node["opVersion"].startswith("REFERENCE_LABEL_V1/1+config."), name
                for source, slice_ in (("feature_file", "feature_frame"), ("replay_file", "replay_1m")):
                    assert _node(nodes, source)["isObservable"]
                    assert {"path": [source]} in _node(nodes, slice_)["dependencyKeys"]

                keys = [f"{RUN}|{s}" for s in SYMBOLS]
                replay_node = execute_dagster_graphql(
                    context, PARTITION, {"path": ["replay_1m"], "partitions": keys}
                ).data["assetNodes"][0]
                assert replay_node["staleStatusByPartition"] == ["STALE", "FRESH"]
                entry = execute_dagster_graphql(
                    context, PARTITION, {"path": ["entry_labels"], "partitions": keys}
                ).data["assetNodes"][0]
                labels = {e["label"] for e in entry["assetMaterializations"][0]["metadataEntries"]}
                assert {
                    "label_report",
                    "content_hash",
                    "config_hash",
                    "dagster/column_schema",
                    "label_distribution",
                } <= labels
                # the quality numbers, as the UI reads them (its Plots tab charts float entries)
                quality = {
                    f"{side}_{k}"
                    for side in ("long", "short")
                    for k in (
                        "target_rate",
                        "stop_rate",
                        "timeout_rate",
                        "ambiguous_rate",
                        "entry_target_rate",
                        "median_time_to_target_min",
                        "median_time_to_stop_min",
                        "mfe_p10_bps",
                        "mfe_p50_bps",
                        "mfe_p90_bps",
                        "mae_p10_bps",
                        "mae_p50_bps",
                        "mae_p90_bps",
                    )
                } | {
                    "unlabelled_share",
                    "unlabelled_window_crosses_gap_share",
                    "class_balance",
                    "quality_report",
                }
                assert quality <= labels, quality - labels
    finally:
        shutil.rmtree(home, ignore_errors=True)
