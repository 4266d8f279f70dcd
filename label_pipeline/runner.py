"""Materialize whole runs through Dagster: register the partitions, then run the jobs per partition.

Used by the demo and by tests that need every artifact of a run; each partition is its own
Dagster run, exactly as a UI launch or a backfill would make it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from label_pipeline.inputs import InputDataError, run_files
from label_pipeline.partitions import register_partitions


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
    keys = register_partitions(instance, run_id, symbols)
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
