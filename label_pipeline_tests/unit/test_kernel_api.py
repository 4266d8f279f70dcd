"""The kernel's public contract: argument checks, input conversion, result shape and dtypes,
degenerate sizes, and lazy compilation."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from label_pipeline.kernel import PathStats, SideStats, compute_path_stats, path_stats, warm_up
from label_pipeline.kernel.units import MINUTE_MS


def _bars(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-4, n)))
    return (
        np.arange(n, dtype=np.int64) * MINUTE_MS,
        close,
        close * (1.0 + np.abs(rng.normal(0.0, 1e-4, n))),
        close * (1.0 - np.abs(rng.normal(0.0, 1e-4, n))),
        rng.uniform(1.0, 3.0, n),
    )


def _all_arrays(result: PathStats) -> dict[str, np.ndarray]:
    out = {
        "row_index": result.row_index,
        "future_spread_p80": result.future_spread_p80,
        "future_realized_vol_bps": result.future_realized_vol_bps,
    }
    for side in ("long", "short"):
        for field in dataclasses.fields(SideStats):
            out[f"{side}.{field.name}"] = getattr(getattr(result, side), field.name)
    return out


EXPECTED_DTYPES = {
    "row_index": np.int64,
    "future_spread_p80": np.float64,
    "future_realized_vol_bps": np.float64,
    **{
        f"{side}.{name}": dtype
        for side in ("long", "short")
        for name, dtype in (
            ("target_hit", np.int8),
            ("stop_hit", np.int8),
            ("timeout_hit", np.int8),
            ("ambiguous_hit", np.int8),
            ("time_to_target_ms", np.int64),
            ("time_to_stop_ms", np.int64),
            ("gross_edge_bps", np.float64),
            ("future_return_bps", np.float64),
            ("mfe_bps", np.float64),
            ("mae_bps", np.float64),
        )
    },
}


def _assert_same(a: PathStats, b: PathStats) -> None:
    arrays_a, arrays_b = _all_arrays(a), _all_arrays(b)
    for name, value in arrays_a.items():
        np.testing.assert_array_equal(value, arrays_b[name], err_msg=name)


@pytest.mark.parametrize(("n", "horizon"), [(0, 1), (0, 45), (1, 1), (45, 45), (46, 45), (200, 45), (10, 1)])
def test_shapes_and_dtypes(n, horizon):
    result = compute_path_stats(*_bars(n), horizon, 12.0, 8.0)
    expected_rows = max(0, n - horizon)
    assert len(result) == expected_rows
    for name, value in _all_arrays(result).items():
        assert value.dtype == EXPECTED_DTYPES[name], name
        assert value.shape == (expected_rows,), name
    np.testing.assert_array_equal(result.row_index, np.arange(expected_rows))


def test_outcomes_are_exclusive_and_consistent():
    result = compute_path_stats(*_bars(3000, 1), 45, 25.0, 20.0)
    for side in (result.long, result.short):
        total = side.target_hit.astype(int) + side.stop_hit + side.timeout_hit
        assert (total == 1).all()
        assert ((side.time_to_target_ms > 0) == (side.target_hit == 1)).all()
        assert ((side.time_to_stop_ms > 0) == (side.stop_hit == 1)).all()
        assert (side.time_to_target_ms[side.target_hit == 1] <= 45 * MINUTE_MS).all()
        assert (side.stop_hit[side.ambiguous_hit == 1] == 1).all()  # the stop wins a tie
        assert side.target_hit.any() and side.stop_hit.any() and side.timeout_hit.any()
    # LONG's best excursion mirrors SHORT's worst one
    np.testing.assert_array_equal(result.long.mfe_bps, result.short.mae_bps)


def test_horizon_one_has_no_vol():
    result = compute_path_stats(*_bars(50), 1, 12.0, 8.0)
    assert len(result) == 49
    assert np.isnan(result.future_realized_vol_bps).all()
    assert np.isfinite(result.future_spread_p80).all()


def test_horizon_two_vol_is_nan_one_return_only():
    # H = 2 leaves one return between bars t+1 and t+2; a sample std (ddof=1) of one value is NaN
    result = compute_path_stats(*_bars(50), 2, 12.0, 8.0)
    assert np.isnan(result.future_realized_vol_bps).all()


def test_huge_barriers_always_time_out():
    result = compute_path_stats(*_bars(500), 45, 1e9, 1e9)
    for side in (result.long, result.short):
        assert side.timeout_hit.all()
        np.testing.assert_array_equal(side.gross_edge_bps, side.future_return_bps)


def test_zero_barriers_hit_on_the_first_bar_with_stop_winning_ties():
    n = 100
    t = np.arange(n) * MINUTE_MS
    flat = np.full(n, 100.0)
    result = compute_path_stats(t, flat, flat, flat, np.ones(n), 5, 0.0, 0.0)
    for side in (result.long, result.short):
        assert side.stop_hit.all() and side.ambiguous_hit.all()
        assert (side.time_to_stop_ms == MINUTE_MS).all()
        assert (side.time_to_target_ms == -1).all()
        assert (side.gross_edge_bps == 0.0).all()
    assert (result.future_realized_vol_bps == 0.0).all()


def test_accepts_other_numeric_dtypes_and_layouts():
    t, close, high, low, spread = _bars(400, 2)
    close_r, high_r, low_r = np.round(close, 1), np.round(high, 1), np.round(low, 1)
    base = compute_path_stats(t, close_r, high_r, low_r, np.round(spread), 30, 10.0, 5.0)
    assert len(base) > 0

    readonly = [a.copy() for a in (t, close_r, high_r, low_r, np.round(spread))]
    for a in readonly:
        a.flags.writeable = False
    _assert_same(base, compute_path_stats(*readonly, 30, 10, 5))

    strided = [np.repeat(a, 2)[::2] for a in (t, close_r, high_r, low_r, np.round(spread))]
    assert not strided[1].flags.c_contiguous
    _assert_same(base, compute_path_stats(*strided, 30, np.float32(10.0), np.int64(5)))

    as_other = compute_path_stats(
        t.astype(np.float64),  # whole milliseconds as floats
        close_r,
        high_r,
        low_r,
        np.round(spread).astype(np.int32),
        np.int32(30),
        10.0,
        5.0,
    )
    _assert_same(base, as_other)

    ints = compute_path_stats(
        t.astype(np.int32) // 1, (close_r * 10).astype(np.int64), high_r * 10, low_r * 10, spread, 30, 10, 5
    )
    assert len(ints) == len(base)

    # every conversion lands on the same compiled specialisation: no silent recompiles
    for dispatcher in (
        path_stats._fill_extrema,
        path_stats._fill_spread_quantile,
        path_stats._fill_first_passage,
    ):
        assert len(dispatcher.signatures) == 1, dispatcher


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0}, "horizon must be >= 1"),
        ({"horizon": -3}, "horizon must be >= 1"),
        ({"horizon": 2.0}, "horizon must be an integer"),
        ({"horizon": True}, "horizon must be an integer"),
        ({"horizon": "45"}, "horizon must be an integer"),
        ({"target_bps": float("nan")}, "target_bps must be finite"),
        ({"stop_bps": float("inf")}, "stop_bps must be finite"),
        ({"stop_bps": "8"}, "stop_bps must be a real number"),
        ({"target_bps": None}, "target_bps must be a real number"),
        ({"close": np.ones(9)}, "same length"),
        ({"spread_bps": np.ones((10, 1))}, "spread_bps must be one-dimensional"),
        ({"high": np.array(["a"] * 10)}, "high must be numeric"),
        ({"open_time_ms": np.arange(10) * 60_000.5}, "open_time_ms must hold whole milliseconds"),
        ({"open_time_ms": np.full(10, np.nan)}, "open_time_ms must hold whole milliseconds"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    t, close, high, low, spread = _bars(10)
    args = {
        "open_time_ms": t,
        "close": close,
        "high": high,
        "low": low,
        "spread_bps": spread,
        "horizon": 3,
        "target_bps": 12.0,
        "stop_bps": 8.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compute_path_stats(**args)


def test_result_is_frozen():
    result = compute_path_stats(*_bars(20), 3, 12.0, 8.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.row_index = np.zeros(0, np.int64)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.long.mfe_bps = np.zeros(0)  # type: ignore[misc]


def test_warm_up_runs():
    warm_up()


def test_import_compiles_nothing_and_warm_up_prepares_every_entry_point():
    # Dispatchers are lazy: importing must not compile; after warm_up every function the wrapper
    # calls has its specialisation (compiled, or loaded from the on-disk cache the tests above
    # have just written, which keeps this subprocess cheap).
    code = """
from numba.core.dispatcher import Dispatcher
import label_pipeline.kernel.path_stats as m
dispatchers = [v for v in vars(m).values() if isinstance(v, Dispatcher)]
assert dispatchers
assert all(not d.signatures for d in dispatchers), [d for d in dispatchers if d.signatures]
m.warm_up()
entry = [m._mark_valid, m._fill_extrema, m._fill_spread_quantile, m._fill_realized_vol, m._fill_first_passage]
missing = [d.py_func.__name__ for d in entry if not d.signatures]
assert not missing, missing
print("ok", len(dispatchers))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
