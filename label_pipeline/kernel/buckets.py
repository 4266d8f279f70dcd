"""Order-preserving buckets of float64 values, counted per group: what exact quantiles in bounded
memory start from (``label_pipeline.quality.OrderStats``).

A value's bucket is its top ``BUCKET_BITS`` bits with the sign folded so that buckets sort as the
values do (every value of a bucket is at most every value of the next): ``bucket_keys``.
``bucket_counts(values, group, n_groups)`` counts one chunk's non-NaN values per (group, bucket),
and the smallest and largest finite value per group, in one pass; a row whose group is outside
``0 .. n_groups - 1`` is counted nowhere. Its obviously-correct twin is ``slow_buckets``; the
tests check one against the other.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BUCKET_BITS", "bucket_counts", "bucket_keys", "warm_up"]

BUCKET_BITS = 16  # 65,536 counts per group
_SHIFT = 64 - BUCKET_BITS


def bucket_keys(values: np.ndarray) -> np.ndarray:
    """Each float64's bucket (int64 in ``0 .. 2**BUCKET_BITS - 1``)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    key = np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))
    return (key >> np.uint64(_SHIFT)).astype(np.int64)


@njit(cache=True, error_model="numpy", nogil=True)
def _count(
    bits: np.ndarray, values: np.ndarray, group: np.ndarray, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> None:
    n_groups = counts.shape[0]
    sign = np.uint64(1) << np.uint64(63)
    shift = np.uint64(_SHIFT)
    for i in range(bits.shape[0]):
        g = group[i]
        v = values[i]
        if g < 0 or g >= n_groups or v != v:  # another group's row, or NaN
            continue
        b = bits[i]
        key = ~b if b & sign else b | sign
        counts[g, np.int64(key >> shift)] += 1
        if v > -np.inf and v < np.inf:
            if v < lo[g]:
                lo[g] = v
            if v > hi[g]:
                hi[g] = v


def bucket_counts(
    values: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts[n_groups, 2**BUCKET_BITS], finite_min[n_groups], finite_max[n_groups])`` of the
    non-NaN ``values`` per group (``inf`` / ``-inf`` where a group has no finite value)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    group = np.ascontiguousarray(group, dtype=np.int64)
    if values.shape != group.shape:
        raise ValueError(f"values and group differ in length: {values.shape} vs {group.shape}")
    counts = np.zeros((n_groups, 1 << BUCKET_BITS), dtype=np.int64)
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    _count(values.view(np.uint64), values, group, counts, lo, hi)
    return counts, lo, hi


def warm_up() -> None:
    """Load (or compile) the counting loop before the first real call, for writable and read-only
    values (a column read zero-copy from Arrow is read-only: numba compiles it apart)."""
    values = np.array([1.0, np.nan])
    bucket_counts(values, np.zeros(2, dtype=np.int64), 1)
    values.setflags(write=False)
    bucket_counts(values, np.zeros(2, dtype=np.int64), 1)
