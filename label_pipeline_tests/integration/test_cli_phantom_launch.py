"""A (run, symbol) pair that the run does not have, launched from the UI anyway.

Launched the way the UI launches (GraphQL ``launchRun`` against ``workspace.yaml``'s code location in
a subprocess), on an instance whose ``dagster.yaml`` names ``PhantomRefusingRunCoordinator``: the
phantom's run is canceled before it starts with the reason in its log, the partition stays missing
(not failed) in Dagster's partition status, which the UI and ``label-pipeline status`` read; a real
pair is queued as usual. Without the coordinator (``execute_in_process``), the same pair fails in
its input assets and Dagster keeps it failed: what the coordinator avoids.
"""

from __future__ import annotations

import shutil

from dagster import DagsterEventType, DagsterRunStatus, instance_for_test
from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from label_pipeline.automation.work import FAILED, MISSING, WorkFinder
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import register_run
from label_pipeline.demo.sample_data import make_run_frames, write_run
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.partitions import run_symbol_partitions
from label_pipeline.settings import REPO_ROOT
from label_pipeline_tests.harness.common import QUIET, fast_temp_dir

COORDINATOR = {
    "module": "label_pipeline.automation.coordinator",
    "class": "PhantomRefusingRunCoordinator",
}


def _launch(context, job: str, key: str, assets: list[str] | None = None, as_range: bool = False) -> str:
    selector = {
        "repositoryLocationName": "label_pipeline",
        "repositoryName": "__repository__",
        "pipelineName": job,
    }
    if assets:
        selector["assetSelection"] = [{"path": [a]} for a in assets]
    # a run of an asset backfill (the UI's, deploy/run.sh backfill) carries a one-key range instead
    tags = (
        [{"key": f"dagster/asset_partition_range_{end}", "value": key} for end in ("start", "end")]
        if as_range
        else [{"key": "dagster/partition", "value": key}]
    )
    result = execute_dagster_graphql(
        context,
        LAUNCH_PIPELINE_EXECUTION_MUTATION,
        {
            "executionParams": {
                "selector": selector,
                "runConfigData": {},
                "executionMetadata": {"tags": tags},
            }
        },
    )
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_a_phantom_pair_launched_from_the_ui_is_refused_before_it_starts(tmp_path, monkeypatch) -> None:
    runs, store = tmp_path / "runs", tmp_path / "store"
    write_run(runs, "r1", *make_run_frames(["AAA", "BBB"], 120, seed=5))
    write_run(runs, "r2", *make_run_frames(["CCC"], 120, seed=6))
    monkeypatch.setenv("LABEL_PIPELINE_RUNS_ROOT", str(runs))
    monkeypatch.setenv("LABEL_PIPELINE_STORAGE_ROOT", str(store))
    monkeypatch.chdir(REPO_ROOT)
    defs = build_definitions()
    home = fast_temp_dir()
    try:
        with instance_for_test(temp_dir=home, overrides={"run_coordinator": COORDINATOR}) as instance:
            register_run(defs, instance, "r1", ["AAA", "BBB"])
            register_run(defs, instance, "r2", ["CCC"])
            with define_out_of_process_context(str(REPO_ROOT / "workspace.yaml"), None, instance) as context:
                phantom = _launch(context, "label_job", "r1|CCC")
                from_asset_graph = _launch(context, "__ASSET_JOB", "r2|AAA", ["feature_frame"])
                from_backfill = _launch(context, "label_job", "r1|CCC", as_range=True)
                real = _launch(context, "label_job", "r1|AAA")

            for run_id, key in ((phantom, "r1|CCC"), (from_asset_graph, "r2|AAA"), (from_backfill, "r1|CCC")):
                run = instance.get_run_by_id(run_id)
                assert run.status == DagsterRunStatus.CANCELED, key
                messages = [
                    e.message for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
                ]
                assert any(
                    f"Refused before it started: {key} is not a partition of run" in m for m in messages
                )
            assert instance.get_run_by_id(real).status == DagsterRunStatus.QUEUED  # no daemon here
            assert not store.exists()  # nothing was read or written

            finder = WorkFinder(instance, defs.resolve_asset_graph())
            states = finder.classify(LABEL_JOB_ASSETS, ["r1|CCC", "r2|AAA"], run_symbol_partitions)
            assert states == {"r1|CCC": MISSING, "r2|AAA": MISSING}

            # without the coordinator (in process), the same pair fails in its input assets, for good
            result = defs.resolve_job_def("label_job").execute_in_process(
                partition_key="r2|BBB", instance=instance, raise_on_error=False, run_config=QUIET
            )
            assert not result.success
            states = WorkFinder(instance, defs.resolve_asset_graph()).classify(
                LABEL_JOB_ASSETS, ["r2|BBB"], run_symbol_partitions
            )
            assert states == {"r2|BBB": FAILED}
    finally:
        shutil.rmtree(home, ignore_errors=True)
