"""Entry-label statistics of a whole grid of price plans (target, stop, maximum hold) in one pass.

Researchers pick the price plan by comparing label statistics over a grid (by default 5 targets x
5 stops x 3 holds = 75 plans). Building the entry labels once per plan costs 75 path-statistics
runs; but of a plan's labels only the first passage depends on the barriers, and everything else
(validity, window extremes, MFE, horizon return, entry target) only on the hold. So, per symbol:

1. **First passage, once, at the longest hold.** For every distinct barrier distance ``b`` of the
   grid (targets and stops together: a LONG target and a SHORT stop of the same bps are the same
   price ``entry * (1.0 + b / 10000.0)``; a LONG stop and a SHORT target the same
   ``entry * (1.0 - b / 10000.0)``), the index ``d`` of the first bar of ``t+1 .. t+Hmax`` whose
   high (low) crosses it, or ``Hmax``. A barrier is hit within a hold ``h`` iff ``d < h``: the
   first crossing within ``h`` bars is the first crossing overall when it comes before ``h``. This
   holds whatever validity says about bars beyond ``h``, since a valid row's first ``h`` bars are
   contiguous minutes, so bar positions are the reference's window positions. One right-to-left
   pass keeps the forward records of high (low) in the current window as a monotonic deque: its
   bottom is the window's max (min), which settles a miss in O(1), and a galloping search down
   from the top finds a hit in O(log d) (as ``path_stats._fill_first_passage``).
2. **Per hold:** one left-to-right deque pass gives validity (the H steps after the row are one
   minute each, entry and exit closes finite), the window extremes, hence MFE and the entry target
   (``mfe - cost >= min_expected_net_edge_bps``), and the horizon return of both sides.
3. **Per hold, streamed into the aggregates:** for every matched feature row and side, the 25
   (target, stop) outcomes follow from the first-hit indices by the reference's rules (stop wins
   ties, ``ambiguous_hit``); they go straight into counts, compensated sums of the timeout returns
   and histograms of the winning first-hit indices (from which the medians are exact). No per-plan
   row array is ever built.

Every float expression that decides a hit, the MFE, the return or the entry target is written as
numpy evaluates it in the reference (and in ``build_entry_labels``), so every count equals what the
entry labels of that one plan give. Only the mean gross edge is a sum of floats in another order
than pandas' (see ``sweep_table``).

The counts are additive: ``SweepCounts.merge`` combines symbols (histograms, not medians, are kept
for that reason), and ``sweep_table`` turns them into the table, one row per (target, stop, hold,
side, split). No pandas here. All scratch memory is numpy's, allocated in the wrappers; compilation
is lazy and ``warm_up`` does it once.

Cost per symbol, N bars, M matched feature rows, B distinct barrier distances, T targets, S stops,
K holds: O(N K + M B log Hmax) for the passes plus O(M K T S) for the aggregation; memory
O(M B) for the first-hit indices (int32) plus O(M) per hold plus O(T S K G Hmax) for the histograms.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from label_pipeline.kernel.path_stats import _fill_extrema
from label_pipeline.kernel.units import MINUTE_MS, SIDES

__all__ = [
    "DEFAULT_MAX_HOLD_MINUTES",
    "DEFAULT_STOP_BPS",
    "DEFAULT_TARGET_BPS",
    "SIDES",
    "TABLE_COLUMNS",
    "SweepCounts",
    "first_passage",
    "sweep_counts",
    "sweep_price_plans",
    "sweep_table",
    "warm_up",
]

DEFAULT_TARGET_BPS = (6.0, 8.0, 12.0, 16.0, 24.0)
DEFAULT_STOP_BPS = (4.0, 6.0, 8.0, 12.0, 16.0)
DEFAULT_MAX_HOLD_MINUTES = (15, 45, 120)

TABLE_COLUMNS = (
    "target_bps",
    "stop_bps",
    "max_hold_minutes",
    "side",
    "split_code",
    "rows",
    "target_rate",
    "stop_rate",
    "timeout_rate",
    "ambiguous_rate",
    "mean_gross_edge_bps",
    "mean_net_edge_bps",
    "entry_target_rate",
    "median_time_to_target_ms",
    "median_time_to_stop_ms",
)

# As path_stats: numpy's float semantics (a zero price gives inf/NaN, never raises), and no GIL so
# callers may sweep several symbols in threads.
_jit = njit(cache=True, error_model="numpy", nogil=True)

_MAX_HOLD_LIMIT = 2**31 - 1  # first-hit indices are int32


# --------------------------------------------------------------------------------------------
# compiled passes (each fills preallocated arrays; none allocates)
# --------------------------------------------------------------------------------------------


@_jit
def _search_above(vals, bars, base, size, mask, price):
    # Ring-buffer positions base..size-1 hold forward records whose values strictly decrease
    # towards the top (size-1, the nearest bar); vals[base] >= price is known. The first bar
    # crossing the price is the highest position K with vals[K] >= price: gallop down from the
    # top (a hit d records away costs O(log d)), then bisect.
    hi = size - 1
    if vals[hi & mask] >= price:
        return bars[hi & mask]
    lo = base
    step = 1
    while True:
        q = hi - step
        if q <= base:
            break
        if vals[q & mask] >= price:
            lo = q
            break
        hi = q
        step <<= 1
    while hi - lo > 1:  # vals[lo] >= price > vals[hi]
        mid = (lo + hi) >> 1
        if vals[mid & mask] >= price:
            lo = mid
        else:
            hi = mid
    return bars[lo & mask]


@_jit
def _search_below(vals, bars, base, size, mask, price):
    # Mirror of _search_above for record lows (values strictly increase towards the top) and a
    # barrier crossed by low <= price; vals[base] <= price is known.
    hi = size - 1
    if vals[hi & mask] <= price:
        return bars[hi & mask]
    lo = base
    step = 1
    while True:
        q = hi - step
        if q <= base:
            break
        if vals[q & mask] <= price:
            lo = q
            break
        hi = q
        step <<= 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if vals[mid & mask] <= price:
            lo = mid
        else:
            hi = mid
    return bars[lo & mask]


@_jit
def _first_passage(close, high, low, rows, up_mults, down_mults, max_hold, up_out, down_out, hv, hx, lv, lx):
    # Right to left. (hv, hx) is a ring buffer of (value, bar) holding the strict forward records
    # of high among bars t+1 .. t+max_hold: a new bar pops the records it equals or beats from the
    # top, records past the window leave from the bottom. So the bottom is the window's max and
    # the first bar crossing a barrier, always such a record, is found by a search down the stack.
    # NaN bars are never pushed (a NaN high never hits), and a NaN price compares False.
    # up_out[k, i]: first d in 0 .. max_hold-1 with high[t+1+d] >= close[t] * up_mults[i], else
    # max_hold, for t = rows[k]; down_out likewise with low <= close[t] * down_mults[i].
    n = close.shape[0]
    n_up = up_mults.shape[0]
    n_down = down_mults.shape[0]
    mask = hv.shape[0] - 1
    k = rows.shape[0] - 1
    while k >= 0 and rows[k] >= n - 1:  # no bar after the row
        for i in range(n_up):
            up_out[k, i] = max_hold
        for i in range(n_down):
            down_out[k, i] = max_hold
        k -= 1
    hb = 0
    hs = 0
    lb = 0
    ls = 0
    for t in range(n - 2, -1, -1):
        if k < 0:
            break
        j = t + 1
        x = high[j]
        if not np.isnan(x):
            while hs > hb and hv[(hs - 1) & mask] <= x:
                hs -= 1
            hv[hs & mask] = x
            hx[hs & mask] = j
            hs += 1
        y = low[j]
        if not np.isnan(y):
            while ls > lb and lv[(ls - 1) & mask] >= y:
                ls -= 1
            lv[ls & mask] = y
            lx[ls & mask] = j
            ls += 1
        last = t + max_hold
        while hb < hs and hx[hb & mask] > last:
            hb += 1
        while lb < ls and lx[lb & mask] > last:
            lb += 1
        if rows[k] != t:
            continue
        entry = close[t]
        for i in range(n_up):
            price = entry * up_mults[i]
            d = max_hold
            if hb < hs and hv[hb & mask] >= price:
                d = _search_above(hv, hx, hb, hs, mask, price) - j
            up_out[k, i] = d
        for i in range(n_down):
            price = entry * down_mults[i]
            d = max_hold
            if lb < ls and lv[lb & mask] <= price:
                d = _search_below(lv, lx, lb, ls, mask, price) - j
            down_out[k, i] = d
        k -= 1


@_jit
def _hold_pass(
    open_ms, close, high, low, horizon, rows, cost_bps, min_edge, valid, fwd, entry_ok, dq_hi, dq_lo, h_max, l_min
):
    # The window of row t is bars t+1 .. t+H; its max high / min low come from path_stats' own
    # monotonic deques (_fill_extrema). last_bad is the latest step i -> i+1 (i < t+H) that is not
    # exactly one minute: row t is valid iff none of the steps t .. t+H-1 is bad and both closes
    # are finite. Expressions as the reference's _path_stats_for_group and build_entry_labels.
    _fill_extrema(high, low, horizon, rows, h_max, l_min, dq_hi, dq_lo)
    n = close.shape[0]
    last_bad = -1
    checked = 0  # steps i -> i+1 are checked for every i < checked
    for k in range(rows.shape[0]):
        t = rows[k]
        j = t + horizon
        if j >= n:  # rows without H bars after them
            valid[k] = False
            continue
        while checked < j:
            if open_ms[checked + 1] - open_ms[checked] != MINUTE_MS:
                last_bad = checked
            checked += 1
        entry = close[t]
        exit_price = close[j]
        ok = last_bad < t and np.isfinite(entry) and np.isfinite(exit_price)
        valid[k] = ok
        if ok:
            fwd[0, k] = (exit_price / entry - 1.0) * 10000.0
            fwd[1, k] = (entry / exit_price - 1.0) * 10000.0
            up = (h_max[k] / entry - 1.0) * 10000.0  # LONG MFE
            down = (entry / l_min[k] - 1.0) * 10000.0  # SHORT MFE
            entry_ok[0, k] = 1 if (up - cost_bps) >= min_edge else 0
            entry_ok[1, k] = 1 if (down - cost_bps) >= min_edge else 0


@_jit
def _accumulate(
    horizon,
    pair_row,
    pair_split,
    valid,
    fwd,
    entry_ok,
    up_hits,
    down_hits,
    target_level,
    stop_level,
    rows,
    entry_target,
    ambiguous,
    target_hist,
    stop_hist,
    timeout_sum,
    timeout_comp,
    first_t,
    first_s,
):
    # One matched feature row (pair_row: its bar's position among the first-passage rows,
    # pair_split: its split code, < 0 = left out) at a time, both sides, every (target, stop).
    # First hits are clipped to H (= no hit within the hold). With a, b the target and stop
    # indices: target wins iff a < b; stop wins iff b <= a and b < H (ambiguous if a == b);
    # timeout iff a == b == H. Timeout returns are summed with Neumaier's compensation.
    n_t = target_level.shape[0]
    n_s = stop_level.shape[0]
    for p in range(pair_row.shape[0]):
        g = pair_split[p]
        if g < 0:
            continue
        k = pair_row[p]
        if not valid[k]:
            continue
        for side in range(2):
            rows[side, g] += 1
            entry_target[side, g] += entry_ok[side, k]
            # LONG: target above the entry, stop below; SHORT: the reverse
            for i in range(n_t):
                d = up_hits[k, target_level[i]] if side == 0 else down_hits[k, target_level[i]]
                first_t[i] = d if d < horizon else horizon
            for i in range(n_s):
                d = down_hits[k, stop_level[i]] if side == 0 else up_hits[k, stop_level[i]]
                first_s[i] = d if d < horizon else horizon
            x = fwd[side, k]
            for i in range(n_t):
                a = first_t[i]
                for q in range(n_s):
                    b = first_s[q]
                    if a < b:
                        target_hist[i, q, side, g, a] += 1
                    elif b < horizon:
                        stop_hist[i, q, side, g, b] += 1
                        if a == b:
                            ambiguous[i, q, side, g] += 1
                    else:
                        s = timeout_sum[i, q, side, g]
                        total = s + x
                        if abs(s) >= abs(x):
                            timeout_comp[i, q, side, g] += (s - total) + x
                        else:
                            timeout_comp[i, q, side, g] += (x - total) + s
                        timeout_sum[i, q, side, g] = total


# --------------------------------------------------------------------------------------------
# Python wrappers
# --------------------------------------------------------------------------------------------


def _as_1d(name: str, values: object, dtype: type, kinds: str = "iuf") -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in kinds:
        raise ValueError(f"{name} must be numeric ({kinds!r} dtype kinds), got dtype {arr.dtype}")
    if np.dtype(dtype).kind == "i" and arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.trunc(arr)):
            raise ValueError(f"{name} must hold whole numbers; got non-finite or fractional values")
    out = np.ascontiguousarray(arr, dtype=dtype)
    # A read-only array is a distinct numba type: it would trigger (and cache) a second compile.
    if not out.flags.writeable:
        out = out.copy()
    return out


def _barriers(name: str, values: object) -> np.ndarray:
    arr = _as_1d(name, values, np.float64, "iuf")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers of basis points, got {arr.tolist()}")
    return arr


def _holds(values: object) -> np.ndarray:
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = [values]
    arr = _as_1d("max_hold_minutes", values, np.int64, "iuf")
    if arr.size and (arr.min() < 1 or arr.max() > _MAX_HOLD_LIMIT):
        raise ValueError(
            f"max_hold_minutes must be whole numbers of bars in 1 .. 2**31-1, got {arr.tolist()}"
        )
    return arr


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _rows(values: object, n: int) -> np.ndarray:
    rows = _as_1d("rows", values, np.int64, "iu")
    if rows.size and (rows[0] < 0 or rows[-1] >= n or not np.all(np.diff(rows) > 0)):
        raise ValueError(f"rows must be strictly increasing bar positions in 0 .. {n - 1}")
    return rows


def _barrier_levels(barrier_bps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # The reference's scalar multipliers, evaluated as Python/numpy float64 arithmetic (identical,
    # elementwise); the kernel multiplies the entry by them, as `entry * (1.0 + b / 10000.0)`.
    return 1.0 + barrier_bps / 10000.0, 1.0 - barrier_bps / 10000.0


def _run_first_passage(c, hi, lo, rows, barrier_bps, max_hold):
    up_mults, down_mults = _barrier_levels(barrier_bps)
    m = rows.shape[0]
    up = np.empty((m, barrier_bps.shape[0]), np.int32)
    down = np.empty((m, barrier_bps.shape[0]), np.int32)
    capacity = 1 << (max_hold + 1).bit_length()  # a power of two > max_hold + 1
    _first_passage(
        c,
        hi,
        lo,
        rows,
        up_mults,
        down_mults,
        max_hold,
        up,
        down,
        np.empty(capacity, np.float64),
        np.empty(capacity, np.int64),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.int64),
    )
    return up, down


def first_passage(
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    barrier_bps: np.ndarray,
    max_hold: int,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """First-hit indices of many barriers at once: ``(up, down)``, int32 arrays of shape
    (len(rows), len(barrier_bps)).

    For bar position ``t = rows[k]`` and distance ``b = barrier_bps[i]``, ``up[k, i]`` is the
    smallest ``d`` in ``0 .. max_hold-1`` with ``high[t+1+d] >= close[t] * (1.0 + b / 10000.0)``
    (a LONG target, a SHORT stop) and ``down[k, i]`` the smallest with
    ``low[t+1+d] <= close[t] * (1.0 - b / 10000.0)`` (a LONG stop, a SHORT target); ``max_hold`` if
    none, including bars beyond the end of the series. A barrier is hit within a hold ``h <=
    max_hold`` iff the index is ``< h``. No validity is applied here: timestamps are not read.
    ``rows`` (strictly increasing; default every bar) limits the output to the rows needed."""
    h = int(_holds([max_hold])[0])
    c = _as_1d("close", close, np.float64)
    hi = _as_1d("high", high, np.float64)
    lo = _as_1d("low", low, np.float64)
    n = c.shape[0]
    if hi.shape[0] != n or lo.shape[0] != n:
        raise ValueError(
            f"close, high and low must have the same length, got {n}, {hi.shape[0]}, {lo.shape[0]}"
        )
    b = _barriers("barrier_bps", barrier_bps)
    r = np.arange(n, dtype=np.int64) if rows is None else _rows(rows, n)
    return _run_first_passage(c, hi, lo, r, b, h)


@dataclass(frozen=True)
class SweepCounts:
    """Additive aggregates of one symbol's (or, merged, several symbols') entry labels over a grid.

    Axes: target ``i`` (``target_bps``), stop ``q`` (``stop_bps``), hold ``h`` (``max_hold_minutes``),
    side (0 LONG, 1 SHORT), split code ``g``. Rows are matched feature rows with a valid bar at the
    hold; counts are int64. ``target_hist[h][i, q, side, g, d]`` counts the rows whose target won at
    first-hit index ``d`` (time to target ``(d + 1) * 60000`` ms), ``stop_hist`` likewise; their
    sums are the target / stop counts. ``timeout_sum + timeout_comp`` is the Neumaier-compensated
    sum of the horizon returns of timed-out rows."""

    target_bps: np.ndarray  # float64 [T]
    stop_bps: np.ndarray  # float64 [S]
    max_hold_minutes: np.ndarray  # int64 [K]
    n_splits: int
    cost_bps: float
    min_expected_net_edge_bps: float
    rows: np.ndarray  # int64 [K, 2, G]
    entry_target: np.ndarray  # int64 [K, 2, G]
    ambiguous: np.ndarray  # int64 [T, S, K, 2, G]
    timeout_sum: np.ndarray  # float64 [T, S, K, 2, G]
    timeout_comp: np.ndarray  # float64 [T, S, K, 2, G]
    target_hist: tuple[np.ndarray, ...]  # per hold: int64 [T, S, 2, G, h]
    stop_hist: tuple[np.ndarray, ...]  # per hold: int64 [T, S, 2, G, h]

    def with_splits(self, n_splits: int) -> SweepCounts:
        """The same counts over ``n_splits`` split codes, the new ones empty (a pass's chunks meet
        the splits one after another)."""
        if n_splits == self.n_splits:
            return self
        if n_splits < self.n_splits:
            raise ValueError(f"cannot drop split codes: {self.n_splits} -> {n_splits}")

        def pad(a: np.ndarray, axis: int) -> np.ndarray:
            widths = [(0, 0)] * a.ndim
            widths[axis] = (0, n_splits - self.n_splits)
            return np.pad(a, widths)

        return dataclasses.replace(
            self,
            n_splits=n_splits,
            rows=pad(self.rows, -1),
            entry_target=pad(self.entry_target, -1),
            ambiguous=pad(self.ambiguous, -1),
            timeout_sum=pad(self.timeout_sum, -1),
            timeout_comp=pad(self.timeout_comp, -1),
            target_hist=tuple(pad(h, -2) for h in self.target_hist),
            stop_hist=tuple(pad(h, -2) for h in self.stop_hist),
        )

    def merge(self, other: SweepCounts) -> SweepCounts:
        """The counts of both inputs' rows together (e.g. two symbols of one run)."""
        same = (
            np.array_equal(self.target_bps, other.target_bps)
            and np.array_equal(self.stop_bps, other.stop_bps)
            and np.array_equal(self.max_hold_minutes, other.max_hold_minutes)
            and self.n_splits == other.n_splits
            and self.cost_bps == other.cost_bps
            and self.min_expected_net_edge_bps == other.min_expected_net_edge_bps
        )
        if not same:
            raise ValueError("can only merge sweep counts of the same grid, splits, cost and minimum edge")
        with np.errstate(invalid="ignore", over="ignore"):
            s = self.timeout_sum + other.timeout_sum
            # Neumaier step for the two running sums, then both compensations
            comp = np.where(
                np.abs(self.timeout_sum) >= np.abs(other.timeout_sum),
                (self.timeout_sum - s) + other.timeout_sum,
                (other.timeout_sum - s) + self.timeout_sum,
            )
            comp = comp + self.timeout_comp + other.timeout_comp
        return SweepCounts(
            target_bps=self.target_bps,
            stop_bps=self.stop_bps,
            max_hold_minutes=self.max_hold_minutes,
            n_splits=self.n_splits,
            cost_bps=self.cost_bps,
            min_expected_net_edge_bps=self.min_expected_net_edge_bps,
            rows=self.rows + other.rows,
            entry_target=self.entry_target + other.entry_target,
            ambiguous=self.ambiguous + other.ambiguous,
            timeout_sum=s,
            timeout_comp=comp,
            target_hist=tuple(a + b for a, b in zip(self.target_hist, other.target_hist, strict=True)),
            stop_hist=tuple(a + b for a, b in zip(self.stop_hist, other.stop_hist, strict=True)),
        )


def _distinct_rows(right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct bar rows in increasing order, each match's position among them). Matches
    come in feature order, normally time order, so a sort is rarely needed (and np.unique, which
    hashes in numpy 2.x, is ~10x slower than this on a year of sorted rows)."""
    if right.size > 1 and not bool(np.all(right[1:] >= right[:-1])):
        distinct = np.sort(right)
        keep = np.empty(distinct.size, np.bool_)
        keep[0] = True
        np.not_equal(distinct[1:], distinct[:-1], out=keep[1:])
        distinct = distinct[keep]
        return distinct, np.searchsorted(distinct, right).astype(np.int64)
    first = np.empty(right.size, np.bool_)
    first[:1] = True
    np.not_equal(right[1:], right[:-1], out=first[1:])
    return right[first], np.cumsum(first, dtype=np.int64) - 1


def sweep_counts(
    open_time_ms: np.ndarray,
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    target_bps: object,
    stop_bps: object,
    max_hold_minutes: object,
    split_codes: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    cost_bps: float,
    min_expected_net_edge_bps: float,
    n_splits: int | None = None,
) -> SweepCounts:
    """The grid's aggregates for one symbol.

    Bars as for ``compute_path_stats`` (event-time order, one symbol; spread is not needed).
    ``split_codes`` has one int code per feature row (the caller factorizes the split names;
    a negative code, e.g. pandas' -1 for a missing split, leaves the row out as a groupby drops
    missing keys), and ``left, right`` are the feature rows and their bar rows, as
    ``label_pipeline.labels.joins.inner_match(feature open_time_ms, bar open_time_ms)`` gives them
    (which requires strictly increasing bar times; the entry labels match the same feature rows to
    the valid bars). A feature row counts at a hold iff its bar is valid there, once per match.
    ``cost_bps`` and ``min_expected_net_edge_bps`` are those of ``build_entry_labels``."""
    tb = _barriers("target_bps", target_bps)
    sb = _barriers("stop_bps", stop_bps)
    holds = _holds(max_hold_minutes)
    cost = _real("cost_bps", cost_bps)
    min_edge = _real("min_expected_net_edge_bps", min_expected_net_edge_bps)
    open_ms = _as_1d("open_time_ms", open_time_ms, np.int64)
    c = _as_1d("close", close, np.float64)
    hi = _as_1d("high", high, np.float64)
    lo = _as_1d("low", low, np.float64)
    n = open_ms.shape[0]
    lengths = {"open_time_ms": n, "close": c.shape[0], "high": hi.shape[0], "low": lo.shape[0]}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"all bar arrays must have the same length, got {lengths}")
    codes = _as_1d("split_codes", split_codes, np.int64, "iu")
    left_rows = _as_1d("left", left, np.int64, "iu")
    right_rows = _as_1d("right", right, np.int64, "iu")
    if left_rows.shape != right_rows.shape:
        raise ValueError(
            f"left and right must have the same length, got {left_rows.shape[0]}, {right_rows.shape[0]}"
        )
    if left_rows.size and (left_rows.min() < 0 or left_rows.max() >= codes.shape[0]):
        raise ValueError(f"left must be feature row positions in 0 .. {codes.shape[0] - 1}")
    if right_rows.size and (right_rows.min() < 0 or right_rows.max() >= n):
        raise ValueError(f"right must be bar positions in 0 .. {n - 1}")
    pair_split = codes[left_rows]
    top = int(pair_split.max()) + 1 if pair_split.size else 0
    if n_splits is None:
        n_splits = max(top, 0)
    elif isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < max(top, 0):
        raise ValueError(
            f"n_splits must be an integer above every split code (max {top - 1}), got {n_splits!r}"
        )
    n_splits = int(n_splits)

    n_t, n_s, n_k = tb.shape[0], sb.shape[0], holds.shape[0]
    rows_out = np.zeros((n_k, 2, n_splits), np.int64)
    entry_out = np.zeros((n_k, 2, n_splits), np.int64)
    ambiguous = np.zeros((n_t, n_s, n_k, 2, n_splits), np.int64)
    t_sum = np.zeros((n_t, n_s, n_k, 2, n_splits), np.float64)
    t_comp = np.zeros((n_t, n_s, n_k, 2, n_splits), np.float64)
    target_hist = [np.zeros((n_t, n_s, 2, n_splits, int(h)), np.int64) for h in holds]
    stop_hist = [np.zeros((n_t, n_s, 2, n_splits, int(h)), np.int64) for h in holds]

    # Only the bars some feature row is matched to are evaluated.
    bar_rows, pair_row = _distinct_rows(right_rows)
    del right_rows, left_rows
    if n_k and bar_rows.size and (n_t or n_s):
        levels = np.unique(np.concatenate([tb, sb]))  # one first passage per distinct distance
        target_level = np.searchsorted(levels, tb).astype(np.int64)
        stop_level = np.searchsorted(levels, sb).astype(np.int64)
        up_hits, down_hits = _run_first_passage(c, hi, lo, bar_rows, levels, int(holds.max()))
        m = bar_rows.shape[0]
        valid = np.empty(m, np.bool_)
        fwd = np.empty((2, m), np.float64)
        entry_ok = np.empty((2, m), np.int8)
        h_max = np.empty(m, np.float64)
        l_min = np.empty(m, np.float64)
        first_t = np.empty(n_t, np.int64)
        first_s = np.empty(n_s, np.int64)
        for k_idx, h in enumerate(holds.tolist()):
            capacity = 1 << h.bit_length()  # a power of two > H
            _hold_pass(
                open_ms,
                c,
                hi,
                lo,
                h,
                bar_rows,
                cost,
                min_edge,
                valid,
                fwd,
                entry_ok,
                np.empty(capacity, np.int64),
                np.empty(capacity, np.int64),
                h_max,
                l_min,
            )
            amb_h = np.zeros((n_t, n_s, 2, n_splits), np.int64)
            sum_h = np.zeros((n_t, n_s, 2, n_splits), np.float64)
            comp_h = np.zeros((n_t, n_s, 2, n_splits), np.float64)
            _accumulate(
                h,
                pair_row,
                pair_split,
                valid,
                fwd,
                entry_ok,
                up_hits,
                down_hits,
                target_level,
                stop_level,
                rows_out[k_idx],
                entry_out[k_idx],
                amb_h,
                target_hist[k_idx],
                stop_hist[k_idx],
                sum_h,
                comp_h,
                first_t,
                first_s,
            )
            ambiguous[:, :, k_idx] = amb_h
            t_sum[:, :, k_idx] = sum_h
            t_comp[:, :, k_idx] = comp_h
    return SweepCounts(
        target_bps=tb,
        stop_bps=sb,
        max_hold_minutes=holds,
        n_splits=n_splits,
        cost_bps=cost,
        min_expected_net_edge_bps=min_edge,
        rows=rows_out,
        entry_target=entry_out,
        ambiguous=ambiguous,
        timeout_sum=t_sum,
        timeout_comp=t_comp,
        target_hist=tuple(target_hist),
        stop_hist=tuple(stop_hist),
    )


def _hist_median_ms(hist: np.ndarray) -> np.ndarray:
    """numpy's median of the times (d + 1) * 60000 ms counted by ``hist`` along its last axis: the
    middle value, or the mean of the two middle values for an even count; NaN for none. The sum of
    two whole-millisecond times is exact in int64 and halving it is exact in float64."""
    count = hist.sum(axis=-1)
    cum = np.cumsum(hist, axis=-1)
    lower = (count - 1) // 2  # 0-based positions of the middle values in sorted order
    upper = count // 2
    d_lower = (cum <= lower[..., None]).sum(axis=-1)  # first bin whose cumulative count passes it
    d_upper = (cum <= upper[..., None]).sum(axis=-1)
    out = ((d_lower + 1) * MINUTE_MS + (d_upper + 1) * MINUTE_MS) / 2.0
    out[count == 0] = np.nan
    return out


def sweep_table(counts: SweepCounts) -> dict[str, np.ndarray]:
    """One row per (target_bps, stop_bps, max_hold_minutes, side, split_code), in that nesting
    order over the grid as given, with every split code 0 .. n_splits-1 (a combination without rows
    has rows 0 and NaN statistics, as 0/0). Columns: ``TABLE_COLUMNS``.

    Rates are count / rows (correctly rounded, as pandas' mean of an int8 column). The medians are
    exact. ``mean_gross_edge_bps`` is (targets * target_bps - stops * stop_bps + sum of the timeout
    returns) / rows with that sum compensated and the three terms added by ``math.fsum``: within a
    few units in the last place of the exact mean's scale, but not bit-identical to pandas, whose
    groupby sum is another (Kahan) summation in feature-row order. A non-finite return makes it
    inf / NaN as a plain sum would. ``mean_net_edge_bps`` is that mean minus ``cost_bps``."""
    tb, sb, holds = counts.target_bps, counts.stop_bps, counts.max_hold_minutes
    n_t, n_s, n_k, n_g = tb.shape[0], sb.shape[0], holds.shape[0], counts.n_splits
    shape = (n_t, n_s, n_k, 2, n_g)
    n_targets = np.zeros(shape, np.int64)
    n_stops = np.zeros(shape, np.int64)
    med_target = np.full(shape, np.nan)
    med_stop = np.full(shape, np.nan)
    for k_idx in range(n_k):
        n_targets[:, :, k_idx] = counts.target_hist[k_idx].sum(axis=-1)
        n_stops[:, :, k_idx] = counts.stop_hist[k_idx].sum(axis=-1)
        med_target[:, :, k_idx] = _hist_median_ms(counts.target_hist[k_idx])
        med_stop[:, :, k_idx] = _hist_median_ms(counts.stop_hist[k_idx])
    rows = np.broadcast_to(counts.rows[None, None], shape)
    entry = np.broadcast_to(counts.entry_target[None, None], shape)
    timeouts = rows - n_targets - n_stops

    gross_total = np.empty(shape, np.float64)
    flat_total = gross_total.reshape(-1)
    tb_full = np.broadcast_to(tb[:, None, None, None, None], shape).reshape(-1)
    sb_full = np.broadcast_to(sb[None, :, None, None, None], shape).reshape(-1)
    for idx, (nt, ns, s, comp, t_bps, s_bps) in enumerate(
        zip(
            n_targets.reshape(-1).tolist(),
            n_stops.reshape(-1).tolist(),
            counts.timeout_sum.reshape(-1).tolist(),
            counts.timeout_comp.reshape(-1).tolist(),
            tb_full.tolist(),
            sb_full.tolist(),
            strict=True,
        )
    ):
        barrier_part = math.fsum([nt * t_bps, -(ns * s_bps)])
        flat_total[idx] = math.fsum([barrier_part, s, comp]) if math.isfinite(s) else barrier_part + s

    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gross = gross_total / rows
        table = {
            "target_bps": np.broadcast_to(tb[:, None, None, None, None], shape),
            "stop_bps": np.broadcast_to(sb[None, :, None, None, None], shape),
            "max_hold_minutes": np.broadcast_to(holds[None, None, :, None, None], shape),
            "side": np.broadcast_to(np.array(SIDES, dtype=object)[None, None, None, :, None], shape),
            "split_code": np.broadcast_to(np.arange(n_g, dtype=np.int64), shape),
            "rows": rows,
            "target_rate": n_targets / rows,
            "stop_rate": n_stops / rows,
            "timeout_rate": timeouts / rows,
            "ambiguous_rate": counts.ambiguous / rows,
            "mean_gross_edge_bps": mean_gross,
            "mean_net_edge_bps": mean_gross - counts.cost_bps,
            "entry_target_rate": entry / rows,
            "median_time_to_target_ms": med_target,
            "median_time_to_stop_ms": med_stop,
        }
    return {name: np.array(table[name]).reshape(-1) for name in TABLE_COLUMNS}


def sweep_price_plans(
    open_time_ms: np.ndarray,
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    split_codes: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    cost_bps: float,
    min_expected_net_edge_bps: float,
    target_bps: object = DEFAULT_TARGET_BPS,
    stop_bps: object = DEFAULT_STOP_BPS,
    max_hold_minutes: object = DEFAULT_MAX_HOLD_MINUTES,
    n_splits: int | None = None,
) -> dict[str, np.ndarray]:
    """``sweep_table(sweep_counts(...))`` for one symbol, on the default grid unless given."""
    return sweep_table(
        sweep_counts(
            open_time_ms,
            close,
            high,
            low,
            target_bps,
            stop_bps,
            max_hold_minutes,
            split_codes,
            left,
            right,
            cost_bps,
            min_expected_net_edge_bps,
            n_splits,
        )
    )


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every compiled function once."""
    t = np.arange(6, dtype=np.int64) * MINUTE_MS
    px = np.array([100.0, 100.2, 99.9, 100.1, 100.3, 100.0])
    rows = np.arange(6, dtype=np.int64)
    sweep_counts(t, px, px + 0.1, px - 0.1, [10.0], [10.0], [2], np.zeros(6, np.int64), rows, rows, 6.5, 3.0)
