"""The path-statistics kernel on one symbol-year, measured in one run.

    .venv/bin/python benchmarks/bench_kernel.py [--rows 525600] [--skip-reference] [--repeat 3]

Prints markdown tables:

(a) the kernel (both sides in one call) against the reference's ``_build_path_stats`` (which
    runs ``_path_stats_for_group`` once per side) at H=45, target 12, stop 8, with a parity check
    of the two outputs;
(b) the kernel at H = 45, 240, 1440: wall time (median of --repeat warm calls) and the peak of
    numpy memory allocated during one call (tracemalloc; the compiled functions allocate nothing
    themselves, every buffer is created by numpy in the wrapper), plus the size of the result;
(c) numba's one-off costs, each in a fresh subprocess: compiling on a cold cache (an empty
    NUMBA_CACHE_DIR) and loading from that now-warm cache.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from label_pipeline.kernel import PathStats, compute_path_stats, warm_up  # noqa: E402
from label_pipeline_tests.harness.reference import REFERENCE_DIR, reference_available  # noqa: E402

BAR_MS = 60_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
TARGET_BPS = 12.0
STOP_BPS = 8.0


def make_year(rows: int, seed: int = 20240101) -> pd.DataFrame:
    """One symbol's 1-minute bars: a ~1 bp/minute random walk, spreads of 1-3 bps in 0.01 bps
    ticks, a few missing bars and one outage, and scattered NaNs."""
    rng = np.random.default_rng(seed)
    extra = 200  # bars dropped as gaps are replaced from here
    n = rows + extra
    close = 40_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    open_ = np.concatenate([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 4e-5, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 4e-5, n)))
    spread = np.round(np.clip(rng.lognormal(np.log(1.6), 0.25, n), 1.0, 3.0), 2)
    open_ms = START_MS + np.arange(n, dtype=np.int64) * BAR_MS
    keep = np.ones(n, bool)
    keep[rng.choice(n, 12, replace=False)] = False  # single missing bars
    outage = int(rng.integers(0, n - 150))
    keep[outage : outage + 120] = False  # a two-hour outage
    idx = np.flatnonzero(keep)[:rows]
    frame = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "event_time": pd.to_datetime(open_ms[idx] + BAR_MS, unit="ms", utc=True),
            "open_time_ms": open_ms[idx],
            "open": open_[idx],
            "high": high[idx],
            "low": low[idx],
            "close": close[idx],
            "spread_bps": spread[idx],
        }
    )
    m = len(frame)
    for column, count in (("close", 40), ("high", 100), ("low", 100), ("spread_bps", 500)):
        frame.loc[rng.choice(m, count, replace=False), column] = np.nan
    return frame


def run_kernel(frame: pd.DataFrame, horizon: int) -> PathStats:
    return compute_path_stats(
        frame["open_time_ms"].to_numpy(),
        frame["close"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["spread_bps"].to_numpy(),
        horizon,
        TARGET_BPS,
        STOP_BPS,
    )


def timed(fn, repeat: int) -> tuple[float, object]:
    times = []
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        del out
    out = fn()
    return statistics.median(times), out


def peak_memory(fn) -> tuple[float, float]:
    """(peak MiB allocated through numpy during fn, MiB still held by its result)."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return (peak - base) / 2**20, (current - base) / 2**20


def parity_note(frame: pd.DataFrame, reference: pd.DataFrame, ours: PathStats) -> str:
    """A sanity check that the timed outputs agree (the tests do this thoroughly)."""
    from label_pipeline_tests.harness.reference import reference_labels

    shared = {"future_spread_p80", "future_realized_vol_bps"}
    worst = 0.0
    for side_name, side in (("LONG", ours.long), ("SHORT", ours.short)):
        want = reference[reference["side"] == side_name]
        if len(want) != len(ours):
            return f"MISMATCH: {side_name} rows {len(want)} vs {len(ours)}"
        if not np.array_equal(
            want["open_time_ms"].to_numpy(), frame["open_time_ms"].to_numpy()[ours.row_index]
        ):
            return f"MISMATCH: {side_name} open_time_ms"
        for name in reference_labels().PATH_STAT_COLUMNS[3:]:
            got = getattr(ours if name in shared else side, name)
            ref = want[name].to_numpy()
            if ref.dtype.kind in "iu":
                if not np.array_equal(got, ref):
                    return f"MISMATCH: {side_name}.{name}"
                continue
            if not np.array_equal(np.isnan(got), np.isnan(ref)) or not np.array_equal(got == 0.0, ref == 0.0):
                return f"MISMATCH: {side_name}.{name} NaN or zero pattern"
            both = np.isfinite(got) & np.isfinite(ref) & (ref != 0.0)
            if both.any():
                worst = max(worst, float(np.max(np.abs(got[both] - ref[both]) / np.abs(ref[both]))))
    return f"all rows and int columns identical; max relative float difference {worst:.1e}"


SUBPROCESS = textwrap.dedent(
    """
    import json, time
    start = time.perf_counter()
    import label_pipeline.kernel.path_stats as m
    imported = time.perf_counter()
    m.warm_up()
    done = time.perf_counter()
    print(json.dumps({"import": imported - start, "first_call": done - imported}))
    """
)


def numba_costs() -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        results = []
        for _ in ("cold", "warm"):
            done = subprocess.run(
                [sys.executable, "-c", SUBPROCESS],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=525_600, help="bars of the one symbol (default: a year)")
    parser.add_argument("--repeat", type=int, default=3, help="warm kernel calls per timing (median)")
    parser.add_argument("--skip-reference", action="store_true", help="skip (a), the ~1.5 min reference run")
    args = parser.parse_args()

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"# path-statistics kernel benchmark, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print()
    print(
        f"os.cpu_count() = {os.cpu_count()}, CPU: {cpu}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}, pandas {pd.__version__}"
    )
    frame = make_year(args.rows)
    print(f"rows: {len(frame):,} one-minute bars of one symbol; target {TARGET_BPS} bps, stop {STOP_BPS} bps")
    print()

    warm_up()
    run_kernel(frame, 45)

    # (a) -------------------------------------------------------------------------------------
    print("## (a) kernel vs reference `_build_path_stats`, both sides, H=45")
    print()
    kernel_45, ours_45 = timed(lambda: run_kernel(frame, 45), args.repeat)
    if args.skip_reference:
        print("skipped (--skip-reference)")
    elif not reference_available():
        print(f"skipped: reference not found under {REFERENCE_DIR}")
    else:
        from label_pipeline_tests.harness.reference import reference_labels

        labels = reference_labels()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            start = time.perf_counter()
            reference = labels._build_path_stats(frame, 45, TARGET_BPS, STOP_BPS)
            reference_s = time.perf_counter() - start
        print("| implementation | wall (s) | output rows | ratio |")
        print("|---|---:|---:|---:|")
        print(
            f"| reference `_build_path_stats` (LONG + SHORT) | {reference_s:.2f} | {len(reference):,} | 1x |"
        )
        print(
            f"| kernel `compute_path_stats` (both sides, median of {args.repeat}) | {kernel_45:.3f} | "
            f"{2 * len(ours_45):,} | {reference_s / kernel_45:,.0f}x |"
        )
        print()
        print(f"parity on this data: {parity_note(frame, reference, ours_45)}")
        del reference
    print()

    # (b) -------------------------------------------------------------------------------------
    print("## (b) kernel scaling with the horizon")
    print()
    print(
        f"| H | wall (s, median of {args.repeat}) | vs H=45 | peak numpy memory during the call (MiB) "
        "| of which the result (MiB) | valid rows |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    base = None
    for horizon in (45, 240, 1440):
        run_kernel(frame, horizon)  # first touch of this horizon's buffers outside the timing
        seconds, result = timed(lambda h=horizon: run_kernel(frame, h), args.repeat)
        rows = len(result)
        del result
        peak, held = peak_memory(lambda h=horizon: run_kernel(frame, h))
        base = seconds if base is None else base
        print(f"| {horizon} | {seconds:.3f} | {seconds / base:.2f}x | {peak:.1f} | {held:.1f} | {rows:,} |")
    print()
    input_mib = (
        sum(frame[c].to_numpy().nbytes for c in ("open_time_ms", "close", "high", "low", "spread_bps"))
        / 2**20
    )
    print(f"(the five input arrays themselves: {input_mib:.1f} MiB)")
    print()

    # (c) -------------------------------------------------------------------------------------
    print("## (c) numba one-off costs (fresh subprocess each, `warm_up()` = first call on a tiny input)")
    print()
    cold, warm = numba_costs()
    print("| NUMBA_CACHE_DIR | import kernel module (s) | first call (s) |")
    print("|---|---:|---:|")
    print(
        f"| cold (empty dir): compile and write the cache | {cold['import']:.2f} | {cold['first_call']:.2f} |"
    )
    print(f"| warm (same dir): load from the cache | {warm['import']:.2f} | {warm['first_call']:.2f} |")


if __name__ == "__main__":
    main()
