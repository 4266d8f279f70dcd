"""Direction labels: the sign of the close-to-close return over a fixed horizon."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from label_pipeline.config import LABEL_VERSION
from label_pipeline.labels.columns import DIRECTION_COLUMNS


def build_direction_labels(
    features: pd.DataFrame, replay: pd.DataFrame, direction_config: dict[str, Any]
) -> pd.DataFrame:
    """One row per feature row that has a close at t and at t + H (joined by timestamp, not position).

    Joins go through pandas merges on (symbol, open_time_ms) as the reference's do, so duplicate
    bars multiply rows exactly as they do there.
    """
    horizon = int(direction_config["horizon_minutes"])
    bars = replay[["symbol", "open_time_ms", "close"]]
    future = bars.copy()
    future["open_time_ms"] = future["open_time_ms"].astype("int64") - horizon * 60_000
    future = future.rename(columns={"close": "future_close"})
    merged = features.merge(bars, on=["symbol", "open_time_ms"], how="left")
    merged = merged.merge(future, on=["symbol", "open_time_ms"], how="left")
    future_return = (merged["future_close"] / merged["close"] - 1.0) * 10000.0
    label = np.select(
        [
            future_return >= float(direction_config["long_threshold_bps"]),
            future_return <= float(direction_config["short_threshold_bps"]),
        ],
        ["LONG", "SHORT"],
        default="NEUTRAL",
    )
    label = pd.Series(label, index=merged.index)
    out = pd.DataFrame(
        {
            "sample_id": merged["sample_id"],
            "symbol": merged["symbol"],
            "event_time": merged["event_time"],
            "horizon_minutes": horizon,
            "future_return_bps": future_return,
            "direction_label": label,
            "long_target": label.eq("LONG").astype("int8"),
            "short_target": label.eq("SHORT").astype("int8"),
            "neutral_target": label.eq("NEUTRAL").astype("int8"),
            "split_id": merged["split_id"],
            "walk_forward_fold": merged["walk_forward_fold"],
            "label_version": LABEL_VERSION,
        }
    ).dropna(subset=["future_return_bps"])
    return out[DIRECTION_COLUMNS]
