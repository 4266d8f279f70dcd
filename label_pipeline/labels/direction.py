"""Direction labels: the sign of the close-to-close return over a fixed horizon."""

from __future__ import annotations

from typing import Any

import numpy as np

from label_pipeline.artifacts import artifact
from label_pipeline.config import LABEL_VERSION
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.labels.arrow import Frame, as_table, choose, constant, like, numbers, table, take
from label_pipeline.labels.joins import left_lookup
from label_pipeline.labels.step import StepInputs

DIRECTION_COLUMNS = artifact("direction_labels").column_names
_LABELS = ("LONG", "SHORT", "NEUTRAL")


def build_direction_labels(features: Frame, replay: Frame, direction_config: dict[str, Any]) -> Frame:
    """One row per feature row that has a close at t and at t + H, joined by timestamp (not by
    position), so a gap inside the horizon does not shift the exit bar."""
    feat, bars = as_table(features), as_table(replay)
    horizon = int(direction_config["horizon_minutes"])
    open_ms = numbers(feat, "open_time_ms", "int64")
    bar_ms = numbers(bars, "open_time_ms", "int64")
    bar_close = numbers(bars, "close", "float64")
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
    keep = np.flatnonzero(~np.isnan(future_return))
    code = code[keep]
    columns = {
        "sample_id": take(feat, "sample_id", keep),
        "symbol": take(feat, "symbol", keep),
        "event_time": take(feat, "event_time", keep),
        "horizon_minutes": np.full(len(keep), horizon, dtype="int64"),
        "future_return_bps": future_return[keep],
        "direction_label": choose(code, _LABELS),
        "long_target": (code == 0).astype("int8"),
        "short_target": (code == 1).astype("int8"),
        "neutral_target": (code == 2).astype("int8"),
        "split_id": take(feat, "split_id", keep),
        "walk_forward_fold": take(feat, "walk_forward_fold", keep),
        "label_version": constant(len(keep), LABEL_VERSION),
    }
    return like(table(columns, DIRECTION_COLUMNS), features, replay)


def direction_step(inputs: StepInputs) -> dict[str, Frame]:
    return {
        "direction_labels": build_direction_labels(
            inputs.require("features"), inputs.require("replay"), inputs.config.label["direction"]
        )
    }
