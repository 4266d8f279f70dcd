"""Refuse a run of a (run, symbol) pair that the run does not have, before it starts.

Dagster's ``run_id x symbol`` partitions are the product of the two dynamic dimensions, and the
``symbol`` partitions are shared by all runs, so the UI offers ``r1|CCC`` when only run ``r2`` has
``CCC``. Nothing in this project requests such a pair (the sensor, the schedules and the
``label-pipeline`` commands use each run's own symbols), but a launch from the UI (or a UI backfill
over the whole grid) would reach the input assets, fail on "no rows", and leave the partition
*failed* for good: Dagster's partition status keeps a failure until a materialization succeeds,
which never happens for a pair with no data.

A run coordinator is the one place where Dagster hands over every submitted run before it is
launched: UI launches, UI backfills, sensors and schedules all go through ``instance.submit_run``.
``PhantomRefusingRunCoordinator`` is Dagster's ``QueuedRunCoordinator`` (same config, same queue and
daemon) that, for a run of one (run, symbol) partition whose symbol is not in that run's input
files, records why in the run's log and marks the run canceled instead of queueing it. Nothing is
read or written; the partition stays *missing* (a canceled run is not a failure in Dagster's
partition status), and the run shows in the UI as canceled with the reason. Enable it in the
instance's ``dagster.yaml`` (README "Workflows"):

    run_coordinator:
      module: label_pipeline.automation.coordinator
      class: PhantomRefusingRunCoordinator

Runs executed in a process without the coordinator (``execute_in_process``, ``dg launch``,
``dagster asset materialize``) are not seen here: ``label-pipeline rerun`` refuses such pairs itself.
"""

from __future__ import annotations

import pyarrow as pa
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.storage.tags import PARTITION_NAME_TAG

from label_pipeline.automation.work import run_partition
from label_pipeline.inputs import InputDataError, run_symbols
from label_pipeline.jobs import LABEL_JOB_ASSETS, label_job
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM
from label_pipeline.settings import Settings

REPLAY_SOURCE = AssetKey("replay_file")  # observed per (run, symbol) for each symbol of the run's file


def _pair(run: DagsterRun) -> tuple[str, str] | None:
    """The (run id, symbol) of a run of one run x symbol partition, else None."""
    run_id = run.tags.get(f"{PARTITION_NAME_TAG}/{RUN_DIM}")
    symbol = run.tags.get(f"{PARTITION_NAME_TAG}/{SYMBOL_DIM}")
    if run_id is not None and symbol is not None:
        return run_id, symbol
    key = run_partition(run)  # its partition tag, or an asset backfill's one-key range
    if key is None or key.count("|") != 1:
        return None
    run_id, symbol = key.split("|")  # dimensions in name order: run_id|symbol
    return run_id, symbol


def _labels_run(run: DagsterRun) -> bool:
    if run.job_name == label_job.name:
        return True
    return bool(run.asset_selection and set(run.asset_selection) & set(LABEL_JOB_ASSETS))


def phantom_refusal(instance: DagsterInstance, run: DagsterRun, runs_root: str) -> str | None:
    """Why ``run`` must not start (its partition pairs a run with a symbol it does not have), or None.

    A pair whose replay file was observed with rows of that symbol is real (one event-log lookup);
    otherwise the run's replay file is asked. When it cannot be read, the run goes ahead and its
    input assets report what is wrong with the file."""
    if not _labels_run(run):
        return None
    pair = _pair(run)
    if pair is None:
        return None
    run_id, symbol = pair
    key = f"{run_id}|{symbol}"
    observed = instance.fetch_observations(
        AssetRecordsFilter(asset_key=REPLAY_SOURCE, asset_partitions=[key]), limit=1
    ).records
    if observed:
        return None
    try:
        symbols = run_symbols(runs_root, run_id)
    except (InputDataError, OSError, pa.ArrowException, ValueError):
        return None
    if symbol in symbols:
        return None
    shown = ", ".join(symbols[:20]) + (f", ... ({len(symbols)} in all)" if len(symbols) > 20 else "")
    return (
        f"Refused before it started: {key} is not a partition of run {run_id!r}, whose input files have no "
        f"{symbol!r} rows (its symbols: {shown or 'none'}). The symbol partitions are shared by all runs, so the "
        f"UI offers every run x symbol pair; nothing was read or written and {key} stays missing, not failed. "
        f"`label-pipeline status {run_id}` lists the run's partitions."
    )


class PhantomRefusingRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` that cancels, before launch, a run of a (run, symbol) pair that the run
    does not have (see the module docstring); every other run is queued as usual."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if run.status == DagsterRunStatus.NOT_STARTED:
            reason = phantom_refusal(self._instance, run, Settings.from_env().runs_root)
            if reason is not None:
                self._instance.report_engine_event(reason, run)
                self._instance.report_run_canceled(run, message=reason)
                refused = self._instance.get_run_by_id(run.run_id)
                assert refused is not None
                return refused
        return super().submit_run(context)
