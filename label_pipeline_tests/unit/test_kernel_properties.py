"""Property tests of the path-statistics kernel against a brute-force, one-row-at-a-time oracle.

The oracle is the kernel's slow twin, ``label_pipeline.kernel.slow.path_stats_slow``: it re-derives
every rule from the written spec with plain loops and shares no code with the kernel. The generated bars are deliberately hostile: prices from a
small set (equal highs, barrier ties, zero barriers), NaN / +-inf / zero prices, duplicate and
gapped timestamps, horizons 1, 2, 3, 45, 300 and barriers of 0 and 1e9.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from label_pipeline.kernel import PathStats, compute_path_stats
from label_pipeline.kernel.slow import path_stats_slow
from label_pipeline.kernel.units import MINUTE_MS

SIDE_INT_FIELDS = (
    "target_hit",
    "stop_hit",
    "timeout_hit",
    "ambiguous_hit",
    "time_to_target_ms",
    "time_to_stop_ms",
)
SIDE_FLOAT_FIELDS = ("gross_edge_bps", "future_return_bps", "mfe_bps", "mae_bps")

# Bounded and deadline-free so CI stays fast and timing noise never fails a run; raise
# KERNEL_HYPOTHESIS_SCALE locally for a deeper search.
_SCALE = float(os.environ.get("KERNEL_HYPOTHESIS_SCALE", "1"))
KERNEL_SETTINGS = settings(
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _examples(n: int) -> int:
    return max(1, int(n * _SCALE))


# ------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------


def _vol_matches(got: np.ndarray, want: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Relative 1e-9, NaN == NaN, an exact 0 only for an exact 0. ``scale`` (the window's largest
    |return| in bps) bounds numpy's own rounding noise: for equal non-zero returns numpy's
    two-pass std is ~1e-16 * scale instead of 0 (its mean of equal values is not exact), while
    the kernel's Welford/Chan aggregates give exactly 0."""
    both_nan = np.isnan(got) & np.isnan(want)
    close = np.abs(got - want) <= 1e-9 * np.abs(want)
    noise = (got == 0.0) & (np.abs(want) <= 1e-12 * scale)
    zero_ok = (want != 0.0) | (got == 0.0)
    return (both_nan | close | noise) & zero_ok


def _window_return_scale(close: np.ndarray, rows: np.ndarray, horizon: int) -> np.ndarray:
    with np.errstate(all="ignore"):
        log_close = np.log(np.clip(close, 1e-12, None))
        r = np.abs(np.diff(log_close)) * 10000.0
    out = np.zeros(len(rows))
    for i, t in enumerate(rows):
        w = r[t + 1 : t + horizon]
        w = w[np.isfinite(w)]
        out[i] = w.max() if w.size else 0.0
    return out


def assert_matches_oracle(result: PathStats, expected: list[dict], close: np.ndarray, horizon: int) -> None:
    np.testing.assert_array_equal(result.row_index, np.array([r["row_index"] for r in expected], np.int64))
    assert result.row_index.dtype == np.int64
    np.testing.assert_array_equal(
        result.future_spread_p80, np.array([r["future_spread_p80"] for r in expected], np.float64)
    )
    want_vol = np.array([r["future_realized_vol_bps"] for r in expected], np.float64)
    ok = _vol_matches(
        result.future_realized_vol_bps, want_vol, _window_return_scale(close, result.row_index, horizon)
    )
    assert ok.all(), (result.future_realized_vol_bps[~ok], want_vol[~ok], result.row_index[~ok])
    for side in ("long", "short"):
        stats = getattr(result, side)
        for name in SIDE_INT_FIELDS:
            got = getattr(stats, name)
            want = np.array([r[side][name] for r in expected], np.int64)
            np.testing.assert_array_equal(got, want, err_msg=f"{side}.{name}")
            assert got.dtype == (np.int8 if name.endswith("_hit") else np.int64)
        for name in SIDE_FLOAT_FIELDS:
            got = getattr(stats, name)
            want = np.array([r[side][name] for r in expected], np.float64)
            # same float expressions on the same operands: bit-identical, NaN == NaN
            np.testing.assert_array_equal(got, want, err_msg=f"{side}.{name}")
            assert got.dtype == np.float64


# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------

PRICE_LEVELS = [99.0, 99.5, 100.0, 100.25, 100.5, 101.0]
ODD_PRICES = [np.nan, np.inf, -np.inf, 0.0]
BARRIERS = st.one_of(
    st.sampled_from([0.0, 1e9, 25.0, 50.0, 100.0, -30.0]),
    st.floats(min_value=0.0, max_value=200.0, allow_nan=False),
)


@st.composite
def bars(draw, horizon: int, max_len: int, odd_prob: float):
    """Bars with values from a small set; ``odd_prob`` of them NaN / +-inf / 0. Timestamp
    breaks have their own rate so that long horizons still see valid rows with odd values."""
    n = draw(st.integers(min_value=0, max_value=max_len))
    break_prob = draw(st.sampled_from([0.0, 0.3 / (horizon + 1), 3.0 / (horizon + 1)]))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)

    def column(p_odd: float) -> np.ndarray:
        values = rng.choice(PRICE_LEVELS, size=n)
        odd = rng.random(n) < p_odd
        values[odd] = rng.choice(ODD_PRICES, size=int(odd.sum()), p=[0.7, 0.1, 0.1, 0.1])
        return values

    close = column(odd_prob)
    high = column(odd_prob)
    low = column(odd_prob)
    spread = rng.choice([0.5, 1.0, 1.0, 1.5, 2.0, 3.0], size=n)
    nan_spread = rng.random(n) < draw(st.sampled_from([0.0, 0.2, 0.9, 1.0]))
    spread[nan_spread] = np.nan
    inf_spread = rng.random(n) < odd_prob / 3
    spread[inf_spread] = rng.choice([np.inf, -np.inf], size=int(inf_spread.sum()))
    step_kind = rng.random(n)
    steps = np.full(n, MINUTE_MS, np.int64)
    steps[step_kind < break_prob / 2] = 0  # duplicate timestamp
    steps[(step_kind >= break_prob / 2) & (step_kind < break_prob)] = 2 * MINUTE_MS  # gap
    open_ms = 1_700_000_000_000 + np.cumsum(steps)
    return open_ms, close, high, low, spread


def _check(data, horizon, target_bps, stop_bps):
    open_ms, close, high, low, spread = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = path_stats_slow(open_ms, close, high, low, spread, horizon, target_bps, stop_bps)
    result = compute_path_stats(open_ms, close, high, low, spread, horizon, target_bps, stop_bps)
    assert len(result) == len(expected)
    assert_matches_oracle(result, expected, close, horizon)


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [1, 2, 3, 5])
@settings(KERNEL_SETTINGS, max_examples=_examples(120))
@given(data=st.data(), target_bps=BARRIERS, stop_bps=BARRIERS, odd_prob=st.sampled_from([0.0, 0.05, 0.3]))
def test_small_horizons_match_oracle(horizon, data, target_bps, stop_bps, odd_prob):
    # lengths 0 .. 3H and a little beyond, so the record stacks see longer runs than H
    _check(data.draw(bars(horizon, max(3 * horizon, 24), odd_prob)), horizon, target_bps, stop_bps)


@settings(KERNEL_SETTINGS, max_examples=_examples(60))
@given(data=st.data(), target_bps=BARRIERS, stop_bps=BARRIERS, odd_prob=st.sampled_from([0.0, 0.02, 0.2]))
def test_horizon_45_matches_oracle(data, target_bps, stop_bps, odd_prob):
    _check(data.draw(bars(45, 135, odd_prob)), 45, target_bps, stop_bps)


@settings(KERNEL_SETTINGS, max_examples=_examples(12))
@given(data=st.data(), target_bps=BARRIERS, stop_bps=BARRIERS, odd_prob=st.sampled_from([0.0, 0.01, 0.1]))
def test_horizon_300_matches_oracle(data, target_bps, stop_bps, odd_prob):
    _check(data.draw(bars(300, 900, odd_prob)), 300, target_bps, stop_bps)


@settings(KERNEL_SETTINGS, max_examples=_examples(60))
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    horizon=st.sampled_from([1, 2, 3, 7, 45]),
    target_bps=st.sampled_from([0.0, 5.0, 12.0, 1e9]),
    stop_bps=st.sampled_from([0.0, 3.0, 8.0, 1e9]),
)
def test_random_walk_matches_oracle(seed, n, horizon, target_bps, stop_bps):
    # Continuous prices: realistic paths, distinct values, vol compared at 1e-9.
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 3e-4, n)))
    high = close * (1.0 + np.abs(rng.normal(0.0, 2e-4, n)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 2e-4, n)))
    spread = rng.uniform(0.5, 3.0, n)
    open_ms = np.arange(n, dtype=np.int64) * MINUTE_MS
    _check((open_ms, close, high, low, spread), horizon, target_bps, stop_bps)


def test_monotone_paths_exercise_deep_stacks():
    # Strictly rising then falling highs/lows: every bar is a record, so the first-passage
    # stacks are as deep as the data and the gallop must reach far down.
    n = 500
    up = np.linspace(100.0, 120.0, n // 2)
    close = np.concatenate([up, up[::-1]])
    for horizon in (1, 45, 300):
        for target_bps, stop_bps in ((0.0, 0.0), (12.0, 8.0), (500.0, 300.0)):
            _check(
                (np.arange(n) * MINUTE_MS, close, close + 0.01, close - 0.01, close / 50.0),
                horizon,
                target_bps,
                stop_bps,
            )
