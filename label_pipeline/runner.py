"""Materialize whole runs through Dagster: register the partitions, then run the jobs per partition.

Used by the demo and by tests that need every artifact of a run; each partition is its own
Dagster run, exactly as a UI launch or a backfill would make it. ``apply_sensor_result`` and
``execute_run_requests`` do what the daemon does with a sensor's or a schedule's tick, so the
orchestration can be driven end to end without a daemon (tests, the CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    Definitions,
    DeleteDynamicPartitionsRequest,
    ExecuteInProcessResult,
    RunRequest,
    SensorResult,
)

from label_pipeline.inputs import InputDataError, run_files
from label_pipeline.partitions import register_partitions

log = logging.getLogger(__name__)


def run_symbols(runs_root: str, run_id: str) -> list[str]:
    """Distinct symbols of a run, read from the replay file's symbol column alone."""
    files = run_files(runs_root, run_id)
    if not files.replay.is_file():
        raise InputDataError(f"run {run_id!r}: replay file {files.replay} does not exist")
    symbols = pc.unique(pq.read_table(files.replay, columns=["symbol"]).column("symbol")).to_pylist()
    return sorted(str(s) for s in symbols if s is not None)


@dataclass(frozen=True)
class PartitionOutcome:
    partition_key: str
    success: bool
    run_id: str
    # asset name -> the metadata its materialization recorded
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def _outcome(key: str, result: ExecuteInProcessResult) -> PartitionOutcome:
    metadata = {}
    if result.success:
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            metadata[mat.asset_key.path[-1]] = {k: v.value for k, v in mat.metadata.items()}
    return PartitionOutcome(key, result.success, result.run_id, metadata)


def materialize_run(
    defs: Definitions,
    instance: DagsterInstance,
    run_id: str,
    symbols: list[str],
    raise_on_error: bool = True,
    log_level: str = "WARNING",
) -> list[PartitionOutcome]:
    """Materialize the price plan of ``run_id`` and every label asset of each of its symbols."""
    keys = register_run(defs, instance, run_id, symbols)
    outcomes = []
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    plan = defs.resolve_job_def("price_plan_job").execute_in_process(
        partition_key=run_id, instance=instance, raise_on_error=raise_on_error, run_config=run_config
    )
    outcomes.append(_outcome(run_id, plan))
    label_job = defs.resolve_job_def("label_job")
    for key in keys:
        result = label_job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=raise_on_error, run_config=run_config
        )
        outcomes.append(_outcome(str(key), result))
    return outcomes


def observe_run_inputs(runs_root: str, instance: DagsterInstance, run_id: str) -> int:
    """Record the per-symbol data versions of the run's input files (what the run sensor does), so
    the partitions materialized next turn stale when a symbol's data changes. A file that cannot be
    read is skipped here: materializing its partitions then fails with the input error."""
    from label_pipeline.assets.sources import SOURCE_KEYS, observe_file

    count = 0
    for which in SOURCE_KEYS:
        try:
            events = observe_file(runs_root, run_id, which)
        except (InputDataError, OSError, pa.ArrowException, ValueError, TypeError) as exc:
            log.warning("run %r: %s file not observed: %s", run_id, which, exc)
            continue
        for event in events:
            instance.report_runless_asset_event(event)
        count += len(events)
    return count


def register_run(defs: Definitions, instance: DagsterInstance, run_id: str, symbols: list[str]) -> list:
    """Add the run and its symbols to the dynamic partitions and observe its input files."""
    keys = register_partitions(instance, run_id, symbols)
    runs_root = defs.resources["runs_root"].root
    observe_run_inputs(runs_root, instance, run_id)
    return keys


def apply_sensor_result(instance: DagsterInstance, result: SensorResult) -> None:
    """What the daemon does with a sensor tick before it launches the runs: record the asset events,
    then add (or delete) the dynamic partitions."""
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, AddDynamicPartitionsRequest):
            new = [
                k
                for k in request.partition_keys
                if not instance.has_dynamic_partition(request.partitions_def_name, k)
            ]
            if new:
                instance.add_dynamic_partitions(request.partitions_def_name, new)
        elif isinstance(request, DeleteDynamicPartitionsRequest):
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


def execute_run_requests(
    defs: Definitions,
    instance: DagsterInstance,
    run_requests: Sequence[RunRequest],
    default_job: str | None = None,
    raise_on_error: bool = True,
    log_level: str = "WARNING",
) -> list[PartitionOutcome]:
    """Execute each requested run in this process, in order, as the run launcher would launch it
    (same job, partition and tags); ``default_job`` is a schedule's job for requests without one."""
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    outcomes = []
    for request in run_requests:
        job = defs.resolve_job_def(request.job_name or default_job)
        result = job.execute_in_process(
            partition_key=request.partition_key,
            instance=instance,
            tags=dict(request.tags),
            raise_on_error=raise_on_error,
            run_config=run_config,
        )
        outcomes.append(_outcome(str(request.partition_key), result))
    return outcomes
