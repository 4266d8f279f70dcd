"""The label store: one parquet file per asset per partition, written atomically.

Layout under the storage root (a local path or any fsspec URL)::

    {root}/{asset}/{run_id}/{symbol}.parquet     run_id x symbol assets
    {root}/{asset}/{run_id}.parquet              run_id assets (price_plan_context)

Each key is percent-encoded into one path segment (``BTC/USDT`` -> ``BTC%2FUSDT``), so no key can
nest directories or leave the root, and the files open with plain pandas or pyarrow. Writes are
atomic (``write_parquet_atomic``); hidden ``.*.tmp`` files are in-flight or abandoned writes.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, MetadataValue, MultiPartitionKey, OutputContext
from fsspec.implementations.local import LocalFileSystem
from upath import UPath

from label_pipeline.keys import encode_segment
from label_pipeline.partitions import RUN_DIM, SYMBOL_DIM


def storage_path(
    root: str | os.PathLike[str], asset_name: str, run_id: str, symbol: str | None = None
) -> UPath:
    """Where an asset partition's file lives; the one place that maps keys to paths.

    Every key passes through ``encode_segment`` (one segment, never ``.``/``..``, never hidden), so
    the path is always a file two or three levels below ``root``; a local path is checked anyway.
    """
    if run_id == "" or symbol == "":
        raise ValueError(f"{asset_name}: an empty partition key cannot name a stored file")
    base = UPath(root) / asset_name / encode_segment(run_id)
    path = (
        base.with_name(base.name + ".parquet")
        if symbol is None
        else base / f"{encode_segment(symbol)}.parquet"
    )
    if isinstance(path.fs, LocalFileSystem):
        root_dir = os.path.abspath(UPath(root).path)
        if os.path.commonpath([root_dir, os.path.abspath(path.path)]) != root_dir:
            raise ValueError(
                f"storage path {path} for {asset_name} {run_id!r}/{symbol!r} leaves the root {root_dir}"
            )
    return path


# Temporary files: ".{file name}.{host}-{pid}.{random}.tmp" beside the target. The leading dot hides
# them from readers (``glob('*.parquet')``, pyarrow datasets skip hidden files); host and pid say
# whose they are, so a later write of the same file removes those of dead local processes (a
# process killed mid-write leaves its temporary file behind; nothing else can remove it then).
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
STALE_TEMP_SECONDS = 24 * 3600  # another host's temporary file is removed once it is this old


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: rely on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(target: Path) -> list[Path]:
    """Remove temporary files left beside ``target`` by writers that died (kill -9, power loss).

    A temporary file of a live process on this host is left alone (it may be mid-write); one of
    another host only once older than ``STALE_TEMP_SECONDS``. Returns what was removed.
    """
    removed = []
    prefix = _temp_prefix(target)
    try:
        candidates = [
            p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")
        ]
    except OSError:
        return removed
    for candidate in candidates:
        owner = candidate.name[len(prefix) :].split(".", 1)[0]
        host, _, pid = owner.partition("-")
        try:
            if host == _HOST and pid.isdigit():
                stale = not _pid_alive(int(pid))
            else:
                stale = time.time() - candidate.stat().st_mtime > STALE_TEMP_SECONDS
            if stale:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue  # removed concurrently by another writer, or not ours to remove: best effort
    return removed


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the directory entry (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# One per feature row: a dictionary of them overflows and is dropped after costing ~30% of the
# write, and their min/max statistics order a million strings that no reader prunes on.
ROW_IDS = frozenset({"sample_id"})


def _write_options(table: pa.Table) -> dict:
    """Dictionary-encode the text columns that repeat (symbols, sides, splits, plan hashes), not
    the floats (trying a dictionary on a million distinct floats costs ~40% of the write for
    nothing) nor the row ids; statistics on every column but the row ids (readers and
    ``FileSlice`` prune row groups by time on them)."""
    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return {
        "use_dictionary": [name for name in text if name not in ROW_IDS],
        "write_statistics": [name for name in table.column_names if name not in ROW_IDS],
    }


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table, with empty text columns typed as text.

    pandas gives the text columns of an empty frame (or an all-None text column) ``object`` dtype
    with no values, and Arrow infers type ``null`` for them. A ``null`` column in one partition's
    file breaks every reader of the asset's folder as one dataset (pyarrow, pandas, DuckDB:
    "Unsupported cast from string to null"), so such columns are written as ``string``, the only
    ``object`` content the label frames hold. Other columns are left exactly as inferred.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dtypes = frame.dtypes  # positional: the table's columns are the frame's, in order
    if table.num_columns != len(dtypes):
        return table
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type) and pd.api.types.is_object_dtype(dtypes.iloc[i]):
            table = table.set_column(i, field.with_type(pa.string()), table.column(i).cast(pa.string()))
    return table


def write_parquet_atomic(
    frame: pd.DataFrame, path: UPath, file_metadata: dict[str, str] | None = None
) -> int:
    """Write ``frame`` so that readers see the old file or the whole new one, never a part.

    ``file_metadata`` goes into the parquet footer's key-value metadata, written with the data.

    Locally: a hidden temporary file in the same directory, fsync, a check that its footer holds
    every row, then ``os.replace`` (atomic on POSIX and Windows) and an fsync of the directory. A
    process killed at any point leaves the old file or the new one, plus at most a hidden temporary
    file that the next write of the same file removes. On object stores a single PUT is already
    atomic, so the file is written in place. Returns the file size.
    """
    table = _arrow_table(frame)
    options = _write_options(table)  # after the cast: empty text columns are dictionary-encoded too
    if file_metadata:
        encoded = {k.encode(): v.encode() for k, v in file_metadata.items()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **encoded})
    if isinstance(path.fs, LocalFileSystem):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(target)
        fd, tmp = tempfile.mkstemp(
            prefix=f"{_temp_prefix(target)}{_HOST}-{os.getpid()}.", suffix=".tmp", dir=target.parent
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                pq.write_table(table, handle, **options)
                handle.flush()
                os.fsync(handle.fileno())
            stored_rows = pq.read_metadata(tmp).num_rows
            if stored_rows != table.num_rows:
                raise OSError(
                    f"{tmp} holds {stored_rows} rows after writing {table.num_rows}; not replacing {target}"
                )
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return target.stat().st_size
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pq.write_table(table, handle, **options)
    return path.stat().st_size


ROW_GROUP_ROWS = 32_768  # fixed, so a file's bytes do not depend on how its partition was chunked; small, as
# each artifact holds up to this many rows until they are written (-70 MB peak on a symbol-year vs 131,072)


def _text_for_null(schema: pa.Schema) -> pa.Schema:
    """Columns that carry no values at all (Arrow type ``null``) are stored as text, as
    ``_arrow_table`` does for pandas frames."""
    return pa.schema(
        [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema],
        metadata=schema.metadata,
    )


class StagedFile:
    """One artifact's file of one partition, written as its rows arrive and published later.

    Rows go to a hidden temporary file beside the target (the naming and clean-up of
    ``write_parquet_atomic``) in row groups of exactly ``ROW_GROUP_ROWS`` rows, whatever the sizes
    of the chunks written, so chunked and whole-frame writes give the same bytes. ``finish``
    closes it with the footer entries (content hash, row count) and checks the rows, and starts
    its fsync on a thread of its own (disk time, no CPU: it overlaps the partition's remaining
    work, and the pass reads a finished input file back meanwhile); ``publish`` waits for that
    fsync and renames the file over the target. The label step publishes a partition's files only
    once every one of them is finished (all old or all new); ``discard`` removes an unpublished
    one. On object stores the file is built in memory and PUT on publish (a single PUT is atomic).
    """

    def __init__(self, path: UPath, schema: pa.Schema):
        self.path = path
        self.schema = _text_for_null(schema)
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._local = isinstance(path.fs, LocalFileSystem)
        self._sync: threading.Thread | None = None
        self._sync_error: OSError | None = None
        if self._local:
            target = Path(path.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(target)
            fd, tmp = tempfile.mkstemp(
                prefix=f"{_temp_prefix(target)}{_HOST}-{os.getpid()}.", suffix=".tmp", dir=target.parent
            )
            self._tmp: Path | None = Path(tmp)
            self._handle: Any = os.fdopen(fd, "wb")
        else:
            self._tmp = None
            self._handle = io.BytesIO()
        self._writer = pq.ParquetWriter(
            self._handle, self.schema, **_write_options(self.schema.empty_table())
        )

    def write(self, table: pa.Table) -> None:
        if table.schema != self.schema:
            table = table.cast(self.schema)
        self.rows += table.num_rows
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        pending = pa.concat_tables(self._pending)
        self._writer.write_table(pending.slice(0, rows), row_group_size=rows)
        rest = pending.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def finish(self, footer: dict[str, str]) -> None:
        """Write the last row group and the footer; the file is complete but not yet published."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._writer.add_key_value_metadata(footer)
        self._writer.close()
        if self._local:
            self._handle.flush()
            stored = pq.read_metadata(self._tmp).num_rows
            if stored != self.rows:
                self._handle.close()
                raise OSError(
                    f"{self._tmp} holds {stored} rows after writing {self.rows}; not publishing {self.path}"
                )
            self._sync = threading.Thread(target=self._fsync, name="label-fsync", daemon=True)
            self._sync.start()

    def _fsync(self) -> None:
        try:
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self._sync_error = exc
        finally:
            self._handle.close()

    def wait(self) -> None:
        """Wait for the fsync ``finish`` started; raise what it raised. A partition waits for all
        of its files before it renames any (``engine.PartitionOutput.publish``)."""
        if self._sync is not None:
            self._sync.join()
            self._sync = None
        error, self._sync_error = self._sync_error, None
        if error is not None:
            raise error

    def readable(self) -> Any:
        """The finished file, to read back before it is published: its path, or its bytes."""
        if self._local:
            return str(self._tmp)
        return pa.BufferReader(self._handle.getvalue())

    def publish(self) -> int:
        """Put the finished file in place (atomic rename locally); returns its size."""
        if self._local:
            self.wait()  # the bytes are on disk before the name points at them
            target = Path(self.path.path)
            os.replace(self._tmp, target)
            _fsync_dir(target.parent)
            self._tmp = None
            return target.stat().st_size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("wb") as handle:
            handle.write(self._handle.getvalue())
        return self.path.stat().st_size

    def discard(self) -> None:
        """Drop an unpublished file (a failed partition): nothing of it reaches the target."""
        try:
            self.wait()
        except OSError:
            pass  # the file is dropped anyway
        for close in (self._writer.close, self._handle.close):
            try:
                close()
            except (OSError, ValueError, pa.ArrowException):
                pass  # already closed, or the disk that failed the write fails this too
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def read_parquet(path: UPath) -> pd.DataFrame:
    with path.open("rb") as handle:
        return (
            pq.ParquetFile(handle).read(use_threads=False).to_pandas()
        )  # no dataset scanner: see inputs._read_symbol_rows


CONTENT_HASH_KEY = "label_pipeline.content_hash"
ROW_COUNT_KEY = "label_pipeline.row_count"


def stored_file_metadata(path: UPath) -> dict[str, str]:
    """The label store's own entries of a stored file's footer: the ``content_hash`` and
    ``dagster/row_count`` its materialization recorded, written atomically with the data. A file
    whose footer hash differs from the partition's last recorded ``content_hash`` was written by a
    materialization that did not finish recording (killed between the rename and the event)."""
    with path.open("rb") as handle:
        metadata = pq.read_metadata(handle).metadata or {}  # the footer: schema and writer entries
    wanted = {CONTENT_HASH_KEY.encode(), ROW_COUNT_KEY.encode()}
    return {k.decode(): v.decode() for k, v in metadata.items() if k in wanted}


class LabelStoreIOManager(ConfigurableIOManager):
    """Stores partitioned frames as parquet under ``root`` (env ``LABEL_PIPELINE_STORAGE_ROOT``)."""

    root: str

    def _path(self, context: InputContext | OutputContext) -> UPath:
        asset_name = context.asset_key.path[-1]
        if not context.has_asset_partitions:
            raise ValueError(
                f"{asset_name} is not partitioned; the label store only holds partitioned assets"
            )
        keys = context.asset_partition_keys
        if len(keys) != 1:
            raise ValueError(
                f"{asset_name}: the label store reads and writes one partition at a time, got {len(keys)}"
            )
        key = keys[0]
        if isinstance(key, MultiPartitionKey):
            dims = key.keys_by_dimension
            return storage_path(self.root, asset_name, dims[RUN_DIM], dims[SYMBOL_DIM])
        return storage_path(self.root, asset_name, key)

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        path = self._path(context)
        recorded = {k: getattr(v, "value", v) for k, v in context.output_metadata.items()}
        file_metadata = {ROW_COUNT_KEY: str(len(obj))}
        if isinstance(recorded.get("content_hash"), str):
            file_metadata[CONTENT_HASH_KEY] = recorded["content_hash"]
        size = write_parquet_atomic(obj, path, file_metadata)
        context.add_output_metadata({"storage_path": MetadataValue.path(str(path)), "size_bytes": size})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        path = self._path(context)
        try:
            return read_parquet(path)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()} partition {context.asset_partition_keys[0]!r} has no stored "
                f"file at {path}; materialize that partition first"
            ) from exc
