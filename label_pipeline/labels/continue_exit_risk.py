"""Continue, exit and risk labels: what happens over the next ``continue`` horizon to a position
on either side, under the price plan's barriers. One set of path stats feeds all three."""

from __future__ import annotations

from typing import Any

import numpy as np

from label_pipeline.artifacts import artifact
from label_pipeline.config import LABEL_VERSION
from label_pipeline.kernel.path_stats import PathStats
from label_pipeline.labels.arrow import Frame, as_table, constant, like, numbers, table, take
from label_pipeline.labels.joins import inner_match
from label_pipeline.labels.path_stats_frame import SIDE_FIELDS
from label_pipeline.labels.step import StepInputs

CONTINUE_COLUMNS = artifact("continue_labels").column_names
EXIT_COLUMNS = artifact("exit_labels").column_names
RISK_COLUMNS = artifact("risk_labels").column_names


def build_continue_exit_risk_labels(
    features: Frame,
    replay: Frame,
    stats: PathStats,
    label_config: dict[str, Any],
    cost_bps: float,
    plan: dict[str, Any],
) -> tuple[Frame, Frame, Frame]:
    """``stats`` are the path stats of ``replay`` at the continue horizon and the plan's barriers.

    The reference's inner merges of the feature frame with the LONG and then the SHORT stats: both
    sides have the same valid rows, so one match serves both. Its pandas expressions are written
    here on numpy arrays with the same NaN semantics (``fillna``, ``clip``, comparisons)."""
    feat, bars = as_table(features), as_table(replay)
    stop_bps = float(plan["stopDistanceBps"])
    stat_ms = numbers(bars, "open_time_ms", "int64")[stats.row_index]
    left, right = inner_match(numbers(feat, "open_time_ms", "int64"), stat_ms, "replay_1m")
    passed = {c: take(feat, c, left) for c in ("sample_id", "symbol", "event_time", "split_id", "walk_forward_fold")}
    n = len(left)

    def side(stats_side: Any, field: str) -> np.ndarray:
        return np.asarray(getattr(stats_side, field), dtype=SIDE_FIELDS[field])[right]

    long_fr, short_fr = side(stats.long, "future_return_bps"), side(stats.short, "future_return_bps")
    long_mae, short_mae = side(stats.long, "mae_bps"), side(stats.short, "mae_bps")
    long_mfe, short_mfe = side(stats.long, "mfe_bps"), side(stats.short, "mfe_bps")
    long_stop, short_stop = side(stats.long, "stop_hit") == 1, side(stats.short, "stop_hit") == 1
    future_vol = np.asarray(stats.future_realized_vol_bps, dtype="float64")[right]
    realized_vol = numbers(feat, "realized_vol_15m_bps", "float64")[left]
    spread_rank = numbers(feat, "spread_rank_24h_pct", "float64")[left]

    min_continue = float(label_config["continue"]["min_expected_continue_edge_bps"])
    adverse_threshold = float(label_config["exit"]["adverse_move_bps"])
    current_vol = _fillna(realized_vol)
    current_vol = np.where(current_vol < 1.0, 1.0, current_vol)  # clip(lower=1.0)
    long_edge = long_fr - cost_bps
    short_edge = short_fr - cost_bps
    path_risk = np.maximum(long_mae, short_mae)
    max_path_move = np.maximum.reduce([long_mfe, short_mfe, path_risk])
    if "ret_15m_bps" in feat.column_names:
        ret_15m = numbers(feat, "ret_15m_bps", "float64")[left]
        with np.errstate(invalid="ignore"):
            reversal = (np.sign(long_fr) != np.sign(ret_15m)).astype("int8")
    else:
        reversal = np.zeros(n, dtype="int8")
    volatility_expansion = _fillna(future_vol) >= current_vol * float(label_config["risk"]["vol_expansion_ratio"])
    liquidity_deterioration = _fillna(spread_rank) >= 0.90
    market_drawdown = path_risk >= float(label_config["risk"]["market_drawdown_bps"])
    version = constant(n, LABEL_VERSION)

    def frame(columns: dict[str, Any], names: list[str]) -> Frame:
        return like(table({**passed, **columns, "label_version": version}, names), features, replay)

    continue_labels = frame(
        {
            "long_continue_target": ((long_edge >= min_continue) & (long_mae < stop_bps)).astype("int8"),
            "short_continue_target": ((short_edge >= min_continue) & (short_mae < stop_bps)).astype("int8"),
            "long_expected_continue_edge_bps": long_edge,
            "short_expected_continue_edge_bps": short_edge,
        },
        CONTINUE_COLUMNS,
    )
    exit_labels = frame(
        {
            "long_exit_target": (long_stop | (long_mae >= adverse_threshold)).astype("int8"),
            "short_exit_target": (short_stop | (short_mae >= adverse_threshold)).astype("int8"),
            "long_adverse_move_bps": long_mae,
            "short_adverse_move_bps": short_mae,
            "adverse_move_prob_label": (path_risk >= adverse_threshold).astype("int8"),
            "reversal_prob_label": reversal,
            "stop_hit_prob_label": (long_stop | short_stop).astype("int8"),
            "stagnation_prob_label": (
                np.abs(long_fr) <= float(label_config["exit"]["stagnation_abs_return_bps"])
            ).astype("int8"),
        },
        EXIT_COLUMNS,
    )
    risk_labels = frame(
        {
            "market_risk_target": market_drawdown.astype("int8"),
            "market_path_risk_bps": path_risk,
            "long_position_path_risk_bps": long_mae,
            "short_position_path_risk_bps": short_mae,
            "long_position_risk_target": (long_mae >= stop_bps).astype("int8"),
            "short_position_risk_target": (short_mae >= stop_bps).astype("int8"),
            "market_drawdown_prob_label": market_drawdown.astype("int8"),
            "volatility_expansion_prob_label": volatility_expansion.astype("int8"),
            "spike_prob_label": (max_path_move >= float(label_config["risk"]["spike_bps"])).astype("int8"),
            "liquidity_deterioration_prob_label": liquidity_deterioration.astype("int8"),
            "position_drawdown_prob_label": (path_risk >= stop_bps).astype("int8"),
        },
        RISK_COLUMNS,
    )
    return continue_labels, exit_labels, risk_labels


def _fillna(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), 0.0, values)


def continue_exit_risk_step(inputs: StepInputs) -> dict[str, Frame]:
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
