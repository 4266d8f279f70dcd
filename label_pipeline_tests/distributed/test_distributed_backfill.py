"""The ``distributed`` profile against real services: PostgreSQL instance, RabbitMQ broker, two
Celery worker processes and the Dagster daemon, all started here (``LocalCluster``).

* A backfill of the 8 symbols of one run (``dagster job backfill``: queued runs, dequeued by the
  daemon, steps executed by the Celery workers; the run's price plan is materialized first, in
  this process, into the same store and instance) materializes every partition, both workers
  execute steps (their node names and pids are in the event log), and every stored file is
  byte-identical to the local profile's, with the same recorded content hashes.
* Restarting the daemon and the code server mid-backfill (deploy/README.md, "When something
  dies"): both process groups SIGKILLed while runs of an asset backfill (``deploy/run.sh
  backfill``) are executing, then started again. Run monitoring fails the runs whose process died
  with the code server (``CodeServerRunLauncher``'s health check), run retries relaunch them, and
  the backfill completes alone: every partition whole and equal to the local profile's.
* Killing workers mid-backfill (deploy/README.md, "When a worker dies"): a worker killed as a whole
  (process group, SIGKILL, while a step of it is in flight) has that step redelivered to the other
  worker, and its run succeeds; a step process killed under the live worker fails its run (and only
  that partition), and a relaunch of the failed partition completes. Afterwards no partition is
  missing or half-written: every file exists, its footer hash is the recorded content hash, its
  bytes and hash are the local profile's, and no temporary file is left.

Isolation: a fresh Postgres database (created and dropped), a Celery queue of its own (deleted),
tmp storage root (a ``file://`` URL, as a remote store would be given) and DAGSTER_HOME. Every
process is its own process group, stopped at the end with bounded waits.

Without the services these tests skip and say what to start; with ``CI`` or
``LABEL_PIPELINE_REQUIRE_SERVICES`` set (true/1/yes) they fail instead.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, EventLogEntry

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run, register_run
from label_pipeline.demo.sample_data import make_run_frames, write_run
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.storage import storage_path, stored_file_metadata
from label_pipeline_tests.harness.cluster import (
    SERVICES_HELP,
    LocalCluster,
    failed_partitions,
    missing_services,
)
from label_pipeline_tests.harness.common import skip_or_fail

RUN_ID = "r1"
SYMBOLS = [f"S{i}/USDT" for i in range(8)]
N_BARS = 400
WORKERS = ("w1", "w2")
KILL_SYMBOLS = SYMBOLS[:3]
STEP_END = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    feature, replay = make_run_frames(SYMBOLS, N_BARS, seed=11)
    write_run(root, RUN_ID, feature, replay)
    return root


@pytest.fixture(scope="module")
def local(runs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The local profile's label store of the same run (in-process, ephemeral instance), and the
    content hash each materialization recorded: {(asset, partition key): hash}."""
    store = tmp_path_factory.mktemp("local_store")
    with DagsterInstance.ephemeral() as instance:
        outcomes = materialize_run(build_definitions(str(runs_root), str(store)), instance, RUN_ID, SYMBOLS)
    assert all(o.success for o in outcomes)
    hashes = {
        (asset, outcome.partition_key): metadata["content_hash"]
        for outcome in outcomes
        for asset, metadata in outcome.metadata.items()
        if "content_hash" in metadata
    }
    return store, hashes


@pytest.fixture(scope="module")
def cluster(runs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    missing = missing_services()
    if missing:
        skip_or_fail(f"distributed profile tests need {', '.join(missing)}: {SERVICES_HELP}")
    work = tmp_path_factory.mktemp("cluster")
    store_url = (work / "store").as_uri()  # a URL, as s3://... would be
    # run monitoring as deploy/dagster.yaml ships it, but runs stuck before they start are failed after
    # 60 s instead of 180 s, to keep the restart test short
    overrides = {"run_monitoring": {"start_timeout_seconds": 60}}
    with LocalCluster(work, str(runs_root), store_url, max_concurrent_runs=4, instance_overrides=overrides) as c:
        c.start_code_server()
        for name in WORKERS:
            c.start_worker(_worker(c, name))
        c.wait_for_code_server()
        c.start_daemon()
        c.wait_for_workers([_worker(c, name) for name in WORKERS])
        c.wait_for_daemon()
        # the run's partitions and price plan (what the run sensor and price_plan_job do)
        defs = build_definitions(str(runs_root), store_url)
        register_run(defs, c.instance, RUN_ID, SYMBOLS)
        plan = defs.resolve_job_def("price_plan_job").execute_in_process(
            partition_key=RUN_ID, instance=c.instance
        )
        assert plan.success
        yield c


def _worker(cluster: LocalCluster, name: str) -> str:
    return f"lp{cluster.token}{name}"


@pytest.fixture
def two_workers(cluster: LocalCluster) -> tuple[str, str]:
    """Both workers alive (a test that killed one leaves it dead; start it again)."""
    names = tuple(_worker(cluster, name) for name in WORKERS)
    for name in names:
        worker = cluster.workers[name]
        if worker.popen is None or worker.popen.poll() is not None or not worker.members():
            worker.kill()
            cluster.start_worker(name)
    cluster.wait_for_workers(names)
    return names  # type: ignore[return-value]


def _keys(symbols: list[str]) -> list[str]:
    return [f"{RUN_ID}|{symbol}" for symbol in symbols]


def _relative_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _store_path(cluster: LocalCluster) -> Path:
    return Path(cluster.storage_root.removeprefix("file://"))


def _remove_partitions(cluster: LocalCluster, symbols: list[str]) -> None:
    """Start from nothing: the partitions' files are written again by the test's backfill."""
    store = _store_path(cluster)
    for key in LABEL_JOB_ASSETS:
        for symbol in symbols:
            storage_path(store, key.path[-1], RUN_ID, symbol).unlink(missing_ok=True)


def _celery_worker_of(entry: EventLogEntry) -> str | None:
    """The Celery node that reported "Executing steps ... in celery worker" (None for other events)."""
    event = entry.dagster_event
    data = event.engine_event_data if event and event.event_type == DagsterEventType.ENGINE_EVENT else None
    value = data.metadata.get("Celery worker") if data is not None else None
    return None if value is None else value.value


def _assert_partitions_complete(cluster: LocalCluster, local: tuple[Path, dict], symbols: list[str]) -> None:
    """Every asset file of every partition: present, footer hash == last recorded content hash ==
    the local profile's recorded hash, bytes == the local profile's; no temporary file anywhere."""
    local_store, local_hashes = local
    store = _store_path(cluster)
    for symbol in symbols:
        for key in LABEL_JOB_ASSETS:
            stored = storage_path(store, key.path[-1], RUN_ID, symbol)
            local_file = storage_path(local_store, key.path[-1], RUN_ID, symbol)
            assert stored.is_file(), f"{stored} missing"
            assert stored.read_bytes() == local_file.read_bytes(), (
                f"{stored} differs from the local profile's"
            )
            recorded = _last_content_hash(cluster, key, f"{RUN_ID}|{symbol}")
            footer = stored_file_metadata(stored).get("label_pipeline.content_hash")
            if recorded is not None:  # input slices record no content_hash metadata
                assert footer == recorded, f"{stored}: footer hash {footer} != recorded {recorded}"
                assert recorded == local_hashes[(key.path[-1], f"{RUN_ID}|{symbol}")]
    leftovers = [p for p in store.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}"


def _last_content_hash(cluster: LocalCluster, key: AssetKey, partition: str) -> str | None:
    from dagster import AssetRecordsFilter

    records = cluster.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{key.to_user_string()} {partition}: no materialization recorded"
    value = records[0].asset_materialization.metadata.get("content_hash")
    return None if value is None else value.value


def test_backfill_of_8_symbols_spreads_over_both_workers_and_equals_local(
    cluster: LocalCluster, two_workers: tuple[str, str], local: tuple[Path, dict]
) -> None:
    keys = _keys(SYMBOLS)
    backfill_id = cluster.backfill("label_job", keys)  # the `dagster job backfill` CLI of the README
    runs = cluster.wait_for_backfill(backfill_id, keys, timeout=420)

    assert {run.tags["dagster/partition"] for run in runs} == set(keys)
    assert all(run.status.value == "SUCCESS" for run in runs), [(r.run_id, r.status) for r in runs]
    # one run per partition, executed by the celery executor of the distributed profile
    assert len(runs) == len(keys)

    nodes, step_pids = set(), set()
    for run in runs:
        for entry in cluster.instance.all_logs(run.run_id):
            if entry.dagster_event is None:
                continue
            if entry.dagster_event.event_type == DagsterEventType.ENGINE_EVENT:
                node = _celery_worker_of(entry)
                if node is not None:
                    nodes.add(node)
            elif entry.dagster_event.event_type == DagsterEventType.STEP_START:
                step_pids.add(entry.dagster_event.pid)
    assert nodes == {cluster.node_name(name) for name in two_workers}, nodes
    worker_pids = {name: set(cluster.workers[name].members()) for name in two_workers}
    for name, pids in worker_pids.items():
        assert step_pids & pids, (
            f"no step ran in a process of worker {name} (pids {pids}; step pids {step_pids})"
        )
    assert step_pids <= set().union(*worker_pids.values()), "a step ran outside the Celery workers"

    # worker determinism: byte-identical files and the same content hashes as the local profile
    store = _store_path(cluster)
    distributed, local_files = _relative_files(store), _relative_files(local[0])
    assert distributed.keys() == local_files.keys()
    assert [name for name in distributed if distributed[name] != local_files[name]] == []
    _assert_partitions_complete(cluster, local, SYMBOLS)


def _new_events(cluster: LocalCluster, cursor: int) -> tuple[list[EventLogEntry], int]:
    """Every event stored after ``cursor``, oldest first (one query)."""
    records = cluster.instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=cursor, limit=5000
    )
    return [records[storage_id] for storage_id in sorted(records)], max(records, default=cursor)


class _StepWatch:
    """Which steps are in flight in which process, from the event log."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.cursor = cluster.instance.event_log_storage.get_maximum_record_id() or 0
        self.running: dict[tuple[str, str], int] = {}  # (run_id, step_key) -> pid
        self.executed_by: list[tuple[str, str, str]] = []  # (run_id, step_key, celery node)

    def poll(self) -> None:
        entries, self.cursor = _new_events(self.cluster, self.cursor)
        for entry in entries:
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            key = (entry.run_id, entry.step_key)
            if event.event_type == DagsterEventType.STEP_START:
                self.running[key] = event.pid
            elif event.event_type in STEP_END:
                self.running.pop(key, None)
            elif (node := _celery_worker_of(entry)) is not None:
                self.executed_by.append((entry.run_id, entry.step_key, node))

    def in_flight(self, pids: set[int]) -> tuple[str, str] | None:
        return next((key for key, pid in self.running.items() if pid in pids), None)


def _kill_mid_step(watch: _StepWatch, pids_of, send, timeout: float = 240.0) -> tuple[str, str]:
    """Wait for a step in flight in one of ``pids_of()``, freeze its process (``send(pid, SIGSTOP)``)
    and kill it only if the step is still unfinished once frozen, so the kill lands mid-step;
    returns the (run_id, step_key) killed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch.poll()
        step = watch.in_flight(pids_of())
        if step is None:
            time.sleep(0.1)
            continue
        pid = watch.running[step]
        send(pid, signal.SIGSTOP)
        time.sleep(0.3)  # events already on their way to Postgres land
        watch.poll()
        if step in watch.running:
            send(pid, signal.SIGKILL)
            return step
        send(pid, signal.SIGCONT)
    raise TimeoutError("no step was seen in flight in the processes to kill")


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def test_killing_workers_mid_backfill_relaunches_and_leaves_every_partition_whole(
    cluster: LocalCluster, two_workers: tuple[str, str], local: tuple[Path, dict]
) -> None:
    survivor_name, victim_name = two_workers
    survivor, victim = cluster.workers[survivor_name], cluster.workers[victim_name]
    _remove_partitions(cluster, KILL_SYMBOLS)
    keys = _keys(KILL_SYMBOLS)
    watch = _StepWatch(cluster)
    backfill_id = cluster.backfill("label_job", keys, via_cli=False)

    # 1. a whole worker dies mid-step (machine lost): its step is redelivered to the other worker
    victim_pids = set(victim.members())
    lost_step = _kill_mid_step(
        watch,
        lambda: victim_pids,
        lambda pid, sig: victim.kill() if sig == signal.SIGKILL else victim.signal(sig),
    )
    assert not victim.members()

    # 2. a step process dies under the surviving worker (OOM kill): its run fails and is relaunched
    failed_step = _kill_mid_step(watch, lambda: set(survivor.members()) - {survivor.pgid}, _signal_pid)

    runs = cluster.wait_for_backfill(backfill_id, keys, timeout=420, on_poll=watch.poll)
    watch.poll()

    # the lost step ran again, on the survivor, in the same run
    assert (lost_step[0], lost_step[1], cluster.node_name(survivor_name)) in watch.executed_by, (
        watch.executed_by
    )
    # the run whose step process died failed (and only its partition); every other run succeeded
    failed_run = cluster.instance.get_run_by_id(failed_step[0])
    assert failed_run.status.value == "FAILURE", failed_run.status
    assert failed_partitions(runs) == [failed_run.tags["dagster/partition"]], [
        (r.run_id, r.status) for r in runs
    ]
    failure = next(
        entry for entry in cluster.instance.all_logs(failed_run.run_id, of_type=DagsterEventType.RUN_FAILURE)
    )
    assert "WorkerLostError" in (failure.message + str(failure.dagster_event.event_specific_data)), (
        failure.message
    )
    # a relaunch of the failed partition (deploy/README.md: a CLI backfill is not auto-retried) completes
    relaunch = cluster.backfill("label_job", failed_partitions(runs), via_cli=False)
    relaunched = cluster.wait_for_backfill(relaunch, failed_partitions(runs), timeout=240)
    assert [run.status.value for run in relaunched] == ["SUCCESS"]

    # nothing missing, nothing half-written: every file whole, hashed as recorded, equal to local
    _assert_partitions_complete(cluster, local, KILL_SYMBOLS)


def _restart_daemon_and_code_server(cluster: LocalCluster) -> None:
    assert cluster.code_server is not None and cluster.daemon is not None
    cluster.code_server.kill()
    cluster.daemon.kill()
    cluster.code_socket.unlink(missing_ok=True)  # a SIGKILLed server leaves its socket file
    cluster.start_code_server()
    cluster.wait_for_code_server()
    cluster.start_daemon()
    cluster.wait_for_daemon()


def test_daemon_and_code_server_restart_mid_backfill_recovers_without_manual_action(
    cluster: LocalCluster, two_workers: tuple[str, str], local: tuple[Path, dict]
) -> None:
    symbols = SYMBOLS[3:7]
    _remove_partitions(cluster, symbols)
    keys = _keys(symbols)
    watch = _StepWatch(cluster)
    backfill_id = cluster.asset_backfill("label_job", keys)  # deploy/run.sh backfill

    # kill both as soon as a run of the backfill executes a step: its run worker dies with the server
    deadline = time.monotonic() + 240
    while not watch.running and time.monotonic() < deadline:
        time.sleep(0.1)
        watch.poll()
    assert watch.running, "no step of the backfill started"
    stranded = {run_id for run_id, _ in watch.running}
    restarted_at = time.monotonic()
    _restart_daemon_and_code_server(cluster)

    backfill = cluster.wait_for_asset_backfill(backfill_id, timeout=420)
    recovery = time.monotonic() - restarted_at
    assert backfill.status.value == "COMPLETED_SUCCESS", (backfill.status, cluster.daemon.log_tail())

    runs = cluster.backfill_runs(backfill_id)
    assert not [run.run_id for run in runs if run.status.value not in ("SUCCESS", "FAILURE")]
    for run_id in stranded:  # failed by run monitoring's health check, not left STARTED for hours
        run = cluster.instance.get_run_by_id(run_id)
        assert run.status.value in ("SUCCESS", "FAILURE"), run.status
        if run.status.value == "FAILURE":
            failure = next(iter(cluster.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)))
            assert "Detected run worker status" in failure.message, failure.message
    print(f"backfill recovered {recovery:.0f} s after the restart; runs: "
          f"{[(r.tags.get('dagster/partition'), r.status.value) for r in runs]}")
    _assert_partitions_complete(cluster, local, symbols)
