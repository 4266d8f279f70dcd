"""The label-windows kernel (``label_pipeline.kernel.windows``): hand-computed examples for every
column, property tests against its brute-force twin (``label_pipeline.kernel.slow_windows``), and
the chunking contract (chunked == whole partition, bit for bit, for the floats too).

The generated partitions are deliberately awkward: unsorted rows, gaps of 1, H - 1, H, H + 1 and
far more than H minutes, codes that change often, come back, or never change, label flags from
none to all, negative epoch times, horizons 1, 2, 45 and 1440.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from label_pipeline.kernel import windows
from label_pipeline.kernel.slow_windows import (
    boundary_crossings_slow,
    label_windows_slow,
    purge_embargo_counts_slow,
)
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.kernel.windows import (
    NO_LABEL_END,
    boundary_crossings,
    boundary_pair_counts,
    chunk_selection,
    label_windows,
    label_windows_families,
    purge_embargo_counts,
)

_SCALE = float(os.environ.get("KERNEL_HYPOTHESIS_SCALE", "1"))
SETTINGS = settings(
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _examples(n: int) -> int:
    return max(1, int(n * _SCALE))


INT_COLUMNS = ("labelled", "label_end_ms", "crosses_split", "crosses_fold")
SUFFIXES = ("labelled", "label_end", "crosses_split", "crosses_fold", "avg_uniqueness")

# ------------------------------------------------------------------------------------------
# hand-computed example: 6 rows in file order (not time order), H = 2 and H = 3
# ------------------------------------------------------------------------------------------
#
# minute (from BASE):  9   0   4   1   11  3      time order: 0 1 3 4 9 11
# split:               1   0   1   0   1   0      gaps: 1, 2 (= H for H=2), 1, 5 (> H), 2
# fold:                0   0   1   0   0   1
# direction (H=2):     0   1   1   1   1   1
# entry (H=3):         1   1   1   1   1   1

BASE = 28_000_000  # epoch minutes (2023)
HAND_MINUTES = np.array([9, 0, 4, 1, 11, 3], np.int64)
HAND_T = (BASE + HAND_MINUTES) * MINUTE_MS
HAND_SPLIT = np.array([1, 0, 1, 0, 1, 0], np.int64)
HAND_FOLD = np.array([0, 0, 1, 0, 0, 1], np.int64)
HAND_DIRECTION = np.array([0, 1, 1, 1, 1, 1], np.int8)
HAND_ENTRY = np.ones(6, np.int8)


def _end(minute: int, horizon: int) -> int:
    return (BASE + minute + horizon + 1) * MINUTE_MS


def test_hand_example_h2():
    r = label_windows(HAND_T, HAND_SPLIT, HAND_FOLD, HAND_DIRECTION, 2)
    np.testing.assert_array_equal(r.row_index, np.arange(6))
    np.testing.assert_array_equal(r.labelled, [0, 1, 1, 1, 1, 1])
    # event + 3 minutes where labelled; the int64 NaT sentinel elsewhere
    np.testing.assert_array_equal(
        r.label_end_ms, [NO_LABEL_END, _end(0, 2), _end(4, 2), _end(1, 2), _end(11, 2), _end(3, 2)]
    )
    assert np.isnat(r.label_end_ms.view("datetime64[ms]")[0])
    # split: only minute 3 (split 0) sees minute 4 (split 1) within (3, 5]
    np.testing.assert_array_equal(r.crosses_split, [0, 0, 0, 0, 0, 1])
    # fold: minute 1 (fold 0) sees minute 3 (fold 1) at exactly H; minute 4 (fold 1) would
    # see minute 9 (fold 0) but the gap of 5 > H hides it
    np.testing.assert_array_equal(r.crosses_fold, [0, 0, 0, 1, 0, 0])
    # spans 0:{1,2} 1:{2,3} 3:{4,5} 4:{5,6} 11:{12,13}; c = 2 at minutes 2 and 5, else 1
    np.testing.assert_allclose(r.avg_uniqueness, [np.nan, 0.75, 0.75, 0.75, 1.0, 0.75], rtol=1e-15)
    for name in INT_COLUMNS:
        assert getattr(r, name).dtype == (np.int64 if name == "label_end_ms" else np.int8)
    assert r.avg_uniqueness.dtype == np.float64


def test_hand_example_h3():
    r = label_windows(HAND_T, HAND_SPLIT, HAND_FOLD, HAND_ENTRY, 3)
    np.testing.assert_array_equal(r.label_end_ms, [_end(m, 3) for m in HAND_MINUTES.tolist()])
    # (1, 4] holds minute 4 (split 1); (3, 6] holds minute 4
    np.testing.assert_array_equal(r.crosses_split, [0, 0, 0, 1, 0, 1])
    # (0, 3] holds minute 3 (fold 1); (1, 4] holds minutes 3, 4 (fold 1)
    np.testing.assert_array_equal(r.crosses_fold, [0, 1, 0, 1, 0, 0])
    # c: 1:1 2:2 3:2 4:2 5:2 6:2 7:1 10:1 11:1 12:2 13:1 14:1
    want = [2.5 / 3, 2.0 / 3, 2.0 / 3, 0.5, 2.5 / 3, 0.5]
    np.testing.assert_allclose(r.avg_uniqueness, want, rtol=1e-15)


def test_hand_example_families_and_rows():
    cols = label_windows_families(
        HAND_T, HAND_SPLIT, HAND_FOLD, {"direction": (HAND_DIRECTION, 2), "entry": (HAND_ENTRY, 3)}
    )
    assert list(cols) == [f"{f}_{s}" for f in ("direction", "entry") for s in SUFFIXES]
    np.testing.assert_array_equal(cols["entry_crosses_fold"], [0, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(cols["direction_crosses_fold"], [0, 0, 0, 1, 0, 0])
    # rows as positions (any order) or as a mask
    r = label_windows(HAND_T, HAND_SPLIT, HAND_FOLD, HAND_ENTRY, 3, rows=np.array([5, 1]))
    np.testing.assert_array_equal(r.row_index, [5, 1])
    np.testing.assert_allclose(r.avg_uniqueness, [0.5, 2.0 / 3], rtol=1e-15)
    r = label_windows(HAND_T, HAND_SPLIT, HAND_FOLD, HAND_ENTRY, 3, rows=HAND_MINUTES >= 4)
    np.testing.assert_array_equal(r.row_index, [0, 2, 4])
    np.testing.assert_array_equal(r.crosses_fold, [0, 0, 0])


def test_hand_example_purge_and_embargo():
    got = purge_embargo_counts(HAND_T, HAND_FOLD, HAND_DIRECTION, 2, 7)
    # fold 0 = minutes 0, 1, 9, 11: spans of fold-1 rows 3:{4,5} and 4:{5,6} meet [0, 11]
    # fold 1 = minutes 3, 4: span 1:{2,3} meets [3, 4] (0:{1,2} does not); the embargo
    # (4, 11] holds 9 (not labelled) and 11
    want = {
        "fold_code": [0, 1],
        "first_ms": [BASE * MINUTE_MS, (BASE + 3) * MINUTE_MS],
        "last_ms": [(BASE + 11) * MINUTE_MS, (BASE + 4) * MINUTE_MS],
        "n_rows": [4, 2],
        "n_labelled": [3, 2],
        "n_purged": [2, 1],
        "n_embargoed": [0, 1],
    }
    assert list(got) == list(want)
    for key, values in want.items():
        np.testing.assert_array_equal(got[key], values, err_msg=key)
        assert got[key].dtype == np.int64


def test_hand_example_boundaries():
    split = boundary_crossings(HAND_T, HAND_SPLIT, HAND_DIRECTION, 2)
    # split 0 -> 1 at minute 4: labelled rows in [2, 3] -> minute 3
    np.testing.assert_array_equal(split["boundary_ms"], [(BASE + 4) * MINUTE_MS])
    np.testing.assert_array_equal(split["from_code"], [0])
    np.testing.assert_array_equal(split["to_code"], [1])
    np.testing.assert_array_equal(split["n_crossing"], [1])
    fold = boundary_crossings(HAND_T, HAND_FOLD, HAND_DIRECTION, 2)
    # fold 0 -> 1 at minute 3 (labelled in [1, 2]: minute 1); 1 -> 0 at minute 9 ([7, 8]: none)
    np.testing.assert_array_equal(fold["boundary_ms"], [(BASE + 3) * MINUTE_MS, (BASE + 9) * MINUTE_MS])
    np.testing.assert_array_equal(fold["n_crossing"], [1, 0])
    assert boundary_pair_counts(HAND_T, HAND_FOLD, HAND_DIRECTION, 2) == {(0, 1): 1, (1, 0): 0}


# ------------------------------------------------------------------------------------------
# generated partitions
# ------------------------------------------------------------------------------------------


def make_partition(rng: np.random.Generator, n: int, horizon: int, p_dense: float, p_switch: float):
    """Times, split codes, fold codes (in a shuffled file order, or kept in time order)."""
    special = np.array([max(1, horizon - 1), horizon, horizon + 1, 2 * horizon, 10 * horizon + 7, 500_000])
    gaps = np.where(rng.random(n) < p_dense, 1, rng.choice(special, n))
    wild = rng.random(n) < 0.3
    gaps[wild] = rng.integers(1, 3 * horizon + 3, int(wild.sum()))
    minutes = int(rng.integers(-3_000_000, 30_000_000)) + np.cumsum(gaps)

    def codes(p: float) -> np.ndarray:
        # runs that switch with probability p to a code from a small set (codes come back), plus
        # a rare "missing" code sprinkled anywhere
        switch = rng.random(n) < p
        values = rng.integers(0, 4, n)
        c = values[np.maximum.accumulate(np.where(switch, np.arange(n), 0))]
        c[rng.random(n) < p / 4] = -1
        return c.astype(np.int64)

    split = codes(p_switch)
    fold = codes(min(1.0, 3 * p_switch))
    kind = rng.integers(0, 4)
    if kind == 0:
        perm = np.arange(n)
    elif kind == 1:
        perm = np.arange(n)[::-1]
    else:
        perm = rng.permutation(n)
    return minutes[perm] * MINUTE_MS, split[perm], fold[perm]


def make_labels(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return (rng.random(n) < p).astype(np.int8)


PARAMS = {
    "seed": st.integers(0, 2**32 - 1),
    "p_dense": st.sampled_from([0.0, 0.5, 0.95, 1.0]),
    "p_switch": st.sampled_from([0.0, 0.02, 0.2, 0.6]),
    "p_label": st.sampled_from([0.0, 0.3, 0.9, 1.0]),
}


def assert_matches_slow(result, t, split, fold, lab, horizon):
    want = label_windows_slow(t, split, fold, lab, horizon)
    for name in INT_COLUMNS:
        np.testing.assert_array_equal(getattr(result, name), want[name], err_msg=name)
    got = result.avg_uniqueness
    exp = want["avg_uniqueness"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
    ok = ~np.isnan(exp)
    np.testing.assert_allclose(got[ok], exp[ok], rtol=1e-12, atol=0.0)
    # a mean of 1/c with 1 <= c <= H
    assert np.all((got[ok] >= 1.0 / horizon - 1e-15) & (got[ok] <= 1.0 + 1e-15))


@pytest.mark.parametrize(("horizon", "max_rows"), [(1, 300), (2, 300), (45, 200), (1440, 40)])
@settings(SETTINGS, max_examples=_examples(150))
@given(data=st.data(), **PARAMS)
def test_matches_slow(horizon, max_rows, data, seed, p_dense, p_switch, p_label):
    # the brute force is O(N^2 + N x H): fewer rows for long horizons
    n = data.draw(st.integers(0, max_rows))
    rng = np.random.default_rng(seed)
    t, split, fold = make_partition(rng, n, horizon, p_dense, p_switch)
    lab = make_labels(rng, n, p_label)
    result = label_windows(t, split, fold, lab, horizon)
    np.testing.assert_array_equal(result.row_index, np.arange(n))
    assert_matches_slow(result, t, split, fold, lab, horizon)


@settings(SETTINGS, max_examples=_examples(100))
@given(
    horizons=st.lists(st.sampled_from([1, 2, 45, 1440]), min_size=1, max_size=3),
    n=st.integers(0, 120),
    embargo=st.sampled_from([0, 1, 2, 45, 3000]),
    **PARAMS,
)
def test_purge_and_boundaries_match_slow(horizons, n, embargo, seed, p_dense, p_switch, p_label):
    rng = np.random.default_rng(seed)
    t, split, fold = make_partition(rng, n, max(horizons), p_dense, p_switch)
    for h in horizons:
        lab = make_labels(rng, n, p_label)
        got = purge_embargo_counts(t, fold, lab, h, embargo)
        want = purge_embargo_counts_slow(t, fold, lab, h, embargo)
        assert list(got) == list(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        for codes in (split, fold):
            got = boundary_crossings(t, codes, lab, h)
            want = boundary_crossings_slow(t, codes, lab, h)
            assert list(got) == list(want)
            for key in want:
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)
            # every straddling row is flagged, and every flagged row straddles some boundary
            flags = label_windows(t, split, fold, lab, h)
            crosses = flags.crosses_split if codes is split else flags.crosses_fold
            n_flagged = int(np.sum(crosses[lab == 1]))
            assert (n_flagged == 0) == (int(got["n_crossing"].sum()) == 0)
            assert n_flagged <= int(got["n_crossing"].sum())


# ------------------------------------------------------------------------------------------
# chunking: chunked == whole, bit for bit
# ------------------------------------------------------------------------------------------


def assert_bitwise_equal(a: np.ndarray, b: np.ndarray, name: str) -> None:
    assert a.dtype == b.dtype, name
    if a.dtype == np.float64:
        a = a.view(np.int64)
        b = b.view(np.int64)
    np.testing.assert_array_equal(a, b, err_msg=name)


def chunk_cuts(rng: np.random.Generator, minutes: np.ndarray, horizon: int, k: int) -> list[int]:
    """k chunk boundaries (epoch minutes) on rows, next to rows, H away from rows and inside gaps."""
    if minutes.size == 0:
        return [0]
    s = np.sort(minutes)
    picks = []
    for _ in range(k):
        base = int(rng.choice(s))
        kind = rng.integers(0, 5)
        if kind == 0:
            picks.append(base)
        elif kind == 1:
            picks.append(base + int(rng.choice([-1, 1])))
        elif kind == 2:
            picks.append(base + int(rng.choice([-horizon, horizon, horizon + 1, -horizon - 1])))
        elif kind == 3 and s.size > 1:
            i = int(rng.integers(0, s.size - 1))  # somewhere in the gap after row i
            picks.append(int(rng.integers(s[i] + 1, s[i + 1] + 1)))
        else:
            picks.append(int(rng.integers(s[0] - 2, s[-1] + 3)))
    return sorted(set(picks))


@settings(SETTINGS, max_examples=_examples(200))
@given(
    horizons=st.lists(st.sampled_from([1, 2, 45, 1440]), min_size=1, max_size=3),
    n=st.integers(0, 400),
    k=st.integers(1, 12),
    extra=st.sampled_from([0, 0, 1, 500]),
    **PARAMS,
)
def test_chunked_equals_whole(horizons, n, k, extra, seed, p_dense, p_switch, p_label):
    rng = np.random.default_rng(seed)
    h_max = max(horizons)
    t, split, fold = make_partition(rng, n, int(rng.choice(horizons)), p_dense, p_switch)
    families = {f"f{i}": (make_labels(rng, n, p_label), h) for i, h in enumerate(horizons)}
    whole = label_windows_families(t, split, fold, families)

    minutes = t // MINUTE_MS
    cuts = chunk_cuts(rng, minutes, h_max, k)
    lo = int(minutes.min()) - 1 if n else 0
    hi = int(minutes.max()) + 2 if n else 1
    edges = [lo] + [c for c in cuts if lo < c < hi] + [hi]
    got_rows = []
    got_cols = {name: [] for name in whole}
    for t0, t1 in zip(edges[:-1], edges[1:], strict=True):
        # context of exactly [t0 - H, t1 + H], or `extra` minutes more on both sides
        context, rows = chunk_selection(t, t0 * MINUTE_MS, t1 * MINUTE_MS, h_max + extra)
        chunk = label_windows_families(
            t[context],
            split[context],
            fold[context],
            {f: (lab[context], h) for f, (lab, h) in families.items()},
            rows=rows,
        )
        got_rows.append(context[rows])
        for name, values in chunk.items():
            got_cols[name].append(values)
    order = np.concatenate(got_rows)
    # every row exactly once
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    for name, parts in got_cols.items():
        assert_bitwise_equal(np.concatenate(parts), whole[name][order], name)


@settings(SETTINGS, max_examples=_examples(40))
@given(
    horizons=st.lists(st.sampled_from([1, 2, 45, 1440]), min_size=1, max_size=3),
    n=st.integers(0, 300),
    **PARAMS,
)
def test_families_equal_single_family_calls(horizons, n, seed, p_dense, p_switch, p_label):
    rng = np.random.default_rng(seed)
    t, split, fold = make_partition(rng, n, max(horizons), p_dense, p_switch)
    families = {f"f{i}": (make_labels(rng, n, p_label), h) for i, h in enumerate(horizons)}
    cols = label_windows_families(t, split, fold, families)
    for f, (lab, h) in families.items():
        single = label_windows(t, split, fold, lab, h).columns(f)
        assert list(single) == [f"{f}_{s}" for s in SUFFIXES]
        for name, values in single.items():
            assert_bitwise_equal(cols[name], values, name)
    # the time order of the file does not matter either (bitwise)
    perm = rng.permutation(n)
    shuffled = label_windows_families(
        t[perm], split[perm], fold[perm], {f: (lab[perm], h) for f, (lab, h) in families.items()}
    )
    for name, values in shuffled.items():
        assert_bitwise_equal(values, cols[name][perm], name)


# ------------------------------------------------------------------------------------------
# long gaps, memory, contract
# ------------------------------------------------------------------------------------------


def test_huge_gaps_and_horizon_use_memory_of_the_rows_not_the_minutes():
    # 3,000 rows over ~15,000 years of minutes with H = 10^6: anything per minute would need
    # terabytes; the kernel needs a few hundred bytes per row.
    rng = np.random.default_rng(7)
    n = 3_000
    minutes = np.cumsum(rng.integers(1, 5_000_000, n))
    t = minutes * MINUTE_MS
    lab = np.ones(n, np.int8)
    split = (np.arange(n) >= n // 2).astype(np.int64)
    label_windows(t[:10], split[:10], split[:10], lab[:10], 10**6)  # compile outside the trace
    tracemalloc.start()
    r = label_windows(t, split, split, lab, 10**6)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 400 * n
    # check against per-minute-free reasoning: c(m) counts spans holding m; a lone span is 1.0
    alone = np.r_[True, np.diff(minutes) >= 10**6] & np.r_[np.diff(minutes) >= 10**6, True]
    np.testing.assert_array_equal(r.avg_uniqueness[alone], 1.0)
    assert np.all((r.avg_uniqueness > 0.0) & (r.avg_uniqueness <= 1.0))
    reaches = (split == 0) & (minutes[n // 2] - minutes <= 10**6)
    np.testing.assert_array_equal(r.crosses_split, reaches)
    np.testing.assert_array_equal(r.crosses_fold, reaches)


def test_dense_block_of_labels():
    # every minute labelled: c(m) = min(m - first, H, ...) rises to H; far from both ends
    # every minute of a span has c = H, so the mean is 1/H
    n, h = 5_000, 45
    t = (np.arange(n, dtype=np.int64) + 1_000_000) * MINUTE_MS
    zeros = np.zeros(n, np.int64)
    r = label_windows(t, zeros, zeros, np.ones(n, np.int8), h)
    np.testing.assert_allclose(r.avg_uniqueness[h : n - h], 1.0 / h, rtol=1e-13)
    assert not r.crosses_split.any() and not r.crosses_fold.any()
    assert_matches_slow(
        label_windows(t[:300], zeros[:300], zeros[:300], np.ones(300, np.int8), h),
        t[:300],
        zeros[:300],
        zeros[:300],
        np.ones(300, np.int8),
        h,
    )


def test_empty_and_single_row():
    empty = np.zeros(0, np.int64)
    r = label_windows(empty, empty, empty, np.zeros(0, np.int8), 5)
    assert len(r) == 0 and r.avg_uniqueness.dtype == np.float64
    one = np.array([60_000 * 7], np.int64)
    r = label_windows(one, [0], [0], [1], 5)
    np.testing.assert_array_equal(r.label_end_ms, [60_000 * 13])
    np.testing.assert_array_equal(r.avg_uniqueness, [1.0])
    assert purge_embargo_counts(empty, empty, empty, 3, 3)["fold_code"].size == 0
    assert boundary_crossings(empty, empty, empty, 3)["n_crossing"].size == 0
    assert boundary_pair_counts(one, [4], [1], 3) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0}, "horizon must be >= 1"),
        ({"horizon": 2.0}, "horizon must be an integer"),
        ({"horizon": True}, "horizon must be an integer"),
        ({"event_time_ms": np.array([0, 60_000, 60_000, 180_000])}, "distinct"),
        ({"event_time_ms": np.array([180_000, 60_000, 0, 60_000])}, "distinct"),
        ({"event_time_ms": np.array([0, 60_000, 90_000, 180_000])}, "whole minutes"),
        ({"event_time_ms": np.array([0.0, 1.0, 2.0, 3.0])}, "event_time_ms must hold integers"),
        ({"split_codes": np.array(["a", "b", "c", "d"])}, "split_codes must hold integers"),
        ({"fold_codes": np.zeros(3, np.int64)}, "fold_codes has 3 entries"),
        ({"labelled": np.array([0, 1, 2, 1])}, "only 0 and 1"),
        ({"labelled": np.ones((4, 1))}, "one-dimensional"),
        ({"rows": np.array([0, 4])}, "rows must be positions"),
        ({"rows": np.array([-1])}, "rows must be positions"),
        ({"rows": np.ones(3, bool)}, "boolean rows mask"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    args = {
        "event_time_ms": np.arange(4, dtype=np.int64) * MINUTE_MS,
        "split_codes": np.zeros(4, np.int64),
        "fold_codes": np.zeros(4, np.int64),
        "labelled": np.ones(4, np.int8),
        "horizon": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        label_windows(**args)


def test_input_dtypes_share_one_compiled_specialisation():
    t = np.arange(20, dtype=np.int64) * MINUTE_MS
    base = label_windows(t, np.zeros(20, np.int64), np.zeros(20, np.int64), np.ones(20, np.int8), 3)
    read_only = t.copy()
    read_only.flags.writeable = False
    folds = np.zeros(20, np.uint8)
    folds.flags.writeable = False
    other = label_windows(read_only, np.zeros(20, np.int32), folds, np.ones(20, bool), 3)
    assert_bitwise_equal(other.avg_uniqueness, base.avg_uniqueness, "avg_uniqueness")
    other = label_windows(t.astype(np.uint64), np.zeros(20, np.int16), folds, np.ones(20, np.int64), 3)
    assert_bitwise_equal(other.avg_uniqueness, base.avg_uniqueness, "avg_uniqueness")
    for dispatcher in (windows._next_different, windows._fill_crosses, windows._fill_uniqueness):
        assert len(dispatcher.signatures) == 1, dispatcher


def test_import_compiles_nothing_and_warm_up_prepares_every_entry_point():
    code = """
from numba.core.dispatcher import Dispatcher
import label_pipeline.kernel.windows as m
dispatchers = [v for v in vars(m).values() if isinstance(v, Dispatcher)]
assert dispatchers
assert all(not d.signatures for d in dispatchers), [d for d in dispatchers if d.signatures]
m.warm_up()
entry = [m._next_different, m._fill_crosses, m._fill_uniqueness]  # _block_cut is inlined by them
missing = [d.py_func.__name__ for d in entry if not d.signatures]
assert not missing, missing
print("ok", len(dispatchers))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
