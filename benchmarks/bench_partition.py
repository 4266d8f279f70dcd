"""One pass per partition (issue 10): the label step of one (run, symbol) partition against the
reference, its peak memory over 1 to 5 years of bars, and Dagster's overhead per partition.

    .venv/bin/python benchmarks/bench_partition.py [--years 1,2,5] [--skip-reference] [--skip-postgres]
        [--skip-launcher] [--skip-dg-launch] [--partitions 20] [--repeat N] [--pairs N] [--quick] [--json FILE]

Every side runs in its own fresh subprocess (this script re-invoked with ``--child``), so each
one's peak RSS (``ru_maxrss``) is its own. One symbol-year is 525,600 one-minute bars with
realistic gaps and NaNs (``make_run_frames(..., messiness=REALISTIC)``).

- reference: ``run_reference.py ROOT RUN`` on the one-symbol-year run directory (all its
  artifacts), one process.
- warm step: a process that imported everything and materialized another (small) partition
  first, then times ``label_job`` for the symbol-year partition in process (SQLite instance);
  when label_job holds artifacts the reference does not build, the same step with exactly the
  reference's eight artifacts selected is timed too (a subset run of label_job). The same process
  then times the engine alone on the same inputs (``engine.label_partition`` streaming both inputs
  + publish, no Dagster), which splits the step into engine and Dagster; the engine's CPU time
  (every thread) over the cores is the shortest wall that work can take on the machine.
- cold command: the command the README documents for one partition, ``label-pipeline rerun RUN
  SYMBOL``, in a fresh process (DAGSTER_HOME, LABEL_PIPELINE_RUNS_ROOT and _STORAGE_ROOT set to
  temporary folders, the run registered and its price plan materialized beforehand), timed as a
  whole; and ``dg launch --job label_job --partition RUN|SYMBOL`` for comparison. With ``--pairs N``
  the reference and this command run in turn N times, and the ratio of each pair is printed with
  their median: the machine's speed drifts over minutes, and a pair meets the same machine.
- RSS: a process that imports, registers the run, materializes the plan and then the partition's
  label_job once, and exits; at 1, 2 and 5 years of bars.
- overhead: N small partitions (N symbols x 1 day = 1,440 bars) materialized one Dagster run each,
  in process, after a warm-up partition, on a fresh SQLite instance on disk (the storage
  ``label-pipeline`` configures, ``label_pipeline.sqlite_storage``; ``BENCH_STOCK_SQLITE=1`` for
  Dagster's own) and on a fresh PostgreSQL database (127.0.0.1:5432); for each partition the engine alone is timed on the same
  inputs right before its run. Overhead / partition = (sum of run walls - sum of engine) / N.
- launcher (PostgreSQL): the same N partitions as a real asset backfill (the UI's Materialize over
  partitions): the backfill daemon's and the run queue's iterations called back to back, the
  default run launcher starting each run in its own process, at most ``os.cpu_count()`` at once.

Each phase prints the load average before and after it and the share of the machine's CPU time
the host stole meanwhile (/proc/stat); the commands' CPU time (user + system) is printed beside
their wall time. On a shared VM the reference's wall time moves by a third from run to run; CPU
time leaves out what the host stole but not a core slowed by its neighbours, so it narrows that
noise without removing it, and ``--pairs`` puts each cold run beside its own reference.

``--quick`` shrinks everything (a week instead of a year, 4 small partitions, no launcher) to
check the script itself; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent

YEAR_BARS = 525_600
SYMBOL = "SYM"
SMALL_RUN, WARM_RUN = "small", "warm"
# The reference's artifacts of a (run, symbol) partition (run_reference.py writes these, plus the
# run-level price plan).
REFERENCE_SET = (
    "feature_frame",
    "replay_1m",
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
)
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
SECTIONS = ("warm", "reference", "cold", "rss", "sqlite", "postgres", "launcher")
GOALS = {
    "warm_ratio": 40.0,
    "cold_ratio": 15.0,
    "rss_1y_mb": 500.0,
    "rss_span_mb": 600.0,
    "overhead_sqlite_s": 0.5,
    "overhead_postgres_s": 1.5,
}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hwm_mb() -> float:
    """This process's own peak RSS (VmHWM, per address space: reset by exec, unlike ru_maxrss,
    which Linux carries over from the parent through fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return _maxrss_mb()


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------------------------------------
# children: each runs in its own process and prints one JSON line
# ---------------------------------------------------------------------------------------------


def _label_job_names() -> list[str]:
    from label_pipeline.jobs import LABEL_JOB_ASSETS

    return [k.to_user_string() for k in LABEL_JOB_ASSETS]


def _job(defs, names: list[str] | None):
    """label_job, or its subset with exactly ``names`` (their checks come with them)."""
    from dagster import AssetKey

    job = defs.resolve_job_def("label_job")
    if names is None or set(names) == set(_label_job_names()):
        return job
    return job.get_subset(asset_selection={AssetKey(n) for n in names})


def _instance_home(path: Path, postgres_url: str | None = None, queue: int | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    text = "telemetry:\n  enabled: false\n"
    if not postgres_url and not os.environ.get("BENCH_STOCK_SQLITE"):
        # the default profile's storage (the instance `label-pipeline` writes): Dagster's SQLite
        # files, the event log's connections kept (label_pipeline/sqlite_storage.py)
        text += (
            "storage:\n  custom:\n    module: label_pipeline.sqlite_storage\n    class: KeptSqliteStorage\n"
            f"    config:\n      base_dir: {json.dumps(str(path.resolve()))}\n"
        )
    if postgres_url:
        # the distributed profile's storage (deploy/dagster.yaml): dagster-postgres with kept connections
        text += (
            "storage:\n  custom:\n    module: label_pipeline.postgres_storage\n    class: PooledPostgresStorage\n"
            f"    config:\n      postgres_url: {json.dumps(postgres_url)}\n"
        )
    if queue:
        text += (
            "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
            f"  config:\n    max_concurrent_runs: {queue}\n"
            "run_launcher:\n  module: dagster.core.launcher\n  class: DefaultRunLauncher\n"
        )
    text += os.environ.get("BENCH_INSTANCE_YAML", "")  # extra instance settings to compare (sqlite/postgres phases)
    (path / "dagster.yaml").write_text(text)
    return path


def _prepare(defs, instance, runs: dict[str, list[str]], observe: bool = True) -> None:
    """Register each run (partitions, and input observations as the sensor records them unless
    ``observe`` is false) and materialize its price plan."""
    from label_pipeline.demo.local_run import register_run
    from label_pipeline.partitions import register_partitions

    plan = defs.resolve_job_def("price_plan_job")
    for run_id, symbols in runs.items():
        if observe:
            register_run(defs, instance, run_id, symbols)
        else:
            register_partitions(instance, run_id, symbols)
        assert plan.execute_in_process(partition_key=run_id, instance=instance, run_config=QUIET).success


def _run_phases(instance, result, t0: float, t1: float) -> dict[str, Any]:
    """Where a run's wall time went, from its event log: before the run started (run record,
    execution plan, planned events), start-up (resources), the step, after the step, and the
    return from execute_in_process; plus its event counts."""
    from dagster import DagsterEventType as E

    logs = instance.all_logs(result.run_id)
    first: dict[Any, float] = {}
    for entry in logs:
        if entry.dagster_event is not None:
            first.setdefault(entry.dagster_event.event_type, entry.timestamp)
    step_start, step_end = first[E.STEP_START], first[E.STEP_SUCCESS]
    run_start, run_end = first[E.RUN_START], first[E.RUN_SUCCESS]
    return {
        "wall_s": t1 - t0,
        "step_s": step_end - step_start,
        "before_run_start_s": run_start - t0,
        "run_start_to_step_s": step_start - run_start,
        "step_to_run_end_s": run_end - step_end,
        "after_run_end_s": t1 - run_end,
        "events": len(result.all_events),
        "event_log_entries": len(logs),
        "dagster_events_stored": sum(e.dagster_event is not None for e in logs),
    }


def _materialize(defs, instance, run_id: str, symbol: str, names: list[str] | None) -> dict[str, Any]:
    from label_pipeline.partitions import partition_key

    job = _job(defs, names)
    t0 = time.time()
    result = job.execute_in_process(partition_key=partition_key(run_id, symbol), instance=instance, run_config=QUIET)
    t1 = time.time()
    assert result.success, run_id
    out = _run_phases(instance, result, t0, t1)
    out["assets"] = sorted({e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization})
    return out


def _engine_alone(runs_root: str, store: str, run_id: str, symbol: str, names: list[str]) -> dict[str, float]:
    """The partition's work without Dagster: the engine's one pass (read, check and stage both
    slices as streamed; build, write, hash, check every selected artifact), publish."""
    from label_pipeline.config import CHUNK_DAYS, load_effective_config
    from label_pipeline.engine import label_partition
    from label_pipeline.inputs import read_symbol_table, run_files, symbol_batches
    from label_pipeline.labels.price_plan import plan_from_frame, price_plan_context, price_plan_frame
    from label_pipeline.slices import Streamed
    from label_pipeline.storage import storage_path

    t0, c0 = time.perf_counter(), time.process_time()
    config = load_effective_config()
    files = run_files(runs_root, run_id)
    features, replay = (
        Streamed(
            batches=lambda w=which: symbol_batches(files, w, symbol),
            whole=lambda w=which: read_symbol_table(files, w, symbol),
        )
        for which in ("feature", "replay")
    )
    t1 = time.perf_counter()  # the inputs are read, checked and staged inside the pass
    output = label_partition(
        selected=names,
        paths=lambda name: storage_path(store, name, run_id, symbol),
        config=config,
        features=features,
        replay=replay,
        plan=plan_from_frame(price_plan_frame(price_plan_context(config))),
        chunk_rows=CHUNK_DAYS * 1440,
    )
    t2 = time.perf_counter()
    failed = [r.artifact.name for r in output.results.values() if not r.passed]
    assert not failed, failed
    output.publish()
    t3 = time.perf_counter()
    # CPU of every thread of the process (nothing else runs meanwhile): over the cores, the
    # shortest wall this work allows on this machine
    cpu = time.process_time() - c0
    return {"read_s": t1 - t0, "engine_s": t2 - t1, "publish_s": t3 - t2, "total_s": t3 - t0, "cpu_s": cpu}


def child_warm_step(spec: dict) -> dict:
    t0 = time.perf_counter()
    from dagster import DagsterInstance

    from label_pipeline.definitions import build_definitions
    from label_pipeline.kernel.path_stats import warm_up

    warm_up()
    imports_s = time.perf_counter() - t0
    runs, store, run_id = spec["runs"], spec["store"], spec["run_id"]
    all_names = _label_job_names()
    subsets = {"label_job": None}
    if set(all_names) != set(REFERENCE_SET):
        subsets["reference_set"] = list(REFERENCE_SET)
    defs = build_definitions(runs, store)
    out: dict[str, Any] = {"imports_s": imports_s, "label_job_assets": all_names}
    with DagsterInstance.from_config(str(_instance_home(Path(spec["home"])))) as instance:
        _prepare(defs, instance, {WARM_RUN: [SYMBOL], run_id: [SYMBOL]})
        for names in subsets.values():  # warm-up: every code path of the timed runs, on a tiny partition
            _materialize(defs, instance, WARM_RUN, SYMBOL, names)
        out["rss_before_mb"] = _hwm_mb()
        for label, names in subsets.items():
            out[label] = [_materialize(defs, instance, run_id, SYMBOL, names) for _ in range(spec["repeat"])]
    out["rss_after_dagster_mb"] = _hwm_mb()
    for label, names in subsets.items():
        out[f"engine_{label}"] = [
            _engine_alone(runs, spec["engine_store"], run_id, SYMBOL, names or all_names)
            for _ in range(spec["repeat"])
        ]
    out["peak_rss_mb"] = _hwm_mb()
    return out


def child_rss(spec: dict) -> dict:
    """Imports, materializes the partition once, exits: its ru_maxrss."""
    t0 = time.perf_counter()
    from dagster import DagsterInstance

    from label_pipeline.definitions import build_definitions

    imports_s = time.perf_counter() - t0
    rss_imports = _hwm_mb()
    defs = build_definitions(spec["runs"], spec["store"])
    with DagsterInstance.from_config(str(_instance_home(Path(spec["home"])))) as instance:
        # no input observation here: it reads the whole files (the sensor's and `register`'s work,
        # in their own processes), and is not what materializing the partition costs
        _prepare(defs, instance, {spec["run_id"]: [SYMBOL]}, observe=False)
        rss_before = _hwm_mb()
        run = _materialize(defs, instance, spec["run_id"], SYMBOL, spec.get("names"))
    return {
        "imports_s": imports_s,
        "rss_after_imports_mb": rss_imports,
        "rss_before_step_mb": rss_before,
        "peak_rss_mb": _hwm_mb(),
        "ru_maxrss_mb": _maxrss_mb(),
        "rss_at_exit_mb": _rss_now_mb(),
        "run": run,
    }


def child_memory(spec: dict) -> dict:
    """Where the step's time and memory go: a thread samples this process's RSS every 5 ms while
    the partition is materialized once (as ``child_rss``), and wrappers around the step's phases
    (input reads, the engine's pass and its parts, the type checks, the events) label the samples.
    Per phase: calls, seconds, RSS on entry and the highest RSS seen while it was the innermost."""
    import functools
    import threading

    from dagster import DagsterInstance

    import label_pipeline.assets.labels as labels_mod
    import label_pipeline.engine as engine_mod
    import label_pipeline.quality as quality_mod
    from label_pipeline.definitions import build_definitions

    stack = ["outside the step"]
    stats: dict[str, dict[str, float]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = _rss_now_mb()
            slot = stats.setdefault(stack[-1], {"calls": 0, "seconds": 0.0, "rss_in_mb": 0.0, "peak_mb": 0.0})
            slot["peak_mb"] = max(slot["peak_mb"], rss)
            time.sleep(0.005)

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None:  # the package moved on: that phase is just not labelled
            return

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            slot = stats.setdefault(label, {"calls": 0, "seconds": 0.0, "rss_in_mb": 0.0, "peak_mb": 0.0})
            slot["calls"] += 1
            if slot["calls"] == 1:
                slot["rss_in_mb"] = _rss_now_mb()  # on the first entry
            stack.append(label)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                slot["seconds"] += time.perf_counter() - start
                stack.pop()

        setattr(owner, name, wrapper)

    wrap(engine_mod, "_input_slices", "inputs: read (streamed) + check + stage both slices")
    wrap(engine_mod._ChunkInputs, "_compute", "engine: path-stats kernel")
    wrap(engine_mod._Sink, "add", "engine: sink add (sample, counts, checks, quality)")
    wrap(quality_mod.Quality, "facts", "engine: quality facts + chart")
    wrap(engine_mod._Sink, "finish", "engine: sink finish (file footer, distribution)")
    wrap(engine_mod.PartitionOutput, "publish", "publish (rename)")
    wrap(labels_mod, "_type_problems", "dagster-pandas type checks (type_check)")
    wrap(labels_mod, "label_manifest", "manifests")
    defs = build_definitions(spec["runs"], spec["store"])
    with DagsterInstance.from_config(str(_instance_home(Path(spec["home"])))) as instance:
        _prepare(defs, instance, {spec["run_id"]: [SYMBOL]}, observe=False)
        rss_before = _hwm_mb()
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        run = _materialize(defs, instance, spec["run_id"], SYMBOL, spec.get("names"))
        stop.set()
        thread.join()
    return {"rss_before_step_mb": rss_before, "peak_rss_mb": _hwm_mb(), "run": run, "phases": stats}


def child_overhead(spec: dict) -> dict:
    """N small partitions through Dagster in process, and the engine alone on the same inputs."""
    from dagster import DagsterInstance

    from label_pipeline.definitions import build_definitions
    from label_pipeline.kernel.path_stats import warm_up

    warm_up()
    runs, store, symbols = spec["runs"], spec["store"], spec["symbols"]
    names = _label_job_names()
    defs = build_definitions(runs, store)
    home = _instance_home(Path(spec["home"]), spec.get("postgres_url"))
    out: dict[str, Any] = {"runs": [], "engine": []}
    with DagsterInstance.from_config(str(home)) as instance:
        t0 = time.perf_counter()
        _prepare(defs, instance, {WARM_RUN: [SYMBOL], SMALL_RUN: symbols})
        out["prepare_s"] = time.perf_counter() - t0
        _materialize(defs, instance, WARM_RUN, SYMBOL, None)
        _engine_alone(runs, spec["engine_store"], WARM_RUN, SYMBOL, names)
        # the cost of one event write on this storage
        from dagster import AssetObservation

        t0 = time.perf_counter()
        for i in range(40):
            instance.report_runless_asset_event(AssetObservation("bench_probe", metadata={"i": i}))
        out["event_write_ms"] = (time.perf_counter() - t0) / 40 * 1000
        for symbol in symbols:  # interleaved, so load drift hits both sides alike
            out["engine"].append(_engine_alone(runs, spec["engine_store"], SMALL_RUN, symbol, names))
            out["runs"].append(_materialize(defs, instance, SMALL_RUN, symbol, None))
    return out


def child_launcher(spec: dict) -> dict:
    """The N partitions as a real asset backfill through the run queue and the default run launcher
    (a new process per run), on a Postgres instance; bench_backfill.py's recipe."""
    import logging

    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from label_pipeline.definitions import build_definitions
    from label_pipeline.jobs import LABEL_JOB_ASSETS
    from label_pipeline.kernel.path_stats import warm_up
    from label_pipeline.partitions import partition_key

    warm_up()
    runs, store, symbols = spec["runs"], spec["store"], spec["symbols"]
    concurrency = spec["concurrency"]
    home = _instance_home(Path(spec["home"]), spec["postgres_url"], queue=concurrency)
    workspace = home / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: label_pipeline.definitions\n"
        f"      attribute: defs\n      working_directory: {REPO}\n      location_name: bench\n"
    )
    for key in [k for k in os.environ if k.startswith("LABEL_PIPELINE_")]:
        del os.environ[key]
    os.environ.update(
        {"LABEL_PIPELINE_RUNS_ROOT": runs, "LABEL_PIPELINE_STORAGE_ROOT": store, "DAGSTER_HOME": str(home)}
    )
    names = _label_job_names()
    engine = [_engine_alone(runs, spec["engine_store"], SMALL_RUN, s, names) for s in symbols]
    logger = logging.getLogger("bench")
    logger.setLevel(logging.WARNING)
    with DagsterInstance.from_config(str(home)) as instance:
        _prepare(build_definitions(runs, store), instance, {SMALL_RUN: symbols})
        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context:
            asset_graph = context.create_request_context().asset_graph
            backfill = PartitionBackfill.from_asset_partitions(
                backfill_id="bench",
                asset_graph=asset_graph,
                partition_names=[partition_key(SMALL_RUN, s) for s in symbols],
                asset_selection=list(LABEL_JOB_ASSETS),
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=False,
                title=None,
                description=None,
                run_config=QUIET,
            )
            queue = QueuedRunCoordinatorDaemon(interval_seconds=0)
            unfinished = [
                DagsterRunStatus.QUEUED,
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED,
            ]
            start = time.perf_counter()
            instance.add_backfill(backfill)
            while True:
                list(execute_backfill_iteration(context, logger))
                list(queue.run_iteration(context))
                status = instance.get_backfill("bench").status
                if status != BulkActionStatus.REQUESTED and not instance.get_runs(RunsFilter(statuses=unfinished)):
                    break
                if time.perf_counter() - start > spec.get("timeout", 1500):
                    raise TimeoutError("the backfill did not finish")
                time.sleep(0.1)
            wall = time.perf_counter() - start
            done = instance.get_runs(RunsFilter(tags={"dagster/backfill": "bench"}))
            failed = [r.run_id for r in done if r.status != DagsterRunStatus.SUCCESS]
            assert status == BulkActionStatus.COMPLETED_SUCCESS and not failed, (status, failed)
            assert len(done) == len(symbols), len(done)
            starts, bodies, steps = [], [], []
            for run in done:
                t: dict[Any, float] = {}
                for entry in instance.all_logs(run.run_id):
                    if entry.dagster_event is not None:
                        t.setdefault(entry.dagster_event.event_type, entry.timestamp)
                starts.append(t[DagsterEventType.RUN_START] - t[DagsterEventType.RUN_STARTING])
                bodies.append(t[DagsterEventType.RUN_SUCCESS] - t[DagsterEventType.RUN_START])
                steps.append(t[DagsterEventType.STEP_SUCCESS] - t[DagsterEventType.STEP_START])
    n = len(symbols)
    return {
        "partitions": n,
        "wall_s": wall,
        "engine_sum_s": sum(e["total_s"] for e in engine),
        "run_worker_start_s": sum(starts) / n,
        "run_execution_s": sum(bodies) / n,
        "step_s": sum(steps) / n,
        "concurrency": concurrency,
    }


def child_setup_cli(spec: dict) -> dict:
    """The state a user has before rerunning one partition: the run registered, its plan materialized
    (the instance of DAGSTER_HOME, the folders of the environment)."""
    from dagster import DagsterInstance

    from label_pipeline.definitions import build_definitions

    defs = build_definitions()
    with DagsterInstance.get() as instance:
        _prepare(defs, instance, {spec["run_id"]: [SYMBOL]})
    return {"ok": True}


def child_command(spec: dict) -> dict:
    """Run a command; its wall time, CPU time and peak RSS (RUSAGE_CHILDREN of this process: the
    command and whatever it started)."""
    env = {**os.environ, **spec.get("env", {})}
    start = time.perf_counter()
    proc = subprocess.run(spec["argv"], env=env, cwd=spec.get("cwd", str(REPO)), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # this process is small and its parent too (ru_maxrss is inherited through fork + exec)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['argv']} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return {
        "seconds": seconds,
        "cpu_s": children.ru_utime + children.ru_stime,
        "peak_rss_mb": children.ru_maxrss / 1024,
        "stdout_tail": proc.stdout[-1500:],
        "stderr_tail": proc.stderr[-1500:],
    }


def child_write_runs(spec: dict) -> dict:
    return {"bars": _write_runs(Path(spec["runs"]), spec["years"], spec["year_bars"], spec["partitions"])}


def child_db(spec: dict) -> dict:
    from label_pipeline_tests.harness.cluster import (
        create_database,
        dagster_postgres_url,
        drop_database,
        postgres_admin_url,
    )

    if spec["action"] == "drop":
        drop_database(spec["admin"], spec["name"])
        return {}
    admin = postgres_admin_url()
    if admin is None:
        return {"admin": None}
    return {"admin": admin, "name": spec["name"], "url": dagster_postgres_url(create_database(admin, spec["name"]))}


def child_versions(spec: dict) -> dict:
    from importlib.metadata import version

    return {
        "versions": {p: version(p) for p in ("dagster", "numpy", "pandas", "pyarrow", "numba")},
        "label_job": _label_job_names(),
    }


CHILDREN = {
    "write_runs": child_write_runs,
    "db": child_db,
    "versions": child_versions,
    "warm_step": child_warm_step,
    "rss": child_rss,
    "memory": child_memory,
    "overhead": child_overhead,
    "launcher": child_launcher,
    "setup_cli": child_setup_cli,
    "command": child_command,
}


# ---------------------------------------------------------------------------------------------
# the parent: data, phases, table
# ---------------------------------------------------------------------------------------------


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind (/proc/stat: user nice system idle iowait irq softirq
    steal ...); empty where there is no /proc."""
    try:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return []


def _steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of the machine's CPU time the host took for other guests between two readings:
    on a shared VM a phase can lose a third of its cores without any load of its own showing."""
    if len(before) < 8 or len(after) < 8:
        return None
    total = sum(after[:8]) - sum(before[:8])
    return (after[7] - before[7]) / total if total > 0 else None


class Phases:
    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []

    def run_optional(self, *args: Any, **kwargs: Any) -> dict | None:
        """A phase whose failure is reported, not fatal."""
        try:
            return self.run(*args, **kwargs)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            print(f"phase failed, left out: {exc}", file=sys.stderr, flush=True)
            return None

    def run(
        self,
        title: str,
        child: str,
        spec: dict,
        env: dict[str, str] | None = None,
        timeout: float = 3600,
        quiet: bool = False,
    ) -> dict:
        before, ticks = _load(), _cpu_ticks()
        if not quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {title}: load before {before}", flush=True)
        start = time.perf_counter()
        out_file = Path(tempfile.mkstemp(prefix="bench_partition_", suffix=".json")[1])
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", child, json.dumps(spec), "--out", str(out_file)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
        after, steal = _load(), _steal_share(ticks, _cpu_ticks())
        text = out_file.read_text()
        out_file.unlink(missing_ok=True)
        if proc.returncode != 0 or not text:
            print(proc.stdout[-4000:], proc.stderr[-6000:], sep="\n", file=sys.stderr)
            raise RuntimeError(f"phase {title!r} failed (exit {proc.returncode})")
        result = json.loads(text)
        elapsed = time.perf_counter() - start
        if quiet:
            return result
        stolen = f", {steal:.0%} of the CPU stolen by the host" if steal is not None else ""
        print(f"[{time.strftime('%H:%M:%S')}] {title}: done in {elapsed:.1f} s, load after {after}{stolen}", flush=True)
        self.log.append(
            {"phase": title, "load_before": before, "load_after": after, "steal": steal, "elapsed_s": round(elapsed, 1)}
        )
        return result


def _write_runs(runs: Path, years: list[float], year_bars: int, partitions: int) -> dict[str, int]:
    from label_pipeline.demo.sample_data import REALISTIC, make_run_frames, write_run

    bars = {WARM_RUN: 2_000}
    write_run(runs, WARM_RUN, *make_run_frames([SYMBOL], 2_000, seed=2, messiness=REALISTIC))
    for y in sorted(set([1.0, *years])):
        n = int(round(y * year_bars))
        feature, replay = make_run_frames([SYMBOL], n, seed=1, messiness=REALISTIC)
        write_run(runs, f"y{y:g}", feature, replay)
        bars[f"y{y:g}"] = n
        del feature, replay
    symbols = [f"S{i:02d}/USDT" for i in range(partitions)]
    write_run(runs, SMALL_RUN, *make_run_frames(symbols, 1_440, seed=7, messiness=REALISTIC))
    bars[SMALL_RUN] = 1_440
    return bars


def _postgres_database(phases: Phases, tag: str) -> dict | None:
    db = phases.run(f"create database {tag}", "db", {"action": "create", "name": f"bench_partition_{tag}_{os.getpid()}"}, quiet=True)
    return db if db.get("admin") else None


def _drop(phases: Phases, db: dict | None) -> None:
    if db:
        phases.run("drop database", "db", {"action": "drop", "admin": db["admin"], "name": db["name"]}, quiet=True)


def _sum(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows)


def _overhead_summary(o: dict) -> dict[str, float]:
    n = len(o["runs"])
    wall, engine, step = _sum(o["runs"], "wall_s"), _sum(o["engine"], "total_s"), _sum(o["runs"], "step_s")
    return {
        "partitions": n,
        "wall_sum_s": wall,
        "engine_sum_s": engine,
        "step_sum_s": step,
        "overhead_per_partition_s": (wall - engine) / n,
        "outside_step_per_partition_s": (wall - step) / n,
        "in_step_dagster_per_partition_s": (step - engine) / n,
        "before_run_start_s": _sum(o["runs"], "before_run_start_s") / n,
        "run_start_to_step_s": _sum(o["runs"], "run_start_to_step_s") / n,
        "step_to_run_end_s": _sum(o["runs"], "step_to_run_end_s") / n,
        "after_run_end_s": _sum(o["runs"], "after_run_end_s") / n,
        "events_per_run": _sum(o["runs"], "events") / n,
        "event_log_entries_per_run": _sum(o["runs"], "event_log_entries") / n,
        "event_write_ms": o["event_write_ms"],
    }


def _verdict(value: float | None, goal: float, higher_is_better: bool) -> str:
    if value is None:
        return "not measured"
    if higher_is_better:
        return "met" if value >= goal else f"missed ({value / goal:.0%} of the goal)"
    return "met" if value <= goal else f"missed by {value - goal:.2f} ({value / goal:.2f}x the goal)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", default="1,2,5", help="spans for the RSS rows, in years of bars")
    parser.add_argument("--partitions", type=int, default=20, help="small partitions of the overhead rows")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of the warm step")
    parser.add_argument(
        "--pairs", type=int, default=1, help="runs of the reference and the cold command, in turn (their ratio per pair)"
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-launcher", action="store_true")
    parser.add_argument("--skip-dg-launch", action="store_true")
    parser.add_argument(
        "--memory-profile", action="store_true", help="also time and sample RSS per phase of the step (1 year and the longest span)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.out).write_text(json.dumps(CHILDREN[args.child](json.loads(args.spec))))
        return

    years = [float(y) for y in args.years.split(",") if y]
    year_bars = 7 * 1440 if args.quick else YEAR_BARS
    partitions = 4 if args.quick else args.partitions
    only = set(args.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; choose from {SECTIONS}")
    if args.skip_reference:
        only.discard("reference")
    if args.skip_postgres:
        only -= {"postgres", "launcher"}
    if args.skip_launcher or args.quick:
        only.discard("launcher")
    # This process stays small (no pandas, no Dagster here): Linux carries a parent's peak RSS
    # over into ru_maxrss of the processes it starts.
    from label_pipeline_tests.harness.reference import REFERENCE_DIR, reference_available

    phases = Phases()
    started = dt.datetime.now(dt.timezone.utc)
    info = phases.run("versions", "versions", {}, quiet=True)
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    print(
        f"# bench_partition {started:%Y-%m-%d %H:%M UTC}: os.cpu_count() = {os.cpu_count()}, load {_load()}, "
        f"Python {platform.python_version()}, {versions}"
        + (" [--quick: sizes shrunk, figures meaningless]" if args.quick else ""),
        flush=True,
    )
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--short"], cwd=REPO, capture_output=True, text=True).stdout.splitlines()
    print(f"code: git {head or '?'} with {len(dirty)} uncommitted paths", flush=True)
    settings = {k: v for k, v in os.environ.items() if k.startswith("LABEL_PIPELINE_")}
    print(f"LABEL_PIPELINE_* in the environment: {settings or 'none (defaults)'}", flush=True)
    label_job = info["label_job"]
    extras = [n for n in label_job if n not in REFERENCE_SET]
    print(f"label_job assets: {label_job}; beyond the reference's: {extras or 'none'}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench_partition_"))
    runs = work / "runs"
    results: dict[str, Any] = {
        "date": f"{started:%Y-%m-%d %H:%M UTC}",
        "cpu_count": os.cpu_count(),
        "versions": info["versions"],
        "label_job_assets": label_job,
        "extra_assets": extras,
        "quick": args.quick,
        "git_head": head,
        "uncommitted_paths": len(dirty),
        "label_pipeline_env": settings,
        "sections": sorted(only),
    }
    dbs: list[dict] = []
    ref = None
    y1 = "y1"
    try:
        results["bars"] = phases.run(
            "write the runs",
            "write_runs",
            {"runs": str(runs), "years": years, "year_bars": year_bars, "partitions": partitions},
        )["bars"]
        print(f"bars per symbol: {results['bars']}", flush=True)

        if "warm" in only:  # the warm in-process step, and the engine alone in the same process
            results["warm"] = phases.run(
                "warm in-process step, 1 year",
                "warm_step",
                {
                    "runs": str(runs),
                    "store": str(work / "store_warm"),
                    "engine_store": str(work / "store_engine"),
                    "home": str(work / "home_warm"),
                    "run_id": y1,
                    "repeat": args.repeat,
                },
            )

        cli_env = {
            "DAGSTER_HOME": str(work / "home_cli"),
            "LABEL_PIPELINE_RUNS_ROOT": str(runs),
            "LABEL_PIPELINE_STORAGE_ROOT": str(work / "store_cli"),
        }
        if "cold" in only:  # the README's set-up of a user's instance
            phases.run("cold command set-up (label-pipeline instance)", "command",
                       {"argv": [str(BIN / "label-pipeline"), "instance"], "env": cli_env}, quiet=True)
            phases.run("cold command set-up (register + price plan)", "setup_cli", {"run_id": y1}, env=cli_env)
        with_reference = "reference" in only and reference_available()
        pairs = args.pairs if with_reference and "cold" in only else 1
        refs, colds = [], []
        for i in range(pairs):  # the reference and the cold command in turn: each pair meets the same machine
            of = f" ({i + 1}/{pairs})" if pairs > 1 else ""
            if with_reference:  # on a copy of the same run directory
                ref_root = work / "ref_runs"
                shutil.copytree(runs / y1, ref_root / y1)
                refs.append(
                    phases.run(
                        f"reference, 1 year{of}",
                        "command",
                        {"argv": [sys.executable, str(REFERENCE_DIR / "run_reference.py"), str(ref_root), y1]},
                    )
                )
                shutil.rmtree(ref_root, ignore_errors=True)
            if "cold" in only:
                cold = phases.run(
                    f"cold command: label-pipeline rerun{of}",
                    "command",
                    {"argv": [str(BIN / "label-pipeline"), "rerun", y1, SYMBOL], "env": cli_env},
                )
                match = re.search(r": ok \(([\d.]+) s\)", cold["stderr_tail"])
                cold["run_s_as_printed"] = float(match.group(1)) if match else None
                colds.append(cold)
        ref = refs[0] if refs else None
        results["reference"] = ref
        if colds:
            results["cold_rerun"] = colds[0]
        if len(refs) > 1:
            results["pairs"] = [{"reference_s": r["seconds"], "cold_s": c["seconds"]} for r, c in zip(refs, colds, strict=True)]

        if "cold" in only:
            if not args.skip_dg_launch and (BIN / "dg").exists():
                results["cold_dg_launch"] = phases.run_optional(
                    "cold command: dg launch",
                    "command",
                    {
                        "argv": [str(BIN / "dg"), "launch", "--job", "label_job", "--partition", f"{y1}|{SYMBOL}"],
                        "env": cli_env,
                    },
                )

        if "rss" in only:  # peak RSS over spans
            results["rss"] = {}
            for y in sorted(set([1.0, *years])):
                run_id = f"y{y:g}"
                results["rss"][run_id] = phases.run(
                    f"peak RSS, {y:g} year(s), label_job",
                    "rss",
                    {
                        "runs": str(runs),
                        "store": str(work / f"store_rss_{run_id}"),
                        "home": str(work / f"home_rss_{run_id}"),
                        "run_id": run_id,
                    },
                )
            if extras:
                results["rss"]["y1_reference_set"] = phases.run(
                    "peak RSS, 1 year, the reference's set",
                    "rss",
                    {
                        "runs": str(runs),
                        "store": str(work / "store_rss_ref"),
                        "home": str(work / "home_rss_ref"),
                        "run_id": y1,
                        "names": list(REFERENCE_SET),
                    },
                )
        if args.memory_profile:
            results["memory"] = {}
            for y in sorted({1.0, max(years or [1.0])}):
                run_id = f"y{y:g}"
                results["memory"][run_id] = phases.run_optional(
                    f"time and RSS per phase, {y:g} year(s)",
                    "memory",
                    {"runs": str(runs), "store": str(work / f"store_mem_{run_id}"), "home": str(work / f"home_mem_{run_id}"), "run_id": run_id},
                )

        symbols = [f"S{i:02d}/USDT" for i in range(partitions)]
        small = {"runs": str(runs), "symbols": symbols}
        if "sqlite" in only:
            results["overhead_sqlite"] = phases.run(
                f"overhead, {partitions} partitions, SQLite, in process",
                "overhead",
                {
                    **small,
                    "store": str(work / "store_ov_sqlite"),
                    "engine_store": str(work / "store_ov_engine1"),
                    "home": str(work / "home_ov_sqlite"),
                },
            )
        for section, tag, child in (("postgres", "inproc", "overhead"), ("launcher", "launcher", "launcher")):
            if section not in only:
                continue
            db = _postgres_database(phases, tag)
            if db is None:
                print("PostgreSQL not reachable on 127.0.0.1:5432: its rows are left out", flush=True)
                break
            dbs.append(db)
            spec = {
                **small,
                "store": str(work / f"store_ov_{tag}"),
                "engine_store": str(work / f"store_ov_engine_{tag}"),
                "home": str(work / f"home_ov_{tag}"),
                "postgres_url": db["url"],
                "concurrency": os.cpu_count() or 1,
            }
            if section == "postgres":
                results["overhead_postgres"] = phases.run(
                    f"overhead, {partitions} partitions, PostgreSQL, in process", child, spec
                )
            else:
                results["launcher_postgres"] = phases.run_optional(
                    f"overhead, {partitions} partitions, PostgreSQL, run launcher", child, spec
                )
    finally:
        results["phases"] = phases.log
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        for db in dbs:
            try:
                _drop(phases, db)
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop database {db['name']}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results, ref, years)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


def report(results: dict[str, Any], ref: dict | None, years: list[float]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    ref_s = ref["seconds"] if ref else None
    extras = results["extra_assets"]

    def ratio(x: float | None) -> float | None:
        return ref_s / x if ref_s and x else None

    def fmt_ratio(x: float | None) -> str:
        return f"{x:.1f}x" if x is not None else "-"

    if ref:
        rows.append(
            (
                "reference, full run (own process), 1 year",
                f"{ref_s:.2f} s (CPU {ref['cpu_s']:.2f} s), {ref['peak_rss_mb']:.0f} MB",
                "-",
                "1x",
            )
        )
    warm = results.get("warm")
    if warm:
        full = min(warm["label_job"], key=lambda r: r["wall_s"])
        r_full = ratio(full["wall_s"])
        rows.append(
            (
                f"warm in-process label_job step, 1 year ({len(results['label_job_assets'])} assets)",
                f"{full['wall_s']:.2f} s (step {full['step_s']:.2f} s)",
                ">= 40x" if not extras else "(>= 40x; does more than the reference)",
                fmt_ratio(r_full) + ("" if extras else f": {_verdict(r_full, GOALS['warm_ratio'], True)}"),
            )
        )
        for label, title in (("label_job", "label_job"), ("reference_set", "the reference's 8")):
            if label not in warm:
                continue
            run = min(warm[label], key=lambda r: r["wall_s"])
            eng = min(warm[f"engine_{label}"], key=lambda r: r["total_s"])
            if label == "reference_set":
                r_sub = ratio(run["wall_s"])
                rows.append(
                    (
                        "warm in-process step, 1 year, exactly the reference's 8 assets",
                        f"{run['wall_s']:.2f} s (step {run['step_s']:.2f} s)",
                        ">= 40x",
                        f"{fmt_ratio(r_sub)}: {_verdict(r_sub, GOALS['warm_ratio'], True)}",
                    )
                )
            rows.append(
                (
                    f"  {title}: engine alone, same inputs (config / one pass incl. the streamed inputs / publish)",
                    f"{eng['total_s']:.2f} s ({eng['read_s']:.2f} / {eng['engine_s']:.2f} / {eng['publish_s']:.2f})",
                    "-",
                    fmt_ratio(ratio(eng["total_s"])),
                )
            )
            cores = os.cpu_count() or 1
            rows.append(
                (
                    f"  {title}: engine alone's CPU time (all threads), and over {cores} cores",
                    f"{eng['cpu_s']:.2f} s, so >= {eng['cpu_s'] / cores:.2f} s of wall on this machine",
                    "-",
                    "-" if ref is None else f"<= {fmt_ratio(ratio(eng['cpu_s'] / cores))} with every core busy",
                )
            )
            rows.append(
                (
                    f"  {title}: Dagster's share (run wall - engine alone)",
                    f"{run['wall_s'] - eng['total_s']:.2f} s (before run start {run['before_run_start_s']:.2f}, "
                    f"start-up {run['run_start_to_step_s']:.2f}, step - engine {run['step_s'] - eng['total_s']:.2f}, "
                    f"after step {run['step_to_run_end_s'] + run['after_run_end_s']:.2f}); {run['events']} events",
                    "-",
                    "-",
                )
            )
    cold = results.get("cold_rerun")
    if cold:
        r_cold = ratio(cold["seconds"])
        rows.append(
            (
                "cold command `label-pipeline rerun RUN SYM`, 1 year (whole command)",
                f"{cold['seconds']:.2f} s (its run as printed: {cold.get('run_s_as_printed')} s; CPU "
                f"{cold['cpu_s']:.2f} s), {cold['peak_rss_mb']:.0f} MB",
                ">= 15x",
                f"{fmt_ratio(r_cold)}: {_verdict(r_cold, GOALS['cold_ratio'], True)}"
                + (f" (CPU time {ref['cpu_s'] / cold['cpu_s']:.1f}x)" if ref else ""),
            )
        )
    pairs = results.get("pairs")
    if pairs:
        each = [p["reference_s"] / p["cold_s"] for p in pairs]
        middle = statistics.median(each)
        rows.append(
            (
                f"  cold command and reference in turn, {len(pairs)} pairs: reference / cold per pair",
                ", ".join(f"{p['reference_s']:.0f} / {p['cold_s']:.2f} s" for p in pairs),
                ">= 15x",
                f"{', '.join(fmt_ratio(x) for x in each)}; median {fmt_ratio(middle)}: "
                f"{_verdict(middle, GOALS['cold_ratio'], True)}",
            )
        )
    dg = results.get("cold_dg_launch")
    if dg:
        rows.append(
            (
                "cold command `dg launch --job label_job --partition RUN|SYM`, 1 year",
                f"{dg['seconds']:.2f} s, {dg['peak_rss_mb']:.0f} MB",
                "(>= 15x)",
                fmt_ratio(ratio(dg["seconds"])),
            )
        )
    rss = results.get("rss")
    if rss:
        y1 = rss["y1"]
        rows.append(
            (
                "peak RSS (VmHWM), 1 year, process: import, materialize once (label_job), exit",
                f"{y1['peak_rss_mb']:.0f} MB (after imports {y1['rss_after_imports_mb']:.0f}, before the step "
                f"{y1['rss_before_step_mb']:.0f}; ru_maxrss {y1['ru_maxrss_mb']:.0f})",
                "<= 500 MB",
                _verdict(y1["peak_rss_mb"], GOALS["rss_1y_mb"], False)
                + (f"; reference {ref['peak_rss_mb'] / y1['peak_rss_mb']:.1f}x more" if ref else ""),
            )
        )
        if "y1_reference_set" in rss:
            r = rss["y1_reference_set"]
            rows.append(
                (
                    "peak RSS, 1 year, the reference's 8 assets selected",
                    f"{r['peak_rss_mb']:.0f} MB",
                    "<= 500 MB",
                    _verdict(r["peak_rss_mb"], GOALS["rss_1y_mb"], False),
                )
            )
        span = [(y, rss[f"y{y:g}"]) for y in sorted(set([1.0, *years]))]
        peaks = [r["peak_rss_mb"] for _, r in span]
        rows.append(
            (
                "peak RSS over spans: " + ", ".join(f"{y:g} y" for y, _ in span),
                ", ".join(f"{r['peak_rss_mb']:.0f}" for _, r in span) + f" MB (max/min {max(peaks) / min(peaks):.2f})",
                "<= 600 MB, flat",
                _verdict(max(peaks), GOALS["rss_span_mb"], False),
            )
        )
        rows.append(("  run wall over spans", ", ".join(f"{r['run']['wall_s']:.1f}" for _, r in span) + " s", "-", "-"))
    for key, label, goal_key in (
        ("overhead_sqlite", "SQLite", "overhead_sqlite_s"),
        ("overhead_postgres", "PostgreSQL", "overhead_postgres_s"),
    ):
        if key not in results:
            continue
        s = _overhead_summary(results[key])
        results[f"{key}_summary"] = s
        rows.append(
            (
                f"Dagster overhead / partition, in process, {label} ({s['partitions']} x 1,440 bars)",
                f"{s['overhead_per_partition_s']:.2f} s (runs {s['wall_sum_s']:.1f} s - engine {s['engine_sum_s']:.1f} s; "
                f"{s['events_per_run']:.0f} events/run, {s['event_log_entries_per_run']:.0f} stored; "
                f"one event write {s['event_write_ms']:.1f} ms)",
                f"<= {GOALS[goal_key]} s",
                _verdict(s["overhead_per_partition_s"], GOALS[goal_key], False),
            )
        )
        rows.append(
            (
                "  per partition: before run start / start-up / step - engine / after step",
                f"{s['before_run_start_s']:.2f} / {s['run_start_to_step_s']:.2f} / "
                f"{s['in_step_dagster_per_partition_s']:.2f} / {s['step_to_run_end_s'] + s['after_run_end_s']:.2f} s",
                "-",
                "-",
            )
        )
    lp = results.get("launcher_postgres")
    if lp:
        over = (lp["wall_s"] - lp["engine_sum_s"]) / lp["partitions"]
        lp["overhead_per_partition_s"] = over
        rows.append(
            (
                f"Dagster overhead / partition, run launcher, PostgreSQL ({lp['partitions']} runs, {lp['concurrency']} at a time)",
                f"{over:.2f} s (backfill {lp['wall_s']:.1f} s - engine {lp['engine_sum_s']:.1f} s; per run: worker start "
                f"{lp['run_worker_start_s']:.2f} s, execution {lp['run_execution_s']:.2f} s, step {lp['step_s']:.2f} s)",
                "(<= 1.5 s)",
                _verdict(over, GOALS["overhead_postgres_s"], False),
            )
        )
    print(f"\n# One pass per partition: {results['date']}, os.cpu_count() = {results['cpu_count']}")
    print(f"label_job: {', '.join(results['label_job_assets'])}")
    print("phases (load average 1/5/15 min before -> after; steal: the share of the machine's CPU time the host took):")
    for p in results["phases"]:
        stolen = f", steal {p['steal']:.0%}" if p.get("steal") is not None else ""
        print(f"  {p['phase']}: {p['elapsed_s']} s, load {p['load_before']} -> {p['load_after']}{stolen}")
    print("\n| measurement | figure | goal | ratio / verdict |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for run_id, mem in results.get("memory", {}).items():
        if not mem:
            continue
        print(
            f"\nper phase of the step, {results['bars'][run_id]:,} bars (RSS before the run {mem['rss_before_step_mb']:.0f} MB, "
            f"peak {mem['peak_rss_mb']:.0f} MB, run wall {mem['run']['wall_s']:.2f} s)"
        )
        print("| phase (innermost) | calls | seconds | RSS on first entry (MB) | peak RSS while innermost (MB) |\n|---|---:|---:|---:|---:|")
        for name, st in mem["phases"].items():
            print(f"| {name} | {st['calls']:.0f} | {st['seconds']:.2f} | {st['rss_in_mb']:.0f} | {st['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
