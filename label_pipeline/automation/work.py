"""Which partitions need work: missing, failed or stale, as Dagster itself sees them.

Missing / failed / in progress come from the instance's partition status cache (one bulk read per
asset); stale comes from ``CachingStaleStatusResolver``, the same resolver the UI's "stale" badge
and Dagster's own ``stale_assets_only`` run requests use, so the schedule requests exactly what the
UI shows as stale (code version changed, or an upstream data version newer than the one the
partition was built from). A partition is judged over every asset its job materializes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    PartitionsDefinition,
    RunsFilter,
)
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleCause, StaleStatus
from dagster._core.events import RunFailureReason
from dagster._core.loader import LoadingContext
from dagster._core.storage.dagster_run import DagsterRun, RunRecord
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    RUN_FAILURE_REASON_TAG,
)

from label_pipeline.jobs import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS
from label_pipeline.partitions import partition_key, run_partitions, run_symbol_partitions

REASON_TAG = "label_pipeline/reason"  # run tag: why the sensor or a schedule requested the run
# run tag: the code version and input versions a label run was requested for (``WorkFinder.attempt``)
ATTEMPT_TAG = "label_pipeline/attempt"

MISSING, FAILED, STALE = "missing", "failed", "stale"
IN_PROGRESS, FRESH = "in_progress", "fresh"
NEEDS_WORK = (MISSING, FAILED, STALE)


def run_partition(run: DagsterRun) -> str | None:
    """The one partition a run materializes: its partition tag, or (a run of an asset backfill with
    one partition per run) the range of one key it carries instead; None for anything else."""
    key = run.tags.get(PARTITION_NAME_TAG)
    if key is not None:
        return key
    start = run.tags.get(ASSET_PARTITION_RANGE_START_TAG)
    return start if start is not None and start == run.tags.get(ASSET_PARTITION_RANGE_END_TAG) else None


def partition_runs(instance: DagsterInstance, keys: Sequence[str], limit: int | None = None) -> list[RunRecord]:
    """The runs of these partitions (``run_partition``), newest first: at most ``limit`` of each tag form."""
    if not keys:
        return []
    tagged = instance.get_run_records(RunsFilter(tags={PARTITION_NAME_TAG: list(keys)}), limit=limit)
    ranged = instance.get_run_records(RunsFilter(tags={ASSET_PARTITION_RANGE_START_TAG: list(keys)}), limit=limit)
    records = [*tagged, *(r for r in ranged if run_partition(r.dagster_run) is not None)]
    return sorted(records, key=lambda record: record.create_timestamp, reverse=True)


class _Scope(LoadingContext):
    """The request scope the resolver batches and caches its event-log reads in (one tick)."""

    def __init__(self, instance: DagsterInstance):
        self._instance = instance
        self._loaders: dict = {}

    @property
    def instance(self) -> DagsterInstance:
        return self._instance

    @property
    def loaders(self) -> dict:
        return self._loaders


class WorkFinder:
    """Answers "does this partition need work, and why?" for one tick (results are cached)."""

    def __init__(self, instance: DagsterInstance, asset_graph: BaseAssetGraph):
        self._instance = instance
        self._asset_graph = asset_graph
        self._resolver = CachingStaleStatusResolver(instance, asset_graph, _Scope(instance))

    def classify(
        self,
        asset_keys: Sequence[AssetKey],
        keys: Sequence[str],
        partitions_def: PartitionsDefinition,
    ) -> dict[str, str]:
        """``{partition key: state}`` over every asset of a job, the first that applies of:
        in_progress (any asset; it is being worked on), failed, missing, stale, fresh."""
        statuses: dict[AssetKey, Mapping[str, AssetPartitionStatus | None]] = {
            asset_key: self._instance.get_status_by_partition(asset_key, list(keys), partitions_def) or {}
            for asset_key in asset_keys
        }
        states: dict[str, str] = {}
        for key in keys:
            per_asset = [statuses[a].get(key) for a in asset_keys]
            if AssetPartitionStatus.IN_PROGRESS in per_asset:
                states[key] = IN_PROGRESS
            elif AssetPartitionStatus.FAILED in per_asset:
                states[key] = FAILED
            elif any(status is None for status in per_asset):
                states[key] = MISSING
            elif any(self._resolver.get_status(a, key) == StaleStatus.STALE for a in asset_keys):
                states[key] = STALE
            else:
                states[key] = FRESH
        return states

    def stale_causes(self, asset_keys: Sequence[AssetKey], key: str) -> list[tuple[AssetKey, StaleCause]]:
        """Why the partition is stale: ``(asset, cause)`` for each stale asset of ``asset_keys``, in
        their order, with the causes Dagster's resolver gives (the UI's "stale" popover)."""
        return [
            (asset_key, cause)
            for asset_key in asset_keys
            if self._resolver.get_status(asset_key, key) == StaleStatus.STALE
            for cause in self._resolver.get_stale_causes(asset_key, key)
        ]

    def attempt(self, key: str) -> str:
        """What a label run of this partition is an attempt on: the label code version (config
        included) and the latest observations of the partition's two input files. A partition
        that failed on an attempt fails again on the same one; a new attempt needs a change."""
        from label_pipeline.assets.sources import SOURCE_KEYS  # the assets layer, only here

        parts = [str(self._asset_graph.get(LABEL_JOB_ASSETS[-1]).code_version)]
        for source in SOURCE_KEYS.values():
            records = self._instance.fetch_observations(
                AssetRecordsFilter(asset_key=source, asset_partitions=[key]), limit=1
            ).records
            parts.append(str(records[0].storage_id) if records else "-")
        return "/".join(parts)

    def failed_on(self, key: str) -> str | None:
        """The attempt this partition's latest run failed on, if its latest run failed in its own
        steps. A run lost to the infrastructure (its process died with a code server, it never
        started, a worker was killed) says nothing about its inputs and code: it is not counted,
        and the partition is requested again."""
        records = partition_runs(self._instance, [key], limit=1)
        if not records:
            return None
        run = records[0].dagster_run
        if run.status != DagsterRunStatus.FAILURE:
            return None
        if run.tags.get(RUN_FAILURE_REASON_TAG) != RunFailureReason.STEP_FAILURE.value:
            return None
        return run.tags.get(ATTEMPT_TAG)

    def labels(self, run_id: str, symbols: Sequence[str]) -> dict[str, str]:
        """The run's (run, symbol) partitions that label_job should materialize, with the reason."""
        keys = [partition_key(run_id, s) for s in symbols]
        states = self.classify(LABEL_JOB_ASSETS, keys, run_symbol_partitions)
        return {key: state for key, state in states.items() if state in NEEDS_WORK}

    def plan_state(self, run_id: str) -> str:
        return self.classify(PLAN_JOB_ASSETS, [run_id], run_partitions)[run_id]

    def plan(self, run_id: str) -> str | None:
        """Why the run's price plan needs materializing; None when it is fresh or in progress."""
        state = self.plan_state(run_id)
        return state if state in NEEDS_WORK else None
