"""The obviously-correct twin of ``kernel.buckets.bucket_counts``: a mask per group, numpy's
``bincount`` and ``min`` / ``max``. For tests and benchmarks."""

from __future__ import annotations

import numpy as np

from label_pipeline.kernel.buckets import BUCKET_BITS, bucket_keys


def bucket_counts(
    values: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    counts = np.zeros((n_groups, 1 << BUCKET_BITS), dtype=np.int64)
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    for g in range(n_groups):
        mine = values[(group == g) & ~np.isnan(values)]
        counts[g] = np.bincount(bucket_keys(mine), minlength=1 << BUCKET_BITS)
        finite = mine[np.isfinite(mine)]
        if len(finite):
            lo[g], hi[g] = finite.min(), finite.max()
    return counts, lo, hi
