"""Materialize whole runs through Dagster on one machine: register the partitions, then run the
jobs per partition.

Used by the demo and by tests that need every artifact of a run; each partition is its own
Dagster run, exactly as a UI launch or a backfill would make it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from label_pipeline.inputs import InputDataError
from label_pipeline.partitions import register_partitions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionOutcome:
    partition_key: str
    success: bool
    run_id: str
    # asset name -> the metadata its materialization recorded
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def outcome_of(key: str, result: ExecuteInProcessResult) -> PartitionOutcome:
    """The partition's outcome, with the metadata each asset recorded when the run succeeded."""
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
    outcomes.append(outcome_of(run_id, plan))
    label_job = defs.resolve_job_def("label_job")
    for key in keys:
        result = label_job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=raise_on_error, run_config=run_config
        )
        outcomes.append(outcome_of(str(key), result))
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
