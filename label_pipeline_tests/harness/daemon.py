"""What the daemon does with a sensor's or a schedule's tick, in this process, so the orchestration
can be driven end to end without a daemon in tests."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    Definitions,
    DeleteDynamicPartitionsRequest,
    RunRequest,
    SensorResult,
)

from label_pipeline.demo.local_run import PartitionOutcome, outcome_of


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
        outcomes.append(outcome_of(str(request.partition_key), result))
    return outcomes
