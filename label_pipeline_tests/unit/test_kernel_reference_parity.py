"""Parity of the path-statistics kernel with the reference's ``_path_stats_for_group``.

Each case builds a one-symbol replay frame the way the reference reads it, runs the reference
for LONG and SHORT, and compares every output column with the kernel's single call: integers
and barrier outcomes exactly, floats at rtol 1e-9 with atol 0 (so an exact 0 must be an exact 0)
and NaN == NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from label_pipeline.kernel import PathStats, compute_path_stats
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline_tests.harness.reference import reference_available, reference_labels

pytestmark = pytest.mark.skipif(not reference_available(), reason="reference label builder not available")

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
INT_COLUMNS = (
    "target_hit",
    "stop_hit",
    "timeout_hit",
    "ambiguous_hit",
    "time_to_target_ms",
    "time_to_stop_ms",
)
FLOAT_SIDE_COLUMNS = ("gross_edge_bps", "future_return_bps", "mfe_bps", "mae_bps")
FLOAT_SHARED_COLUMNS = ("future_spread_p80", "future_realized_vol_bps")


def _random_walk(n: int, seed: int, vol: float = 1e-4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([close[:1], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol / 2, (2, n)))
    return {
        "open_time_ms": BASE_MS + np.arange(n, dtype=np.int64) * MINUTE_MS,
        "open": open_,
        "high": np.maximum(open_, close) * (1.0 + wick[0]),
        "low": np.minimum(open_, close) * (1.0 - wick[1]),
        "close": close,
        "spread_bps": rng.uniform(1.0, 3.0, n),
    }


def _case_clean(n=1200):
    return _random_walk(n, 1)


def _case_gaps(n=1200):
    bars = _random_walk(n, 2)
    ms = bars["open_time_ms"]
    ms[200:] += MINUTE_MS  # one missing bar
    ms[500:] += 7 * MINUTE_MS  # a longer gap
    ms[800] = ms[799]  # duplicate timestamp ...
    ms[801:] -= MINUTE_MS  # ... after which the clock resumes
    ms[1000:] -= 30_000  # a half-minute misalignment
    return bars


def _case_nan_closes(n=1200):
    bars = _random_walk(n, 3)
    rng = np.random.default_rng(33)
    bars["close"][rng.choice(n, 25, replace=False)] = np.nan
    bars["close"][600:610] = np.nan
    return bars


def _case_nan_high_low_spread(n=1200):
    bars = _random_walk(n, 4)
    rng = np.random.default_rng(44)
    for column, fraction in (("high", 0.1), ("low", 0.1), ("spread_bps", 0.3)):
        bars[column][rng.choice(n, int(n * fraction), replace=False)] = np.nan
    bars["high"][300:400] = np.nan  # all-NaN high windows (H <= 100)
    bars["low"][350:450] = np.nan
    return bars


def _case_all_nan_spread_windows(n=1200):
    bars = _random_walk(n, 5)
    bars["spread_bps"][100:220] = np.nan
    bars["spread_bps"][500:546] = np.nan
    bars["spread_bps"][800:900:2] = np.nan
    return bars


def _case_odd_values(n=1200):
    # +-inf spreads are values for nanquantile; an inf close poisons the vol windows around it;
    # a zero close is clipped to 1e-12 before the log.
    bars = _random_walk(n, 6)
    bars["spread_bps"][[100, 101, 500, 900]] = [np.inf, np.inf, -np.inf, np.inf]
    bars["close"][[300, 700]] = [np.inf, 0.0]
    bars["high"][[600]] = np.inf
    return bars


def _case_flat_prices(n=1200):
    # Constant prices: vol must be exactly 0 (numpy's two-pass std of equal values is 0) and the
    # zero barriers tie on the first bar.
    bars = _random_walk(n, 7)
    for column in ("open", "high", "low", "close"):
        bars[column][200:700] = 101.25
    bars["spread_bps"][200:700] = 1.5
    return bars


def _case_quantised_prices(n=1200):
    # Prices on a 0.5 tick: many equal highs/lows and exact barrier ties.
    bars = _random_walk(n, 8, vol=5e-3)
    for column in ("open", "high", "low", "close"):
        bars[column] = np.round(bars[column] * 2.0) / 2.0
    bars["spread_bps"] = np.round(bars["spread_bps"])
    return bars


CASES = {
    "clean": _case_clean,
    "gaps": _case_gaps,
    "nan_closes": _case_nan_closes,
    "nan_high_low_spread": _case_nan_high_low_spread,
    "all_nan_spread_windows": _case_all_nan_spread_windows,
    "odd_values": _case_odd_values,
    "flat_prices": _case_flat_prices,
    "quantised_prices": _case_quantised_prices,
}


def _frame(bars: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(bars["close"])
    frame = pd.DataFrame({"symbol": "BTCUSDT", **bars})
    # event_time strictly increasing even where open_time_ms repeats, so the reference's
    # (unstable) sort keeps the input order
    frame["event_time"] = pd.to_datetime(BASE_MS + np.arange(n) * MINUTE_MS + MINUTE_MS, unit="ms", utc=True)
    return frame[["symbol", "event_time", "open_time_ms", "open", "high", "low", "close", "spread_bps"]]


def _reference(
    frame: pd.DataFrame, side: str, horizon: int, target_bps: float, stop_bps: float
) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return reference_labels()._path_stats_for_group(frame, side, horizon, target_bps, stop_bps)


def _kernel(frame: pd.DataFrame, horizon: int, target_bps: float, stop_bps: float) -> PathStats:
    return compute_path_stats(
        frame["open_time_ms"].to_numpy(),
        frame["close"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["spread_bps"].to_numpy(),
        horizon,
        target_bps,
        stop_bps,
    )


def assert_float_parity(got: np.ndarray, want: np.ndarray, name: str) -> None:
    assert got.dtype == np.float64, name
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0, equal_nan=True, err_msg=name)
    # assert_allclose treats +0.0 and -0.0 (and tiny values) loosely only through atol, which is 0
    # here; still, state the exact-zero rule explicitly.
    np.testing.assert_array_equal(got == 0.0, want == 0.0, err_msg=f"{name}: exact zeros")


def assert_parity(frame: pd.DataFrame, horizon: int, target_bps: float, stop_bps: float) -> PathStats:
    result = _kernel(frame, horizon, target_bps, stop_bps)
    for side in ("LONG", "SHORT"):
        want = _reference(frame, side, horizon, target_bps, stop_bps)
        assert list(want.columns) == list(reference_labels().PATH_STAT_COLUMNS)
        assert len(result) == len(want), side
        np.testing.assert_array_equal(
            frame["open_time_ms"].to_numpy()[result.row_index],
            want["open_time_ms"].to_numpy().astype(np.int64),
        )
        stats = result.long if side == "LONG" else result.short
        for name in INT_COLUMNS:
            got = getattr(stats, name)
            if len(want):  # the reference's empty frame has object columns
                assert got.dtype == want[name].dtype, (side, name)
            np.testing.assert_array_equal(got, want[name].to_numpy(), err_msg=f"{side}.{name}")
        for name in FLOAT_SIDE_COLUMNS:
            assert_float_parity(getattr(stats, name), want[name].to_numpy(np.float64), f"{side}.{name}")
        for name in FLOAT_SHARED_COLUMNS:
            assert_float_parity(getattr(result, name), want[name].to_numpy(np.float64), f"{side}.{name}")
    return result


@pytest.mark.parametrize("horizon", [1, 2, 45])
@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_with_reference(case, horizon):
    result = assert_parity(_frame(CASES[case]()), horizon, 12.0, 8.0)
    assert len(result) > 0


@pytest.mark.parametrize(
    ("target_bps", "stop_bps"),
    [(8.0, 8.0), (0.0, 0.0), (3.0, 0.0), (1e9, 1e9), (0.5, 1e9), (150.0, 20.0)],
)
@pytest.mark.parametrize("case", ["clean", "quantised_prices"])
def test_parity_barriers(case, target_bps, stop_bps):
    result = assert_parity(_frame(CASES[case]()), 45, target_bps, stop_bps)
    if target_bps == stop_bps == 0.0:
        # both barriers sit on the entry price: the quantised case has bars touching both
        assert result.long.ambiguous_hit.any() or case == "clean"


@pytest.mark.parametrize(("horizon", "n"), [(300, 1500), (1440, 3200)])
def test_parity_long_horizon(horizon, n):
    bars = _case_nan_high_low_spread(n)
    bars["open_time_ms"][n - 300 :] += MINUTE_MS  # a gap late in the group
    result = assert_parity(_frame(bars), horizon, 40.0, 25.0)
    assert len(result) > 0


@pytest.mark.parametrize("n", [0, 1, 44, 45])
def test_group_not_longer_than_horizon_has_no_rows(n):
    frame = _frame(_random_walk(n, 9))
    result = assert_parity(frame, 45, 12.0, 8.0)
    assert len(result) == 0


def test_flat_prices_give_exact_zero_vol():
    frame = _frame(_case_flat_prices())
    result = assert_parity(frame, 45, 12.0, 8.0)
    inside = (result.row_index >= 200) & (result.row_index + 45 < 700)
    assert inside.sum() > 100
    assert (result.future_realized_vol_bps[inside] == 0.0).all()
