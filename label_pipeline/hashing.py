"""A content hash of a table that is the same for the same content on any machine and in any
chunking.

Parquet bytes are no good for this: they embed the writer's version and vary with row-group
layout. Hashing column names, types and values does not. Each column feeds BLAKE3 streams straight
from its Arrow buffers (values; for text the value lengths and bytes separately; validity where a
column has nulls at all), so a table hashed in chunks gives the digest of the whole, and a
partition's hash is computed once, while it is written. NaN is canonicalised (its sign bit differs
between CPUs for the same computation) and a float null hashes as NaN, so a frame read back from
parquet (where pandas wrote NaN as null) hashes like the frame that was written. Text columns that
carry no values at all (Arrow type ``null``, an empty pandas object column) hash as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from blake3 import blake3

_CANONICAL_NAN = np.float64("nan")


def _canonical_type(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    if pa.types.is_large_string(type_) or pa.types.is_null(type_) or getattr(pa.types, "is_string_view", bool)(type_):
        return pa.string()
    return type_


class _ColumnHasher:
    """The streams of one column: values, text lengths, validity."""

    def __init__(self, type_: pa.DataType):
        self.type = _canonical_type(type_)
        self.values = blake3()
        self.lengths = blake3()
        self.validity = blake3()
        self.has_nulls = False
        self.rows = 0

    def update(self, array: pa.Array) -> None:
        if array.type != self.type:
            array = array.cast(self.type)
        n = len(array)
        if n == 0:
            return
        floats = pa.types.is_floating(self.type)
        valid = None
        if array.null_count and not floats:
            valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8)
        if valid is not None and not self.has_nulls:
            # the first nulls of the column: every earlier row was valid
            self.validity.update(np.ones(self.rows, dtype=np.uint8).tobytes())
            self.has_nulls = True
        if self.has_nulls:
            self.validity.update((valid if valid is not None else np.ones(n, dtype=np.uint8)).tobytes())
        self.rows += n
        if pa.types.is_string(self.type):
            offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + n + 1]
            lengths = np.diff(offsets).astype("<i8")
            if valid is not None:
                lengths[valid == 0] = 0
            self.lengths.update(lengths.view(np.uint8))
            data = array.buffers()[2]
            if data is not None and offsets[-1] > offsets[0]:
                if valid is None:
                    self.values.update(memoryview(data)[offsets[0] : offsets[-1]])
                else:
                    for start, stop, ok in zip(offsets[:-1], offsets[1:], valid, strict=True):
                        if ok:
                            self.values.update(memoryview(data)[start:stop])
            return
        if floats:
            values = np.asarray(array.to_numpy(zero_copy_only=False), dtype="<f8")
            nan = np.isnan(values)
            if nan.any():
                values = np.where(nan, _CANONICAL_NAN, values)
        elif pa.types.is_timestamp(self.type) or pa.types.is_date(self.type) or pa.types.is_duration(self.type):
            if array.null_count:
                array = array.fill_null(0)  # (a compute call even on a column without nulls: skipped)
            # as their integer ticks; Arrow casts a 32-bit one (date32: days) only to int32
            ticks = pa.int32() if self.type.bit_width == 32 else pa.int64()
            values = np.asarray(array.cast(ticks).to_numpy(), dtype="<i8")
        elif pa.types.is_boolean(self.type):
            values = np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
        elif pa.types.is_integer(self.type):
            values = (array.fill_null(0) if array.null_count else array).to_numpy()
            values = values.astype(values.dtype.newbyteorder("<"), copy=False)
        else:  # anything else: its canonical text
            values = np.asarray(array.cast(pa.string()).fill_null("").to_pylist(), dtype=object).astype(str)
            values = np.char.encode(values, "utf-8")
        self.values.update(np.ascontiguousarray(values).view(np.uint8))  # its buffer: no copy

    def digest(self) -> bytes:
        parts = [self.values.digest(), self.lengths.digest()]
        if self.has_nulls:
            parts.append(self.validity.digest())
        return b"".join(parts)


class TableHasher:
    """Feed a table chunk by chunk; ``hexdigest`` is the same whatever the chunking."""

    def __init__(self, schema: pa.Schema):
        self.names = list(schema.names)
        self.columns = [_ColumnHasher(field.type) for field in schema]
        self.rows = 0

    def update(self, table: pa.Table) -> None:
        if table.column_names != self.names:
            raise ValueError(f"columns {table.column_names} differ from the hashed table's {self.names}")
        self.rows += table.num_rows
        for hasher, column in zip(self.columns, table.columns, strict=True):
            for chunk in column.chunks:
                hasher.update(chunk)

    def hexdigest(self) -> str:
        final = blake3()
        final.update(f"rows={self.rows};".encode())
        for name, hasher in zip(self.names, self.columns, strict=True):
            final.update(f"{name}:{hasher.type};".encode())
            final.update(hasher.digest())
        return final.hexdigest()


def as_arrow(frame: pa.Table | pd.DataFrame) -> pa.Table:
    return frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)


def content_hash(frame: pa.Table | pd.DataFrame) -> str:
    """BLAKE3 over column names, types, row count and values, in column order (see the module)."""
    table = as_arrow(frame)
    hasher = TableHasher(table.schema)
    hasher.update(table)
    return hasher.hexdigest()
