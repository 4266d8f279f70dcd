"""Where a run stands, partition by partition: the facts behind ``label-pipeline status``.

Each of the run's own symbols (the symbols of its replay file) gets the state ``WorkFinder`` gives
its (run, symbol) partition, which is the state the sensor and the schedules act on: fresh
(materialized, nothing newer upstream), stale (with Dagster's stale causes, the UI's popover),
failed (with the failed Dagster run and its error's first line), missing or in progress, and when.

The ``symbol`` partitions are shared by every run, so Dagster's ``run_id x symbol`` grid also holds
pairs of this run and another run's symbol. Those are not partitions of the run: they are reported
apart (``NOT_OF_RUN``), with what Dagster records for them if someone launched one anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
)
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.storage.dagster_run import FINISHED_STATUSES, RunRecord

from label_pipeline.automation.work import (
    FAILED,
    FRESH,
    IN_PROGRESS,
    MISSING,
    STALE,
    WorkFinder,
    partition_runs,
    run_partition,
)
from label_pipeline.jobs import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS
from label_pipeline.keys import SYMBOL_DIM
from label_pipeline.partitions import partition_key, run_partitions, run_symbol_partitions

NOT_OF_RUN = "not_of_run"  # a registered symbol that the run does not have (another run's symbol)
UNREGISTERED = "unregistered"  # a symbol of the run's files that is not a registered partition


def first_line(text: str | None, limit: int = 400) -> str:
    """An error's first line; when it ends with ``:`` (a headline over a list of problems, as the input
    and label errors are written), with the first problem too. At most ``limit`` characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    if line.endswith(":") and len(lines) > 1:
        line = f"{line} {lines[1].lstrip('- ')}" + (f" (and {len(lines) - 2} more)" if len(lines) > 2 else "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True)
class PartitionStatus:
    """One partition's state, why, when (a POSIX timestamp) and the Dagster run it comes from."""

    key: str
    state: str
    reason: str = ""
    when: float | None = None
    dagster_run_id: str | None = None


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    plan: PartitionStatus
    symbols: dict[str, PartitionStatus]  # the run's own registered symbols
    unregistered: list[str] = field(default_factory=list)  # in the run's files, not registered
    # registered symbols of other runs: how many, and those Dagster shows as anything but missing
    not_of_run: list[str] = field(default_factory=list)
    not_of_run_recorded: dict[str, PartitionStatus] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.symbols.values():
            counts[status.state] = counts.get(status.state, 0) + 1
        return counts


def failure_of_run(instance: DagsterInstance, dagster_run_id: str) -> str:
    """The first line of the error that failed a Dagster run: the first failed step's ``Failure``
    description (the input and label errors are written to be read there), else its error."""
    for record in instance.get_records_for_run(
        dagster_run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    ).records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        if user is not None and user.description:
            return first_line(user.description)
        error = getattr(data, "error", None)
        if error is not None:
            while error.cause is not None:  # a wrapped exception: the user code's own is the cause
                error = error.cause
            return first_line(error.message)
        if event.message:
            return first_line(event.message)
    return "no error was recorded (see the run's logs in the UI)"


class _Runs:
    """The Dagster runs of one run id's partitions, newest first, by partition key (one query)."""

    def __init__(self, instance: DagsterInstance, records: Sequence[RunRecord]):
        self._instance = instance
        self._by_key: dict[str, list[RunRecord]] = {}
        for record in records:
            key = run_partition(record.dagster_run)
            if key is not None:
                self._by_key.setdefault(key, []).append(record)

    def latest(self, key: str, statuses: Sequence[DagsterRunStatus] | None = None) -> RunRecord | None:
        for record in self._by_key.get(key, []):
            if statuses is None or record.dagster_run.status in statuses:
                return record
        return None


_UNFINISHED = [s for s in DagsterRunStatus if s not in FINISHED_STATUSES]


def _timestamp(record: RunRecord | None, start: bool = False) -> float | None:
    if record is None:
        return None
    value = record.start_time if start else (record.end_time or record.start_time)
    return value if value is not None else record.create_timestamp.timestamp()


def _stale_reason(finder: WorkFinder, asset_keys: Sequence[AssetKey], key: str) -> str:
    """Dagster's stale causes, grouped: ``replay_1m: has a new dependency data version (replay_file)``."""
    grouped: dict[str, list[str]] = {}
    for asset_key, cause in finder.stale_causes(asset_keys, key):
        text = cause.reason
        dep = cause.dependency_asset_key
        if dep is not None and dep != asset_key:
            text += f" ({dep.to_user_string()})"
        assets = grouped.setdefault(text, [])
        if asset_key.to_user_string() not in assets:
            assets.append(asset_key.to_user_string())
    return "; ".join(f"{', '.join(assets)}: {text}" for text, assets in grouped.items()) or (
        "stale (Dagster gives no cause)"
    )


def _last_materialization(
    instance: DagsterInstance, asset_key: AssetKey, key: str
) -> tuple[float, str] | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    return (records[0].timestamp, records[0].run_id) if records else None


def _describe(
    instance: DagsterInstance,
    finder: WorkFinder,
    runs: _Runs,
    asset_keys: Sequence[AssetKey],
    key: str,
    state: str,
) -> PartitionStatus:
    if state in (FRESH, STALE):
        # the job's last asset: its materialization completes the partition
        last = _last_materialization(instance, asset_keys[-1], key)
        when, run_id = last if last else (None, None)
        reason = _stale_reason(finder, asset_keys, key) if state == STALE else ""
        return PartitionStatus(key, state, reason, when, run_id)
    if state == FAILED:
        record = runs.latest(key, [DagsterRunStatus.FAILURE])
        if record is None:
            return PartitionStatus(key, state, "the failed run is no longer on the instance")
        reason = failure_of_run(instance, record.dagster_run.run_id)
        if asset_keys and finder.failed_on(key) == finder.attempt(key):
            reason += " (not retried by the schedule until the input files or the code change)"
        return PartitionStatus(key, state, reason, _timestamp(record), record.dagster_run.run_id)
    if state == IN_PROGRESS:
        record = runs.latest(key, _UNFINISHED)
        if record is None:
            return PartitionStatus(key, state, "being materialized")
        return PartitionStatus(
            key,
            state,
            f"Dagster run {record.dagster_run.status.value.lower()}",
            _timestamp(record, start=True),
            record.dagster_run.run_id,
        )
    return PartitionStatus(key, MISSING, "never materialized")


def run_status(
    instance: DagsterInstance, asset_graph: BaseAssetGraph, run_id: str, symbols: Sequence[str]
) -> RunStatus:
    """The state of ``run_id``'s price plan and of each of its ``symbols`` (the run's own symbols,
    ``label_pipeline.inputs.run_symbols``), and what Dagster shows for the other runs' symbols."""
    registered = set(instance.get_dynamic_partitions(SYMBOL_DIM))
    own = [s for s in symbols if s in registered]
    unregistered = [s for s in symbols if s not in registered]
    others = sorted(registered - set(symbols))
    finder = WorkFinder(instance, asset_graph)

    plan_runs = _Runs(instance, partition_runs(instance, [run_id]))
    plan_state = finder.classify(PLAN_JOB_ASSETS, [run_id], run_partitions)[run_id]
    plan = _describe(instance, finder, plan_runs, PLAN_JOB_ASSETS, run_id, plan_state)

    keys = {s: str(partition_key(run_id, s)) for s in [*own, *others]}
    states = finder.classify(LABEL_JOB_ASSETS, list(keys.values()), run_symbol_partitions)
    # the runs of the partitions that need one (by their partition tag, or an asset backfill's range)
    asked = [keys[s] for s in keys if s in own or states[keys[s]] != MISSING]
    label_runs = _Runs(instance, partition_runs(instance, asked))
    statuses = {
        s: _describe(instance, finder, label_runs, LABEL_JOB_ASSETS, keys[s], states[keys[s]]) for s in own
    }
    recorded = {
        s: _describe(instance, finder, label_runs, LABEL_JOB_ASSETS, keys[s], states[keys[s]])
        for s in others
        if states[keys[s]] != MISSING
    }
    return RunStatus(run_id, plan, statuses, unregistered, others, recorded)
