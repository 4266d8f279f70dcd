"""The price plan context: barriers, costs and the hash that ties entry labels to their plan."""

from __future__ import annotations

from typing import Any

import pandas as pd

from label_pipeline.config import ENTRY_LABEL_METHOD, EffectiveConfig
from label_pipeline.labels.columns import PRICE_PLAN_COLUMNS


def price_plan_context(config: EffectiveConfig) -> dict[str, Any]:
    """The reference's ``price_plan_context.json`` content."""
    entry = config.label["entry"]
    return {
        "pricePlanId": config.price_plan_id,
        "pricePlanConfigHash": config.price_plan_hash,
        "stopDistanceBps": float(entry["stop_bps"]),
        "targetDistanceBps": float(entry["target_bps"]),
        "maxHoldMinutes": int(entry["max_hold_minutes"]),
        "minExpectedNetEdgeBps": float(entry["min_expected_net_edge_bps"]),
        "costBps": config.cost_bps,
        "entryLabelMethod": ENTRY_LABEL_METHOD,
    }


def price_plan_frame(context: dict[str, Any]) -> pd.DataFrame:
    """The reference's one-row ``price_plan_context.parquet``."""
    frame = pd.DataFrame(
        [
            {
                "price_plan_id": context["pricePlanId"],
                "price_plan_hash": context["pricePlanConfigHash"],
                "target_bps": context["targetDistanceBps"],
                "stop_bps": context["stopDistanceBps"],
                "max_hold_minutes": context["maxHoldMinutes"],
                "min_expected_net_edge_bps": context["minExpectedNetEdgeBps"],
                "cost_bps": context["costBps"],
                "entry_label_method": context["entryLabelMethod"],
            }
        ]
    )
    return frame[PRICE_PLAN_COLUMNS]


def plan_from_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """Read the plan back from its stored one-row frame, in the JSON's keys."""
    if len(frame) != 1:
        raise ValueError(f"price_plan_context must have exactly one row, found {len(frame)}")
    row = frame.iloc[0]
    return {
        "pricePlanId": row["price_plan_id"],
        "pricePlanConfigHash": row["price_plan_hash"],
        "targetDistanceBps": float(row["target_bps"]),
        "stopDistanceBps": float(row["stop_bps"]),
        "maxHoldMinutes": int(row["max_hold_minutes"]),
        "minExpectedNetEdgeBps": float(row["min_expected_net_edge_bps"]),
        "costBps": float(row["cost_bps"]),
        "entryLabelMethod": row["entry_label_method"],
    }
