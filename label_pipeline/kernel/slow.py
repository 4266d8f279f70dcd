"""The obviously-correct twin of ``path_stats``: one row at a time, plain loops and numpy
reductions over each window, re-deriving every rule from the written spec (the reference README's
"Details that are easy to get wrong"). It shares no code with the fast kernel, which the tests
check against it (``label_pipeline_tests/unit/test_kernel_properties.py``); O(N x H), for tests
and benchmarks only.
"""

from __future__ import annotations

import numpy as np

from label_pipeline.kernel.units import MINUTE_MS

__all__ = ["path_stats_slow"]




def _first_index(values: np.ndarray, crosses) -> int | None:
    for i, v in enumerate(values):
        if not np.isnan(v) and crosses(v):
            return i
    return None


def _nan_extreme(values: np.ndarray, pick) -> float:
    kept = [v for v in values if not np.isnan(v)]
    return pick(kept) if kept else np.nan


def _quantile_80(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return np.nan
    with np.errstate(all="ignore"):
        return float(np.quantile(kept, 0.8))  # linear method; inf values are kept


def _realized_vol(log_close: np.ndarray, t: int, horizon: int) -> float:
    if horizon == 1:
        return np.nan
    returns = [log_close[i + 1] - log_close[i] for i in range(t + 1, t + horizon)]
    kept = np.array([r for r in returns if not np.isnan(r)])
    if kept.size < 2 or np.isinf(kept).any():
        return np.nan
    return float(np.std(kept, ddof=1) * 10000.0)


def _side_outcome(first_t, first_s, horizon, target_bps, stop_bps, forward):
    none = horizon + 1
    ft = none if first_t is None else first_t
    fs = none if first_s is None else first_s
    target_win = first_t is not None and ft < fs
    stop_win = first_s is not None and fs <= ft
    return {
        "target_hit": int(target_win),
        "stop_hit": int(stop_win),
        "timeout_hit": int(not (target_win or stop_win)),
        "ambiguous_hit": int(first_t is not None and first_s is not None and ft == fs),
        "time_to_target_ms": (ft + 1) * MINUTE_MS if target_win else -1,
        "time_to_stop_ms": (fs + 1) * MINUTE_MS if stop_win else -1,
        "gross_edge_bps": target_bps if target_win else (-stop_bps if stop_win else forward),
        "future_return_bps": forward,
    }


def path_stats_slow(open_ms, close, high, low, spread, horizon, target_bps, stop_bps):
    """Rows as dicts (``row_index``, ``future_spread_p80``, ``future_realized_vol_bps``, and per side
    ``long`` / ``short`` the ``SideStats`` fields): one per valid row, in input order."""
    rows = []
    n = len(close)
    with np.errstate(all="ignore"):
        log_close = np.log(np.clip(close, 1e-12, None))
        for t in range(n - horizon):
            steps = [int(open_ms[i + 1]) - int(open_ms[i]) for i in range(t, t + horizon)]
            if (
                any(s != MINUTE_MS for s in steps)
                or not np.isfinite(close[t])
                or not np.isfinite(close[t + horizon])
            ):
                continue
            entry, exit_price = close[t], close[t + horizon]
            hw, lw, sw = (
                high[t + 1 : t + horizon + 1],
                low[t + 1 : t + horizon + 1],
                spread[t + 1 : t + horizon + 1],
            )
            high_max = _nan_extreme(hw, max)
            low_min = _nan_extreme(lw, min)
            row = {
                "row_index": t,
                "future_spread_p80": _quantile_80(sw),
                "future_realized_vol_bps": _realized_vol(log_close, t, horizon),
            }
            long_target = entry * (1.0 + target_bps / 10000.0)
            long_stop = entry * (1.0 - stop_bps / 10000.0)
            long = _side_outcome(
                _first_index(hw, lambda v, p=long_target: v >= p),
                _first_index(lw, lambda v, p=long_stop: v <= p),
                horizon,
                target_bps,
                stop_bps,
                (exit_price / entry - 1.0) * 10000.0,
            )
            long["mfe_bps"] = (high_max / entry - 1.0) * 10000.0
            long["mae_bps"] = (entry / low_min - 1.0) * 10000.0
            short_target = entry * (1.0 - target_bps / 10000.0)
            short_stop = entry * (1.0 + stop_bps / 10000.0)
            short = _side_outcome(
                _first_index(lw, lambda v, p=short_target: v <= p),
                _first_index(hw, lambda v, p=short_stop: v >= p),
                horizon,
                target_bps,
                stop_bps,
                (entry / exit_price - 1.0) * 10000.0,
            )
            short["mfe_bps"] = (entry / low_min - 1.0) * 10000.0
            short["mae_bps"] = (high_max / entry - 1.0) * 10000.0
            row["long"] = long
            row["short"] = short
            rows.append(row)
    return rows
