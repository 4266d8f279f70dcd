"""The quality figures' exact quantiles in bounded memory (``quality.OrderStats``) are numpy's,
for values fed in any chunks: ties, NaN, infinities, signed zeros and values across many
orders of magnitude (the buckets the ranks fall in are read again, whatever they hold)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from label_pipeline.quality import QUANTILES, OrderStats

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1.0, 1.0000000000000002, 12.5, -3.0]),  # ties and neighbours
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(values, max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=5),
    qs=st.lists(st.floats(0, 1), min_size=1, max_size=4),
)
def test_order_stats_are_numpys_quantiles(data, cuts, qs) -> None:
    array = np.array(data, dtype=np.float64)
    bounds = [0, *sorted(min(c, len(array)) for c in cuts), len(array)]
    chunks = [array[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    stats = OrderStats()
    for chunk in chunks:
        stats.add(chunk)
    got = stats.quantiles(qs, map(stats.keep(qs), chunks))
    present = array[~np.isnan(array)]
    for q, value in zip(qs, got, strict=True):
        if not len(present):
            assert np.isnan(value)
            continue
        with np.errstate(invalid="ignore"):
            want = float(np.quantile(present, q))
        if np.isnan(want) or np.isinf(want):
            assert value == want or (np.isnan(value) and np.isnan(want))
        else:
            assert value == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_quantiles_of_a_million_values_read_again_in_other_chunks() -> None:
    rng = np.random.default_rng(3)
    array = rng.lognormal(2.0, 1.5, 1_000_000)
    stats = OrderStats()
    for chunk in np.array_split(array, 37):
        stats.add(chunk)
    got = stats.quantiles(QUANTILES, map(stats.keep(QUANTILES), np.array_split(array, 5)))
    assert got == pytest.approx(list(np.quantile(array, QUANTILES)), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(st.tuples(values, st.integers(0, 2)), max_size=300),
    cut=st.integers(0, 300),
)
def test_grouped_order_stats_equal_one_per_group(data, cut) -> None:
    """``add_grouped`` (Quality's per-side path: groups 0 and 1, 2 counted nowhere) keeps exactly
    what ``add`` keeps of each group's own values: counts, extremes and quantiles."""
    array = np.array([v for v, _ in data], dtype=np.float64)
    group = np.array([g for _, g in data], dtype=np.int64)
    grouped = [OrderStats(), OrderStats()]
    for part in (slice(0, cut), slice(cut, None)):
        OrderStats.add_grouped(grouped, array[part], group[part])
    for g, stats in enumerate(grouped):
        alone = OrderStats()
        alone.add(array[group == g])
        assert stats.n == alone.n and np.array_equal(stats.counts, alone.counts)
        assert (stats.finite_min, stats.finite_max) == (alone.finite_min, alone.finite_max)
        mine = [array[group == g]]
        assert stats.quantiles(QUANTILES, map(stats.keep(QUANTILES), mine)) == pytest.approx(
            alone.quantiles(QUANTILES, map(alone.keep(QUANTILES), mine)), nan_ok=True
        )
