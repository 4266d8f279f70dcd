"""The distributed profile on this machine: backfill wall with 1 vs 2 Celery workers, and the
per-run overhead of the distributed profile against the local one.

    .venv/bin/python benchmarks/bench_distributed.py [--symbols 8] [--bars 400] [--workers 1,2] [--repeat 2]

Needs PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672), as the tests do. One
``LocalCluster`` (label_pipeline_tests/harness/cluster.py: a new Postgres database, the daemon, one code
server, a ``file://`` store) runs every measurement; between measurements Celery workers (one step
process each) are stopped or started, and a started worker is warmed up (it executes steps of a
warm-up backfill first, so imports and the compiled kernel are loaded). Per worker count:

1. one run: a single (run, symbol) partition, from submission until its run ended;
2. the backfill: one run per symbol of an N-symbol run, from submission until every run ended.

Each measurement uses a new run id (same data). Configurations alternate (1,2 then 2,1, ...) and
the best of ``--repeat`` is reported, because the machine is shared. Submissions run
``dagster job backfill``'s command body in this process (the CLI minus its interpreter start-up).
The local profile does the same work the way the demo does (``materialize_run``'s in-process
runs, SQLite instance), warm, in this process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dagster import DagsterEventType, DagsterInstance  # noqa: E402

from label_pipeline.definitions import build_definitions  # noqa: E402
from label_pipeline.demo.local_run import materialize_run, register_run  # noqa: E402
from label_pipeline.demo.sample_data import make_run_frames, write_run  # noqa: E402
from label_pipeline_tests.harness.cluster import SERVICES_HELP, LocalCluster, missing_services, stop_groups  # noqa: E402


def _write_run(root: Path, run_id: str, symbols: list[str], bars: int) -> None:
    feature, replay = make_run_frames(symbols, bars, seed=11)
    write_run(root, run_id, feature, replay)


def _step_seconds(instance: DagsterInstance, run_ids: list[str]) -> list[float]:
    """STEP_START -> STEP_SUCCESS of every step of the runs."""
    durations = []
    for run_id in run_ids:
        started: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            elif event.event_type == DagsterEventType.STEP_SUCCESS and entry.step_key in started:
                durations.append(entry.timestamp - started[entry.step_key])
    return durations


def bench_local(work: Path, symbols: list[str], bars: int, tag: str) -> dict:
    """The local profile (the demo's path: in-process runs, SQLite instance), warm."""
    runs, store = work / "runs", work / "local_store"
    for run_id, run_symbols in (
        (f"warm{tag}", symbols[:1]),
        (f"one{tag}", symbols[:1]),
        (f"all{tag}", symbols),
    ):
        _write_run(runs, run_id, run_symbols, bars)
    defs = build_definitions(str(runs), str(store))
    home = work / f"local_home{tag}"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(home)) as instance:
        materialize_run(defs, instance, f"warm{tag}", symbols[:1])
        plan = defs.resolve_job_def("price_plan_job")
        for run_id, run_symbols in ((f"one{tag}", symbols[:1]), (f"all{tag}", symbols)):
            register_run(defs, instance, run_id, run_symbols)
            assert plan.execute_in_process(partition_key=run_id, instance=instance).success
        job = defs.resolve_job_def("label_job")
        start = time.perf_counter()
        one = job.execute_in_process(partition_key=f"one{tag}|{symbols[0]}", instance=instance)
        one_seconds = time.perf_counter() - start
        start = time.perf_counter()
        results = [job.execute_in_process(partition_key=f"all{tag}|{s}", instance=instance) for s in symbols]
        all_seconds = time.perf_counter() - start
        assert one.success and all(r.success for r in results)
        steps = _step_seconds(instance, [one.run_id, *(r.run_id for r in results)])
    return {"one_run_s": one_seconds, "backfill_s": all_seconds, "step_mean_s": statistics.mean(steps)}


class ClusterBench:
    """Measurements on one cluster whose worker count changes between them."""

    def __init__(self, cluster: LocalCluster, runs: Path, symbols: list[str], bars: int) -> None:
        self.cluster, self.runs, self.symbols, self.bars = cluster, runs, symbols, bars
        self.defs = build_definitions(str(runs), cluster.storage_root)
        self.alive: list[str] = []
        self.count = 0

    def _prepare(self, run_id: str, symbols: list[str]) -> list[str]:
        """Write, register and plan a run; returns its partition keys."""
        _write_run(self.runs, run_id, symbols, self.bars)
        register_run(self.defs, self.cluster.instance, run_id, symbols)
        plan = self.defs.resolve_job_def("price_plan_job")
        assert plan.execute_in_process(partition_key=run_id, instance=self.cluster.instance).success
        return [f"{run_id}|{s}" for s in symbols]

    def backfill(self, keys: list[str]) -> tuple[float, list]:
        start = time.perf_counter()
        backfill_id = self.cluster.backfill("label_job", keys, via_cli=False)
        finished = self.cluster.wait_for_backfill(backfill_id, keys, timeout=1800, poll_seconds=0.1)
        seconds = time.perf_counter() - start
        assert all(r.status.value == "SUCCESS" for r in finished), [(r.run_id, r.status) for r in finished]
        return seconds, finished

    def set_workers(self, n: int) -> None:
        if len(self.alive) > n:
            stop_groups([self.cluster.workers[name] for name in self.alive[n:]])
            self.alive = self.alive[:n]
        started = False
        while len(self.alive) < n:
            self.count += 1
            name = f"lp{self.cluster.token}w{self.count}"
            self.cluster.start_worker(name)
            self.alive.append(name)
            started = True
        if started:
            self.cluster.wait_for_workers(self.alive)
            self.count += 1  # warm-up: a few partitions per worker
            self.backfill(self._prepare(f"warm{self.count}", self.symbols[: 2 * len(self.alive)]))

    def measure(self, n: int, tag: str) -> dict:
        self.set_workers(n)
        one_keys = self._prepare(f"one{tag}", self.symbols[:1])
        all_keys = self._prepare(f"all{tag}", self.symbols)
        one_seconds, one_runs = self.backfill(one_keys)
        all_seconds, all_runs = self.backfill(all_keys)
        instance = self.cluster.instance
        record = instance.get_run_record_by_id(one_runs[0].run_id)
        records = [instance.get_run_record_by_id(r.run_id) for r in all_runs]
        steps = _step_seconds(instance, [r.run_id for r in one_runs + all_runs])
        return {
            "workers": n,
            "one_run_s": one_seconds,
            "one_run_queued_to_start_s": record.start_time - record.create_timestamp.timestamp(),
            "backfill_s": all_seconds,
            "run_mean_s": statistics.mean(rec.end_time - rec.start_time for rec in records),
            "step_mean_s": statistics.mean(steps),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--bars", type=int, default=400)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=2, help="measurements per configuration (best kept)")
    args = parser.parse_args()
    missing = missing_services()
    if missing:
        print(f"needs {', '.join(missing)}: {SERVICES_HELP}", file=sys.stderr)
        return 2
    symbols = [f"S{i}/USDT" for i in range(args.symbols)]
    counts = [int(n) for n in args.workers.split(",")]
    started = dt.datetime.now(dt.timezone.utc)
    local: list[dict] = []
    clusters: list[dict] = []
    loads = []
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        work = Path(tmp)
        with LocalCluster(work / "cluster", str(work / "runs"), (work / "store").as_uri()) as cluster:
            cluster.start_code_server()
            cluster.wait_for_code_server()
            cluster.start_daemon()
            cluster.wait_for_daemon()
            bench = ClusterBench(cluster, work / "runs", symbols, args.bars)
            for rep in range(args.repeat):
                # alternate the order, so that drifting load hits every configuration alike
                for n in counts if rep % 2 == 0 else counts[::-1]:
                    clusters.append(bench.measure(n, f"_{rep}_{n}"))
                    loads.append(os.getloadavg()[0])
                    print(json.dumps(clusters[-1]), flush=True)
                local.append(bench_local(work, symbols, args.bars, f"_{rep}"))
                loads.append(os.getloadavg()[0])
                print(json.dumps({"local": local[-1]}), flush=True)

    best_local = {k: min(m[k] for m in local) for k in local[0]}
    best = {n: {k: min(m[k] for m in clusters if m["workers"] == n) for k in clusters[0]} for n in counts}
    print(
        f"\n{started:%Y-%m-%d %H:%M} UTC, nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{args.symbols} symbols x {args.bars} bars, best of {args.repeat}; "
        f"1-min load average {min(loads):.1f}-{max(loads):.1f} during the measurements"
    )
    print(
        "\n| profile | workers | one run (s) | backfill of all symbols (s) | mean run (s) | mean step (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| local (in-process, SQLite) | - | {best_local['one_run_s']:.2f} | {best_local['backfill_s']:.2f} | "
        f"{best_local['backfill_s'] / args.symbols:.2f} | {best_local['step_mean_s']:.2f} |"
    )
    for n in counts:
        c = best[n]
        print(
            f"| distributed (Postgres, Celery) | {n} | {c['one_run_s']:.2f} | {c['backfill_s']:.2f} | "
            f"{c['run_mean_s']:.2f} | {c['step_mean_s']:.2f} |"
        )
    for n in counts:
        print(
            f"\n{n} worker(s): per-run overhead vs local {best[n]['one_run_s'] - best_local['one_run_s']:.2f} s "
            f"(of which queued -> started {best[n]['one_run_queued_to_start_s']:.2f} s)"
        )
    if len(counts) > 1:
        ratio = best[counts[0]]["backfill_s"] / best[counts[-1]]["backfill_s"]
        print(f"\nbackfill speed-up {counts[0]} -> {counts[-1]} workers: {ratio:.2f}x")
    print(json.dumps({"local": local, "distributed": clusters}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
