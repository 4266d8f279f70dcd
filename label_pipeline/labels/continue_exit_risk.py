"""Continue, exit and risk labels: what happens over the next ``continue`` horizon to a position
on either side, under the price plan's barriers. One set of path stats feeds all three."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from label_pipeline.artifacts import artifact
from label_pipeline.config import LABEL_VERSION
from label_pipeline.kernel.path_stats import PathStats
from label_pipeline.labels.joins import inner_match, take
from label_pipeline.labels.path_stats_frame import SIDE_FIELDS
from label_pipeline.labels.step import StepInputs

CONTINUE_COLUMNS = artifact("continue_labels").column_names
EXIT_COLUMNS = artifact("exit_labels").column_names
RISK_COLUMNS = artifact("risk_labels").column_names


def build_continue_exit_risk_labels(
    features: pd.DataFrame,
    replay: pd.DataFrame,
    stats: PathStats,
    label_config: dict[str, Any],
    cost_bps: float,
    plan: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``stats`` are the path stats of ``replay`` at the continue horizon and the plan's barriers."""
    stop_bps = float(plan["stopDistanceBps"])
    stat_ms = replay["open_time_ms"].to_numpy(dtype="int64")[stats.row_index]
    left, right = inner_match(features["open_time_ms"].to_numpy(dtype="int64"), stat_ms, "replay_1m")
    feature_columns = [
        "sample_id",
        "symbol",
        "event_time",
        "split_id",
        "walk_forward_fold",
        "spread_rank_24h_pct",
        "realized_vol_15m_bps",
    ]
    if "ret_15m_bps" in features.columns:
        feature_columns.append("ret_15m_bps")
    # The reference's inner merges of the feature frame with the LONG and then the SHORT stats:
    # both sides have the same valid rows, so one match serves both.
    columns = {c: take(features[c], left) for c in feature_columns}
    for prefix, side in (("long", stats.long), ("short", stats.short)):
        for field, dtype in SIDE_FIELDS.items():
            columns[f"{prefix}_{field}"] = np.asarray(getattr(side, field), dtype=dtype)[right]
    columns["long_future_realized_vol_bps"] = np.asarray(stats.future_realized_vol_bps, dtype="float64")[
        right
    ]
    merged = pd.DataFrame(columns, copy=False)

    min_continue = float(label_config["continue"]["min_expected_continue_edge_bps"])
    adverse_threshold = float(label_config["exit"]["adverse_move_bps"])
    current_vol = merged["realized_vol_15m_bps"].astype(float).fillna(0.0).clip(lower=1.0)
    long_edge = merged["long_future_return_bps"] - cost_bps
    short_edge = merged["short_future_return_bps"] - cost_bps
    path_risk = np.maximum(merged["long_mae_bps"], merged["short_mae_bps"])
    max_path_move = np.maximum.reduce([merged["long_mfe_bps"], merged["short_mfe_bps"], path_risk])
    if "ret_15m_bps" in merged.columns:
        reversal = (np.sign(merged["long_future_return_bps"]) != np.sign(merged["ret_15m_bps"])).astype(
            "int8"
        )
    else:
        reversal = pd.Series(0, index=merged.index, dtype="int8")
    future_vol = merged["long_future_realized_vol_bps"].fillna(0.0)
    volatility_expansion = future_vol >= current_vol * float(label_config["risk"]["vol_expansion_ratio"])
    liquidity_deterioration = merged["spread_rank_24h_pct"].astype(float).fillna(0.0) >= 0.90
    market_drawdown = path_risk >= float(label_config["risk"]["market_drawdown_bps"])

    continue_labels = pd.DataFrame(
        {
            "sample_id": merged["sample_id"],
            "symbol": merged["symbol"],
            "event_time": merged["event_time"],
            "long_continue_target": (
                (long_edge >= min_continue) & (merged["long_mae_bps"] < stop_bps)
            ).astype("int8"),
            "short_continue_target": (
                (short_edge >= min_continue) & (merged["short_mae_bps"] < stop_bps)
            ).astype("int8"),
            "long_expected_continue_edge_bps": long_edge,
            "short_expected_continue_edge_bps": short_edge,
            "split_id": merged["split_id"],
            "walk_forward_fold": merged["walk_forward_fold"],
            "label_version": LABEL_VERSION,
        }
    )
    exit_labels = pd.DataFrame(
        {
            "sample_id": merged["sample_id"],
            "symbol": merged["symbol"],
            "event_time": merged["event_time"],
            "long_exit_target": (
                (merged["long_stop_hit"] == 1) | (merged["long_mae_bps"] >= adverse_threshold)
            ).astype("int8"),
            "short_exit_target": (
                (merged["short_stop_hit"] == 1) | (merged["short_mae_bps"] >= adverse_threshold)
            ).astype("int8"),
            "long_adverse_move_bps": merged["long_mae_bps"],
            "short_adverse_move_bps": merged["short_mae_bps"],
            "adverse_move_prob_label": (path_risk >= adverse_threshold).astype("int8"),
            "reversal_prob_label": reversal,
            "stop_hit_prob_label": ((merged["long_stop_hit"] == 1) | (merged["short_stop_hit"] == 1)).astype(
                "int8"
            ),
            "stagnation_prob_label": (
                merged["long_future_return_bps"].abs()
                <= float(label_config["exit"]["stagnation_abs_return_bps"])
            ).astype("int8"),
            "split_id": merged["split_id"],
            "walk_forward_fold": merged["walk_forward_fold"],
            "label_version": LABEL_VERSION,
        }
    )
    risk_labels = pd.DataFrame(
        {
            "sample_id": merged["sample_id"],
            "symbol": merged["symbol"],
            "event_time": merged["event_time"],
            "market_risk_target": market_drawdown.astype("int8"),
            "market_path_risk_bps": path_risk,
            "long_position_path_risk_bps": merged["long_mae_bps"],
            "short_position_path_risk_bps": merged["short_mae_bps"],
            "long_position_risk_target": (merged["long_mae_bps"] >= stop_bps).astype("int8"),
            "short_position_risk_target": (merged["short_mae_bps"] >= stop_bps).astype("int8"),
            "market_drawdown_prob_label": market_drawdown.astype("int8"),
            "volatility_expansion_prob_label": volatility_expansion.astype("int8"),
            "spike_prob_label": (max_path_move >= float(label_config["risk"]["spike_bps"])).astype("int8"),
            "liquidity_deterioration_prob_label": liquidity_deterioration.astype("int8"),
            "position_drawdown_prob_label": (path_risk >= stop_bps).astype("int8"),
            "split_id": merged["split_id"],
            "walk_forward_fold": merged["walk_forward_fold"],
            "label_version": LABEL_VERSION,
        }
    )
    return continue_labels[CONTINUE_COLUMNS], exit_labels[EXIT_COLUMNS], risk_labels[RISK_COLUMNS]


def continue_exit_risk_step(inputs: StepInputs) -> dict[str, pd.DataFrame]:
    """At the continue horizon and the stored plan's barriers."""
    plan = inputs.require("plan")
    stats = inputs.path_stats(
        int(inputs.config.label["continue"]["horizon_minutes"]),
        float(plan["targetDistanceBps"]),
        float(plan["stopDistanceBps"]),
    )
    frames = build_continue_exit_risk_labels(
        inputs.require("features"), inputs.require("replay"), stats, inputs.config.label, inputs.config.cost_bps, plan
    )
    return dict(zip(("continue_labels", "exit_labels", "risk_labels"), frames, strict=True))
