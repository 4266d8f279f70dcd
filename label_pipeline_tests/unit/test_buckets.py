"""``kernel.buckets.bucket_counts`` (numba, one pass) against its slow twin, on values with NaN,
infinities, signed zeros, subnormals and neighbours, and groups outside the counted range."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from label_pipeline.kernel import buckets, slow_buckets

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.0, 1.0000000000000002, float("nan"), -float("inf")]),
)


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.tuples(values, st.integers(-1, 3)), max_size=400), n_groups=st.integers(0, 3))
def test_bucket_counts_equal_the_slow_twin(data, n_groups) -> None:
    array = np.array([v for v, _ in data], dtype=np.float64)
    group = np.array([g for _, g in data], dtype=np.int64)
    fast = buckets.bucket_counts(array, group, n_groups)
    slow = slow_buckets.bucket_counts(array, group, n_groups)
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got, want)


def test_buckets_sort_as_the_values_do() -> None:
    ordered = np.array([-np.inf, -1e300, -2.0, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 2.0, 1e300, np.inf])
    keys = buckets.bucket_keys(ordered)
    assert (np.diff(keys) >= 0).all() and keys.min() >= 0 and keys.max() < 1 << buckets.BUCKET_BITS


def test_values_and_groups_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        buckets.bucket_counts(np.zeros(3), np.zeros(2, dtype=np.int64), 1)
