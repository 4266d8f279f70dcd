"""Path statistics of one symbol's bars as frames in the reference's shape, for the label joins."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from label_pipeline.kernel.path_stats import PathStats, SideStats
from label_pipeline.labels.columns import PATH_STAT_COLUMNS

# The kernel is passed in (the assets take it from the PathStatsKernel resource), so tests and
# benchmarks can run these builders without Dagster.
KernelFn = Callable[..., PathStats]

# The reference's dtypes; asserted here so an empty partition keeps them too.
_SIDE_FIELDS = {
    "target_hit": "int8",
    "stop_hit": "int8",
    "timeout_hit": "int8",
    "ambiguous_hit": "int8",
    "time_to_target_ms": "int64",
    "time_to_stop_ms": "int64",
    "gross_edge_bps": "float64",
    "future_return_bps": "float64",
    "mfe_bps": "float64",
    "mae_bps": "float64",
}


def compute_for_replay(
    kernel: KernelFn, replay: pd.DataFrame, horizon: int, target_bps: float, stop_bps: float
) -> PathStats:
    """Run the kernel on one symbol's replay bars, already sorted by event time."""
    return kernel(
        replay["open_time_ms"].to_numpy(dtype="int64"),
        replay["close"].to_numpy(dtype="float64"),
        replay["high"].to_numpy(dtype="float64"),
        replay["low"].to_numpy(dtype="float64"),
        replay["spread_bps"].to_numpy(dtype="float64"),
        horizon,
        target_bps,
        stop_bps,
    )


def side_frame(stats: PathStats, side: str, symbol: str, open_time_ms: np.ndarray) -> pd.DataFrame:
    """One side's valid rows with the reference's ``PATH_STAT_COLUMNS``."""
    side_stats: SideStats = stats.long if side == "LONG" else stats.short
    columns: dict[str, object] = {
        "symbol": np.full(len(stats), symbol, dtype=object),
        "open_time_ms": open_time_ms[stats.row_index].astype("int64"),
        "side": np.full(len(stats), side, dtype=object),
    }
    for field, dtype in _SIDE_FIELDS.items():
        columns[field] = np.asarray(getattr(side_stats, field), dtype=dtype)
    columns["future_spread_p80"] = np.asarray(stats.future_spread_p80, dtype="float64")
    columns["future_realized_vol_bps"] = np.asarray(stats.future_realized_vol_bps, dtype="float64")
    return pd.DataFrame(columns)[PATH_STAT_COLUMNS]


def both_sides_frame(stats: PathStats, symbol: str, open_time_ms: np.ndarray) -> pd.DataFrame:
    """LONG rows then SHORT rows, as the reference's ``_build_path_stats`` concatenates them."""
    return pd.concat(
        [side_frame(stats, "LONG", symbol, open_time_ms), side_frame(stats, "SHORT", symbol, open_time_ms)],
        ignore_index=True,
    )
