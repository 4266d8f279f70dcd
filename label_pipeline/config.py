"""Label and cost configuration: the reference defaults, partial JSON overrides, and their hashes.

Overrides merge exactly as the reference's ``_load_config``: one level deep, a dict section is
updated key by key, anything else replaces. Values keep their JSON types (``12`` stays an int)
because the price plan hash is taken over them as written, as the reference does. The merged config
is validated when loaded: unknown keys, wrong types and impossible values raise ``ConfigError``.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_VERSION = "REFERENCE_LABEL_V1"
ENTRY_LABEL_METHOD = "MAX_FUTURE_EDGE_V1"
# Days of feature rows a partition is labelled in at a time (the PathStatsKernel resource's
# chunk_days): memory follows the chunk, not the span (label_pipeline.engine).
CHUNK_DAYS = 10  # 30 days cost ~80 MB more at the peak and are no faster (BENCHMARKS.md)

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
    # Sections of this project's own artifacts (not in the reference; README "Differences").
    # label_windows: the embargo after a test fold; null means each family's own horizon.
    "windows": {"embargo_minutes": None},
    # price_plan_sweep: the grid of plans evaluated in one pass.
    "sweep": {
        "target_bps": [6, 8, 12, 16, 24],
        "stop_bps": [4, 6, 8, 12, 16],
        "max_hold_minutes": [15, 45, 120],
    },
}
REFERENCE_SECTIONS = ("direction", "entry", "continue", "exit", "risk")

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


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ConfigError(f"duplicate keys {duplicated} (JSON would silently keep the last one)")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ConfigError(f"{name} is not a number JSON allows; give a finite number")


def read_override(path: str | Path | None, what: str) -> dict[str, Any] | None:
    if path is None or str(path) == "":
        return None
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{what} file {p} does not exist; pass an existing JSON file or leave it unset"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} file {p} cannot be read as UTF-8 text ({exc}); pass a JSON file") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} file {p} is not valid JSON: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{what} file {p} is not valid: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} file {p} must hold a JSON object, got {type(value).__name__}")
    return value


# What each setting must be. The values are checked as given and never converted, so the price plan
# hash stays the reference's (it is taken over the values as written: 12 and 12.0 differ).
POSITIVE_INT = "a whole number > 0"
POSITIVE = "a number > 0"
NON_NEGATIVE = "a number >= 0"
NON_NEGATIVE_INT = "a whole number >= 0"
NUMBER = "a finite number"
MINUTES_OR_NULL = "a whole number of minutes >= 0, or null"
POSITIVE_LIST = "a non-empty list of distinct numbers > 0"
POSITIVE_INT_LIST = "a non-empty list of distinct whole numbers > 0"

LABEL_CONFIG_SCHEMA: dict[str, dict[str, str]] = {
    "direction": {
        "horizon_minutes": POSITIVE_INT,
        "long_threshold_bps": NUMBER,
        "short_threshold_bps": NUMBER,
    },
    "entry": {
        "max_hold_minutes": POSITIVE_INT,
        "target_bps": POSITIVE,
        "stop_bps": POSITIVE,
        "min_expected_net_edge_bps": NUMBER,
    },
    "continue": {"horizon_minutes": POSITIVE_INT, "min_expected_continue_edge_bps": NUMBER},
    "exit": {
        "horizon_minutes": POSITIVE_INT,
        "adverse_move_bps": POSITIVE,
        "stagnation_abs_return_bps": NON_NEGATIVE,
    },
    "risk": {
        "horizon_minutes": POSITIVE_INT,
        "market_drawdown_bps": POSITIVE,
        "vol_expansion_ratio": POSITIVE,
        "spike_bps": POSITIVE,
    },
    "windows": {"embargo_minutes": MINUTES_OR_NULL},
    "sweep": {"target_bps": POSITIVE_LIST, "stop_bps": POSITIVE_LIST, "max_hold_minutes": POSITIVE_INT_LIST},
}
# Costs may be negative (maker rebates, funding received); they only have to be numbers.
COST_CONFIG_SCHEMA: dict[str, str] = {"fee_bps": NUMBER, "slippage_bps": NUMBER, "funding_cost_bps": NUMBER}


def _value_problem(name: str, value: Any, rule: str) -> str | None:
    if rule == MINUTES_OR_NULL:
        if value is None:
            return None
        rule = NON_NEGATIVE_INT
    if rule in (POSITIVE_LIST, POSITIVE_INT_LIST):
        if not isinstance(value, list) or not value:
            return f"{name} must be {rule}, got {type(value).__name__} {value!r}"
        item_rule = POSITIVE_INT if rule == POSITIVE_INT_LIST else POSITIVE
        problems = [p for i, v in enumerate(value) if (p := _value_problem(f"{name}[{i}]", v, item_rule))]
        if not problems and len(set(value)) != len(value):
            problems.append(f"{name} must not repeat a value, got {value!r}")
        return "; ".join(problems) or None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be {rule}, got {type(value).__name__} {value!r}"
    if not math.isfinite(value):
        return f"{name} must be {rule}, got {value!r}"
    if rule == POSITIVE_INT and (value <= 0 or value != int(value)):
        return f"{name} must be {rule}, got {value!r}" + (
            " (a fraction would be truncated)" if value > 0 else ""
        )
    if rule == POSITIVE and value <= 0:
        return f"{name} must be {rule}, got {value!r}"
    if rule == NON_NEGATIVE_INT and (value < 0 or value != int(value)):
        return f"{name} must be {rule}, got {value!r}"
    if rule == NON_NEGATIVE and value < 0:
        return f"{name} must be {rule}, got {value!r}"
    return None


def _unknown(prefix: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = f" in section {prefix!r}" if prefix else ""
    return f"unknown key {key!r}{where}{hint}; known keys: {known}"


def _schema_problems(config: Mapping[str, Any], schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    problems = []
    for key, value in config.items():
        if key not in schema:
            problems.append(_unknown(prefix, key, list(schema)))
            continue
        rule = schema[key]
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                problems.append(
                    f"section {name!r} must be a JSON object of {list(rule)}, got {type(value).__name__} {value!r}"
                )
            else:
                problems += _schema_problems(value, rule, name)
        elif problem := _value_problem(name, value, rule):
            problems.append(problem)
    return problems


def _raise_if(problems: list[str], what: str, path: str | Path | None) -> None:
    if problems:
        source = f"the defaults merged with {path}" if path else "the defaults"
        raise ConfigError(
            f"{what} ({source}) has {len(problems)} problem{'s' if len(problems) != 1 else ''}; fix the file:\n- "
            + "\n- ".join(problems)
        )


def validate_label_config(config: Mapping[str, Any], path: str | Path | None = None) -> None:
    """Raise ``ConfigError`` listing every unknown key, wrong type and out-of-range value."""
    problems = _schema_problems(config, LABEL_CONFIG_SCHEMA)
    direction = config.get("direction")
    if isinstance(direction, dict):
        long_bps, short_bps = direction.get("long_threshold_bps"), direction.get("short_threshold_bps")
        numbers = all(_value_problem("", v, NUMBER) is None for v in (long_bps, short_bps))
        if numbers and not short_bps < long_bps:
            problems.append(
                f"direction.short_threshold_bps ({short_bps!r}) must be below direction.long_threshold_bps "
                f"({long_bps!r}); otherwise a return can be both LONG and SHORT"
            )
    _raise_if(problems, "label config", path)


def validate_cost_config(config: Mapping[str, Any], path: str | Path | None = None) -> None:
    _raise_if(_schema_problems(config, COST_CONFIG_SCHEMA), "cost config", path)


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
    """The reference defaults merged with the override files, validated (``ConfigError`` otherwise)."""
    label = merge_config(DEFAULT_LABEL_CONFIG, read_override(label_config_path, "label config"))
    validate_label_config(label, label_config_path)
    cost = merge_config(DEFAULT_COST_CONFIG, read_override(cost_config_path, "cost config"))
    validate_cost_config(cost, cost_config_path)
    return EffectiveConfig(label=label, cost=cost, price_plan_id=price_plan_id)
