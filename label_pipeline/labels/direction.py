"""Direction labels: the sign of the close-to-close return over a fixed horizon."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from label_pipeline.artifacts import artifact
from label_pipeline.config import LABEL_VERSION
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.labels.joins import constant, left_lookup, take
from label_pipeline.labels.step import StepInputs

DIRECTION_COLUMNS = artifact("direction_labels").column_names
_LABELS = np.array(["LONG", "SHORT", "NEUTRAL"], dtype=object)


def build_direction_labels(
    features: pd.DataFrame, replay: pd.DataFrame, direction_config: dict[str, Any]
) -> pd.DataFrame:
    """One row per feature row that has a close at t and at t + H, joined by timestamp (not by
    position), so a gap inside the horizon does not shift the exit bar."""
    horizon = int(direction_config["horizon_minutes"])
    open_ms = features["open_time_ms"].to_numpy(dtype="int64")
    bar_ms = replay["open_time_ms"].to_numpy(dtype="int64")
    bar_close = replay["close"].to_numpy(dtype="float64")
    close = left_lookup(open_ms, bar_ms, bar_close, "replay_1m")
    future_close = left_lookup(open_ms + horizon * MINUTE_MS, bar_ms, bar_close, "replay_1m")
    with np.errstate(all="ignore"):
        future_return = (future_close / close - 1.0) * 10000.0
    code = np.select(
        [
            future_return >= float(direction_config["long_threshold_bps"]),
            future_return <= float(direction_config["short_threshold_bps"]),
        ],
        [0, 1],
        default=2,
    )
    label = _LABELS[code]  # shared string objects, not one new string per row
    keep = np.flatnonzero(~np.isnan(future_return))
    label = label[keep]
    out = pd.DataFrame(
        {
            "sample_id": take(features["sample_id"], keep),
            "symbol": take(features["symbol"], keep),
            "event_time": take(features["event_time"], keep),
            "horizon_minutes": np.full(len(keep), horizon, dtype="int64"),
            "future_return_bps": future_return[keep],
            "direction_label": label,
            "long_target": (label == "LONG").astype("int8"),
            "short_target": (label == "SHORT").astype("int8"),
            "neutral_target": (label == "NEUTRAL").astype("int8"),
            "split_id": take(features["split_id"], keep),
            "walk_forward_fold": take(features["walk_forward_fold"], keep),
            "label_version": constant(len(keep), LABEL_VERSION),
        }
    )
    return out[DIRECTION_COLUMNS]


def direction_step(inputs: StepInputs) -> dict[str, pd.DataFrame]:
    return {
        "direction_labels": build_direction_labels(
            inputs.require("features"), inputs.require("replay"), inputs.config.label["direction"]
        )
    }
