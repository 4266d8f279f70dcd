"""What each addition to the label set costs, on one symbol-year, in the single pass (no Dagster):

    .venv/bin/python benchmarks/bench_label_set.py [--rows 525600] [--repeat 3]

- reference set: feature_frame, replay_1m and the reference's six label artifacts, quality off;
- + quality: the same with the label-quality figures (issue "label quality at a glance": <= 10%);
- + label_windows (issue "leak-proof training data": the label set grows by <= 10%);
- + price_plan_sweep (the default 75-plan grid).

Median of --repeat runs each, in one process (numba loaded, inputs read once). Prints date, load
and cores with the figures, as BENCHMARKS.md records them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from label_pipeline import engine  # noqa: E402
from label_pipeline.artifacts import RUN_SYMBOL, at_grain  # noqa: E402
from label_pipeline.config import load_effective_config  # noqa: E402
from label_pipeline.demo.sample_data import REALISTIC, make_run_frames, write_run  # noqa: E402
from label_pipeline.inputs import read_symbol_table, run_files  # noqa: E402
from label_pipeline.kernel import path_stats, sweep, windows  # noqa: E402
from label_pipeline.labels.price_plan import plan_from_frame, price_plan_context, price_plan_frame  # noqa: E402
from label_pipeline.storage import storage_path  # noqa: E402

REFERENCE_SET = [a.name for a in at_grain(RUN_SYMBOL) if a.in_reference]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path_stats.warm_up()
    windows.warm_up()
    sweep.warm_up()
    work = Path(tempfile.mkdtemp(prefix="bench_label_set_"))
    feature, replay = make_run_frames(["SYM"], args.rows, seed=1, messiness=REALISTIC)
    write_run(work / "runs", "year", feature, replay)
    files = run_files(work / "runs", "year")
    features, bars = read_symbol_table(files, "feature", "SYM"), read_symbol_table(files, "replay", "SYM")
    config = load_effective_config()
    plan = plan_from_frame(price_plan_frame(price_plan_context(config)))
    real_quality = engine.Quality

    def run(selected: list[str], quality: bool) -> float:
        engine.Quality = real_quality if quality else (lambda art: None)
        times = []
        for i in range(args.repeat):
            store = work / f"store{i}"
            start = time.perf_counter()
            out = engine.label_partition(
                selected=selected,
                paths=lambda name, s=store: storage_path(s, name, "year", "SYM"),
                config=config,
                features=features,
                replay=bars,
                plan=plan,
            )
            out.publish()
            times.append(time.perf_counter() - start)
        engine.Quality = real_quality
        return statistics.median(times)

    print(f"date {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, cores {os.cpu_count()}, load {os.getloadavg()}")
    base = run(REFERENCE_SET, quality=False)
    rows = [
        ("reference set, quality off", base),
        ("reference set + quality", run(REFERENCE_SET, quality=True)),
        ("+ label_windows", run([*REFERENCE_SET, "label_windows"], quality=True)),
        ("+ price_plan_sweep (75 plans)", run([*REFERENCE_SET, "label_windows", "price_plan_sweep"], quality=True)),
    ]
    print(f"{args.rows} feature rows and bars, median of {args.repeat}:")
    previous = base
    for name, seconds in rows:
        print(f"  {name:<32} {seconds:6.2f} s   x{seconds / base:5.2f} of the first   +{(seconds / previous - 1) * 100:5.1f}% on the line above")
        previous = seconds
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
