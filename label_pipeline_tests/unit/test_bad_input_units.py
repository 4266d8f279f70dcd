"""The input, config and key contracts column by column and key by key, without Dagster (fast).

``test_bad_input_basic.py`` proves each case of the README's "Bad input" table through a real
materialization; this module covers every column, dtype and setting those cases stand for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from label_pipeline.config import (
    COST_CONFIG_SCHEMA,
    DEFAULT_COST_CONFIG,
    DEFAULT_LABEL_CONFIG,
    LABEL_CONFIG_SCHEMA,
    MINUTES_OR_NULL,
    POSITIVE_INT_LIST,
    POSITIVE_LIST,
    ConfigError,
    load_effective_config,
    validate_cost_config,
    validate_label_config,
)
from label_pipeline.demo.sample_data import CLEAN, Messiness, make_run_frames, write_run
from label_pipeline.input_contract import MAX_LISTED, validate_feature_slice, validate_replay_slice
from label_pipeline.inputs import InputDataError, read_symbol_slice, run_files
from label_pipeline.keys import PartitionKeyError, validate_key
from label_pipeline_tests.harness.common import CONTRACT_WHERE as WHERE
from label_pipeline_tests.harness.common import MESSY


def _frames(messiness: Messiness = CLEAN, n: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_run_frames(["S"], n, seed=1, messiness=messiness)


def _replay_error(replay: pd.DataFrame) -> str:
    with pytest.raises(InputDataError) as info:
        validate_replay_slice(replay, WHERE)
    assert str(info.value).startswith(WHERE)
    return str(info.value)


def _feature_error(feature: pd.DataFrame) -> str:
    with pytest.raises(InputDataError) as info:
        validate_feature_slice(feature, WHERE)
    assert str(info.value).startswith(WHERE)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# what stays valid: the reference's invalid rows are not errors
# ---------------------------------------------------------------------------------------------


def test_messy_but_valid_slices_pass() -> None:
    """Gaps, NaN closes/highs/lows/spreads, shuffled rows, naive times and missing feature rows."""
    feature, replay = _frames(MESSY, 400)
    assert replay["close"].isna().any() and replay["high"].isna().any() and replay["spread_bps"].isna().any()
    validate_replay_slice(replay, WHERE)
    validate_feature_slice(feature, WHERE)


def test_time_zones_and_units_are_compared_as_instants() -> None:
    feature, replay = _frames()
    replay["event_time"] = replay["event_time"].dt.tz_convert("America/New_York")
    feature["event_time"] = feature["event_time"].dt.tz_localize(None).astype("datetime64[s]")
    validate_replay_slice(replay, WHERE)
    validate_feature_slice(feature, WHERE)
    # a naive *local* time is a different instant: refused, not guessed
    replay["event_time"] = replay["event_time"].dt.tz_localize(None)
    assert "disagrees with 'open_time_ms' in 60 bars" in _replay_error(replay)


def test_integer_prices_and_ids_are_valid() -> None:
    feature, replay = _frames()
    replay[["open", "high", "low", "close"]] = [[100, 102, 99, 101]] * len(replay)
    feature["sample_id"] = np.arange(len(feature))
    validate_replay_slice(replay, WHERE)
    validate_feature_slice(feature, WHERE)


# ---------------------------------------------------------------------------------------------
# dtypes, every column
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "spread_bps"])
def test_replay_numbers_as_strings(column: str) -> None:
    _, replay = _frames()
    replay[column] = replay[column].map(str)
    assert f"column {column!r} has dtype object, e.g. '" in _replay_error(replay)


@pytest.mark.parametrize(
    "column", ["spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps", "ret_15m_bps"]
)
def test_feature_numbers_as_strings(column: str) -> None:
    feature, _ = _frames()
    feature[column] = feature[column].map(str)
    assert f"column {column!r} has dtype object" in _feature_error(feature)


@pytest.mark.parametrize(
    "make, dtype",
    [
        (lambda s: s.astype("int64"), "int64"),  # nanoseconds as integers: a guess we do not make
        (lambda s: s.astype("int64") / 1e9, "float64"),
        (lambda s: s.astype(str), "object"),
    ],
)
def test_event_time_not_a_timestamp(make, dtype: str) -> None:
    feature, replay = _frames()
    replay["event_time"] = make(replay["event_time"].dt.tz_localize(None))
    assert f"column 'event_time' has dtype {dtype}" in _replay_error(replay)
    assert "it must be a timestamp" in _replay_error(replay)


@pytest.mark.parametrize("dtype", ["float64", "int32", "Int64", "str"])
def test_open_time_ms_not_int64(dtype: str) -> None:
    feature, replay = _frames()
    feature["open_time_ms"] = feature["open_time_ms"].astype(dtype)
    assert "column 'open_time_ms' has dtype" in _feature_error(feature)
    assert "must be int64" in _feature_error(feature)


def test_nullable_extension_floats_are_refused() -> None:
    _, replay = _frames()
    replay["close"] = replay["close"].astype("Float64")
    assert "column 'close' has dtype Float64" in _replay_error(replay)


@pytest.mark.parametrize("values", [[1.5, 2.5], ["a", 1], [b"a", b"b"]])
def test_sample_id_of_the_wrong_kind(values: list) -> None:
    feature, _ = _frames(n=2)
    feature["sample_id"] = pd.Series(values, dtype="float64" if isinstance(values[0], float) else object)
    assert "column 'sample_id' has dtype" in _feature_error(feature)


def test_symbol_column_that_is_not_text(tmp_path) -> None:
    feature, replay = _frames()
    write_run(tmp_path, "r", feature, replay.assign(symbol=7))
    with pytest.raises(InputDataError, match="column 'symbol' has type int64; it must be a string column"):
        read_symbol_slice(run_files(tmp_path, "r"), "replay", "S")


def test_input_path_that_is_a_directory(tmp_path) -> None:
    feature, replay = _frames()
    write_run(tmp_path, "r", feature, replay)
    path = tmp_path / "r" / "replay" / "replay_1m.parquet"
    path.unlink()
    path.mkdir()
    with pytest.raises(InputDataError, match="is a directory, not a parquet file"):
        read_symbol_slice(run_files(tmp_path, "r"), "replay", "S")


def test_run_id_that_is_not_a_folder_name() -> None:
    for run_id in ("..", ".", "a/b", "/etc", "a\\b"):
        with pytest.raises(InputDataError, match=re.escape(f"run {run_id!r} cannot be read")):
            run_files("/runs", run_id)


# ---------------------------------------------------------------------------------------------
# values, every column
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "spread_bps"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_replay_infinite(column: str, value: float) -> None:
    _, replay = _frames()
    replay.loc[5, column] = value
    assert f"column {column!r} is infinite in 1 bar" in _replay_error(replay)


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_replay_non_positive_price(column: str, value: float) -> None:
    _, replay = _frames()
    replay.loc[5, column] = value
    assert f"column {column!r} is zero or negative in 1 bar" in _replay_error(replay)


@pytest.mark.parametrize(
    "column", ["spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps", "ret_15m_bps"]
)
def test_feature_infinite(column: str) -> None:
    feature, _ = _frames()
    feature.loc[30, column] = np.inf
    assert f"column {column!r} is infinite in 1 feature row: sample_id='S:" in _feature_error(feature)


@pytest.mark.parametrize(
    "column", ["spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps", "ret_15m_bps"]
)
def test_feature_nan_is_valid(column: str) -> None:
    feature, _ = _frames()
    feature.loc[30, column] = np.nan
    validate_feature_slice(feature, WHERE)


def test_spread_rank_bounds_are_inclusive() -> None:
    feature, _ = _frames()
    feature.loc[0, "spread_rank_24h_pct"] = 0.0
    feature.loc[1, "spread_rank_24h_pct"] = 1.0
    validate_feature_slice(feature, WHERE)
    feature.loc[2, "spread_rank_24h_pct"] = 1.0001
    assert "column 'spread_rank_24h_pct' is outside [0, 1] in 1 feature row" in _feature_error(feature)


def test_nan_prices_skip_the_range_checks() -> None:
    _, replay = _frames()
    replay.loc[3, "high"] = np.nan
    replay.loc[3, "close"] = replay.loc[3, "low"] * 10  # unknowable without a high: not an error
    replay.loc[4, "low"] = np.nan
    validate_replay_slice(replay, WHERE)


def test_every_problem_is_reported_at_once_and_listing_is_bounded() -> None:
    _, replay = _frames()
    replay.loc[:24, "spread_bps"] = -1.0
    replay.loc[30, "close"] = replay.loc[30, "high"] + 1.0
    replay = pd.concat([replay, replay.iloc[[40]]], ignore_index=True)
    text = _replay_error(replay)
    assert "has 3 row problems" in text
    spread_line = next(line for line in text.splitlines() if "spread_bps" in line)
    assert "in 25 bars" in spread_line and f"({25 - MAX_LISTED} more)" in spread_line
    assert spread_line.count("open_time_ms=") == MAX_LISTED
    assert "[2026-01-01 00:00:00.000Z]" in spread_line  # keys are shown as UTC times too


def test_unsorted_input_is_valid_and_duplicates_are_found_anywhere() -> None:
    _, replay = _frames()
    shuffled = replay.sample(frac=1.0, random_state=3)
    validate_replay_slice(shuffled, WHERE)
    twice = pd.concat([shuffled, replay.iloc[[0]]])
    assert "1 bar times appear more than once (2 rows in all)" in _replay_error(twice)


# ---------------------------------------------------------------------------------------------
# configs, every setting
# ---------------------------------------------------------------------------------------------


def test_defaults_are_valid() -> None:
    validate_label_config(DEFAULT_LABEL_CONFIG)
    validate_cost_config(DEFAULT_COST_CONFIG)
    assert set(LABEL_CONFIG_SCHEMA) == set(DEFAULT_LABEL_CONFIG)
    assert {s: set(k) for s, k in LABEL_CONFIG_SCHEMA.items()} == {
        s: set(k) for s, k in DEFAULT_LABEL_CONFIG.items()
    }
    assert set(COST_CONFIG_SCHEMA) == set(DEFAULT_COST_CONFIG)


def _label_error(tmp_path: Path, override: dict | str) -> str:
    path = tmp_path / "label.json"
    path.write_text(override if isinstance(override, str) else json.dumps(override))
    with pytest.raises(ConfigError) as info:
        load_effective_config(path)
    assert str(path) in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("section, key", [(s, k) for s, keys in LABEL_CONFIG_SCHEMA.items() for k in keys])
def test_every_label_setting_refuses_wrong_types(tmp_path, section: str, key: str) -> None:
    rule = LABEL_CONFIG_SCHEMA[section][key]
    if rule in (POSITIVE_LIST, POSITIVE_INT_LIST):  # the sweep's grids
        bads = ("5", None, True, 5, [], ["5"], [0], [5, 5], {"v": 5})
    elif rule == MINUTES_OR_NULL:  # null is the default (each family's horizon)
        bads = ("5", True, [5], {"v": 5}, -1, 1.5)
    else:
        bads = ("5", None, True, [5], {"v": 5})
    for bad in bads:
        error = _label_error(tmp_path, {section: {key: bad}})
        assert re.search(rf"{re.escape(section)}\.{re.escape(key)}(\[\d+\])? must", error), (bad, error)


@pytest.mark.parametrize(
    "section, key, bad",
    [
        ("direction", "horizon_minutes", -3),
        ("entry", "max_hold_minutes", 0),
        ("continue", "horizon_minutes", 1.5),
        ("exit", "horizon_minutes", 0),
        ("risk", "horizon_minutes", 0),
        ("entry", "target_bps", 0.0),
        ("entry", "stop_bps", -1),
        ("exit", "adverse_move_bps", 0),
        ("exit", "stagnation_abs_return_bps", -0.5),
        ("risk", "market_drawdown_bps", 0),
        ("risk", "vol_expansion_ratio", 0),
        ("risk", "spike_bps", -20.0),
    ],
)
def test_out_of_range_settings(tmp_path, section: str, key: str, bad: float) -> None:
    assert f"{section}.{key} must be a" in _label_error(tmp_path, {section: {key: bad}})


def test_non_finite_numbers_and_duplicate_keys(tmp_path) -> None:
    assert "NaN is not a number JSON allows" in _label_error(tmp_path, '{"entry": {"target_bps": NaN}}')
    assert "got inf" in _label_error(tmp_path, '{"entry": {"target_bps": 1e999}}')
    assert "duplicate keys ['target_bps']" in _label_error(
        tmp_path, '{"entry": {"target_bps": 10, "target_bps": 20}}'
    )


def test_unreadable_override_files(tmp_path) -> None:
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(ConfigError, match="cannot be read as UTF-8 text"):
        load_effective_config(tmp_path / "bin.json")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_effective_config(tmp_path)  # a directory


def test_valid_overrides_keep_their_types(tmp_path) -> None:
    """Integral floats and negative costs are valid and kept as written (the plan hash sees them)."""
    label = tmp_path / "label.json"
    label.write_text(json.dumps({"entry": {"max_hold_minutes": 30.0, "target_bps": 15}}))
    cost = tmp_path / "cost.json"
    cost.write_text(json.dumps({"fee_bps": -1.0}))
    config = load_effective_config(label, cost)
    assert config.label["entry"]["max_hold_minutes"] == 30.0
    assert isinstance(config.label["entry"]["max_hold_minutes"], float)
    assert isinstance(config.label["entry"]["target_bps"], int)
    assert config.cost_bps == 1.5


def test_equal_thresholds_are_refused(tmp_path) -> None:
    text = _label_error(tmp_path, {"direction": {"long_threshold_bps": 0, "short_threshold_bps": 0}})
    assert "must be below direction.long_threshold_bps" in text


# ---------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a\x1bb", "a\x7fb", "a\x85b", "\ud800"])
def test_control_characters_and_invalid_unicode(key: str) -> None:
    with pytest.raises(PartitionKeyError):
        validate_key(key, "symbol")


@pytest.mark.parametrize("key", ["BTC/USDT", "a\\b", ".hidden", "%2F", "ü" * 33, "x" * 200])
def test_symbols_that_need_encoding_are_valid(key: str) -> None:
    assert validate_key(key, "symbol") == key


def test_the_encoded_length_limit() -> None:
    validate_key("ü" * 33, "symbol")  # 33 x 6 = 198 encoded characters
    with pytest.raises(PartitionKeyError, match="204-character file name"):
        validate_key("ü" * 34, "symbol")


def test_subnormal_prices_are_refused_with_the_rows() -> None:
    _, replay = _frames()
    replay.loc[5, "low"] = 4e-321
    message = _replay_error(replay)
    assert "column 'low' is a subnormal number" in message and "1 bar" in message


def test_text_columns_of_any_arrow_text_type_read_as_plain_strings(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from label_pipeline.demo.sample_data import write_run
    from label_pipeline.hashing import content_hash
    from label_pipeline.inputs import read_symbol_table, run_files

    feature, replay = make_run_frames(["AAA", "BBB"], 120, messiness=CLEAN)
    write_run(tmp_path / "plain", "r", feature, replay)
    plain = run_files(tmp_path / "plain", "r")
    want = {which: content_hash(read_symbol_table(plain, which, "AAA")) for which in ("feature", "replay")}
    for kind, cast in (
        ("category", lambda c: c.dictionary_encode()),
        ("large_string", lambda c: c.cast(pa.large_string())),
        ("string_view", lambda c: c.cast(pa.string_view())),
    ):
        write_run(tmp_path / kind, "r", feature, replay)
        files = run_files(tmp_path / kind, "r")
        for path in (files.feature, files.replay):
            table = pq.read_table(path)
            index = table.schema.get_field_index("symbol")
            pq.write_table(table.set_column(index, "symbol", cast(table.column(index))), path)
        for which in ("feature", "replay"):
            got = read_symbol_table(files, which, "AAA")
            assert got.schema.field("symbol").type == pa.string(), (kind, which)
            assert content_hash(got) == want[which], (kind, which)  # the same labels and hash


def test_timestamp_units_give_the_same_slice(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from label_pipeline.demo.sample_data import write_run
    from label_pipeline.hashing import content_hash
    from label_pipeline.inputs import read_symbol_table, run_files

    feature, replay = make_run_frames(["AAA"], 120, messiness=CLEAN)
    hashes = set()
    for unit in ("ns", "us", "ms"):
        write_run(tmp_path / unit, "r", feature, replay)
        files = run_files(tmp_path / unit, "r")
        for path in (files.feature, files.replay):
            table = pq.read_table(path)
            index = table.schema.get_field_index("event_time")
            pq.write_table(
                table.set_column(index, "event_time", table.column(index).cast(pa.timestamp(unit, tz="UTC"))), path
            )
        hashes.add(tuple(content_hash(read_symbol_table(files, w, "AAA")) for w in ("feature", "replay")))
    assert len(hashes) == 1
