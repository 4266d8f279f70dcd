"""The label store: one parquet file per asset per partition, written atomically.

Layout under the storage root (a local path or any fsspec URL)::

    {root}/{asset}/{run_id}/{symbol}.parquet     run_id x symbol assets
    {root}/{asset}/{run_id}.parquet              run_id assets (price_plan_context)

Each key is percent-encoded into one path segment (``BTC/USDT`` -> ``BTC%2FUSDT``), so no key can
nest directories or leave the root, and the files open with plain pandas or pyarrow.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

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
    """Where an asset partition's file lives; the one place that maps keys to paths."""
    base = UPath(root) / asset_name / encode_segment(run_id)
    if symbol is None:
        return base.with_name(base.name + ".parquet")
    return base / f"{encode_segment(symbol)}.parquet"


def write_parquet_atomic(frame: pd.DataFrame, path: UPath) -> int:
    """Write ``frame`` so that readers see the old file or the whole new one, never a part.

    Locally: a temporary file in the same directory, fsync, then ``os.replace``. On object stores a
    single PUT is already atomic, so the file is written in place. Returns the file size.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if isinstance(path.fs, LocalFileSystem):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".{uuid.uuid4().hex[:8]}.tmp", dir=target.parent
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target.stat().st_size
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pq.write_table(table, handle)
    return path.stat().st_size


def read_parquet(path: UPath) -> pd.DataFrame:
    with path.open("rb") as handle:
        return pq.read_table(handle).to_pandas()


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
        size = write_parquet_atomic(obj, path)
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
