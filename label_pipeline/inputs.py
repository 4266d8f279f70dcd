"""Reading one symbol's slice of a run's input files, and the checks that make bad input loud.

A run directory holds all symbols in one file each (the reference's layout). A partition reads only
its symbol's rows (filter pushdown) and only the columns the labels use, so labelling one symbol
of a large run costs what that symbol costs. File-level problems (missing, unreadable, missing
columns, no rows for the symbol) are checked here; the rows themselves by ``label_pipeline.input_contract``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from label_pipeline.artifacts import FEATURE_COLUMNS, FEATURE_OPTIONAL_COLUMNS, REPLAY_COLUMNS
from label_pipeline.input_contract import (
    FeatureChecks,
    InputDataError,
    ReplayChecks,
    arrow_frame,
    check_feature_table,
    check_replay_table,
)
from label_pipeline.keys import RUN_DIM, PartitionKeyError, validate_key
from label_pipeline.slices import NotStreamable

__all__ = [
    "FEATURE_OPTIONAL",
    "FEATURE_READ",
    "FEATURE_RELPATH",
    "FEATURE_REQUIRED",
    "REPLAY_RELPATH",
    "REPLAY_REQUIRED",
    "InputDataError",
    "RunFiles",
    "file_identity",
    "normalize_features",
    "normalize_replay",
    "read_symbol_slice",
    "run_files",
    "check_file",
    "run_symbols",
    "symbol_batches",
]

# The columns read are the input artifacts' (label_pipeline.artifacts). data_quality_flag is required
# by the reference's input contract but feeds no label, so it is checked for presence and not read.
FEATURE_READ = tuple(c.name for c in FEATURE_COLUMNS)
# In the reference's contract order: the flag follows the split columns.
_FLAG_AT = FEATURE_READ.index("walk_forward_fold") + 1
FEATURE_REQUIRED = (*FEATURE_READ[:_FLAG_AT], "data_quality_flag", *FEATURE_READ[_FLAG_AT:])
FEATURE_OPTIONAL = tuple(c.name for c in FEATURE_OPTIONAL_COLUMNS)
REPLAY_REQUIRED = tuple(c.name for c in REPLAY_COLUMNS)

FEATURE_RELPATH = ("feature", "feature_frame.parquet")
REPLAY_RELPATH = ("replay", "replay_1m.parquet")


@dataclass(frozen=True)
class RunFiles:
    run_id: str
    run_dir: Path
    feature: Path
    replay: Path


def run_files(runs_root: str | os.PathLike[str], run_id: str) -> RunFiles:
    """The run's two input files. The run id names one folder under the runs root, so an id that
    is not a plain folder name (``..``, ``a/b``, ...) is refused rather than joined into a path."""
    try:
        validate_key(run_id, RUN_DIM)
    except PartitionKeyError as exc:
        raise InputDataError(f"run {run_id!r} cannot be read: {exc}") from exc
    run_dir = Path(runs_root) / run_id
    return RunFiles(run_id, run_dir, run_dir.joinpath(*FEATURE_RELPATH), run_dir.joinpath(*REPLAY_RELPATH))


def file_identity(path: Path) -> dict[str, Any]:
    """What identifies an input file's version cheaply: path, size and modification time."""
    stat = path.stat()
    return {"path": str(path), "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _check_exists(files: RunFiles, path: Path, what: str) -> None:
    if not files.run_dir.is_dir():
        raise InputDataError(
            f"run {files.run_id!r}: run directory {files.run_dir} does not exist; check LABEL_PIPELINE_RUNS_ROOT "
            "and the run id, or remove the run_id partition"
        )
    if path.is_dir():
        raise InputDataError(
            f"run {files.run_id!r}: {what} file {path} is a directory, not a parquet file; the run directory "
            f"must hold {'/'.join(FEATURE_RELPATH)} and {'/'.join(REPLAY_RELPATH)} as single files"
        )
    if not path.is_file():
        raise InputDataError(
            f"run {files.run_id!r}: {what} file {path} does not exist; the run directory must hold "
            f"{'/'.join(FEATURE_RELPATH)} and {'/'.join(REPLAY_RELPATH)}"
        )


def _unreadable(files: RunFiles, which: str, path: Path, exc: BaseException) -> InputDataError:
    return InputDataError(
        f"run {files.run_id!r}: {which} file {path} is not a readable parquet file "
        f"({type(exc).__name__}: {exc}); it may be truncated, corrupt or another format. Rewrite it from its "
        "source (nothing is stored from this file; the partition's stored labels stay as they were)"
    )


def _is_text(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    is_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    return pa.types.is_string(type_) or pa.types.is_large_string(type_) or is_view(type_)


def read_symbol_slice(files: RunFiles, which: str, symbol: str) -> pd.DataFrame:
    """Read ``symbol``'s rows of the run's feature or replay file, with the columns the labels use,
    and check them against the input contract (``label_pipeline.input_contract``)."""
    return arrow_frame(_read_checked(files, which, symbol))


def read_symbol_table(files: RunFiles, which: str, symbol: str) -> pa.Table:
    """``read_symbol_slice`` as the label step uses it: checked, then normalised in Arrow (UTC
    nanosecond event times whatever the file's unit or zone; bars stably sorted by event time)."""
    table = _read_checked(files, which, symbol)
    return normalize_features_table(table) if which == "feature" else normalize_replay_table(table)


def _utc_ns(table: pa.Table) -> pa.Table:
    """event_time as UTC nanoseconds: naive times are UTC (as ``pd.to_datetime(utc=True)``), zoned
    ones keep their instant; the unit is normalised so ms/us/ns files give the same labels."""
    index = table.schema.get_field_index("event_time")
    column = table.column(index)
    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
    return table.set_column(index, "event_time", column.cast(pa.timestamp("ns", tz="UTC")))


def normalize_features_table(table: pa.Table) -> pa.Table:
    """UTC event times, rows in file order (the reference never sorts the feature frame)."""
    return _utc_ns(table).combine_chunks()


def normalize_replay_table(table: pa.Table) -> pa.Table:
    """UTC event times and a stable sort by event time, as the reference's (symbol, event_time) lexsort."""
    table = _utc_ns(table).combine_chunks()
    if _in_time_order(table.column("event_time")):
        return table  # the stable sort would keep every row where it is: no copy of the bars
    order = pc.sort_indices(table, sort_keys=[("event_time", "ascending")])  # Arrow's sort is stable
    return table.take(order).combine_chunks()


BATCH_ROWS = 1 << 16  # rows decoded at a time while a slice is read: the read's transient is a batch
# A streamed read buffers this much of a column chunk at a time, without pre-buffering: else Arrow
# loads every column chunk of a row group at once (a writer's default row group is 1Mi rows:
# ~100 MB of columns for a feature file).
STREAM_BUFFER_BYTES = 1 << 20


def _in_time_order(times: pa.ChunkedArray) -> bool:
    """Whether event times (UTC nanoseconds, no nulls: the contract refuses them) never decrease."""
    if times.null_count:
        return False
    values = times.combine_chunks().view(pa.int64()).to_numpy()
    return bool((values[1:] >= values[:-1]).all())


def _symbol_groups(parquet: pq.ParquetFile, symbol: str) -> list[int]:
    """The row groups whose statistics may hold ``symbol``."""
    index = parquet.schema_arrow.get_field_index("symbol")
    groups = []
    for i in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(i).column(index).statistics
        if stats is not None and stats.has_min_max and isinstance(stats.min, str):
            if not (stats.min <= symbol <= stats.max):
                continue
        groups.append(i)
    return groups


def _read_symbol_rows(path: Path, columns: list[str], symbol: str) -> pa.Table:
    """One symbol's rows: only the row groups whose statistics may hold it are decoded, on this
    thread (Arrow's dataset scanner, which ``pq.read_table(filters=...)`` uses, leaves thread-pool
    work that aborted ~1 in 8 processes at exit). The symbol column is read first, ``BATCH_ROWS``
    rows at a time, to find the symbol's rows; then each column is read on its own in the same
    batches and filtered as it is read, so what the read holds beyond the slice is one column's
    batch, not the file, and each column is one contiguous array, allocated once. Text columns
    come back as plain strings (``_plain_text``), whatever the file stored them as."""
    parquet = pq.ParquetFile(path)
    groups = _symbol_groups(parquet, symbol)
    schema = _plain_text(parquet.schema_arrow.empty_table().select(columns)).schema

    def batches(column: str) -> Iterator[pa.Array]:
        if not groups:
            return
        for batch in parquet.iter_batches(
            batch_size=BATCH_ROWS, row_groups=groups, columns=[column], use_threads=False
        ):
            yield _plain_array(batch.column(0))

    # which rows are the symbol's, as one mask over the row groups read (a bit per row): a column's
    # batches need not fall where the symbol column's do (dictionary columns are batched on their own)
    masks = [pc.fill_null(pc.equal(symbols, symbol), False) for symbols in batches("symbol")]
    selected = pa.chunked_array(masks, type=pa.bool_())
    total = len(selected)
    arrays = []
    for field in schema:
        pieces = []
        offset = 0
        for values in batches(field.name):
            mask = selected.slice(offset, len(values))
            offset += len(values)
            hits = pc.sum(mask).as_py() or 0
            if hits == len(values):
                pieces.append(values)
            elif hits:
                pieces.append(values.filter(mask.combine_chunks()))
        if offset != total:
            raise pa.ArrowInvalid(f"column {field.name!r} has {offset} rows in the row groups read, 'symbol' {total}")
        if not pieces:
            arrays.append(pa.array([], type=field.type))
        else:
            arrays.append(pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces))
        del pieces
    return pa.Table.from_arrays(arrays, schema=schema)


def _plain_type(type_: pa.DataType) -> pa.DataType:
    """The type ``_plain_text`` gives a column: ``string`` for any text type, else its own."""
    value_type = type_.value_type if pa.types.is_dictionary(type_) else type_
    return pa.string() if _is_text(value_type) else type_


def _plain_array(array: pa.Array) -> pa.Array:
    """One column of ``_plain_text``."""
    return array.cast(pa.string()) if _plain_type(array.type) != array.type else array


def _plain_text(table: pa.Table) -> pa.Table:
    """Text columns as plain strings: a pandas ``category`` (Arrow dictionary), ``large_string`` or
    ``string_view`` column is the same text, and the labels carry the reference's ``object``
    strings whatever the file used."""
    for i, field in enumerate(table.schema):
        if _plain_type(field.type) != field.type:
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table


def _opened(files: RunFiles, which: str, symbol: str) -> tuple[Path, pa.Schema, list[str], str]:
    """The file's path and schema, the columns to read and how to name it: the file-level checks
    (exists, readable schema, required columns, a text symbol column)."""
    if which == "feature":
        path, required, read, optional = files.feature, FEATURE_REQUIRED, FEATURE_READ, FEATURE_OPTIONAL
    elif which == "replay":
        path, required, read, optional = files.replay, REPLAY_REQUIRED, REPLAY_REQUIRED, ()
    else:
        raise ValueError(f"unknown input {which!r}")
    _check_exists(files, path, which)
    where = f"run {files.run_id!r}, symbol {symbol!r}: {which} file {path}"
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(files, which, path, exc) from exc
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise InputDataError(
            f"{where} is missing required columns {missing}; it has {schema.names}. Add them in the source "
            "(the reference's input contract requires them) and rewrite the file"
        )
    symbol_type = schema.field("symbol").type
    if not (_is_text(symbol_type) or pa.types.is_null(symbol_type)):  # null: no symbol at all (empty file)
        raise InputDataError(
            f"{where}: column 'symbol' has type {symbol_type}; it must be a string column. Nothing is converted: "
            "write the symbols as strings in the source and rewrite the file"
        )
    return path, schema, list(read) + [c for c in optional if c in schema.names], where


def _read_checked(files: RunFiles, which: str, symbol: str) -> pa.Table:
    path, schema, columns, where = _opened(files, which, symbol)
    try:
        if pa.types.is_null(schema.field("symbol").type):
            rows, present, table = 0, [], None
        else:
            table = _read_symbol_rows(path, columns, symbol)
            rows = table.num_rows
            present = (
                pc.unique(
                    pq.ParquetFile(path).read(columns=["symbol"], use_threads=False).column("symbol")
                ).to_pylist()
                if not rows
                else []
            )
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(files, which, path, exc) from exc
    if rows == 0:
        present = sorted(str(s) for s in present if s is not None)
        raise InputDataError(
            f"run {files.run_id!r}: symbol {symbol!r} has no rows in {which} file {path}; "
            f"symbols present: {present[:20]}{' ...' if len(present) > 20 else ''}. "
            "Remove the partition or add the symbol's data"
        )
    if which == "feature":
        check_feature_table(table, where)
    else:
        check_replay_table(table, where)
    return table


def check_file(files: RunFiles, which: str, symbol: str) -> None:
    """The file-level checks alone (exists, readable schema, required columns, text symbols), so a
    partition names a missing run or file before it reads or builds anything."""
    _opened(files, which, symbol)


def symbol_batches(files: RunFiles, which: str, symbol: str) -> Iterator[pa.Table]:
    """``read_symbol_table`` as a stream of checked, normalised batches of at most ``BATCH_ROWS``
    file rows, so a slice of any span is read in a batch's memory. The Arrow contract checks each
    batch as it comes; anything the stream cannot settle raises ``NotStreamable`` and the caller
    reads the slice whole (``read_symbol_table``), which names the problem or sorts the bars: a
    batch that fails a check, keys that are not unique, bars out of time order (the sort needs
    every bar), no rows for the symbol. Keys that do not increase are checked at the end on
    their own column, read again."""
    path, schema, columns, _ = _opened(files, which, symbol)
    if pa.types.is_null(schema.field("symbol").type):
        raise NotStreamable(which)  # no symbol at all: the whole read says which symbols there are
    checks = FeatureChecks() if which == "feature" else ReplayChecks()
    rows = 0
    try:
        # pages, not whole column chunks, in memory
        parquet = pq.ParquetFile(path, buffer_size=STREAM_BUFFER_BYTES, pre_buffer=False)
        groups = _symbol_groups(parquet, symbol)
        metadata = schema.metadata
        for batch in parquet.iter_batches(
            batch_size=BATCH_ROWS, row_groups=groups, columns=columns, use_threads=False
        ) if groups else ():
            mask = pc.fill_null(pc.equal(_plain_array(batch.column("symbol")), symbol), False)
            block = pa.Table.from_batches([batch]).filter(mask)
            if not block.num_rows:
                continue
            block = _plain_text(block.select(columns).replace_schema_metadata(metadata))
            if not checks.add(block) or not checks.streamable:
                raise NotStreamable(which)
            rows += block.num_rows
            yield _utc_ns(block)
    except (pa.ArrowException, OSError) as exc:
        raise NotStreamable(which) from exc
    if rows == 0:
        raise NotStreamable(which)
    try:  # keys out of order (shuffled rows, random ids): their uniqueness needs every key
        keys = _read_symbol_rows(path, checks.undecided, symbol) if checks.undecided else None
    except (pa.ArrowException, OSError) as exc:
        raise NotStreamable(which) from exc
    if not checks.finish(keys):
        raise NotStreamable(which)


def normalize_features(frame: pd.DataFrame) -> pd.DataFrame:
    """UTC event times, rows in file order (the reference never sorts the feature frame)."""
    frame = frame.reset_index(drop=True)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame


def normalize_replay(frame: pd.DataFrame) -> pd.DataFrame:
    """UTC event times and a stable sort by event time, as the reference's (symbol, event_time) lexsort."""
    frame = frame.reset_index(drop=True)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame.sort_values("event_time", kind="stable").reset_index(drop=True)


def run_symbols(runs_root: str | os.PathLike[str], run_id: str) -> list[str]:
    """Distinct symbols of a run, read from the replay file's symbol column alone."""
    files = run_files(runs_root, run_id)
    if not files.replay.is_file():
        raise InputDataError(f"run {run_id!r}: replay file {files.replay} does not exist")
    symbols = pc.unique(
        pq.ParquetFile(files.replay).read(columns=["symbol"], use_threads=False).column("symbol")
    ).to_pylist()
    return sorted(str(s) for s in symbols if s is not None)
