"""Label and cost configuration: the reference defaults, partial JSON overrides, and their hashes.

Overrides merge exactly as the reference's ``_load_config``: one level deep, a dict section is
updated key by key, anything else replaces. Values keep their JSON types (``12`` stays an int)
because the price plan hash is taken over them as written, as the reference does.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_VERSION = "REFERENCE_LABEL_V1"
ENTRY_LABEL_METHOD = "MAX_FUTURE_EDGE_V1"

DEFAULT_LABEL_CONFIG: dict[str, Any] = {
    "direction": {"horizon_minutes": 45, "long_threshold_bps": 5.0, "short_threshold_bps": -5.0},
    "entry": {"max_hold_minutes": 45, "target_bps": 12.0, "stop_bps": 8.0, "min_expected_net_edge_bps": 3.0},
    "continue": {"horizon_minutes": 30, "min_expected_continue_edge_bps": 2.0},
    "exit": {"horizon_minutes": 30, "adverse_move_bps": 8.0, "stagnation_abs_return_bps": 2.0},
    "risk": {
        "horizon_minutes": 30,
        "market_drawdown_bps": 12.0,
        "vol_expansion_ratio": 1.6,
        "spike_bps": 20.0,
    },
}

DEFAULT_COST_CONFIG: dict[str, Any] = {
    "fee_bps": 4.0,
    "slippage_bps": 2.0,
    "funding_cost_bps": 0.5,
}


class ConfigError(ValueError):
    """A label or cost configuration that cannot be used."""


def sha256_json(value: Any) -> str:
    """Canonical JSON hash; identical to the reference's so price plan hashes agree."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def merge_config(default: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep-merge one level, as the reference's ``_load_config``."""
    merged = copy.deepcopy(dict(default))
    if override is None:
        return merged
    for key, item in override.items():
        if isinstance(item, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **item}
        else:
            merged[key] = item
    return merged


def read_override(path: str | Path | None, what: str) -> dict[str, Any] | None:
    if path is None or str(path) == "":
        return None
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{what} file {p} does not exist; pass an existing JSON file or leave it unset"
        ) from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} file {p} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} file {p} must hold a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class EffectiveConfig:
    """The merged label and cost configs of one labelling, with the price plan id."""

    label: dict[str, Any]
    cost: dict[str, Any]
    price_plan_id: str

    @property
    def cost_bps(self) -> float:
        return (
            float(self.cost["fee_bps"])
            + float(self.cost["slippage_bps"])
            + float(self.cost["funding_cost_bps"])
        )

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "cost": self.cost, "price_plan_id": self.price_plan_id}

    @property
    def config_hash(self) -> str:
        return sha256_json(self.as_dict())

    @property
    def price_plan_hash(self) -> str:
        """The reference's ``pricePlanConfigHash``: over the entry section, the cost config and the method."""
        return sha256_json(
            {"entry": self.label["entry"], "cost": self.cost, "entry_label_method": ENTRY_LABEL_METHOD}
        )


def load_effective_config(
    label_config_path: str | Path | None = None,
    cost_config_path: str | Path | None = None,
    price_plan_id: str = "default",
) -> EffectiveConfig:
    label = merge_config(DEFAULT_LABEL_CONFIG, read_override(label_config_path, "label config"))
    cost = merge_config(DEFAULT_COST_CONFIG, read_override(cost_config_path, "cost config"))
    return EffectiveConfig(label=label, cost=cost, price_plan_id=price_plan_id)
