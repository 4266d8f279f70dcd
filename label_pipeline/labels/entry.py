"""Entry labels: for each feature row and side, whether the best move over the holding window
clears costs plus the required edge (``MAX_FUTURE_EDGE_V1``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from label_pipeline.config import ENTRY_LABEL_METHOD, LABEL_VERSION
from label_pipeline.kernel.path_stats import PathStats
from label_pipeline.labels.columns import ENTRY_COLUMNS, FEATURE_JOIN_COLUMNS
from label_pipeline.labels.path_stats_frame import both_sides_frame


def build_entry_labels(
    features: pd.DataFrame,
    replay: pd.DataFrame,
    stats: PathStats,
    entry_config: dict[str, Any],
    cost_bps: float,
    plan: dict[str, Any],
) -> pd.DataFrame:
    """``stats`` are the path stats of ``replay`` at the entry horizon and barriers."""
    symbol_stats = both_sides_frame(stats, _symbol_of(replay), replay["open_time_ms"].to_numpy())
    merged = features[FEATURE_JOIN_COLUMNS].merge(symbol_stats, on=["symbol", "open_time_ms"], how="inner")
    merged["max_achievable_gross_edge_bps"] = merged["mfe_bps"]
    merged["max_achievable_net_edge_bps"] = merged["max_achievable_gross_edge_bps"] - cost_bps
    merged["expected_net_edge_bps"] = merged["max_achievable_net_edge_bps"]
    merged["entry_target"] = (
        merged["max_achievable_net_edge_bps"] >= float(entry_config["min_expected_net_edge_bps"])
    ).astype("int8")
    merged["price_plan_id"] = plan["pricePlanId"]
    merged["price_plan_hash"] = plan["pricePlanConfigHash"]
    merged["cost_bps"] = cost_bps
    merged["label_method"] = ENTRY_LABEL_METHOD
    merged["label_version"] = LABEL_VERSION
    return merged[ENTRY_COLUMNS].copy()


def _symbol_of(replay: pd.DataFrame) -> str:
    return replay["symbol"].iloc[0] if len(replay) else ""
