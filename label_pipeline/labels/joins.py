"""Key joins of one symbol's feature rows to its bars by ``open_time_ms``.

The reference joins with pandas merges on (symbol, open_time_ms). Within one symbol partition,
with bar times strictly increasing (the input checks refuse duplicate and out-of-order bars), a
merge is a binary search: same rows, same order (the left frame's), a fraction of the cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class JoinKeyError(ValueError):
    """Bar times that are not strictly increasing, so a time does not name one bar."""


def require_increasing(keys: np.ndarray, what: str) -> None:
    if len(keys) > 1:
        steps = np.diff(keys)
        if not (steps > 0).all():
            bad = np.flatnonzero(steps <= 0)[:10]
            raise JoinKeyError(
                f"{what}: open_time_ms is not strictly increasing in event_time order at positions "
                f"{bad.tolist()} ({int((steps <= 0).sum())} in all); duplicate or out-of-order bars must be fixed upstream"
            )


def inner_match(
    left_keys: np.ndarray, right_keys: np.ndarray, what: str = "bars"
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (left, right) of every left row whose key is in ``right_keys``, in left order.

    Equals ``pandas.merge(how="inner")`` when the right keys are unique, which is required.
    """
    left_keys = np.asarray(left_keys, dtype="int64")
    right_keys = np.asarray(right_keys, dtype="int64")
    require_increasing(right_keys, what)
    if len(right_keys) == 0 or len(left_keys) == 0:
        empty = np.empty(0, dtype="int64")
        return empty, empty
    pos = np.searchsorted(right_keys, left_keys)
    clipped = np.minimum(pos, len(right_keys) - 1)
    hit = (pos < len(right_keys)) & (right_keys[clipped] == left_keys)
    return np.flatnonzero(hit), pos[hit].astype("int64")


def left_lookup(
    left_keys: np.ndarray, right_keys: np.ndarray, values: np.ndarray, what: str = "bars"
) -> np.ndarray:
    """``values`` at each left key's right row, NaN where there is none (a left merge's column)."""
    left_idx, right_idx = inner_match(left_keys, right_keys, what)
    out = np.full(len(left_keys), np.nan, dtype="float64")
    out[left_idx] = np.asarray(values, dtype="float64")[right_idx]
    return out


def take(series: pd.Series, positions: np.ndarray) -> pd.Series:
    """Rows of ``series`` at ``positions`` with a fresh index and the same dtype (pass-through
    columns such as ids and splits keep whatever dtype the feature frame gave them)."""
    return series.take(positions).reset_index(drop=True)


def constant(n: int, value: object) -> np.ndarray:
    """An object column holding one shared ``value`` n times.

    ``np.full(n, "text", dtype=object)`` makes n separate string objects (it goes through a unicode
    array); ``fill`` stores one reference, which matters at a million rows per column.
    """
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out
