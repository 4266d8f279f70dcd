"""A content hash of a frame that is the same for the same content on any machine.

Parquet bytes are no good for this: they embed the writer's version and vary with row-group
layout. Hashing the column names, dtypes and values does not. NaNs are canonicalized because
their sign bit differs between CPUs for the same computation.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

_CANONICAL_NAN = np.float64("nan")


def _column_bytes(series: pd.Series) -> bytes:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        return np.ascontiguousarray(series.to_numpy().view("<i8")).tobytes()
    if pd.api.types.is_bool_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return np.ascontiguousarray(series.to_numpy(dtype="bool")).tobytes()
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return np.ascontiguousarray(series.to_numpy()).astype(dtype.newbyteorder("<")).tobytes()
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy().astype("<f8")
        values = np.where(np.isnan(values), _CANONICAL_NAN, values)
        return np.ascontiguousarray(values).tobytes()
    # Strings, mixed objects, categoricals: a fixed-key SipHash per value, stable across platforms.
    values = series.astype(object).to_numpy()
    if len(values) and isinstance(values[0], str) and (values == values[0]).all():
        # constant columns (symbol, plan id, label version...) are common and hash in O(1)
        hashed = np.repeat(pd.util.hash_array(values[:1], categorize=False), len(values))
    else:
        hashed = pd.util.hash_array(values, categorize=False)
    return np.ascontiguousarray(hashed.astype("<u8")).tobytes()


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes, row count and values, in column order."""
    digest = hashlib.sha256()
    digest.update(f"rows={len(frame)};".encode())
    for name in frame.columns:
        series = frame[name]
        digest.update(f"{name}:{series.dtype};".encode())
        digest.update(_column_bytes(series))
    return digest.hexdigest()
