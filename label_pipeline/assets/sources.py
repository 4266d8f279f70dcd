"""The run's input files as observable source assets, one data version per (run_id, symbol).

``feature_file`` and ``replay_file`` sit upstream of ``feature_frame`` and ``replay_1m``. A
partition's data version is the content hash of *that symbol's* rows of the file, over the columns
the slice reads, so rewriting a file in which only one symbol's bars changed makes exactly that
partition's input slice stale (Dagster compares the observation after the slice's materialization
with the one before); a changed column the labels never read changes nothing.

Observations are recorded by the run sensor (when a file's size or mtime changed), by the backfill
schedule before it selects work, and by the UI's "Observe" button (the observe function below, over
every registered run). Each observation carries the file's identity (path, size, mtime) as metadata,
so "changed since the last observation" is one event-log lookup per file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from dagster import (
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    DagsterInstance,
    DataVersion,
    DataVersionsByPartition,
    MetadataValue,
    observable_source_asset,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.hashing import content_hash
from label_pipeline.inputs import (
    FEATURE_OPTIONAL,
    FEATURE_READ,
    FEATURE_RELPATH,
    REPLAY_RELPATH,
    REPLAY_REQUIRED,
    file_identity,
    run_files,
)
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM, PartitionKeyError, validate_key
from label_pipeline.partitions import partition_key, run_symbol_partitions
from label_pipeline.resources import RunsRoot

SOURCE_KEYS: dict[str, AssetKey] = {"feature": AssetKey("feature_file"), "replay": AssetKey("replay_file")}
IDENTITY_KEY = "source_file"


def input_path(runs_root: str, run_id: str, which: str) -> Path:
    files = run_files(runs_root, run_id)
    return files.feature if which == "feature" else files.replay


def symbol_data_versions(path: Path, which: str) -> dict[str, str]:
    """The content hash of each symbol's rows of one input file (file order, the columns read).

    One read of the file for all symbols; only the columns the input slices read are hashed.
    """
    wanted = list(FEATURE_READ) + list(FEATURE_OPTIONAL) if which == "feature" else list(REPLAY_REQUIRED)
    names = pq.read_schema(path).names
    frame = (
        pq.ParquetFile(path).read(columns=[c for c in wanted if c in names], use_threads=False).to_pandas()
    )
    if "symbol" not in frame.columns:
        return {}
    return {
        str(symbol): content_hash(group.reset_index(drop=True))
        for symbol, group in frame.groupby("symbol", sort=False, dropna=True)
    }


def _valid_symbols(symbols: Iterable[str]) -> list[str]:
    valid = []
    for symbol in symbols:
        try:
            valid.append(validate_key(symbol, SYMBOL_DIM))
        except PartitionKeyError:
            continue  # registration refuses such a run with the reason; nothing to observe
    return valid


def observe_file(runs_root: str, run_id: str, which: str) -> list[AssetObservation]:
    """Observations of every symbol of one input file, each with the file's identity as metadata."""
    path = input_path(runs_root, run_id, which)
    identity = file_identity(path)
    versions = symbol_data_versions(path, which)
    return [
        AssetObservation(
            asset_key=SOURCE_KEYS[which],
            partition=str(partition_key(run_id, symbol)),
            tags={DATA_VERSION_TAG: versions[symbol]},
            metadata={IDENTITY_KEY: MetadataValue.json(identity)},
        )
        for symbol in _valid_symbols(versions)
    ]


def last_observed_identity(
    instance: DagsterInstance, which: str, run_id: str, symbols: list[str]
) -> dict[str, Any] | None:
    """The file identity recorded by the latest observation of any of the run's partitions."""
    records = instance.fetch_observations(
        AssetRecordsFilter(
            asset_key=SOURCE_KEYS[which],
            asset_partitions=[partition_key(run_id, s) for s in _valid_symbols(symbols)],
        ),
        limit=1,
    ).records
    if not records:
        return None
    observation = records[0].asset_observation
    value = observation.metadata.get(IDENTITY_KEY) if observation else None
    return value.value if value is not None else None


def observe_changed_inputs(
    instance: DagsterInstance, runs_root: str, run_id: str, symbols: list[str]
) -> list[AssetObservation]:
    """Observations for the run's input files whose identity differs from their last observation."""
    events: list[AssetObservation] = []
    for which in SOURCE_KEYS:
        path = input_path(runs_root, run_id, which)
        if not path.is_file():
            continue
        if last_observed_identity(instance, which, run_id, symbols) != file_identity(path):
            events += observe_file(runs_root, run_id, which)
    return events


def _observe_all(context: Any, runs_root: RunsRoot, which: str) -> DataVersionsByPartition:
    """Every registered (run, symbol) partition's data version, for the UI's "Observe" button."""
    instance = context.instance
    registered = set(instance.get_dynamic_partitions(SYMBOL_DIM))
    versions: dict[str, DataVersion] = {}
    for run_id in instance.get_dynamic_partitions(RUN_DIM):
        path = input_path(runs_root.root, run_id, which)
        if not path.is_file():
            context.log.warning(f"run {run_id!r}: {path} does not exist; not observed")
            continue
        for symbol, version in symbol_data_versions(path, which).items():
            if symbol in registered:
                versions[partition_key(run_id, symbol)] = DataVersion(version)
    return DataVersionsByPartition(versions)


def _source(which: str, relpath: tuple[str, ...], rows: str) -> Any:
    with accepted_preview_apis():  # observable sources are beta in name; staleness uses them

        @observable_source_asset(
            name=SOURCE_KEYS[which].path[-1],
            partitions_def=run_symbol_partitions,
            group_name="inputs",
            description=f"{{run}}/{'/'.join(relpath)}; data version per (run, symbol): the hash of "
            f"that symbol's {rows}.",
            required_resource_keys={"runs_root"},
        )
        def source(context) -> DataVersionsByPartition:
            return _observe_all(context, context.resources.runs_root, which)

    return source


SOURCES = [_source("feature", FEATURE_RELPATH, "rows"), _source("replay", REPLAY_RELPATH, "bars")]
