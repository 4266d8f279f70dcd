"""The two upstream assets: one symbol's slice of a run's feature frame and 1-minute bars.

Each slice is stored in the label store with its content hash as data version, so the labels
downstream turn stale exactly when a symbol's own data changed, not when another symbol's did.
"""

from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MetadataValue, Output, asset

from label_pipeline.artifacts import INPUT_ARTIFACTS, Artifact
from label_pipeline.assets.sources import SOURCE_KEYS
from label_pipeline.dagster_types import DAGSTER_TYPES
from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.inputs import (
    InputDataError,
    file_identity,
    normalize_features,
    normalize_replay,
    read_symbol_slice,
)
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM, PartitionKeyError, validate_key
from label_pipeline.manifest import versioned_output
from label_pipeline.partitions import BACKFILL_POLICY, run_symbol_partitions
from label_pipeline.resources import RunsRoot

INPUT_CODE_VERSION = "inputs-1"
# Which of the run's two files each input artifact slices.
FILE_OF_INPUT = {"feature_frame": "feature", "replay_1m": "replay"}


def _read_slice(runs_root: RunsRoot, context: AssetExecutionContext, which: str) -> tuple[pd.DataFrame, Path]:
    """Read, check and normalise the partition's slice; bad input becomes a Dagster ``Failure`` whose
    description is the whole explanation, so the UI shows it at the top of the failed step.

    The keys are checked again here: a partition added outside ``register_partitions`` (the UI's
    "add partition", the GraphQL API) has never been validated.
    """
    keys = context.partition_key.keys_by_dimension
    run_id, symbol = keys[RUN_DIM], keys[SYMBOL_DIM]
    source = ""
    try:
        validate_key(symbol, SYMBOL_DIM)
        files = runs_root.files(run_id)  # validates the run id
        source = str(getattr(files, which))
        frame = read_symbol_slice(files, which, symbol)
        frame = normalize_features(frame) if which == "feature" else normalize_replay(frame)
    except (InputDataError, PartitionKeyError) as exc:
        raise Failure(
            description=str(exc),
            metadata={"run_id": run_id, "symbol": symbol, "file": source},
            allow_retries=False,
        ) from exc
    return frame, getattr(files, which)


def _slice_output(art: Artifact, frame: pd.DataFrame, source_path: Path) -> Output:
    times = frame["event_time"]
    metadata = {
        "first_event_time": str(times.min()) if len(frame) else "",
        "last_event_time": str(times.max()) if len(frame) else "",
        "source_file": MetadataValue.json(file_identity(source_path)),
    }
    return versioned_output(art, frame, metadata)


def _input_asset(art: Artifact) -> AssetsDefinition:
    which = FILE_OF_INPUT[art.name]

    with accepted_preview_apis():  # backfill_policy is beta in name

        @asset(
            name=art.name,
            description=art.description,
            partitions_def=run_symbol_partitions,
            dagster_type=DAGSTER_TYPES[art.name],
            io_manager_key="label_store",
            code_version=INPUT_CODE_VERSION,
            group_name="inputs",
            kinds={"parquet", "pandas"},
            deps=[SOURCE_KEYS[which]],
            required_resource_keys={"runs_root"},
            backfill_policy=BACKFILL_POLICY,
        )
        def input_slice(context: AssetExecutionContext) -> Output:
            return _slice_output(art, *_read_slice(context.resources.runs_root, context, which))

    return input_slice


INPUT_ASSETS = [_input_asset(a) for a in INPUT_ARTIFACTS]
