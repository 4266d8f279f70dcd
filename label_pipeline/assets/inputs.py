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
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import Failure, MetadataValue

from label_pipeline.inputs import InputDataError, file_identity, read_symbol_table
from label_pipeline.keys import SYMBOL_DIM, PartitionKeyError, validate_key
from label_pipeline.resources import RunsRoot
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


def read_from_run(runs_root: RunsRoot, run_id: str, symbol: str, name: str) -> tuple[pa.Table, Path]:
    """Read, check and normalise the partition's slice; bad input becomes a Dagster ``Failure`` whose
    description is the whole explanation, so the UI shows it at the top of the failed step.

    The keys are checked again here: a partition added outside ``register_partitions`` (the UI's
    "add partition", the GraphQL API) has never been validated.
    """
    which = FILE_OF_INPUT[name]
    source = ""
    try:
        validate_key(symbol, SYMBOL_DIM)
        files = runs_root.files(run_id)  # validates the run id
        source = str(getattr(files, which))
        return read_symbol_table(files, which, symbol), getattr(files, which)
    except (InputDataError, PartitionKeyError) as exc:
        raise Failure(
            description=str(exc),
            metadata={"run_id": run_id, "symbol": symbol, "file": source},
            allow_retries=False,
        ) from exc


def read_from_store(store_root: str, run_id: str, symbol: str, name: str) -> pa.Table:
    """The stored slice (labels selected without their inputs are built from it)."""
    path = storage_path(store_root, name, run_id, symbol)
    try:
        with path.open("rb") as handle:
            return pq.ParquetFile(handle).read(use_threads=False)
    except FileNotFoundError as exc:
        raise Failure(
            description=f"{name} of partition {run_id}|{symbol} has no stored file at {path}; select {name} "
            "too (label_job does), or materialize it first",
            allow_retries=False,
        ) from exc


def slice_metadata(table: pa.Table, identity: dict[str, Any]) -> dict[str, Any]:
    """The slice's time range and the identity of the file version it was read from."""

    def when(scalar: pa.Scalar) -> str:
        return str(pd.Timestamp(scalar.value, unit="ns", tz="UTC")) if scalar.is_valid else ""

    times = table.column("event_time")
    return {
        "first_event_time": when(pc.min(times)) if table.num_rows else "",
        "last_event_time": when(pc.max(times)) if table.num_rows else "",
        "source_file": MetadataValue.json(identity),
    }
