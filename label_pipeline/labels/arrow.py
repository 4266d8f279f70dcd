"""Arrow columns for the label builders: pass-through columns are taken from the input tables
without ever becoming Python objects, constant text is one repeated value, numbers are numpy
arrays wrapped without copies. The builders take and return Arrow tables; given pandas frames
(tests, notebooks) they return pandas, with the reference's dtypes either way (strings read back
as ``object``, flags ``int8``, times ``datetime64[ns, UTC]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

Frame = pa.Table | pd.DataFrame


def as_table(frame: Frame) -> pa.Table:
    return frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)


def like(result: pa.Table, *inputs: Frame) -> Frame:
    """``result`` as pandas when the caller gave pandas, else as it is."""
    return result.to_pandas() if any(isinstance(i, pd.DataFrame) for i in inputs) else result


def numbers(table: pa.Table, name: str, dtype: str) -> np.ndarray:
    """A column as numpy (no copy for a one-chunk column without nulls; nulls become NaN)."""
    return np.asarray(table.column(name).to_numpy(), dtype=dtype)


def take(table: pa.Table, name: str, positions: np.ndarray) -> pa.ChunkedArray:
    return table.column(name).take(pa.array(positions, type=pa.int64()))


def constant(n: int, value: str) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def choose(codes: np.ndarray, labels: Sequence[str]) -> pa.Array:
    """``labels[codes]`` as a string column, without one Python string per row."""
    return pa.array(list(labels), pa.string()).take(pa.array(codes, type=pa.int64()))


def table(columns: Mapping[str, Any], names: Sequence[str]) -> pa.Table:
    """The columns in ``names`` order (the artifact's contract)."""
    return pa.table({name: columns[name] for name in names})
