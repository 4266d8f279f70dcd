from __future__ import annotations

import json

import pytest

from label_pipeline.config import (
    DEFAULT_COST_CONFIG,
    DEFAULT_LABEL_CONFIG,
    REFERENCE_SECTIONS,
    ConfigError,
    load_effective_config,
    merge_config,
)
from label_pipeline.settings import REPO_ROOT
from label_pipeline_tests.harness.reference import reference_available, reference_labels

CONFIGS = REPO_ROOT / "configs"


def test_config_files_hold_the_defaults() -> None:
    assert json.loads((CONFIGS / "label_config.json").read_text()) == DEFAULT_LABEL_CONFIG
    assert json.loads((CONFIGS / "cost_config.json").read_text()) == DEFAULT_COST_CONFIG


@pytest.mark.skipif(not reference_available(), reason="reference absent")
def test_defaults_equal_the_reference() -> None:
    ref = reference_labels()
    # the reference's sections are its own; windows and sweep belong to this project's new artifacts
    assert {k: v for k, v in DEFAULT_LABEL_CONFIG.items() if k in REFERENCE_SECTIONS} == ref.DEFAULT_LABEL_CONFIG
    assert set(DEFAULT_LABEL_CONFIG) - set(REFERENCE_SECTIONS) == {"windows", "sweep"}
    assert DEFAULT_COST_CONFIG == ref.DEFAULT_COST_CONFIG


def test_merge_is_one_level_deep_like_the_reference() -> None:
    merged = merge_config(DEFAULT_LABEL_CONFIG, {"entry": {"target_bps": 20}, "extra": 1, "risk": 5})
    assert merged["entry"] == {**DEFAULT_LABEL_CONFIG["entry"], "target_bps": 20}
    assert merged["extra"] == 1 and merged["risk"] == 5
    # defaults are not mutated
    assert DEFAULT_LABEL_CONFIG["entry"]["target_bps"] == 12.0


def test_price_plan_hash_matches_the_reference_formula(tmp_path) -> None:
    override = tmp_path / "label.json"
    override.write_text(json.dumps({"entry": {"target_bps": 15}}))
    config = load_effective_config(override, None, "p1")
    import hashlib

    expected = hashlib.sha256(
        json.dumps(
            {"entry": config.label["entry"], "cost": DEFAULT_COST_CONFIG, "entry_label_method": "MAX_FUTURE_EDGE_V1"},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert config.price_plan_hash == expected
    # the int 15 stays an int, so the hash is the reference's for the same file
    assert config.label["entry"]["target_bps"] == 15 and isinstance(config.label["entry"]["target_bps"], int)
    assert config.cost_bps == 6.5


def test_config_hash_changes_with_any_setting() -> None:
    base = load_effective_config()
    assert base.config_hash == load_effective_config().config_hash
    assert base.config_hash != load_effective_config(price_plan_id="other").config_hash


def test_malformed_and_missing_override_files_are_clear(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json is not valid JSON"):
        load_effective_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_effective_config(tmp_path / "missing.json")
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        load_effective_config(None, arr)
