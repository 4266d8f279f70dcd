"""Entry labels: for each feature row and side, whether the best move over the holding window
clears costs plus the required edge (``MAX_FUTURE_EDGE_V1``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from label_pipeline.artifacts import artifact
from label_pipeline.config import ENTRY_LABEL_METHOD, LABEL_VERSION
from label_pipeline.kernel.path_stats import PathStats
from label_pipeline.kernel.units import SIDES
from label_pipeline.labels.arrow import Frame, as_table, choose, constant, like, numbers, table, take
from label_pipeline.labels.joins import inner_match
from label_pipeline.labels.path_stats_frame import SIDE_FIELDS
from label_pipeline.labels.step import StepInputs

ENTRY_COLUMNS = artifact("entry_labels").column_names

_PASS_THROUGH = ["sample_id", "symbol", "event_time"]
_TAIL = ["split_id", "walk_forward_fold"]


def _interleave(long: np.ndarray, short: np.ndarray, dtype: str) -> np.ndarray:
    out = np.empty(2 * len(long), dtype=dtype)
    out[0::2] = long
    out[1::2] = short
    return out


def build_entry_labels(
    features: Frame,
    replay: Frame,
    stats: PathStats,
    entry_config: dict[str, Any],
    cost_bps: float,
    plan: dict[str, Any],
) -> Frame:
    """``stats`` are the path stats of ``replay`` at the entry horizon and barriers.

    Rows follow the feature rows, LONG then SHORT for each, as the reference's inner merge of the
    feature frame with its LONG-then-SHORT stats gives them.
    """
    feat, bars = as_table(features), as_table(replay)
    stat_ms = numbers(bars, "open_time_ms", "int64")[stats.row_index]
    left, right = inner_match(numbers(feat, "open_time_ms", "int64"), stat_ms, "replay_1m")
    rows = np.repeat(left, 2)
    n = len(rows)
    columns: dict[str, Any] = {c: take(feat, c, rows) for c in _PASS_THROUGH}
    columns["side"] = choose(np.tile(np.array([0, 1]), len(left)), SIDES)
    columns["price_plan_id"] = constant(n, plan["pricePlanId"])
    columns["price_plan_hash"] = constant(n, plan["pricePlanConfigHash"])
    for field, dtype in SIDE_FIELDS.items():
        long, short = (
            np.asarray(getattr(stats.long, field), dtype=dtype),
            np.asarray(getattr(stats.short, field), dtype=dtype),
        )
        columns[field] = _interleave(long[right], short[right], dtype)
    mfe = columns["mfe_bps"]
    net = mfe - cost_bps
    columns["max_achievable_gross_edge_bps"] = mfe
    columns["max_achievable_net_edge_bps"] = net
    columns["cost_bps"] = np.full(n, cost_bps, dtype="float64")
    columns["expected_net_edge_bps"] = net
    columns["entry_target"] = (net >= float(entry_config["min_expected_net_edge_bps"])).astype("int8")
    columns["label_method"] = constant(n, ENTRY_LABEL_METHOD)
    for c in _TAIL:
        columns[c] = take(feat, c, rows)
    columns["label_version"] = constant(n, LABEL_VERSION)
    return like(table(columns, ENTRY_COLUMNS), features, replay)


def entry_step(inputs: StepInputs) -> dict[str, Frame]:
    """At the entry horizon and barriers of the config, which the step has checked against the
    stored plan (``label_pipeline.labels.price_plan.require_same_plan``)."""
    entry_conf = inputs.config.label["entry"]
    stats = inputs.path_stats(
        int(entry_conf["max_hold_minutes"]), float(entry_conf["target_bps"]), float(entry_conf["stop_bps"])
    )
    frame = build_entry_labels(
        inputs.require("features"),
        inputs.require("replay"),
        stats,
        entry_conf,
        inputs.config.cost_bps,
        inputs.require("plan"),
    )
    return {"entry_labels": frame}
