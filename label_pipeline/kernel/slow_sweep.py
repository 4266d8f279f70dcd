"""The obviously-correct twin of ``sweep``: one price plan at a time, through the project's existing
single-plan path, aggregated with pandas.

For each plan of the grid and each symbol, the path statistics (``compute_path_stats``, or its own
slow twin ``path_stats_slow``) feed ``build_entry_labels`` exactly as the entry step does; the entry
labels of all symbols are then grouped by (side, split_id) with pandas. ``first_passage_slow`` is
the brute-force first passage of ``sweep.first_passage``. Shares no code with ``sweep``; for tests
and benchmarks only (O(plans x N) with the fast path stats, O(plans x N x H) with the slow ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from label_pipeline.artifacts import artifact
from label_pipeline.kernel.path_stats import PathStats, SideStats, compute_path_stats
from label_pipeline.kernel.slow import path_stats_slow
from label_pipeline.labels.entry import build_entry_labels

__all__ = ["entry_labels_for_plan", "first_passage_slow", "sweep_slow"]

_SIDES = ("LONG", "SHORT")
_INT_FIELDS = (
    "target_hit",
    "stop_hit",
    "timeout_hit",
    "ambiguous_hit",
    "time_to_target_ms",
    "time_to_stop_ms",
)
_FLOAT_FIELDS = ("gross_edge_bps", "future_return_bps", "mfe_bps", "mae_bps")


def first_passage_slow(close, high, low, barrier_bps, max_hold, rows=None):
    """(up, down) of ``sweep.first_passage``, one row, barrier and bar at a time."""
    n = len(close)
    rows = range(n) if rows is None else [int(r) for r in rows]
    up = np.full((len(rows), len(barrier_bps)), max_hold, np.int64)
    down = np.full((len(rows), len(barrier_bps)), max_hold, np.int64)
    with np.errstate(all="ignore"):
        for k, t in enumerate(rows):
            for i, b in enumerate(barrier_bps):
                above = close[t] * (1.0 + float(b) / 10000.0)
                below = close[t] * (1.0 - float(b) / 10000.0)
                for d in range(max_hold):
                    if t + 1 + d < n and high[t + 1 + d] >= above:  # NaN compares False
                        up[k, i] = d
                        break
                for d in range(max_hold):
                    if t + 1 + d < n and low[t + 1 + d] <= below:
                        down[k, i] = d
                        break
    return up, down


def _stats_from_slow(rows: list[dict]) -> PathStats:
    def side(name: str) -> SideStats:
        cols = {f: np.array([r[name][f] for r in rows], np.int64) for f in _INT_FIELDS}
        for f in _INT_FIELDS[:4]:
            cols[f] = cols[f].astype(np.int8)
        cols.update({f: np.array([r[name][f] for r in rows], np.float64) for f in _FLOAT_FIELDS})
        return SideStats(**cols)

    return PathStats(
        row_index=np.array([r["row_index"] for r in rows], np.int64),
        long=side("long"),
        short=side("short"),
        future_spread_p80=np.array([r["future_spread_p80"] for r in rows], np.float64),
        future_realized_vol_bps=np.array([r["future_realized_vol_bps"] for r in rows], np.float64),
    )


def _path_stats(bars: pd.DataFrame, hold: int, target: float, stop: float, slow: bool) -> PathStats:
    args = [
        bars["open_time_ms"].to_numpy(dtype="int64"),
        bars["close"].to_numpy(dtype="float64"),
        bars["high"].to_numpy(dtype="float64"),
        bars["low"].to_numpy(dtype="float64"),
        np.zeros(len(bars)),  # spread: not part of the entry labels' sweep statistics
    ]
    if slow:
        return _stats_from_slow(path_stats_slow(*args, hold, target, stop))
    return compute_path_stats(*args, hold, target, stop)


def entry_labels_for_plan(
    features: pd.DataFrame,
    replay: pd.DataFrame,
    target_bps: float,
    stop_bps: float,
    max_hold_minutes: int,
    cost_bps: float,
    min_expected_net_edge_bps: float,
    slow: bool = False,
) -> pd.DataFrame:
    """The entry labels of every symbol with this one plan, as the entry step builds them."""
    entry_config = {
        "max_hold_minutes": int(max_hold_minutes),
        "target_bps": float(target_bps),
        "stop_bps": float(stop_bps),
        "min_expected_net_edge_bps": min_expected_net_edge_bps,
    }
    plan = {"pricePlanId": "sweep", "pricePlanConfigHash": f"{target_bps}/{stop_bps}/{max_hold_minutes}"}
    frames = []
    for symbol, bars in replay.groupby("symbol", sort=True):
        bars = bars.sort_values("event_time", kind="stable").reset_index(drop=True)
        feats = features[features["symbol"] == symbol].reset_index(drop=True)
        stats = _path_stats(bars, int(max_hold_minutes), float(target_bps), float(stop_bps), slow)
        frames.append(build_entry_labels(feats, bars, stats, entry_config, cost_bps, plan))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _aggregate(entry: pd.DataFrame, split_names: Sequence[str], cost_bps: float) -> pd.DataFrame:
    keys = ["side", "split_id"]
    index = pd.MultiIndex.from_product([list(_SIDES), list(split_names)], names=keys)
    if entry.empty:
        entry = pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in [*keys, *_INT_FIELDS, "gross_edge_bps", "entry_target"]}
        )
    groups = entry.groupby(keys, sort=False)  # rows with a missing split_id are dropped
    out = pd.DataFrame(
        {
            "rows": groups.size(),
            "target_rate": groups["target_hit"].mean(),
            "stop_rate": groups["stop_hit"].mean(),
            "timeout_rate": groups["timeout_hit"].mean(),
            "ambiguous_rate": groups["ambiguous_hit"].mean(),
            "mean_gross_edge_bps": groups["gross_edge_bps"].mean(),
            "entry_target_rate": groups["entry_target"].mean(),
        }
    )
    # pandas skips NaN in a mean; the sweep's mean is over all rows, so a NaN edge makes it NaN
    has_nan = entry["gross_edge_bps"].isna().groupby([entry[k] for k in keys], sort=False).any()
    out.loc[has_nan[has_nan].index, "mean_gross_edge_bps"] = np.nan
    won_target = entry[entry["target_hit"] == 1]
    won_stop = entry[entry["stop_hit"] == 1]
    out["median_time_to_target_ms"] = won_target.groupby(keys)["time_to_target_ms"].median()
    out["median_time_to_stop_ms"] = won_stop.groupby(keys)["time_to_stop_ms"].median()
    out = out.reindex(index)
    out["rows"] = out["rows"].fillna(0).astype("int64")
    out["mean_net_edge_bps"] = out["mean_gross_edge_bps"] - cost_bps
    return out.reset_index()


def sweep_slow(
    features: pd.DataFrame,
    replay: pd.DataFrame,
    target_bps: Sequence[float],
    stop_bps: Sequence[float],
    max_hold_minutes: Sequence[int],
    cost_bps: float,
    min_expected_net_edge_bps: float,
    split_names: Sequence[str],
    slow: bool = False,
) -> pd.DataFrame:
    """The sweep table (``sweep.TABLE_COLUMNS`` with ``split_id`` names instead of codes), plan by
    plan: ``build_entry_labels`` over every symbol, grouped by side and split. ``slow`` computes the
    path stats with ``path_stats_slow`` instead of ``compute_path_stats``."""
    parts = []
    for target in target_bps:
        for stop in stop_bps:
            for hold in max_hold_minutes:
                entry = entry_labels_for_plan(
                    features, replay, target, stop, hold, cost_bps, min_expected_net_edge_bps, slow
                )
                part = _aggregate(entry, split_names, cost_bps)
                part.insert(0, "max_hold_minutes", int(hold))
                part.insert(0, "stop_bps", float(stop))
                part.insert(0, "target_bps", float(target))
                parts.append(part)
    # the artifact's columns (label_pipeline.artifacts), less the label version the asset adds
    columns = [c for c in artifact("price_plan_sweep").column_names if c != "label_version"]
    return pd.concat(parts, ignore_index=True)[columns]
