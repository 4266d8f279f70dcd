"""What the distributed backfill tests share: the run they backfill, and how they check a store
and watch steps in flight (the event log), against a ``LocalCluster``."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, DagsterEventType, EventLogEntry

from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.storage import storage_path, stored_file_metadata
from label_pipeline_tests.harness.cluster import LocalCluster

RUN_ID = "r1"
SYMBOLS = [f"S{i}/USDT" for i in range(8)]
N_BARS = 400
WORKERS = ("w1", "w2")
STEP_END = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)


def worker_name(cluster: LocalCluster, name: str) -> str:
    return f"lp{cluster.token}{name}"


def partition_keys(symbols: list[str]) -> list[str]:
    return [f"{RUN_ID}|{symbol}" for symbol in symbols]


def relative_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def store_path(cluster: LocalCluster) -> Path:
    return Path(cluster.storage_root.removeprefix("file://"))


def remove_partitions(cluster: LocalCluster, symbols: list[str]) -> None:
    """Start from nothing: the partitions' files are written again by the test's backfill."""
    store = store_path(cluster)
    for key in LABEL_JOB_ASSETS:
        for symbol in symbols:
            storage_path(store, key.path[-1], RUN_ID, symbol).unlink(missing_ok=True)


def celery_worker_of(entry: EventLogEntry) -> str | None:
    """The Celery node that reported "Executing steps ... in celery worker" (None for other events)."""
    event = entry.dagster_event
    data = event.engine_event_data if event and event.event_type == DagsterEventType.ENGINE_EVENT else None
    value = data.metadata.get("Celery worker") if data is not None else None
    return None if value is None else value.value


def assert_partitions_complete(cluster: LocalCluster, local: tuple[Path, dict], symbols: list[str]) -> None:
    """Every asset file of every partition: present, footer hash == last recorded content hash ==
    the local profile's recorded hash, bytes == the local profile's; no temporary file anywhere."""
    local_store, local_hashes = local
    store = store_path(cluster)
    for symbol in symbols:
        for key in LABEL_JOB_ASSETS:
            stored = storage_path(store, key.path[-1], RUN_ID, symbol)
            local_file = storage_path(local_store, key.path[-1], RUN_ID, symbol)
            assert stored.is_file(), f"{stored} missing"
            assert stored.read_bytes() == local_file.read_bytes(), (
                f"{stored} differs from the local profile's"
            )
            recorded = last_content_hash(cluster, key, f"{RUN_ID}|{symbol}")
            footer = stored_file_metadata(stored).get("label_pipeline.content_hash")
            if recorded is not None:  # input slices record no content_hash metadata
                assert footer == recorded, f"{stored}: footer hash {footer} != recorded {recorded}"
                assert recorded == local_hashes[(key.path[-1], f"{RUN_ID}|{symbol}")]
    leftovers = [p for p in store.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}"


def last_content_hash(cluster: LocalCluster, key: AssetKey, partition: str) -> str | None:
    from dagster import AssetRecordsFilter

    records = cluster.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{key.to_user_string()} {partition}: no materialization recorded"
    value = records[0].asset_materialization.metadata.get("content_hash")
    return None if value is None else value.value


def new_events(cluster: LocalCluster, cursor: int) -> tuple[list[EventLogEntry], int]:
    """Every event stored after ``cursor``, oldest first (one query)."""
    records = cluster.instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=cursor, limit=5000
    )
    return [records[storage_id] for storage_id in sorted(records)], max(records, default=cursor)


class StepWatch:
    """Which steps are in flight in which process, from the event log."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.cursor = cluster.instance.event_log_storage.get_maximum_record_id() or 0
        self.running: dict[tuple[str, str], int] = {}  # (run_id, step_key) -> pid
        self.executed_by: list[tuple[str, str, str]] = []  # (run_id, step_key, celery node)

    def poll(self) -> None:
        entries, self.cursor = new_events(self.cluster, self.cursor)
        for entry in entries:
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            key = (entry.run_id, entry.step_key)
            if event.event_type == DagsterEventType.STEP_START:
                self.running[key] = event.pid
            elif event.event_type in STEP_END:
                self.running.pop(key, None)
            elif (node := celery_worker_of(entry)) is not None:
                self.executed_by.append((entry.run_id, entry.step_key, node))

    def in_flight(self, pids: set[int]) -> tuple[str, str] | None:
        return next((key for key, pid in self.running.items() if pid in pids), None)
