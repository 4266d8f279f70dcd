"""The ``distributed`` profile against real services: PostgreSQL instance, RabbitMQ broker, two
Celery worker processes and the Dagster daemon, all started here (``LocalCluster``).

* A backfill of the 8 symbols of one run (``dagster job backfill``: queued runs, dequeued by the
  daemon, steps executed by the Celery workers; the run's price plan is materialized first, in
  this process, into the same store and instance) materializes every partition, both workers
  execute steps (their node names and pids are in the event log), and every stored file is
  byte-identical to the local profile's, with the same recorded content hashes.
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
from pathlib import Path

from dagster import DagsterEventType

from label_pipeline_tests.harness.backfill import (
    SYMBOLS,
    StepWatch,
    assert_partitions_complete,
    celery_worker_of,
    partition_keys,
    relative_files,
    remove_partitions,
    store_path,
)
from label_pipeline_tests.harness.cluster import LocalCluster, failed_partitions

KILL_SYMBOLS = SYMBOLS[:3]


def test_backfill_of_8_symbols_spreads_over_both_workers_and_equals_local(
    cluster: LocalCluster, two_workers: tuple[str, str], local: tuple[Path, dict]
) -> None:
    keys = partition_keys(SYMBOLS)
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
                node = celery_worker_of(entry)
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
    store = store_path(cluster)
    distributed, local_files = relative_files(store), relative_files(local[0])
    assert distributed.keys() == local_files.keys()
    assert [name for name in distributed if distributed[name] != local_files[name]] == []
    assert_partitions_complete(cluster, local, SYMBOLS)


def _kill_mid_step(watch: StepWatch, pids_of, send, timeout: float = 240.0) -> tuple[str, str]:
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
    remove_partitions(cluster, KILL_SYMBOLS)
    keys = partition_keys(KILL_SYMBOLS)
    watch = StepWatch(cluster)
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
    assert_partitions_complete(cluster, local, KILL_SYMBOLS)


