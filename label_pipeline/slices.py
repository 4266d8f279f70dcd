"""A partition's normalised input slice as the label pass reads it: by row range, and (bars) by
time. ``TableSlice`` holds it in memory; ``FileSlice`` reads it from a parquet file of it (the
input artifact just staged from the run's file, or the stored one), a row group at a time, so
the pass holds one chunk's rows, not the span's (README "One pass per partition";
``label_pipeline.engine``).

The run's files are streamed into the staged input artifacts by ``Streamed`` sources
(``label_pipeline.inputs.symbol_batches``); a slice that cannot be streamed (bars out of time
order, a problem the whole read must name) is read whole instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from label_pipeline.input_contract import InputDataError


class Slice(Protocol):
    num_rows: int

    def rows(self, start: int, stop: int) -> pa.Table:
        """Rows ``start:stop`` (clipped to the slice)."""

    def locate(self, ms: int, side: str) -> int:
        """Where ``ms`` falls in the (increasing) ``open_time_ms``, as ``np.searchsorted``."""


class TableSlice:
    def __init__(self, table: pa.Table):
        self.table = table.combine_chunks()
        self.num_rows = self.table.num_rows
        self._ms: np.ndarray | None = None

    def rows(self, start: int, stop: int) -> pa.Table:
        start = min(max(start, 0), self.num_rows)
        return self.table.slice(start, max(min(stop, self.num_rows) - start, 0))

    def locate(self, ms: int, side: str) -> int:
        if self._ms is None:
            self._ms = np.asarray(self.table.column("open_time_ms").to_numpy(), dtype="int64")
        return int(np.searchsorted(self._ms, ms, side=side))


class FileSlice:
    """Row groups are read when a range needs them; the last few stay cached, as consecutive
    chunks (and a chunk's bars and the next chunk's) share their edge groups."""

    CACHED_GROUPS = 4

    def __init__(self, source: Any):
        self.file = pq.ParquetFile(source)
        meta = self.file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self.num_rows = int(self.offsets[-1])
        self._groups: dict[int, pa.Table] = {}
        self.columns: list[str] | None = None  # all of them
        names = self.file.schema_arrow.names
        self._ms_index = names.index("open_time_ms") if "open_time_ms" in names else None
        self._max_ms: np.ndarray | None = None

    def close(self) -> None:
        self._groups.clear()
        self.file.close()

    def __enter__(self) -> FileSlice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def narrow(self, columns: Iterable[str]) -> FileSlice:
        """Read only ``columns`` (those the file has, in its order) from now on: the label pass
        uses five of the bars' eight, and decoding the others (text and times) cost ~60% of
        reading a row group."""
        wanted = set(columns)
        self.columns = [c for c in self.file.schema_arrow.names if c in wanted]
        self._groups.clear()
        return self

    def _group(self, g: int) -> pa.Table:
        if g not in self._groups:
            if len(self._groups) >= self.CACHED_GROUPS:
                self._groups.pop(next(iter(self._groups)))
            self._groups[g] = self.file.read_row_group(g, columns=self.columns, use_threads=False)
        return self._groups[g]

    def rows(self, start: int, stop: int) -> pa.Table:
        start, stop = min(max(start, 0), self.num_rows), min(stop, self.num_rows)
        if stop <= start:
            empty = self.file.schema_arrow.empty_table()
            return empty if self.columns is None else empty.select(self.columns)
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        last = int(np.searchsorted(self.offsets, stop, side="left")) - 1
        pieces = [self._group(g) for g in range(first, last + 1)]
        table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        return table.slice(start - int(self.offsets[first]), stop - start).combine_chunks()

    def _group_max(self) -> np.ndarray:
        """Each row group's last open_time_ms (its statistics; read where a writer left none)."""
        if self._max_ms is None:
            meta = self.file.metadata
            out = np.empty(meta.num_row_groups, dtype=np.int64)
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(self._ms_index).statistics
                if stats is not None and stats.has_min_max:
                    out[g] = stats.max
                else:
                    values = np.asarray(self._group(g).column("open_time_ms").to_numpy(), dtype="int64")
                    out[g] = values.max() if len(values) else (out[g - 1] if g else np.iinfo(np.int64).min)
            self._max_ms = out
        return self._max_ms

    def locate(self, ms: int, side: str) -> int:
        if self.num_rows == 0:
            return 0
        # the first group whose last time reaches ms: the position is in it, or at its start
        g = int(np.searchsorted(self._group_max(), ms, side=side))
        if g >= len(self._group_max()):
            return self.num_rows
        values = np.asarray(self._group(g).column("open_time_ms").to_numpy(), dtype="int64")
        return int(self.offsets[g]) + int(np.searchsorted(values, ms, side=side))


class InputErrors(InputDataError):
    """Every input slice's problems at once (one rerun shows all there is to fix)."""

    def __init__(self, errors: dict[str, InputDataError]):
        super().__init__("\n\n".join(str(e) for e in errors.values()))
        self.errors = errors


class NotStreamable(Exception):
    """The slice must be read whole (see the module docstring); nothing of the stream is kept."""


@dataclass(frozen=True)
class Streamed:
    """An input slice read from the run's file while it is staged: ``batches`` yields checked,
    normalised batches (raising ``NotStreamable`` when it cannot), ``whole`` reads, checks and
    normalises the slice whole (raising ``InputDataError`` with the contract's message)."""

    batches: Callable[[], Iterator[pa.Table]]
    whole: Callable[[], pa.Table]
