"""Column order of every artifact: part of the contract, exactly as the reference writes them."""

from __future__ import annotations

PRICE_PLAN_COLUMNS = [
    "price_plan_id",
    "price_plan_hash",
    "target_bps",
    "stop_bps",
    "max_hold_minutes",
    "min_expected_net_edge_bps",
    "cost_bps",
    "entry_label_method",
]

DIRECTION_COLUMNS = [
    "sample_id",
    "symbol",
    "event_time",
    "horizon_minutes",
    "future_return_bps",
    "direction_label",
    "long_target",
    "short_target",
    "neutral_target",
    "split_id",
    "walk_forward_fold",
    "label_version",
]

ENTRY_COLUMNS = [
    "sample_id",
    "symbol",
    "event_time",
    "side",
    "price_plan_id",
    "price_plan_hash",
    "target_hit",
    "stop_hit",
    "timeout_hit",
    "ambiguous_hit",
    "time_to_target_ms",
    "time_to_stop_ms",
    "gross_edge_bps",
    "future_return_bps",
    "mfe_bps",
    "mae_bps",
    "max_achievable_gross_edge_bps",
    "max_achievable_net_edge_bps",
    "cost_bps",
    "expected_net_edge_bps",
    "entry_target",
    "label_method",
    "split_id",
    "walk_forward_fold",
    "label_version",
]

POSITION_COLUMNS = ENTRY_COLUMNS + ["position_age_minutes", "unrealized_pnl_bps"]

CONTINUE_COLUMNS = [
    "sample_id",
    "symbol",
    "event_time",
    "long_continue_target",
    "short_continue_target",
    "long_expected_continue_edge_bps",
    "short_expected_continue_edge_bps",
    "split_id",
    "walk_forward_fold",
    "label_version",
]

EXIT_COLUMNS = [
    "sample_id",
    "symbol",
    "event_time",
    "long_exit_target",
    "short_exit_target",
    "long_adverse_move_bps",
    "short_adverse_move_bps",
    "adverse_move_prob_label",
    "reversal_prob_label",
    "stop_hit_prob_label",
    "stagnation_prob_label",
    "split_id",
    "walk_forward_fold",
    "label_version",
]

RISK_COLUMNS = [
    "sample_id",
    "symbol",
    "event_time",
    "market_risk_target",
    "market_path_risk_bps",
    "long_position_path_risk_bps",
    "short_position_path_risk_bps",
    "long_position_risk_target",
    "short_position_risk_target",
    "market_drawdown_prob_label",
    "volatility_expansion_prob_label",
    "spike_prob_label",
    "liquidity_deterioration_prob_label",
    "position_drawdown_prob_label",
    "split_id",
    "walk_forward_fold",
    "label_version",
]

# The column whose distribution each artifact reports, as the reference's reports do.
TARGET_COLUMN = {
    "direction_labels": "direction_label",
    "entry_labels": "entry_target",
    "position_state_samples": "entry_target",
    "continue_labels": "long_continue_target",
    "exit_labels": "long_exit_target",
    "risk_labels": "market_risk_target",
}
