"""Property-based fuzzing of the input frames' contents (hypothesis).

1. Whatever a run's files hold, reading, checking and labelling a symbol either works or stops
   with the documented ``InputDataError`` naming the file: nothing else escapes (no JoinKeyError,
   no numpy/pandas error from the label builders), and labels that are built keep the contract.
2. The reference's invalid rows (a NaN close/high/low/spread, a missing bar) change only the labels
   whose window contains them: every other row's labels are identical to the clean run's.

The label builders run without Dagster here (pure functions, fast); each input file goes through
the real parquet read path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from label_pipeline.config import DEFAULT_COST_CONFIG, DEFAULT_LABEL_CONFIG, EffectiveConfig, merge_config
from label_pipeline.demo.sample_data import write_run
from label_pipeline.input_contract import validate_feature_slice, validate_replay_slice
from label_pipeline.inputs import (
    InputDataError,
    normalize_features,
    normalize_replay,
    read_symbol_slice,
    run_files,
)
from label_pipeline.kernel.path_stats import compute_path_stats
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.labels.continue_exit_risk import build_continue_exit_risk_labels
from label_pipeline.labels.direction import build_direction_labels
from label_pipeline.labels.entry import build_entry_labels
from label_pipeline.labels.path_stats_frame import compute_for_replay
from label_pipeline.labels.position import build_position_state_samples
from label_pipeline.labels.price_plan import price_plan_context

START_MS = 1_767_225_600_000
MINUTE = MINUTE_MS
SYMBOL = "S"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _config(horizon: int) -> EffectiveConfig:
    label = merge_config(
        DEFAULT_LABEL_CONFIG,
        {
            "direction": {"horizon_minutes": horizon},
            "entry": {"max_hold_minutes": horizon, "target_bps": 3.0, "stop_bps": 2.0},
            "continue": {"horizon_minutes": horizon},
        },
    )
    return EffectiveConfig(label=label, cost=dict(DEFAULT_COST_CONFIG), price_plan_id="fuzz")


def _labels(feature: pd.DataFrame, replay: pd.DataFrame, horizon: int) -> dict[str, pd.DataFrame]:
    """Every label artifact of one symbol, as the assets build them."""
    config = _config(horizon)
    plan = price_plan_context(config)
    entry_conf = config.label["entry"]
    entry_stats = compute_for_replay(
        compute_path_stats, replay, horizon, float(entry_conf["target_bps"]), float(entry_conf["stop_bps"])
    )
    entry = build_entry_labels(feature, replay, entry_stats, entry_conf, config.cost_bps, plan)
    cont_stats = compute_for_replay(
        compute_path_stats, replay, horizon, float(plan["targetDistanceBps"]), float(plan["stopDistanceBps"])
    )
    cont, exit_, risk = build_continue_exit_risk_labels(
        feature, replay, cont_stats, config.label, config.cost_bps, plan
    )
    return {
        "direction_labels": build_direction_labels(feature, replay, config.label["direction"]),
        "entry_labels": entry,
        "position_state_samples": build_position_state_samples(entry),
        "continue_labels": cont,
        "exit_labels": exit_,
        "risk_labels": risk,
    }


# ---------------------------------------------------------------------------------------------
# 1. arbitrary contents: labels or a documented error
# ---------------------------------------------------------------------------------------------

# Valid contents include the reference's invalid rows (NaN prices and spreads, missing minutes);
# defects are what the contract refuses. Half the examples get one to three defects.
VALID_PRICE = st.one_of(st.floats(50.0, 150.0), st.just(np.nan))
VALID_SPREAD = st.one_of(st.floats(0.0, 10.0), st.just(np.nan))
VALID_RANK = st.one_of(st.floats(0.0, 1.0), st.just(np.nan))
VALID_VOL = st.one_of(st.floats(0.0, 50.0), st.just(np.nan))
VALID_RET = st.one_of(st.floats(-50.0, 50.0), st.just(np.nan))
DEFECT = st.sampled_from(
    [
        "duplicate_bar",
        "off_minute",
        "event_time_off",
        "bad_price",
        "high_below_low",
        "close_above_high",
        "bad_spread",
        "bad_feature_value",
        "duplicate_sample_id",
        "duplicate_feature_time",
    ]
)
BAD_PRICE = st.sampled_from([np.inf, -np.inf, 0.0, -1.0])
BAD_FEATURE = st.tuples(
    st.sampled_from(["spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps", "ret_15m_bps"]),
    st.sampled_from([np.inf, -np.inf, -1.0, 1.5, 250.0]),
)


@st.composite
def run_frames(draw) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """(feature file, replay file, whether the checks may refuse them: defects injected, or no rows)."""
    n = draw(st.integers(0, 30))
    minutes = np.cumsum([draw(st.sampled_from([1] * 10 + [2, 5])) for _ in range(n)]).astype("int64")
    open_ms = START_MS + minutes * MINUTE
    close = np.array([draw(VALID_PRICE) for _ in range(n)], dtype="float64")
    up = np.array([draw(st.floats(0.0, 0.01)) for _ in range(n)])
    down = np.array([draw(st.floats(0.0, 0.01)) for _ in range(n)])
    replay = pd.DataFrame(
        {
            "symbol": SYMBOL,
            "event_time": pd.to_datetime(open_ms, unit="ms", utc=True),
            "open_time_ms": open_ms,
            "open": close,
            "high": np.where(np.isnan(close), draw(VALID_PRICE), close * (1.0 + up)),
            "low": np.where(np.isnan(close), np.nan, close * (1.0 - down)),
            "close": close,
            "spread_bps": np.array([draw(VALID_SPREAD) for _ in range(n)], dtype="float64"),
        }
    )
    keep = np.array([draw(st.booleans()) or i % 3 == 0 for i in range(n)], dtype=bool)
    rows = replay.loc[keep].reset_index(drop=True)
    m = len(rows)
    feature = pd.DataFrame(
        {
            "sample_id": [f"{SYMBOL}:{t}" for t in rows["open_time_ms"]],
            "symbol": SYMBOL,
            "event_time": rows["event_time"],
            "open_time_ms": rows["open_time_ms"],
            "split_id": "train",
            "walk_forward_fold": np.zeros(m, dtype="int64"),
            "data_quality_flag": "OK",
            "spread_bps": np.array([draw(VALID_SPREAD) for _ in range(m)], dtype="float64"),
            "spread_rank_24h_pct": np.array([draw(VALID_RANK) for _ in range(m)], dtype="float64"),
            "realized_vol_15m_bps": np.array([draw(VALID_VOL) for _ in range(m)], dtype="float64"),
            "ret_15m_bps": np.array([draw(VALID_RET) for _ in range(m)], dtype="float64"),
        }
    )
    injected = bool(n) and draw(st.booleans())
    if injected:
        for defect in draw(st.lists(DEFECT, min_size=1, max_size=3)):
            i = draw(st.integers(0, n - 1))
            j = draw(st.integers(0, m - 1)) if m else None
            if defect == "duplicate_bar":
                replay = pd.concat([replay, replay.iloc[[i]]], ignore_index=True)
            elif defect == "off_minute":
                replay.loc[i, "open_time_ms"] += draw(st.integers(1, MINUTE - 1))
            elif defect == "event_time_off":
                replay.loc[i, "event_time"] += pd.Timedelta(
                    milliseconds=draw(st.sampled_from([1, MINUTE, 3_600_000]))
                )
            elif defect == "bad_price":
                replay.loc[i, draw(st.sampled_from(["open", "high", "low", "close"]))] = draw(BAD_PRICE)
            elif defect == "high_below_low":
                replay.loc[i, ["high", "low"]] = [90.0, 110.0]
            elif defect == "close_above_high":
                replay.loc[i, ["low", "close", "high"]] = [90.0, 120.0, 110.0]
            elif defect == "bad_spread":
                replay.loc[i, "spread_bps"] = draw(st.sampled_from([np.inf, -0.5]))
            elif j is not None and defect == "bad_feature_value":
                column, value = draw(BAD_FEATURE)
                feature.loc[j, column] = value
            elif j is not None and defect == "duplicate_sample_id":
                feature.loc[j, "sample_id"] = feature.loc[0, "sample_id"] if j else "x"
                if j == 0:
                    feature = pd.concat(
                        [feature, feature.iloc[[0]].assign(open_time_ms=0)], ignore_index=True
                    )
            elif j is not None and defect == "duplicate_feature_time":
                feature = pd.concat([feature, feature.iloc[[j]].assign(sample_id="dup")], ignore_index=True)
    if draw(st.booleans()):
        replay = replay.sample(frac=1.0, random_state=draw(st.integers(0, 99)))
    # another symbol's rows are in the same files, with prices the checks refuse: they must not matter
    other = replay.assign(symbol="OTHER", close=-5.0)
    return feature, pd.concat([replay, other], ignore_index=True), injected or n == 0


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@given(frames=run_frames(), horizon=st.integers(1, 4))
@FUZZ
def test_any_content_labels_or_stops_with_a_documented_error(fuzz_root, frames, horizon: int) -> None:
    feature, replay, refusable = frames
    write_run(fuzz_root, "r", feature, replay)
    files = run_files(fuzz_root, "r")
    try:
        f = normalize_features(read_symbol_slice(files, "feature", SYMBOL))
        r = normalize_replay(read_symbol_slice(files, "replay", SYMBOL))
    except InputDataError as exc:
        event("documented error")
        message = str(exc)
        assert refusable, f"valid input refused: {message}"
        assert message.startswith(f"run 'r', symbol '{SYMBOL}': ") or message.startswith(
            f"run 'r': symbol '{SYMBOL}'"
        )
        assert "feature file" in message or "replay file" in message
        return
    # what passed the checks is what the label builders may rely on
    times = r["open_time_ms"].to_numpy()
    assert (np.diff(times) > 0).all() and (times % MINUTE == 0).all()
    prices = r[["open", "high", "low", "close"]].to_numpy()
    assert not np.isinf(prices).any() and not (prices[np.isfinite(prices)] <= 0).any()
    labels = _labels(f, r, horizon)
    event("labelled" if len(labels["entry_labels"]) else "labelled, no full window")
    for name, frame in labels.items():
        assert set(frame["symbol"]) <= {SYMBOL}, name
        assert set(frame["sample_id"]) <= set(f["sample_id"]), name
    entry = labels["entry_labels"]
    assert entry["entry_target"].dtype == "int8" and set(entry["side"]) <= {"LONG", "SHORT"}


# ---------------------------------------------------------------------------------------------
# 2. invalid rows leave their valid neighbours' labels unchanged
# ---------------------------------------------------------------------------------------------

DEFECTS = ["nan_close", "nan_high", "nan_low", "nan_spread", "missing_bar"]


def _clean_run(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    open_ms = START_MS + np.arange(n, dtype="int64") * MINUTE
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 4e-4, n)))
    replay = pd.DataFrame(
        {
            "symbol": SYMBOL,
            "event_time": pd.to_datetime(open_ms, unit="ms", utc=True),
            "open_time_ms": open_ms,
            "open": close,
            "high": close * (1.0 + rng.uniform(0.0, 6e-4, n)),
            "low": close * (1.0 - rng.uniform(0.0, 6e-4, n)),
            "close": close,
            "spread_bps": rng.uniform(0.5, 3.0, n),
        }
    )
    feature = pd.DataFrame(
        {
            "sample_id": [f"{SYMBOL}:{t}" for t in open_ms],
            "symbol": SYMBOL,
            "event_time": replay["event_time"],
            "open_time_ms": open_ms,
            "split_id": "train",
            "walk_forward_fold": np.zeros(n, dtype="int64"),
            "spread_bps": replay["spread_bps"],
            "spread_rank_24h_pct": rng.uniform(0.0, 1.0, n),
            "realized_vol_15m_bps": rng.uniform(0.0, 5.0, n),
            "ret_15m_bps": rng.normal(0.0, 5.0, n),
        }
    )
    return feature, replay


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["sample_id", "side"] if "side" in frame.columns else ["sample_id"]
    return frame.set_index(keys).sort_index()


@given(
    n=st.integers(6, 40),
    horizon=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    defects=st.lists(st.tuples(st.integers(0, 39), st.sampled_from(DEFECTS)), min_size=1, max_size=3),
)
@FUZZ
def test_invalid_rows_leave_their_neighbours_labels_unchanged(n, horizon, seed, defects) -> None:
    feature, replay = _clean_run(n, seed)
    defects = [(k, kind) for k, kind in defects if k < n]
    assume(defects)
    broken = replay.copy()
    for k, kind in defects:
        if kind == "missing_bar":
            continue
        broken.loc[
            k, {"nan_close": "close", "nan_high": "high", "nan_low": "low", "nan_spread": "spread_bps"}[kind]
        ] = np.nan
    missing = [k for k, kind in defects if kind == "missing_bar"]
    broken = broken.drop(index=missing).reset_index(drop=True)
    validate_replay_slice(broken, "fuzz")  # invalid rows are not input errors
    validate_feature_slice(feature, "fuzz")
    clean, dirty = _labels(feature, replay, horizon), _labels(feature, broken, horizon)
    bad_bars = {k for k, _ in defects}
    # bar t's labels use bars t .. t + horizon only
    untouched = {
        feature.loc[t, "sample_id"] for t in range(n) if not any(t <= k <= t + horizon for k in bad_bars)
    }
    for name in clean:
        a, b = _keyed(clean[name]), _keyed(dirty[name])
        a = a[a.index.get_level_values("sample_id").isin(untouched)]
        b = b[b.index.get_level_values("sample_id").isin(untouched)]
        if len(a) == len(b) == 0:
            continue
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    # and a defect does invalidate its own windows where the reference says so
    for k, kind in defects:
        if kind in ("nan_close", "missing_bar") and k - horizon >= 0:
            entry_id = feature.loc[k - horizon, "sample_id"]  # exit close at bar k is missing
            assert entry_id not in set(dirty["entry_labels"]["sample_id"])
