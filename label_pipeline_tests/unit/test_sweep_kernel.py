"""The price-plan sweep kernel (``label_pipeline.kernel.sweep``) against its slow twin
(``label_pipeline.kernel.slow_sweep``), which builds the entry labels of each plan with the
project's single-plan path (``compute_path_stats`` or ``path_stats_slow`` + ``build_entry_labels``)
and aggregates them with pandas.

Counts, rates and medians must be identical. The mean edges are compared at 1e-12 relative: they
are sums of floats in another order and with another compensation than pandas' groupby (Kahan, in
feature-row order), so bit-identity is not expected; both are within a few ulps of the exact mean.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from label_pipeline.demo.sample_data import CLEAN, REALISTIC, Messiness, make_run_frames
from label_pipeline.kernel import sweep
from label_pipeline.kernel.slow_sweep import entry_labels_for_plan, first_passage_slow, sweep_slow
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.labels.joins import inner_match

COST_BPS = 6.5
MIN_EDGE_BPS = 3.0
_SCALE = float(os.environ.get("KERNEL_HYPOTHESIS_SCALE", "1"))
SWEEP_SETTINGS = settings(
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _examples(n: int) -> int:
    return max(1, int(n * _SCALE))


# ------------------------------------------------------------------------------------------
# thin pandas helper: the kernel over a run's frames, as the asset will call it
# ------------------------------------------------------------------------------------------


def sweep_frame(features, replay, targets, stops, holds, split_names, cost=COST_BPS, min_edge=MIN_EDGE_BPS):
    """Per symbol (bars in event-time order): join feature rows to bars, factorize the splits by
    ``split_names`` (missing: -1), sweep, merge the symbols' counts; the table as a frame."""
    counts = None
    for symbol, bars in replay.groupby("symbol", sort=True):
        bars = bars.sort_values("event_time", kind="stable")
        feats = features[features["symbol"] == symbol]
        left, right = inner_match(
            feats["open_time_ms"].to_numpy("int64"), bars["open_time_ms"].to_numpy("int64"), "replay_1m"
        )
        codes = pd.Categorical(feats["split_id"], categories=split_names).codes.astype("int64")
        part = sweep.sweep_counts(
            bars["open_time_ms"].to_numpy("int64"),
            bars["close"].to_numpy("float64"),
            bars["high"].to_numpy("float64"),
            bars["low"].to_numpy("float64"),
            targets,
            stops,
            holds,
            codes,
            left,
            right,
            cost,
            min_edge,
            n_splits=len(split_names),
        )
        counts = part if counts is None else counts.merge(part)
    if counts is None:  # no bars at all: an empty symbol gives the all-zero table
        empty = np.empty(0, np.int64)
        counts = sweep.sweep_counts(
            empty, [], [], [], targets, stops, holds, empty, empty, empty, cost, min_edge, len(split_names)
        )
    table = pd.DataFrame(sweep.sweep_table(counts))
    table.insert(4, "split_id", np.array(list(split_names), dtype=object)[table.pop("split_code")])
    return table


EXACT = [
    "target_bps",
    "stop_bps",
    "max_hold_minutes",
    "side",
    "split_id",
    "rows",
    "target_rate",
    "stop_rate",
    "timeout_rate",
    "ambiguous_rate",
    "entry_target_rate",
    "median_time_to_target_ms",
    "median_time_to_stop_ms",
]


def assert_tables_match(got: pd.DataFrame, want: pd.DataFrame) -> float:
    """Exact for every column but the mean edges (1e-12 relative to the gross mean); returns the
    largest relative difference of the means seen."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for name in EXACT:
        np.testing.assert_array_equal(got[name].to_numpy(), want[name].to_numpy(), err_msg=name)
    assert got["rows"].dtype == np.int64
    worst = 0.0
    gross_want = want["mean_gross_edge_bps"].to_numpy()
    # The error of a mean of +target / -stop / returns is relative to the size of its terms, not to
    # the mean itself: +150 and -75 bps terms can cancel to a mean of 1e-4 bps, whose last bits then
    # differ between two correct summation orders (seen: 6e-16 bps apart).
    terms = np.maximum(want["target_bps"].to_numpy(), want["stop_bps"].to_numpy())
    scale = np.maximum(np.abs(gross_want), terms)
    for name in ("mean_gross_edge_bps", "mean_net_edge_bps"):
        g, w = got[name].to_numpy(), want[name].to_numpy()
        same_special = (np.isnan(g) & np.isnan(w)) | (np.isinf(w) & (g == w))
        finite = np.isfinite(w)
        with np.errstate(invalid="ignore"):
            diff = np.abs(g - w)
        # the net mean is the gross mean minus the cost: its error is the gross mean's
        ok = same_special | (finite & (diff <= 1e-12 * np.maximum(scale, np.abs(w))))
        assert ok.all(), (name, got.loc[~ok].to_dict("records"), want.loc[~ok].to_dict("records"))
        rel = diff[finite & (scale > 0)] / scale[finite & (scale > 0)]
        worst = max(worst, float(rel.max()) if rel.size else 0.0)
    return worst


# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------

PRICE_LEVELS = [99.0, 99.5, 100.0, 100.25, 100.5, 101.0]
SPLITS = ["train", "valid", "test"]
# small pools, shared by targets and stops, so target == stop grid points and exact barrier
# prices (100 * 1.005 vs 100.5, ...) are common
BPS_POOL = [0.0, 25.0, 50.0, 75.0, 100.0, 150.0]


@st.composite
def price_arrays(draw, n: int, nan_prob: float, zero_prob: float = 0.0):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    def column():
        values = rng.choice(PRICE_LEVELS, size=n)
        values[rng.random(n) < nan_prob] = np.nan
        values[rng.random(n) < zero_prob] = 0.0
        return values

    return column(), column(), column(), rng


@st.composite
def run_frames(draw, max_bars: int):
    """1-2 symbols of bars with gaps (no duplicate times: the joins refuse them), NaN and rare zero
    prices, and feature rows for a subset of the bars plus unmatched and duplicated times, with
    splits including missing ones."""
    n_symbols = draw(st.integers(1, 2))
    nan_prob = draw(st.sampled_from([0.0, 0.05, 0.25]))
    gap_prob = draw(st.sampled_from([0.0, 0.03, 0.2]))
    zero_prob = draw(st.sampled_from([0.0, 0.0, 0.02]))
    bars, feats = [], []
    for s in range(n_symbols):
        n = draw(st.integers(0, max_bars))
        close, high, low, rng = draw(price_arrays(n, nan_prob, zero_prob))
        steps = np.where(rng.random(n) < gap_prob, rng.choice([2, 3, 10], size=n), 1) * MINUTE_MS
        open_ms = 1_700_000_000_000 + np.cumsum(steps).astype("int64")
        symbol = f"S{s}"
        bars.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "event_time": pd.to_datetime(open_ms, unit="ms", utc=True),
                    "open_time_ms": open_ms,
                    "close": close,
                    "high": high,
                    "low": low,
                    "spread_bps": 1.0,
                }
            )
        )
        keep = open_ms[rng.random(n) < draw(st.sampled_from([1.0, 0.7]))]
        extra = open_ms[: min(n, 3)] + 30_000  # times with no bar
        dup = keep[: draw(st.integers(0, 2))]  # the same time twice
        times = np.sort(np.concatenate([keep, extra, dup]))
        split = rng.choice(np.array([*SPLITS, None], dtype=object), size=len(times), p=[0.5, 0.25, 0.15, 0.1])
        feats.append(
            pd.DataFrame(
                {
                    "sample_id": [f"{symbol}:{t}:{i}" for i, t in enumerate(times)],
                    "symbol": symbol,
                    "event_time": pd.to_datetime(times, unit="ms", utc=True),
                    "open_time_ms": times.astype("int64"),
                    "split_id": split,
                    "walk_forward_fold": 0,
                }
            )
        )
    return pd.concat(feats, ignore_index=True), pd.concat(bars, ignore_index=True)


def grids(max_targets: int, max_stops: int, holds: list[int], max_holds: int):
    return st.tuples(
        st.lists(st.sampled_from(BPS_POOL), min_size=1, max_size=max_targets),
        st.lists(st.sampled_from(BPS_POOL), min_size=1, max_size=max_stops),
        st.lists(st.sampled_from(holds), min_size=1, max_size=max_holds, unique=True),
    )


# Minimum edges that some MFE of the price levels meets exactly (mfe - cost == min_edge), so the
# entry target's >= is tested at equality.
MIN_EDGE_POOL = sorted(
    {MIN_EDGE_BPS}
    | {((a / b - 1.0) * 10000.0) - COST_BPS for a in PRICE_LEVELS for b in PRICE_LEVELS if a > b}
)


def _check_run(features, replay, grid, slow, min_edge=MIN_EDGE_BPS):
    targets, stops, holds = grid
    got = sweep_frame(features, replay, targets, stops, holds, SPLITS, COST_BPS, min_edge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = sweep_slow(features, replay, targets, stops, holds, COST_BPS, min_edge, SPLITS, slow=slow)
    return assert_tables_match(got, want)


# ------------------------------------------------------------------------------------------
# first passage of many barriers at once
# ------------------------------------------------------------------------------------------


@settings(SWEEP_SETTINGS, max_examples=_examples(120))
@given(
    data=st.data(),
    n=st.integers(0, 160),
    max_hold=st.sampled_from([1, 2, 3, 7, 45]),
    barriers=st.lists(
        st.one_of(st.sampled_from([*BPS_POOL, 1e9, -30.0]), st.floats(0.0, 200.0)), min_size=0, max_size=6
    ),
    nan_prob=st.sampled_from([0.0, 0.1, 0.5]),
    zero_prob=st.sampled_from([0.0, 0.05]),
    subset=st.booleans(),
)
def test_first_passage_matches_slow(data, n, max_hold, barriers, nan_prob, zero_prob, subset):
    close, high, low, rng = data.draw(price_arrays(n, nan_prob, zero_prob))
    rows = np.flatnonzero(rng.random(n) < 0.5) if subset else None
    up, down = sweep.first_passage(close, high, low, np.array(barriers, np.float64), max_hold, rows)
    want_up, want_down = first_passage_slow(close, high, low, barriers, max_hold, rows)
    assert up.dtype == np.int32 and down.dtype == np.int32
    np.testing.assert_array_equal(up, want_up)
    np.testing.assert_array_equal(down, want_down)


def test_first_passage_deep_stacks():
    # Monotone runs make every bar a record, so the deques are as deep as the hold.
    n = 400
    up = np.linspace(100.0, 110.0, n // 2)
    close = np.concatenate([up, up[::-1]])
    barriers = np.array([0.0, 1.0, 5.0, 50.0, 300.0, 1000.0])
    for max_hold in (1, 45, 300, 1000):
        for high, low in ((close + 0.01, close - 0.01), (close[::-1], close[::-1])):
            got = sweep.first_passage(close, high, low, barriers, max_hold)
            want = first_passage_slow(close, high, low, barriers, max_hold)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


# ------------------------------------------------------------------------------------------
# the table against the entry labels of each plan
# ------------------------------------------------------------------------------------------


@settings(SWEEP_SETTINGS, max_examples=_examples(80))
@given(frames=run_frames(80), grid=grids(3, 3, [1, 2, 3, 5, 12], 2), min_edge=st.sampled_from(MIN_EDGE_POOL))
def test_sweep_matches_entry_labels(frames, grid, min_edge):
    _check_run(*frames, grid, slow=False, min_edge=min_edge)


@settings(SWEEP_SETTINGS, max_examples=_examples(25))
@given(frames=run_frames(50), grid=grids(2, 2, [1, 3, 7], 2), min_edge=st.sampled_from(MIN_EDGE_POOL))
def test_sweep_matches_entry_labels_from_slow_path_stats(frames, grid, min_edge):
    # the same, with the path stats of the brute-force oracle instead of the fast kernel
    _check_run(*frames, grid, slow=True, min_edge=min_edge)


@pytest.mark.parametrize(
    "messiness",
    [
        REALISTIC,
        Messiness(
            gap_fraction=0.01, nan_close_fraction=0.005, nan_high_low_fraction=0.01, feature_fraction=0.8
        ),
    ],
)
def test_default_grid_on_sample_run(messiness):
    # realistic bars of two symbols, two days; every plan of the default 75-plan grid
    features, replay = make_run_frames(["BTC/USDT", "ETH/USDT"], 2 * 1440, seed=11, messiness=messiness)
    grid = (sweep.DEFAULT_TARGET_BPS, sweep.DEFAULT_STOP_BPS, sweep.DEFAULT_MAX_HOLD_MINUTES)
    worst = _check_run(features, replay, grid, slow=False)
    assert worst <= 1e-12


def test_selected_plans_equal_their_entry_labels():
    # A few grid points by hand: the sweep's rows are the aggregates of build_entry_labels at that plan.
    features, replay = make_run_frames(["SOL/USDT"], 5 * 1440, seed=5, messiness=REALISTIC)
    table = sweep_frame(
        features, replay, sweep.DEFAULT_TARGET_BPS, sweep.DEFAULT_STOP_BPS, [15, 45, 120], ["train", "valid"]
    )
    for target, stop, hold in ((12.0, 8.0, 45), (6.0, 6.0, 15), (24.0, 4.0, 120), (8.0, 16.0, 120)):
        entry = entry_labels_for_plan(features, replay, target, stop, hold, COST_BPS, MIN_EDGE_BPS)
        for side in ("LONG", "SHORT"):
            for split in ("train", "valid"):
                rows = entry[(entry["side"] == side) & (entry["split_id"] == split)]
                got = table[
                    (table["target_bps"] == target)
                    & (table["stop_bps"] == stop)
                    & (table["max_hold_minutes"] == hold)
                    & (table["side"] == side)
                    & (table["split_id"] == split)
                ]
                assert len(got) == 1
                row = got.iloc[0]
                assert row["rows"] == len(rows) > 0
                assert row["target_rate"] == rows["target_hit"].mean()
                assert row["stop_rate"] == rows["stop_hit"].mean()
                assert row["timeout_rate"] == rows["timeout_hit"].mean()
                assert row["ambiguous_rate"] == rows["ambiguous_hit"].mean()
                assert row["entry_target_rate"] == rows["entry_target"].mean()
                assert row["median_time_to_target_ms"] == np.median(
                    rows.loc[rows["target_hit"] == 1, "time_to_target_ms"].to_numpy()
                )
                assert row["median_time_to_stop_ms"] == np.median(
                    rows.loc[rows["stop_hit"] == 1, "time_to_stop_ms"].to_numpy()
                )
                gross = rows["gross_edge_bps"].to_numpy()
                assert row["mean_gross_edge_bps"] == pytest.approx(gross.mean(), rel=1e-12, abs=0)
                # against the correctly rounded sum: a couple of ulps at most
                assert row["mean_gross_edge_bps"] == pytest.approx(
                    math.fsum(gross) / len(gross), rel=1e-14, abs=0
                )
                assert row["mean_net_edge_bps"] == row["mean_gross_edge_bps"] - COST_BPS


# ------------------------------------------------------------------------------------------
# contract: shape, order, merge, degenerate inputs, argument checks
# ------------------------------------------------------------------------------------------


def _tiny(n=30, seed=0):
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, n)))
    return (
        np.arange(n, dtype=np.int64) * MINUTE_MS,
        close,
        close * (1.0 + np.abs(rng.normal(0.0, 3e-4, n))),
        close * (1.0 - np.abs(rng.normal(0.0, 3e-4, n))),
    )


def test_table_layout_and_dtypes():
    bars = _tiny()
    rows = np.arange(30, dtype=np.int64)
    codes = rows % 2
    table = sweep.sweep_price_plans(
        *bars, codes, rows, rows, COST_BPS, MIN_EDGE_BPS, [5.0, 10.0], [4.0], [3, 1]
    )
    assert tuple(table) == sweep.TABLE_COLUMNS
    assert all(len(v) == 2 * 1 * 2 * 2 * 2 for v in table.values())
    assert table["target_bps"].tolist() == [5.0] * 8 + [10.0] * 8
    assert table["max_hold_minutes"].tolist()[:8] == [3, 3, 3, 3, 1, 1, 1, 1]
    assert table["side"].tolist()[:4] == ["LONG", "LONG", "SHORT", "SHORT"]
    assert table["split_code"].tolist()[:4] == [0, 1, 0, 1]
    for name in ("max_hold_minutes", "split_code", "rows"):
        assert table[name].dtype == np.int64, name
    rates = table["target_rate"] + table["stop_rate"] + table["timeout_rate"]
    np.testing.assert_allclose(rates, 1.0)
    assert (
        table["rows"][table["max_hold_minutes"] == 1].tolist() == [15, 14] * 4
    )  # rows 0..28: 15 even, 14 odd


def test_default_grid_is_75_plans():
    bars = _tiny(200)
    rows = np.arange(200, dtype=np.int64)
    table = sweep.sweep_price_plans(*bars, np.zeros(200, np.int64), rows, rows, COST_BPS, MIN_EDGE_BPS)
    assert len(table["rows"]) == 75 * 2
    assert (
        len(
            {
                (t, s, h)
                for t, s, h in zip(
                    table["target_bps"], table["stop_bps"], table["max_hold_minutes"], strict=True
                )
            }
        )
        == 75
    )


def test_merge_equals_one_pass():
    # Counting the feature rows in two parts and merging equals counting them at once.
    bars = _tiny(300, seed=3)
    rows = np.arange(300, dtype=np.int64)
    codes = rows % 3
    args = ([5.0, 10.0, 20.0], [5.0, 15.0], [1, 10, 40])
    whole = sweep.sweep_counts(*bars, *args, codes, rows, rows, COST_BPS, MIN_EDGE_BPS, n_splits=3)
    a = sweep.sweep_counts(*bars, *args, codes, rows[:120], rows[:120], COST_BPS, MIN_EDGE_BPS, n_splits=3)
    b = sweep.sweep_counts(*bars, *args, codes, rows[120:], rows[120:], COST_BPS, MIN_EDGE_BPS, n_splits=3)
    merged = a.merge(b)
    for name in ("rows", "entry_target", "ambiguous"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    for h_whole, h_merged in zip(
        whole.target_hist + whole.stop_hist, merged.target_hist + merged.stop_hist, strict=True
    ):
        np.testing.assert_array_equal(h_merged, h_whole)
    np.testing.assert_allclose(
        merged.timeout_sum + merged.timeout_comp, whole.timeout_sum + whole.timeout_comp, rtol=1e-13
    )
    with pytest.raises(ValueError, match="same grid"):
        whole.merge(
            sweep.sweep_counts(*bars, [5.0], [5.0], [1], codes, rows, rows, COST_BPS, MIN_EDGE_BPS, 3)
        )


def test_negative_split_codes_are_left_out():
    bars = _tiny()
    rows = np.arange(30, dtype=np.int64)
    codes = np.where(rows < 10, -1, 0)
    table = sweep.sweep_price_plans(*bars, codes, rows, rows, COST_BPS, MIN_EDGE_BPS, [5.0], [5.0], [1])
    assert table["rows"].tolist() == [19, 19]  # rows 10..28 (29 has no next bar)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_degenerate_sizes(n):
    bars = _tiny(n)
    rows = np.arange(n, dtype=np.int64)
    table = sweep.sweep_price_plans(
        *bars, np.zeros(n, np.int64), rows, rows, COST_BPS, MIN_EDGE_BPS, [5.0], [5.0], [1, 2], n_splits=1
    )
    expected_rows = [max(0, n - 1)] * 2 + [max(0, n - 2)] * 2
    assert table["rows"].tolist() == expected_rows
    empty = table["rows"] == 0
    assert np.isnan(table["target_rate"][empty]).all()
    assert np.isnan(table["median_time_to_target_ms"][empty]).all()
    # no feature rows at all
    none = np.empty(0, np.int64)
    table = sweep.sweep_price_plans(
        *bars, none, none, none, COST_BPS, MIN_EDGE_BPS, [5.0], [5.0], [1], n_splits=2
    )
    assert table["rows"].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"max_hold_minutes": [0]}, "max_hold_minutes"),
        ({"max_hold_minutes": [2.5]}, "whole numbers"),
        ({"target_bps": [np.nan]}, "target_bps must be finite"),
        ({"stop_bps": [[1.0]]}, "one-dimensional"),
        ({"cost_bps": float("inf")}, "cost_bps"),
        ({"close": np.ones(3)}, "same length"),
        ({"right": np.array([0, 99])}, "right must be bar positions"),
        ({"left": np.array([0, 99])}, "left must be feature row positions"),
        ({"n_splits": 1}, "n_splits"),
    ],
)
def test_argument_checks(change, match):
    o, c, h, lo = _tiny(10)
    kwargs = dict(
        open_time_ms=o,
        close=c,
        high=h,
        low=lo,
        target_bps=[5.0],
        stop_bps=[5.0],
        max_hold_minutes=[2],
        split_codes=np.array([0, 1]),
        left=np.array([0, 1]),
        right=np.array([0, 1]),
        cost_bps=COST_BPS,
        min_expected_net_edge_bps=MIN_EDGE_BPS,
    )
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        sweep.sweep_counts(**kwargs)


def test_clean_run_all_rows_count():
    # without gaps or NaNs every feature row counts at every hold it has room for
    features, replay = make_run_frames(["X"], 300, seed=2, messiness=CLEAN)
    table = sweep_frame(features, replay, [8.0], [8.0], [1, 120], ["train", "valid"])
    by_hold = table.groupby("max_hold_minutes")["rows"].sum()
    assert by_hold.to_dict() == {1: 2 * 299, 120: 2 * 180}


def test_feature_order_does_not_matter():
    # Matches out of time order (and repeated) take the sorting path; the table is the same.
    bars = _tiny(200, seed=4)
    rows = np.arange(200, dtype=np.int64)
    codes = rows % 3
    args = ([5.0, 10.0], [5.0, 20.0], [1, 30])
    ordered = sweep.sweep_price_plans(*bars, codes, rows, rows, COST_BPS, MIN_EDGE_BPS, *args)
    twice = np.concatenate([rows, rows])
    doubled = sweep.sweep_price_plans(*bars, codes, twice, twice, COST_BPS, MIN_EDGE_BPS, *args)
    perm = np.random.default_rng(0).permutation(400)
    shuffled = sweep.sweep_price_plans(*bars, codes, twice[perm], twice[perm], COST_BPS, MIN_EDGE_BPS, *args)
    np.testing.assert_array_equal(doubled["rows"], 2 * ordered["rows"])
    for name in sweep.TABLE_COLUMNS:
        if name == "rows":
            continue
        if name.startswith("mean_"):
            np.testing.assert_allclose(doubled[name], ordered[name], rtol=1e-13)
            np.testing.assert_allclose(shuffled[name], ordered[name], rtol=1e-13)
        else:
            np.testing.assert_array_equal(doubled[name], ordered[name], err_msg=name)
            np.testing.assert_array_equal(shuffled[name], ordered[name], err_msg=name)
