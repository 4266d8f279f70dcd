"""The bridge from one symbol's replay frame to the path-statistics kernel's arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # the kernel module imports numba: loaded where a kernel runs, not here
    from label_pipeline.kernel.path_stats import PathStats

# The kernel is passed in (the assets take it from the PathStatsKernel resource), so tests and
# benchmarks can run the label builders without Dagster.
KernelFn = Callable[..., "PathStats"]

# The reference's dtypes of the per-side path stats.
SIDE_FIELDS = {
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
