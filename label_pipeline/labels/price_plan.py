"""The price plan context: barriers, costs and the hash that ties entry labels to their plan."""

from __future__ import annotations

from typing import Any

import pandas as pd

from label_pipeline.artifacts import artifact
from label_pipeline.config import ENTRY_LABEL_METHOD, EffectiveConfig
from label_pipeline.labels.step import StepInputs

PRICE_PLAN_COLUMNS = artifact("price_plan_context").column_names


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


class PlanMismatchError(ValueError):
    """The stored price plan was built from another config than the one in force."""


def require_same_plan(plan: dict[str, Any], config: EffectiveConfig) -> None:
    """Refuse to label with a stored plan that the effective config would not build.

    Entry labels take their barriers from the config and their plan id and hash from the stored
    plan; continue/exit/risk labels take the stored plan's barriers. Labelling with a plan built
    from another config would mix two plans in one partition, silently: so the two must agree.
    """
    expected = {"pricePlanId": config.price_plan_id, "pricePlanConfigHash": config.price_plan_hash}
    differs = [key for key, value in expected.items() if plan.get(key) != value]
    if differs:
        raise PlanMismatchError(
            f"the run's stored price plan (id {plan.get('pricePlanId')!r}, hash {str(plan.get('pricePlanConfigHash'))[:12]}, "
            f"target {plan.get('targetDistanceBps')} bps, stop {plan.get('stopDistanceBps')} bps, hold "
            f"{plan.get('maxHoldMinutes')} min) was built from another config than the one in force (plan id "
            f"{config.price_plan_id!r}, hash {config.price_plan_hash[:12]}, target {config.label['entry']['target_bps']} bps, "
            f"stop {config.label['entry']['stop_bps']} bps, hold {config.label['entry']['max_hold_minutes']} min). "
            "Labels would mix two price plans. Materialize the run's price_plan_context first (price_plan_job, or "
            "the price plan backfill schedule), then the labels; or restore the config the plan was built with"
        )


def price_plan_step(inputs: StepInputs) -> dict[str, pd.DataFrame]:
    return {"price_plan_context": price_plan_frame(price_plan_context(inputs.config))}
