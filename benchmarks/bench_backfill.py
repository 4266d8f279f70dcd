"""Backfill overhead: a 20-symbol backfill through Dagster's own machinery vs its pure compute.

    .venv/bin/python benchmarks/bench_backfill.py [--symbols 20] [--days 1] [--concurrency 2]
        [--modes compute,inprocess,launcher-in_process,launcher-multiprocess] [--home-on-tmpfs]

- compute: what the steps of one (run, symbol) partition compute, called directly for each symbol
  in this process (read + validate the slices, every builder, the checks, content hashes, atomic
  parquet writes): the sum over the symbols is the "pure compute".
- inprocess: one Dagster run per partition, executed in this process (``execute_in_process``),
  one after the other: Dagster's own per-run cost without any process start.
- launcher-<executor>: a real asset backfill of the label job's assets over the run's partitions,
  as the UI's "Materialize" over partitions creates it: the backfill daemon's iteration and the
  queued run coordinator's iteration are called in this process (no sleep between daemon ticks),
  the default run launcher starts each run in its own process, at most ``--concurrency`` at a
  time, and the run's executor is the given one (in_process, or multiprocess: a process per step).

Every mode uses a fresh SQLite instance (the ``dagster dev`` default) in a temporary DAGSTER_HOME,
on disk unless ``--home-on-tmpfs`` (which takes the event log's fsyncs out, as a faster storage
such as Postgres would). The run's price plan is materialized before the clock starts.
- events: the cost of one event-log write on this storage, and the events one partition's run writes;
  those that are the partition's own record (materializations and check evaluations, each also
  "planned") are written by any backfill policy, ranged or not.

Overhead per partition = (wall - sum of pure compute) / partitions; run_worker_start_s is the mean
time from a run's launch to its first step (a new process importing Dagster and the code location),
run_execution_s the mean time from there to the run's end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from label_pipeline.demo.sample_data import REALISTIC, make_run_frames, write_run  # noqa: E402
from label_pipeline.jobs import LABEL_JOB_ASSETS  # noqa: E402

RUN = "bench"


def pure_compute(runs: str, store: str, symbol: str) -> float:
    """One partition's work without Dagster; returns seconds."""
    from label_pipeline.config import load_effective_config
    from label_pipeline.hashing import content_hash
    from label_pipeline.inputs import normalize_features, normalize_replay, read_symbol_slice, run_files
    from label_pipeline.kernel.path_stats import compute_path_stats
    from label_pipeline.label_contract import check_label_frame
    from label_pipeline.labels.continue_exit_risk import build_continue_exit_risk_labels
    from label_pipeline.labels.direction import build_direction_labels
    from label_pipeline.labels.entry import build_entry_labels
    from label_pipeline.labels.path_stats_frame import compute_for_replay
    from label_pipeline.labels.position import build_position_state_samples
    from label_pipeline.labels.price_plan import plan_from_frame, price_plan_context, price_plan_frame
    from label_pipeline.storage import read_parquet, storage_path, write_parquet_atomic

    start = time.perf_counter()
    config = load_effective_config()
    hold = int(config.label["entry"]["max_hold_minutes"])
    files = run_files(runs, RUN)
    frames = {
        "feature_frame": normalize_features(read_symbol_slice(files, "feature", symbol)),
        "replay_1m": normalize_replay(read_symbol_slice(files, "replay", symbol)),
    }
    plan = plan_from_frame(price_plan_frame(price_plan_context(config)))
    feat, rep = frames["feature_frame"], frames["replay_1m"]
    entry_conf = config.label["entry"]
    frames["direction_labels"] = build_direction_labels(feat, rep, config.label["direction"])
    stats = compute_for_replay(
        compute_path_stats, rep, hold, float(entry_conf["target_bps"]), float(entry_conf["stop_bps"])
    )
    frames["entry_labels"] = build_entry_labels(feat, rep, stats, entry_conf, config.cost_bps, plan)
    frames["position_state_samples"] = build_position_state_samples(frames["entry_labels"])
    stats = compute_for_replay(
        compute_path_stats,
        rep,
        int(config.label["continue"]["horizon_minutes"]),
        float(plan["targetDistanceBps"]),
        float(plan["stopDistanceBps"]),
    )
    built = build_continue_exit_risk_labels(feat, rep, stats, config.label, config.cost_bps, plan)
    frames.update(zip(("continue_labels", "exit_labels", "risk_labels"), built, strict=True))
    for name, frame in frames.items():
        content_hash(frame)
        path = storage_path(store, name, RUN, symbol)
        write_parquet_atomic(frame, path)
        read_parquet(path)  # downstream steps load their inputs from the store
        if name.endswith(("_labels", "_samples")):
            check_label_frame(name, frame, max_hold_minutes=hold, entry_labels=frames["entry_labels"])
    return time.perf_counter() - start


def _home(on_tmpfs: bool, concurrency: int) -> Path:
    shm = Path("/dev/shm")
    home = Path(tempfile.mkdtemp(prefix="bench_home_", dir=shm if on_tmpfs and shm.is_dir() else None))
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n"
        "  module: dagster._core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        f"  config:\n    max_concurrent_runs: {concurrency}\n"
        "telemetry:\n  enabled: false\n"
    )
    return home


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _prepare(defs, instance, symbols: list[str]) -> None:
    from label_pipeline.demo.local_run import register_run

    register_run(defs, instance, RUN, symbols)
    result = defs.resolve_job_def("price_plan_job").execute_in_process(
        partition_key=RUN,
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    assert result.success


def mode_inprocess(runs: str, store: str, symbols: list[str], on_tmpfs: bool) -> float:
    from dagster import DagsterInstance

    from label_pipeline.definitions import build_definitions
    from label_pipeline.partitions import partition_key

    defs = build_definitions(runs, store)
    home = _home(on_tmpfs, 1)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            _prepare(defs, instance, symbols)
            job = defs.resolve_job_def("label_job")
            start = time.perf_counter()
            for symbol in symbols:
                result = job.execute_in_process(
                    partition_key=partition_key(RUN, symbol), instance=instance, run_config=QUIET
                )
                assert result.success
            return time.perf_counter() - start
    finally:
        shutil.rmtree(home, ignore_errors=True)


BENCH_DEFS = textwrap.dedent(
    """
    # written by benchmarks/bench_backfill.py: the project's definitions with another default executor
    import os
    from dagster import Definitions, in_process_executor, multiprocess_executor
    from label_pipeline.definitions import build_definitions

    base = build_definitions()
    executor = {"in_process": in_process_executor, "multiprocess": multiprocess_executor}[os.environ["BENCH_EXECUTOR"]]
    defs = Definitions(
        assets=base.assets, jobs=base.jobs, resources=base.resources, executor=executor
    )
    """
)


def mode_events(runs: str, store: str, symbols: list[str], on_tmpfs: bool) -> dict[str, float]:
    """The event log's share: what one event write costs on this storage, and how many events one
    partition's run writes (all of them, and those that are that partition's own record)."""
    from dagster import AssetObservation, DagsterInstance

    from label_pipeline.definitions import build_definitions
    from label_pipeline.partitions import partition_key

    defs = build_definitions(runs, store)
    home = _home(on_tmpfs, 1)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            _prepare(defs, instance, symbols[:1])
            start = time.perf_counter()
            for i in range(40):
                instance.report_runless_asset_event(AssetObservation("bench_probe", metadata={"i": i}))
            per_event = (time.perf_counter() - start) / 40
            result = defs.resolve_job_def("label_job").execute_in_process(
                partition_key=partition_key(RUN, symbols[0]), instance=instance, run_config=QUIET
            )
            kinds = [
                e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event
            ]
            own = sum(k.startswith(("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")) for k in kinds)
            return {
                "event_write_ms": round(per_event * 1000, 1),
                "events_per_run": len(kinds),
                "partition_record_events": own,
                "partition_record_floor_s": round(own * per_event, 2),
            }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run_breakdown(instance, runs) -> dict[str, float]:
    """Mean seconds per run: launched -> executing (process start + code load), executing -> done."""
    from dagster import DagsterEventType

    starts, bodies = [], []
    for run in runs:
        times = {
            r.event_log_entry.dagster_event_type: r.timestamp
            for r in instance.get_records_for_run(
                run.run_id,
                of_type={
                    DagsterEventType.RUN_STARTING,
                    DagsterEventType.RUN_START,
                    DagsterEventType.RUN_SUCCESS,
                },
            ).records
        }
        starts.append(times[DagsterEventType.RUN_START] - times[DagsterEventType.RUN_STARTING])
        bodies.append(times[DagsterEventType.RUN_SUCCESS] - times[DagsterEventType.RUN_START])
    return {
        "run_worker_start_s": round(sum(starts) / len(starts), 2),
        "run_execution_s": round(sum(bodies) / len(bodies), 2),
    }


def mode_launcher(
    runs: str, store: str, symbols: list[str], executor: str, concurrency: int, on_tmpfs: bool
) -> float:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from label_pipeline.definitions import build_definitions
    from label_pipeline.partitions import partition_key

    home = _home(on_tmpfs, concurrency)
    code = home / "code"
    code.mkdir()
    (code / "bench_defs.py").write_text(BENCH_DEFS)
    workspace = home / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_file:\n      relative_path: {code / 'bench_defs.py'}\n"
        f"      attribute: defs\n      working_directory: {REPO}\n      location_name: bench\n"
    )
    os.environ.update(
        {
            "LABEL_PIPELINE_RUNS_ROOT": runs,
            "LABEL_PIPELINE_STORAGE_ROOT": store,
            "BENCH_EXECUTOR": executor,
            "DAGSTER_HOME": str(home),
        }
    )
    logger = logging.getLogger("bench")
    logger.setLevel(logging.WARNING)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            _prepare(build_definitions(runs, store), instance, symbols)
            with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context:
                asset_graph = context.create_request_context().asset_graph
                keys = [partition_key(RUN, s) for s in symbols]
                backfill = PartitionBackfill.from_asset_partitions(
                    backfill_id="bench",
                    asset_graph=asset_graph,
                    partition_names=keys,
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
                start = time.perf_counter()
                instance.add_backfill(backfill)
                while True:
                    list(execute_backfill_iteration(context, logger))
                    list(queue.run_iteration(context))
                    status = instance.get_backfill("bench").status
                    unfinished = instance.get_runs(
                        RunsFilter(
                            statuses=[
                                DagsterRunStatus.QUEUED,
                                DagsterRunStatus.NOT_STARTED,
                                DagsterRunStatus.STARTING,
                                DagsterRunStatus.STARTED,
                            ]
                        )
                    )
                    if status != BulkActionStatus.REQUESTED and not unfinished:
                        break
                    time.sleep(0.1)
                wall = time.perf_counter() - start
                runs_done = instance.get_runs(RunsFilter(tags={"dagster/backfill": "bench"}))
                failed = [r.run_id for r in runs_done if r.status != DagsterRunStatus.SUCCESS]
                assert status == BulkActionStatus.COMPLETED_SUCCESS and not failed, (status, failed)
                assert len(runs_done) == len(symbols), len(runs_done)
                return wall, _run_breakdown(instance, runs_done)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _cpu() -> float:
    """CPU seconds of this process and of its finished descendants (run workers, code servers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--modes",
        default="compute,inprocess,launcher-in_process,launcher-multiprocess",
        help="comma-separated",
    )
    parser.add_argument("--home-on-tmpfs", action="store_true")
    args = parser.parse_args()

    from label_pipeline.kernel.path_stats import warm_up

    warm_up()
    work = Path(tempfile.mkdtemp(prefix="bench_backfill_"))
    symbols = [f"S{i:02d}/USDT" for i in range(args.symbols)]
    runs = str(work / "runs")
    write_run(runs, RUN, *make_run_frames(symbols, int(args.days * 1440), seed=7, messiness=REALISTIC))
    results: dict[str, object] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "symbols": args.symbols,
        "bars_per_symbol": int(args.days * 1440),
        "concurrency": args.concurrency,
        "home_on_tmpfs": args.home_on_tmpfs,
    }
    try:
        modes = args.modes.split(",")
        cpu = _cpu()
        compute = [pure_compute(runs, str(work / "compute_store"), s) for s in symbols]
        results["compute_sum_s"] = round(sum(compute), 2)
        results["compute_cpu_s"] = round(_cpu() - cpu, 2)
        results["compute_per_partition_s"] = round(sum(compute) / len(symbols), 3)
        for mode in modes:
            if mode == "compute":
                continue
            if mode == "events":
                results[mode] = mode_events(runs, str(work / "store_events"), symbols, args.home_on_tmpfs)
                print(json.dumps({mode: results[mode]}), flush=True)
                continue
            store = str(work / f"store_{mode}")
            cpu = _cpu()
            breakdown: dict[str, float] = {}
            if mode == "inprocess":
                wall = mode_inprocess(runs, store, symbols, args.home_on_tmpfs)
                breakdown = {"run_execution_s": round(wall / len(symbols), 2)}
            elif mode.startswith("launcher-"):
                wall, breakdown = mode_launcher(
                    runs, store, symbols, mode.split("-", 1)[1], args.concurrency, args.home_on_tmpfs
                )
            else:
                raise SystemExit(f"unknown mode {mode!r}")
            cpu = _cpu() - cpu  # includes the untimed set-up (registration, price plan)
            results[mode] = {
                "wall_s": round(wall, 2),
                "overhead_per_partition_s": round((wall - sum(compute)) / len(symbols), 2),
                **breakdown,
            }
            if mode == "inprocess":  # the launcher's run workers are not this process's children
                results[mode]["cpu_per_partition_s"] = round(cpu / len(symbols), 2)
            print(json.dumps({mode: results[mode]}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
