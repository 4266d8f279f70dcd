"""The label step's inputs: one symbol's slice of a run's feature frame and 1-minute bars.

Both slices are assets of their own (``feature_frame``, ``replay_1m``), stored with their content
hash as data version, so the labels downstream turn stale exactly when a symbol's own data
changed. When a slice is selected it is read from the run's file; when only labels are selected,
the stored slice is what they are built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import Failure, MetadataValue
from fsspec.implementations.local import LocalFileSystem

from label_pipeline.inputs import InputDataError, check_file, file_identity, read_symbol_table, symbol_batches
from label_pipeline.keys import SYMBOL_DIM, PartitionKeyError, validate_key
from label_pipeline.resources import RunsRoot
from label_pipeline.slices import FileSlice, Streamed
from label_pipeline.storage import storage_path

INPUT_CODE_VERSION = "inputs-1"
# Which of the run's two files each input artifact slices.
FILE_OF_INPUT = {"feature_frame": "feature", "replay_1m": "replay"}


def identities(runs_root: RunsRoot, run_id: str) -> dict[str, dict[str, Any]]:
    """Both input files' identity (path, size, mtime), taken before either is read."""
    files = runs_root.files(run_id)
    out = {}
    for name, which in FILE_OF_INPUT.items():
        path = getattr(files, which)
        try:
            out[name] = file_identity(path)
        except OSError:
            out[name] = {"path": str(path), "missing": True}
    return out


def require_unchanged(
    runs_root: RunsRoot, run_id: str, symbol: str, before: dict[str, dict[str, Any]]
) -> None:
    """Labels must come from one version of the inputs: a file replaced while the partition read
    them fails the partition (nothing is published); the next attempt reads the new versions."""
    after = identities(runs_root, run_id)
    changed = [name for name in before if after.get(name) != before[name]]
    if changed:
        raise Failure(
            description=f"partition {run_id}|{symbol}: {', '.join(before[n]['path'] for n in changed)} changed while "
            "the partition was reading its inputs (size or mtime differ from when the read began), so its labels "
            "could mix two versions of the data. Nothing was written; materialize the partition again once the "
            "files are complete (the run sensor and the backfill schedule do so on their next tick)",
            metadata={"before": MetadataValue.json(before), "after": MetadataValue.json(after)},
        )


def source_from_run(runs_root: RunsRoot, run_id: str, symbol: str, name: str) -> tuple[Streamed, Path]:
    """The partition's slice of the run's file, to be read (streamed, or whole when it cannot be:
    ``label_pipeline.slices``), checked and normalised by the label step; the file's path.

    The keys are checked here, before anything is read: a partition added outside
    ``register_partitions`` (the UI's "add partition", the GraphQL API) has never been validated.
    """
    which = FILE_OF_INPUT[name]
    source = ""
    try:
        validate_key(symbol, SYMBOL_DIM)
        files = runs_root.files(run_id)  # validates the run id
        source = str(getattr(files, which))
        check_file(files, which, symbol)
    except (InputDataError, PartitionKeyError) as exc:
        # the whole explanation as the description: the UI shows it at the top of the failed step
        raise Failure(
            description=str(exc),
            metadata={"run_id": run_id, "symbol": symbol, "file": source},
            allow_retries=False,
        ) from exc
    return (
        Streamed(
            batches=lambda: symbol_batches(files, which, symbol),
            whole=lambda: read_symbol_table(files, which, symbol),
        ),
        getattr(files, which),
    )


def read_from_store(store_root: str, run_id: str, symbol: str, name: str) -> pa.Table:
    """The stored slice, whole (position samples built from the stored entry labels read them so)."""
    with open_from_store(store_root, run_id, symbol, name) as stored:
        return stored.rows(0, stored.num_rows)


def open_from_store(store_root: str, run_id: str, symbol: str, name: str) -> FileSlice:
    """The stored slice, read a chunk at a time (labels selected without their inputs are built from it)."""
    path = storage_path(store_root, name, run_id, symbol)
    try:
        return FileSlice(path.path if isinstance(path.fs, LocalFileSystem) else path.open("rb"))
    except FileNotFoundError as exc:
        raise Failure(
            description=f"{name} of partition {run_id}|{symbol} has no stored file at {path}; select {name} "
            "too (label_job does), or materialize it first",
            allow_retries=False,
        ) from exc


def slice_metadata(first_ns: int | None, last_ns: int | None, identity: dict[str, Any]) -> dict[str, Any]:
    """The slice's time range and the identity of the file version it was read from."""

    def when(ns: int | None) -> str:
        return str(pd.Timestamp(ns, unit="ns", tz="UTC")) if ns is not None else ""

    return {
        "first_event_time": when(first_ns),
        "last_event_time": when(last_ns),
        "source_file": MetadataValue.json(identity),
    }
