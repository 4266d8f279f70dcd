"""Forward path statistics of one symbol's 1-minute bars, for LONG and SHORT at once.

This replaces the reference's ``_path_stats_for_group``, which materialises N x H sliding windows
(O(N x H) memory, ~27 s of ``np.nanquantile`` per call on a symbol-year). Every statistic here is
one pass whose cost does not grow with the horizon H, in O(N + H) memory:

* window max of high / min of low: monotonic deques in ring buffers, O(N);
* 80th percentile of spread: spreads ranked once (argsort), the window kept as a set of ranks in
  a 64-ary bitset tree, and a cursor on the wanted order statistic that moves a step or two per
  bar; each step is a few word operations (O(log64 N)), so O(N log N) overall with the sort;
* realised vol: Welford aggregates of block suffixes and prefixes merged with Chan's formula, so
  nothing large is ever subtracted (no cancellation, equal returns give exactly 0), O(N);
* first passage: right-to-left stacks of forward record highs / lows; a window's max (min)
  tells in O(1) whether a barrier is hit at all, and a galloping search finds the first hit.

The results must agree with the reference, so the float expressions that decide a barrier hit,
the quantile interpolation and the returns are written exactly as numpy evaluates them. All
scratch memory is allocated by numpy in the Python wrapper (so ``tracemalloc`` sees it) and the
compiled functions only fill arrays. Compilation is lazy: importing this module compiles nothing;
``warm_up`` compiles (or loads from numba's cache) every function once.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from label_pipeline.kernel.units import MINUTE_MS

__all__ = ["PathStats", "SideStats", "compute_path_stats", "warm_up"]

_QUANTILE = 0.8

# error_model="numpy": a zero price must give inf/NaN as in numpy, not raise ZeroDivisionError.
# nogil: callers may run several symbols in threads.
_jit = njit(cache=True, error_model="numpy", nogil=True)


@dataclass(frozen=True)
class SideStats:
    """One side's label columns, kept as plain arrays (views into one block per dtype) so the
    caller can frame them without copies and without the kernel depending on pandas."""

    target_hit: np.ndarray  # int8
    stop_hit: np.ndarray  # int8
    timeout_hit: np.ndarray  # int8
    ambiguous_hit: np.ndarray  # int8
    time_to_target_ms: np.ndarray  # int64
    time_to_stop_ms: np.ndarray  # int64
    gross_edge_bps: np.ndarray  # float64
    future_return_bps: np.ndarray  # float64
    mfe_bps: np.ndarray  # float64
    mae_bps: np.ndarray  # float64


@dataclass(frozen=True)
class PathStats:
    """Both sides' statistics for the valid rows only, addressed by their input positions.

    ``row_index`` lets the caller attach any per-bar column (open_time_ms, symbol, ...) without
    the kernel knowing about frames."""

    row_index: np.ndarray  # int64
    long: SideStats
    short: SideStats
    future_spread_p80: np.ndarray  # float64, same for both sides
    future_realized_vol_bps: np.ndarray  # float64, same for both sides

    def __len__(self) -> int:
        return int(self.row_index.shape[0])


# --------------------------------------------------------------------------------------------
# compiled passes (each fills preallocated arrays; none allocates)
# --------------------------------------------------------------------------------------------


@_jit
def _mark_valid(open_ms, close, horizon, valid):
    # valid[t] iff the H steps t..t+H-1 are exactly one bar apart and both closes are finite.
    n_rows = valid.shape[0]
    n = open_ms.shape[0]
    streak = 0  # number of consecutive good steps starting at the current index
    count = 0
    for i in range(n - 2, -1, -1):
        if open_ms[i + 1] - open_ms[i] == MINUTE_MS:
            streak += 1
        else:
            streak = 0
        if i < n_rows:
            ok = streak >= horizon and np.isfinite(close[i]) and np.isfinite(close[i + horizon])
            valid[i] = ok
            if ok:
                count += 1
    return count


@_jit
def _fill_extrema(high, low, horizon, rows, high_max, low_min, dq_hi, dq_lo):
    # Window of row t is bars t+1..t+H. Monotonic deques of bar indices in ring buffers whose
    # power-of-two capacity exceeds H (expired bars leave at every step, so at most H + 1 are
    # held). NaN bars are never pushed, so an all-NaN window is empty, giving NaN as np.nanmax.
    n = high.shape[0]
    n_out = rows.shape[0]
    mask = dq_hi.shape[0] - 1
    hh = 0
    ht = 0
    lh = 0
    lt = 0
    k = 0
    for j in range(1, n):
        if k >= n_out:
            break
        x = high[j]
        if not np.isnan(x):
            while ht > hh and high[dq_hi[(ht - 1) & mask]] <= x:
                ht -= 1
            dq_hi[ht & mask] = j
            ht += 1
        y = low[j]
        if not np.isnan(y):
            while lt > lh and low[dq_lo[(lt - 1) & mask]] >= y:
                lt -= 1
            dq_lo[lt & mask] = j
            lt += 1
        t = j - horizon
        while hh < ht and dq_hi[hh & mask] <= t:
            hh += 1
        while lh < lt and dq_lo[lh & mask] <= t:
            lh += 1
        if t >= 0 and rows[k] == t:
            high_max[k] = high[dq_hi[hh & mask]] if hh < ht else np.nan
            low_min[k] = low[dq_lo[lh & mask]] if lh < lt else np.nan
            k += 1


@intrinsic
def _trailing_zeros(typingctx, x):
    # llvm.cttz (defined for 0 as 64).
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], cgutils.false_bit)

    return types.int64(types.int64), codegen


@intrinsic
def _leading_zeros(typingctx, x):
    # llvm.ctlz (defined for 0 as 64).
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], cgutils.false_bit)

    return types.int64(types.int64), codegen


# A set of ranks 0..M-1 as a 64-ary tree of bitsets stored level after level in one array:
# level 0 has one bit per rank, level l+1 one bit per non-empty word of level l, up to one word.
# Insert, delete, successor and predecessor cost O(log64 M) word operations (3-4 for a year).


@_jit
def _bits_insert(bits, offsets, x):
    one = np.int64(1)
    for level in range(offsets.shape[0] - 1):
        i = offsets[level] + (x >> 6)
        w = bits[i]
        bits[i] = w | (one << (x & 63))
        if w != 0:
            return
        x >>= 6


@_jit
def _bits_delete(bits, offsets, x):
    one = np.int64(1)
    for level in range(offsets.shape[0] - 1):
        i = offsets[level] + (x >> 6)
        w = bits[i] & ~(one << (x & 63))
        bits[i] = w
        if w != 0:
            return
        x >>= 6


@_jit
def _bits_next(bits, offsets, x):
    # Smallest member > x, or -1.
    one = np.int64(1)
    n_levels = offsets.shape[0] - 1
    level = 0
    while level < n_levels:
        b = x & 63
        x >>= 6
        w = bits[offsets[level] + x] & ~((one << b) | ((one << b) - 1))
        if w != 0:
            x = (x << 6) + _trailing_zeros(w)
            while level > 0:
                level -= 1
                x = (x << 6) + _trailing_zeros(bits[offsets[level] + x])
            return x
        level += 1
    return -1


@_jit
def _bits_prev(bits, offsets, x):
    # Largest member < x, or -1.
    one = np.int64(1)
    n_levels = offsets.shape[0] - 1
    level = 0
    while level < n_levels:
        b = x & 63
        x >>= 6
        w = bits[offsets[level] + x] & ((one << b) - 1)
        if w != 0:
            x = (x << 6) + 63 - _leading_zeros(w)
            while level > 0:
                level -= 1
                x = (x << 6) + 63 - _leading_zeros(bits[offsets[level] + x])
            return x
        level += 1
    return -1


@_jit
def _lerp(a, b, t):
    # numpy's _lerp, operation for operation (it picks the form by t >= 0.5).
    d = b - a
    if t >= 0.5:
        return b - d * (1.0 - t)
    return a + d * t


@_jit
def _fill_spread_quantile(ranks, sorted_vals, horizon, rows, out, bits, offsets):
    # np.nanquantile(window, 0.8), linear method, over bars t+1..t+H with NaN skipped. Spreads
    # are ranked once globally (NaN: rank -1, ties broken arbitrarily but uniquely), the window
    # is a set of ranks, and a cursor sits on the member at order position `pos`. Each bar moves
    # the wanted position (and the cursor's) by at most two, so keeping the cursor on the order
    # statistic costs a few successor/predecessor steps per bar, whatever H is.
    n = ranks.shape[0]
    n_out = rows.shape[0]
    count = 0
    cur = -1  # rank under the cursor
    pos = 0  # its 1-based order position in the window
    k = 0
    for j in range(1, n):
        if k >= n_out:
            break
        r = ranks[j]
        if r >= 0:
            _bits_insert(bits, offsets, r)
            if count == 0:
                cur = r
                pos = 1
            elif r < cur:
                pos += 1
            count += 1
        leaving = j - horizon
        if leaving >= 1:
            r = ranks[leaving]
            if r >= 0:
                _bits_delete(bits, offsets, r)
                count -= 1
                if count == 0:
                    cur = -1
                    pos = 0
                elif r < cur:
                    pos -= 1
                elif r == cur:
                    nxt = _bits_next(bits, offsets, r)
                    if nxt >= 0:
                        cur = nxt  # the successor takes over the same position
                    else:
                        cur = _bits_prev(bits, offsets, r)
                        pos -= 1
        t = j - horizon
        if t >= 0 and rows[k] == t:
            if count == 0:
                out[k] = np.nan
            else:
                virtual = float(count - 1) * _QUANTILE
                if virtual >= count - 1:
                    # numpy: both neighbours are the last element and gamma = v - (-1)
                    want = count
                    gamma = virtual + 1.0
                else:
                    prev_f = math.floor(virtual)
                    want = int(prev_f) + 1
                    gamma = virtual - prev_f
                while pos < want:
                    cur = _bits_next(bits, offsets, cur)
                    pos += 1
                while pos > want:
                    cur = _bits_prev(bits, offsets, cur)
                    pos -= 1
                a = sorted_vals[cur]
                b = a if want == count else sorted_vals[_bits_next(bits, offsets, cur)]
                out[k] = _lerp(a, b, gamma)
            k += 1


def _bitset_layout(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed storage and level offsets of a rank set over 0..size-1 (see _bits_insert)."""
    words = [max(1, (size + 63) // 64)]
    while words[-1] > 1:
        words.append((words[-1] + 63) // 64)
    offsets = np.zeros(len(words) + 1, np.int64)
    offsets[1:] = np.cumsum(words)
    return np.zeros(int(offsets[-1]), np.int64), offsets


@_jit
def _fill_realized_vol(log_close, horizon, rows, out, suf_n, suf_mean, suf_m2):
    # Sample std (ddof=1) of the L = H-1 log returns r[t+1..t+H-1], r[i] = lc[i+1] - lc[i].
    # The returns are cut into blocks of L; a window is the suffix of one block plus the prefix of
    # the next, each a Welford aggregate, merged with Chan's formula. Non-finite returns are left
    # out of the aggregates; infinities are counted, since one makes numpy's nanstd NaN.
    n = log_close.shape[0]
    n_out = rows.shape[0]
    if n_out == 0:
        return
    span = horizon - 1
    last_t = n - horizon - 1
    k = 0
    block = -1
    block_start = 0
    p_n = 0
    p_mean = 0.0
    p_m2 = 0.0
    p_end = -1
    n_inf = 0
    for t in range(0, last_t + 1):
        if k >= n_out:
            break
        s = t + 1
        e = t + horizon - 1
        if t == 0:
            for i in range(s, e + 1):
                if np.isinf(log_close[i + 1] - log_close[i]):
                    n_inf += 1
        else:
            if np.isinf(log_close[s] - log_close[s - 1]):
                n_inf -= 1
            if np.isinf(log_close[e + 1] - log_close[e]):
                n_inf += 1
        b = s // span
        if b != block:
            block = b
            block_start = b * span
            stop = min(block_start + span - 1, n - 2)
            c_n = 0
            c_mean = 0.0
            c_m2 = 0.0
            for i in range(stop, block_start - 1, -1):
                x = log_close[i + 1] - log_close[i]
                if np.isfinite(x):
                    c_n += 1
                    delta = x - c_mean
                    c_mean += delta / c_n
                    c_m2 += delta * (x - c_mean)
                suf_n[i - block_start] = c_n
                suf_mean[i - block_start] = c_mean
                suf_m2[i - block_start] = c_m2
            p_n = 0
            p_mean = 0.0
            p_m2 = 0.0
            p_end = stop
        while p_end < e:
            p_end += 1
            x = log_close[p_end + 1] - log_close[p_end]
            if np.isfinite(x):
                p_n += 1
                delta = x - p_mean
                p_mean += delta / p_n
                p_m2 += delta * (x - p_mean)
        if rows[k] == t:
            off = s - block_start
            a_n = suf_n[off]
            if a_n == 0:
                w_n = p_n
                w_m2 = p_m2
            elif p_n == 0:
                w_n = a_n
                w_m2 = suf_m2[off]
            else:
                w_n = a_n + p_n
                delta = p_mean - suf_mean[off]
                w_m2 = suf_m2[off] + p_m2 + delta * delta * (float(a_n) * float(p_n) / float(w_n))
            if n_inf > 0 or w_n < 2:
                out[k] = np.nan
            else:
                out[k] = math.sqrt(w_m2 / float(w_n - 1)) * 10000.0
            k += 1


@_jit
def _first_hit_above(values, bars, size, price, first_bar, last_bar, none_idx):
    # The stack (positions 0..size-1, top = nearest bar) holds forward records whose values
    # strictly decrease towards the top. The first bar >= price is the highest position K with
    # values[K] >= price. Gallop down from the top, so a hit d records away costs O(log d), and
    # stop as soon as a probed record that is still below the price lies beyond the window.
    hi = size - 1
    if hi < 0:
        return none_idx
    if values[hi] >= price:
        return bars[hi] - first_bar if bars[hi] <= last_bar else none_idx
    step = 1
    lo = -1
    while True:
        if bars[hi] > last_bar:
            return none_idx
        q = hi - step
        if q < 0:
            break
        if values[q] >= price:
            lo = q
            break
        hi = q
        step <<= 1
    # values[lo] >= price (or lo == -1), values[hi] < price
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if values[mid] >= price:
            lo = mid
        else:
            hi = mid
    if lo < 0 or bars[lo] > last_bar:
        return none_idx
    return bars[lo] - first_bar


@_jit
def _first_hit_below(values, bars, size, price, first_bar, last_bar, none_idx):
    # Mirror of _first_hit_above for the stack of record lows (values strictly increase towards
    # the top) and a barrier crossed by low <= price.
    hi = size - 1
    if hi < 0:
        return none_idx
    if values[hi] <= price:
        return bars[hi] - first_bar if bars[hi] <= last_bar else none_idx
    step = 1
    lo = -1
    while True:
        if bars[hi] > last_bar:
            return none_idx
        q = hi - step
        if q < 0:
            break
        if values[q] <= price:
            lo = q
            break
        hi = q
        step <<= 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if values[mid] <= price:
            lo = mid
        else:
            hi = mid
    if lo < 0 or bars[lo] > last_bar:
        return none_idx
    return bars[lo] - first_bar


@_jit
def _write_side(
    k, side, first_t, first_s, none_idx, target_bps, stop_bps, fwd_ret, mfe, mae, flags, times, values
):
    # flags[side] rows: target, stop, timeout, ambiguous; times: to target, to stop;
    # values: gross edge, future return, mfe, mae. Rules as the reference: the stop wins ties.
    t_any = first_t != none_idx
    s_any = first_s != none_idx
    t_win = t_any and first_t < first_s
    s_win = s_any and first_s <= first_t
    flags[side, 0, k] = 1 if t_win else 0
    flags[side, 1, k] = 1 if s_win else 0
    flags[side, 2, k] = 0 if (t_win or s_win) else 1
    flags[side, 3, k] = 1 if (t_any and s_any and first_t == first_s) else 0
    times[side, 0, k] = (first_t + 1) * MINUTE_MS if t_win else -1
    times[side, 1, k] = (first_s + 1) * MINUTE_MS if s_win else -1
    if t_win:
        values[side, 0, k] = target_bps
    elif s_win:
        values[side, 0, k] = -stop_bps
    else:
        values[side, 0, k] = fwd_ret
    values[side, 1, k] = fwd_ret
    values[side, 2, k] = mfe
    values[side, 3, k] = mae


@_jit
def _fill_first_passage(
    close,
    high,
    low,
    horizon,
    rows,
    high_max,
    low_min,
    mults,
    bps,
    stacks_val,
    stacks_idx,
    flags,
    times,
    values,
):
    # Right to left: the stacks hold the strict forward records (running max of high, running
    # min of low) from bar t+1 on. The first bar of t+1.. crossing a barrier is always such a
    # record, so a search down the stack finds it; it is a hit only if it is within t+H.
    # mults: LONG target, LONG stop, SHORT target, SHORT stop price multipliers; bps: target, stop.
    n = close.shape[0]
    k = rows.shape[0] - 1
    none_idx = horizon + 1
    hi_val = stacks_val[0]
    lo_val = stacks_val[1]
    hi_idx = stacks_idx[0]
    lo_idx = stacks_idx[1]
    target_bps = bps[0]
    stop_bps = bps[1]
    hp = 0
    lp = 0
    for t in range(n - 2, -1, -1):
        if k < 0:
            break
        j = t + 1
        x = high[j]
        if not np.isnan(x):
            while hp > 0 and hi_val[hp - 1] <= x:
                hp -= 1
            hi_val[hp] = x
            hi_idx[hp] = j
            hp += 1
        y = low[j]
        if not np.isnan(y):
            while lp > 0 and lo_val[lp - 1] >= y:
                lp -= 1
            lo_val[lp] = y
            lo_idx[lp] = j
            lp += 1
        if rows[k] != t:
            continue
        entry = close[t]
        exit_price = close[t + horizon]
        last = t + horizon
        h_max = high_max[k]
        l_min = low_min[k]

        # LONG: target when high >= entry*(1+tb), stop when low <= entry*(1-sb)
        # A barrier is crossed inside the window iff the window's max (min) crosses it, which
        # settles the common no-hit case in O(1); NaN extrema compare False like NaN bars.
        price = entry * mults[0]
        first_t = none_idx
        if h_max >= price:
            first_t = _first_hit_above(hi_val, hi_idx, hp, price, j, last, none_idx)
        price = entry * mults[1]
        first_s = none_idx
        if l_min <= price:
            first_s = _first_hit_below(lo_val, lo_idx, lp, price, j, last, none_idx)
        fwd = (exit_price / entry - 1.0) * 10000.0
        up = (h_max / entry - 1.0) * 10000.0
        down = (entry / l_min - 1.0) * 10000.0
        _write_side(
            k, 0, first_t, first_s, none_idx, target_bps, stop_bps, fwd, up, down, flags, times, values
        )

        # SHORT: target when low <= entry*(1-tb), stop when high >= entry*(1+sb)
        price = entry * mults[2]
        first_t = none_idx
        if l_min <= price:
            first_t = _first_hit_below(lo_val, lo_idx, lp, price, j, last, none_idx)
        price = entry * mults[3]
        first_s = none_idx
        if h_max >= price:
            first_s = _first_hit_above(hi_val, hi_idx, hp, price, j, last, none_idx)
        fwd = (entry / exit_price - 1.0) * 10000.0
        _write_side(
            k, 1, first_t, first_s, none_idx, target_bps, stop_bps, fwd, down, up, flags, times, values
        )
        k -= 1


# --------------------------------------------------------------------------------------------
# Python wrapper
# --------------------------------------------------------------------------------------------


def _as_1d(name: str, values: object, dtype: type) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numeric (int or float), got dtype {arr.dtype}")
    if dtype is np.int64 and arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.trunc(arr)):
            raise ValueError(f"{name} must hold whole milliseconds; got non-finite or fractional values")
    out = np.ascontiguousarray(arr, dtype=dtype)
    # A read-only array is a distinct numba type: it would trigger (and cache) a second compile.
    if not out.flags.writeable:
        out = out.copy()
    return out


def _check_horizon(horizon: object) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral):
        raise ValueError(f"horizon must be an integer number of bars, got {horizon!r}")
    if int(horizon) < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {int(horizon)}")
    return int(horizon)


def _check_bps(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number of basis points, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out!r}")
    return out


def _side(flags: np.ndarray, times: np.ndarray, values: np.ndarray, side: int) -> SideStats:
    return SideStats(
        target_hit=flags[side, 0],
        stop_hit=flags[side, 1],
        timeout_hit=flags[side, 2],
        ambiguous_hit=flags[side, 3],
        time_to_target_ms=times[side, 0],
        time_to_stop_ms=times[side, 1],
        gross_edge_bps=values[side, 0],
        future_return_bps=values[side, 1],
        mfe_bps=values[side, 2],
        mae_bps=values[side, 3],
    )


def compute_path_stats(
    open_time_ms: np.ndarray,
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    spread_bps: np.ndarray,
    horizon: int,
    target_bps: float,
    stop_bps: float,
) -> PathStats:
    """Both sides in one call because they share every window pass (the reference redoes them
    all per side); cost O(N log N) whatever the horizon, so long horizons are as cheap as short.

    The bars must already be in event-time order: the kernel never reorders, so it cannot
    disagree with the caller about ties. Semantics are the reference's ``_path_stats_for_group``
    (see the module docstring); arguments are checked here because a wrong horizon or a NaN
    barrier would otherwise silently yield plausible-looking labels."""
    h = _check_horizon(horizon)
    tb = _check_bps("target_bps", target_bps)
    sb = _check_bps("stop_bps", stop_bps)
    open_ms = _as_1d("open_time_ms", open_time_ms, np.int64)
    c = _as_1d("close", close, np.float64)
    hi = _as_1d("high", high, np.float64)
    lo = _as_1d("low", low, np.float64)
    sp = _as_1d("spread_bps", spread_bps, np.float64)
    n = open_ms.shape[0]
    lengths = {
        "open_time_ms": n,
        "close": c.shape[0],
        "high": hi.shape[0],
        "low": lo.shape[0],
        "spread_bps": sp.shape[0],
    }
    if len(set(lengths.values())) != 1:
        raise ValueError(f"all input arrays must have the same length, got {lengths}")

    if n <= h:
        return _empty_result()

    valid = np.empty(n - h, np.bool_)
    _mark_valid(open_ms, c, h, valid)
    rows = np.flatnonzero(valid).astype(np.int64, copy=False)
    del valid
    m = rows.shape[0]

    high_max = np.empty(m, np.float64)
    low_min = np.empty(m, np.float64)
    capacity = 1 << h.bit_length()  # a power of two > H
    _fill_extrema(
        hi, lo, h, rows, high_max, low_min, np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    )

    spread_p80 = np.empty(m, np.float64)
    order = np.argsort(sp)  # NaN sorts last; the order among equal spreads does not matter
    n_ranked = n - int(np.count_nonzero(np.isnan(sp)))
    ranks = np.full(n, -1, np.int64)
    ranks[order[:n_ranked]] = np.arange(n_ranked, dtype=np.int64)
    sorted_vals = sp[order[:n_ranked]]
    del order
    bits, offsets = _bitset_layout(n_ranked)
    _fill_spread_quantile(ranks, sorted_vals, h, rows, spread_p80, bits, offsets)
    del ranks, sorted_vals

    vol = np.empty(m, np.float64)
    if h == 1:
        vol.fill(np.nan)
    else:
        with np.errstate(all="ignore"):
            log_close = np.log(np.clip(c, 1e-12, None))  # as the reference, so returns match bit for bit
        span = h - 1
        _fill_realized_vol(
            log_close,
            h,
            rows,
            vol,
            np.empty(span, np.int64),
            np.empty(span, np.float64),
            np.empty(span, np.float64),
        )
        del log_close

    flags = np.empty((2, 4, m), np.int8)
    times = np.empty((2, 2, m), np.int64)
    values = np.empty((2, 4, m), np.float64)
    # The barrier multipliers are the reference's scalar expressions evaluated by Python; the
    # kernel only multiplies them by the entry, so every hit agrees with it bit for bit.
    mults = np.array([1.0 + tb / 10000.0, 1.0 - sb / 10000.0, 1.0 - tb / 10000.0, 1.0 + sb / 10000.0])
    _fill_first_passage(
        c,
        hi,
        lo,
        h,
        rows,
        high_max,
        low_min,
        mults,
        np.array([tb, sb]),
        np.empty((2, n), np.float64),
        np.empty((2, n), np.int64),
        flags,
        times,
        values,
    )
    return PathStats(
        row_index=rows,
        long=_side(flags, times, values, 0),
        short=_side(flags, times, values, 1),
        future_spread_p80=spread_p80,
        future_realized_vol_bps=vol,
    )


def _empty_result() -> PathStats:
    flags = np.zeros((2, 4, 0), np.int8)
    times = np.zeros((2, 2, 0), np.int64)
    values = np.zeros((2, 4, 0), np.float64)
    return PathStats(
        row_index=np.zeros(0, np.int64),
        long=_side(flags, times, values, 0),
        short=_side(flags, times, values, 1),
        future_spread_p80=np.zeros(0, np.float64),
        future_realized_vol_bps=np.zeros(0, np.float64),
    )


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel function before the first real
    call, so a service pays the cost once at start-up rather than inside a run."""
    t = np.arange(6, dtype=np.int64) * MINUTE_MS
    px = np.array([100.0, 100.2, 99.9, 100.1, 100.3, 100.0])
    compute_path_stats(t, px, px + 0.1, px - 0.1, np.full(6, 1.5), 2, 10.0, 10.0)
