"""Whole label set for one symbol-year: label_pipeline vs the reference, measured in one run.

    .venv/bin/python benchmarks/bench_labels.py [--rows 525600] [--skip-reference] [--skip-dagster]

Every side runs in its own fresh subprocess on the same run directory, so each one's peak RSS
(ru_maxrss) is its own:

- reference: its five functions (run_reference.py), reading and writing parquet;
- compute: what the label assets of one (run, symbol) partition compute, with the label store's
  parquet reads and writes and content hashes, called directly (no Dagster);
- dagster: the price plan and every asset of the partition materialized through Dagster
  in-process, after a tiny partition was materialized first so imports, numba loading and
  Dagster's start-up are outside the timed part (what a warm backfill step pays; Dagster's
  in-process executor also keeps every output in memory, so its RSS is not the compute's).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from label_pipeline.demo.sample_data import REALISTIC, make_run_frames, write_run  # noqa: E402
from label_pipeline_tests.harness.reference import REFERENCE_DIR, reference_available  # noqa: E402

COMPUTE = textwrap.dedent(
    """
    import json, resource, sys, time
    from label_pipeline.config import load_effective_config
    from label_pipeline.hashing import content_hash
    from label_pipeline.inputs import normalize_features, normalize_replay, read_symbol_slice, run_files
    from label_pipeline.kernel.path_stats import compute_path_stats, warm_up
    from label_pipeline.labels.continue_exit_risk import build_continue_exit_risk_labels
    from label_pipeline.labels.direction import build_direction_labels
    from label_pipeline.labels.entry import build_entry_labels
    from label_pipeline.labels.path_stats_frame import compute_for_replay
    from label_pipeline.labels.position import build_position_state_samples
    from label_pipeline.labels.price_plan import plan_from_frame, price_plan_context, price_plan_frame
    from label_pipeline.storage import read_parquet, storage_path, write_parquet_atomic

    runs, store = sys.argv[1], sys.argv[2]
    warm_up()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    def put(name, frame, run="year", symbol="SYM"):
        content_hash(frame)
        write_parquet_atomic(frame, storage_path(store, name, run, symbol))
    def get(name):
        return read_parquet(storage_path(store, name, "year", "SYM"))
    files = run_files(runs, "year")
    put("feature_frame", normalize_features(read_symbol_slice(files, "feature", "SYM")))
    put("replay_1m", normalize_replay(read_symbol_slice(files, "replay", "SYM")))
    config = load_effective_config()
    plan_frame = price_plan_frame(price_plan_context(config))
    put("price_plan_context", plan_frame, "year", None)
    plan = plan_from_frame(plan_frame)
    put("direction_labels", build_direction_labels(get("feature_frame"), get("replay_1m"), config.label["direction"]))
    entry = config.label["entry"]
    replay = get("replay_1m")
    stats = compute_for_replay(compute_path_stats, replay, int(entry["max_hold_minutes"]), float(entry["target_bps"]), float(entry["stop_bps"]))
    put("entry_labels", build_entry_labels(get("feature_frame"), replay, stats, entry, config.cost_bps, plan))
    del stats, replay
    put("position_state_samples", build_position_state_samples(get("entry_labels")))
    replay = get("replay_1m")
    stats = compute_for_replay(compute_path_stats, replay, int(config.label["continue"]["horizon_minutes"]), plan["targetDistanceBps"], plan["stopDistanceBps"])
    for name, frame in zip(("continue_labels", "exit_labels", "risk_labels"),
                           build_continue_exit_risk_labels(get("feature_frame"), replay, stats, config.label, config.cost_bps, plan)):
        put(name, frame)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_before_mb": rss_before / 1024}))
    """
)

DAGSTER = textwrap.dedent(
    """
    import json, resource, sys, time
    from dagster import DagsterInstance
    from label_pipeline.definitions import build_definitions
    from label_pipeline.demo.local_run import materialize_run
    runs, store, home = sys.argv[1], sys.argv[2], sys.argv[3]
    defs = build_definitions(runs, store)
    with DagsterInstance.from_config(home) as instance:
        materialize_run(defs, instance, "warm", ["SYM"])
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        outcomes = materialize_run(defs, instance, "year", ["SYM"])
        seconds = time.perf_counter() - start
    assert all(o.success for o in outcomes), outcomes
    rows = {k: v.get("dagster/row_count") for k, v in outcomes[-1].metadata.items()}
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_before_mb": rss_before / 1024, "rows": rows}))
    """
)

REFERENCE = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    start = time.perf_counter()
    subprocess.run([sys.executable, sys.argv[1] + "/run_reference.py", sys.argv[2], "year"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
    """
)


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-dagster", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runs, home = Path(tmp) / "runs", Path(tmp) / "home"
        home.mkdir()
        feature, replay = make_run_frames(["SYM"], args.rows, seed=1, messiness=REALISTIC)
        write_run(runs, "year", feature, replay)
        small_f, small_r = make_run_frames(["SYM"], 500, seed=2, messiness=REALISTIC)
        write_run(runs, "warm", small_f, small_r)
        del feature, replay

        compute = _run(COMPUTE, str(runs), str(Path(tmp) / "store_compute"))
        dagster = None if args.skip_dagster else _run(DAGSTER, str(runs), str(Path(tmp) / "store_dagster"), str(home))
        ref = None
        if not args.skip_reference and reference_available():
            ref = _run(REFERENCE, str(REFERENCE_DIR), str(runs))

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# Whole label set, one symbol, {args.rows:,} one-minute bars ({now}, {os.cpu_count()} cores)\n")
    print("| | wall (s) | vs reference | peak RSS (MB) |")
    print("|---|---:|---:|---:|")

    def ratio(x: dict) -> str:
        return f"{ref['seconds'] / x['seconds']:.1f}x" if ref else "-"

    if ref:
        print(f"| reference, 5 functions (own process) | {ref['seconds']:.2f} | 1x | {ref['peak_rss_mb']:.0f} |")
    print(f"| label_pipeline compute + parquet I/O + hashes (no Dagster) | {compute['seconds']:.2f} | {ratio(compute)} | {compute['peak_rss_mb']:.0f} |")
    if dagster:
        print(f"| label_pipeline through Dagster in-process (warm) | {dagster['seconds']:.2f} | {ratio(dagster)} | {dagster['peak_rss_mb']:.0f} |")
    print(f"\nRSS of the compute process before the timed part (imports, numba): {compute['rss_before_mb']:.0f} MB")
    if dagster:
        print(f"rows: {dagster['rows']}")


if __name__ == "__main__":
    main()
