"""The price-plan sweep on one symbol-year, measured in one run.

    .venv/bin/python benchmarks/bench_sweep_kernel.py [--rows 525600] [--repeat 3] [--skip-reference]

On 525,600 one-minute bars of one symbol (``make_run_frames`` with realistic gaps and NaNs), times:

- the sweep of the default grid (5 targets x 5 stops x 3 holds = 75 plans), kernel + aggregation:
  the join of feature rows to bars, the split codes, ``sweep_counts`` and ``sweep_table``;
- (a) this project's entry labels for one plan (``compute_path_stats`` + ``build_entry_labels``,
  target 12, stop 8, hold 45: the default plan);
- (b) one run of the reference's path statistics for the entry labels (``_build_path_stats`` of
  ../shared/reference, both sides, same plan), times 75 for the grid.

Each warm figure is the median of --repeat calls after a warm-up (numba compiled or loaded from its
cache first). Also prints the peak numpy allocation of one sweep (tracemalloc) and checks the sweep's
row of the default plan against the aggregates of the entry labels of (a).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from label_pipeline.config import DEFAULT_COST_CONFIG, DEFAULT_LABEL_CONFIG  # noqa: E402
from label_pipeline.demo.sample_data import REALISTIC, make_run_frames  # noqa: E402
from label_pipeline.kernel import compute_path_stats  # noqa: E402
from label_pipeline.kernel import warm_up as warm_up_path_stats  # noqa: E402
from label_pipeline.kernel.sweep import (  # noqa: E402
    DEFAULT_MAX_HOLD_MINUTES,
    DEFAULT_STOP_BPS,
    DEFAULT_TARGET_BPS,
    sweep_counts,
    sweep_table,
)
from label_pipeline.kernel.sweep import warm_up as warm_up_sweep  # noqa: E402
from label_pipeline.labels.entry import build_entry_labels  # noqa: E402
from label_pipeline.labels.joins import inner_match  # noqa: E402

REFERENCE = Path(os.environ.get("LABEL_PIPELINE_REFERENCE", REPO.parent / "shared" / "reference"))
ENTRY = DEFAULT_LABEL_CONFIG["entry"]
COST_BPS = sum(float(DEFAULT_COST_CONFIG[k]) for k in ("fee_bps", "slippage_bps", "funding_cost_bps"))
N_PLANS = len(DEFAULT_TARGET_BPS) * len(DEFAULT_STOP_BPS) * len(DEFAULT_MAX_HOLD_MINUTES)


def run_sweep(features: pd.DataFrame, replay: pd.DataFrame) -> dict[str, np.ndarray]:
    """What the asset computes for one (run, symbol): join, split codes, sweep, table."""
    left, right = inner_match(
        features["open_time_ms"].to_numpy("int64"), replay["open_time_ms"].to_numpy("int64"), "replay_1m"
    )
    codes, _names = pd.factorize(features["split_id"], sort=True)
    counts = sweep_counts(
        replay["open_time_ms"].to_numpy("int64"),
        replay["close"].to_numpy("float64"),
        replay["high"].to_numpy("float64"),
        replay["low"].to_numpy("float64"),
        DEFAULT_TARGET_BPS,
        DEFAULT_STOP_BPS,
        DEFAULT_MAX_HOLD_MINUTES,
        codes.astype("int64"),
        left,
        right,
        COST_BPS,
        float(ENTRY["min_expected_net_edge_bps"]),
    )
    return sweep_table(counts)


def run_entry_labels(features: pd.DataFrame, replay: pd.DataFrame) -> pd.DataFrame:
    """One plan's entry labels in this project (the entry step without the storage)."""
    stats = compute_path_stats(
        replay["open_time_ms"].to_numpy("int64"),
        replay["close"].to_numpy("float64"),
        replay["high"].to_numpy("float64"),
        replay["low"].to_numpy("float64"),
        replay["spread_bps"].to_numpy("float64"),
        int(ENTRY["max_hold_minutes"]),
        float(ENTRY["target_bps"]),
        float(ENTRY["stop_bps"]),
    )
    plan = {"pricePlanId": "bench", "pricePlanConfigHash": "bench"}
    return build_entry_labels(features, replay, stats, ENTRY, COST_BPS, plan)


def timed(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm: numba, pandas and page caches
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak / 2**20


def check_default_plan(table: dict[str, np.ndarray], entry: pd.DataFrame) -> str:
    frame = pd.DataFrame(table)
    _, names = pd.factorize(entry["split_id"], sort=True)
    pick = frame[
        (frame["target_bps"] == float(ENTRY["target_bps"]))
        & (frame["stop_bps"] == float(ENTRY["stop_bps"]))
        & (frame["max_hold_minutes"] == int(ENTRY["max_hold_minutes"]))
    ]
    worst = 0.0
    for row in pick.itertuples():
        rows = entry[(entry["side"] == row.side) & (entry["split_id"] == names[row.split_code])]
        assert row.rows == len(rows)
        for rate, column in (
            ("target_rate", "target_hit"),
            ("stop_rate", "stop_hit"),
            ("timeout_rate", "timeout_hit"),
            ("ambiguous_rate", "ambiguous_hit"),
            ("entry_target_rate", "entry_target"),
        ):
            assert getattr(row, rate) == rows[column].mean(), rate
        assert row.median_time_to_target_ms == rows.loc[rows["target_hit"] == 1, "time_to_target_ms"].median()
        assert row.median_time_to_stop_ms == rows.loc[rows["stop_hit"] == 1, "time_to_stop_ms"].median()
        want = rows["gross_edge_bps"].mean()
        worst = max(worst, abs(row.mean_gross_edge_bps - want) / abs(want))
    return f"identical counts, rates and medians; mean gross edge within {worst:.1e} relative"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=525_600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()

    print(f"date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"load average (1, 5, 15 min) at start: {os.getloadavg()}")
    print(f"cores: os.cpu_count() = {os.cpu_count()}, usable = {len(os.sched_getaffinity(0))}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"pandas {pd.__version__}, {platform.processor() or platform.machine()}"
    )
    features, replay = make_run_frames(["BTC/USDT"], args.rows, seed=2024, messiness=REALISTIC)
    print(f"bars: {len(replay):,} (of {args.rows:,} minutes), feature rows: {len(features):,}")
    print(
        f"grid: targets {list(DEFAULT_TARGET_BPS)} x stops {list(DEFAULT_STOP_BPS)} x holds "
        f"{list(DEFAULT_MAX_HOLD_MINUTES)} = {N_PLANS} plans; cost {COST_BPS} bps, "
        f"min edge {ENTRY['min_expected_net_edge_bps']} bps"
    )

    warm_up_sweep()
    warm_up_path_stats()
    t_sweep, table = timed(lambda: run_sweep(features, replay), args.repeat)
    t_entry, entry = timed(lambda: run_entry_labels(features, replay), args.repeat)
    mem_sweep = peak_mib(lambda: run_sweep(features, replay))
    mem_entry = peak_mib(lambda: run_entry_labels(features, replay))
    parity = check_default_plan(table, entry)
    del entry

    print()
    print("| computation | wall (s) | for 75 plans (s) | sweep faster by | peak numpy memory (MiB) |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| sweep, 75 plans (kernel + aggregation, median of {args.repeat}) | {t_sweep:.3f} | {t_sweep:.3f} | 1x | {mem_sweep:.0f} |"
    )
    print(
        f"| (a) one plan's entry labels, this project (median of {args.repeat}) | {t_entry:.3f} | "
        f"{75 * t_entry:.2f} | {75 * t_entry / t_sweep:.1f}x | {mem_entry:.0f} |"
    )
    t_ref = None
    if not args.skip_reference and (REFERENCE / "trader_training" / "labels.py").is_file():
        sys.path.insert(0, str(REFERENCE))
        from trader_training.labels import _build_path_stats

        ref_replay = replay[["symbol", "event_time", "open_time_ms", "close", "high", "low", "spread_bps"]]
        print(f"load average before the reference run: {os.getloadavg()}", file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            start = time.perf_counter()
            ref = _build_path_stats(
                ref_replay,
                int(ENTRY["max_hold_minutes"]),
                float(ENTRY["target_bps"]),
                float(ENTRY["stop_bps"]),
            )
            t_ref = time.perf_counter() - start
        print(
            f"| (b) reference `_build_path_stats`, one plan (once) | {t_ref:.2f} | {75 * t_ref:.0f} | "
            f"{75 * t_ref / t_sweep:.0f}x | - |"
        )
        print(f"\nreference output rows: {len(ref):,}")
        del ref
    print()
    print(f"sweep / one plan's entry labels: {t_sweep / t_entry:.2f}x (goal <= 5x)")
    if t_ref is not None:
        print(f"75 reference runs / sweep: {75 * t_ref / t_sweep:.0f}x (goal >= 200x)")
    print(f"default plan (12/8/45) parity with (a): {parity}")
    print(f"load average (1, 5, 15 min) at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
