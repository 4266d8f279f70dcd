"""The two upstream assets: one symbol's slice of a run's feature frame and 1-minute bars.

Each slice is stored in the label store with its content hash as data version, so the labels
downstream turn stale exactly when a symbol's own data changed, not when another symbol's did.
"""

from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, Output, asset

from label_pipeline.dagster_types import FeatureFrame, ReplayFrame
from label_pipeline.inputs import (
    InputDataError,
    file_identity,
    normalize_features,
    normalize_replay,
    read_symbol_slice,
)
from label_pipeline.keys import PartitionKeyError, validate_key
from label_pipeline.manifest import versioned_output
from label_pipeline.partitions import RUN_DIM, SYMBOL_DIM, run_symbol_partitions
from label_pipeline.resources import RunsRoot

INPUT_CODE_VERSION = "inputs-1"


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


def _slice_output(frame: pd.DataFrame, source_path: Path) -> Output:
    times = frame["event_time"]
    metadata = {
        "first_event_time": str(times.min()) if len(frame) else "",
        "last_event_time": str(times.max()) if len(frame) else "",
        "source_file": MetadataValue.json(file_identity(source_path)),
    }
    return versioned_output(frame, metadata)


@asset(
    partitions_def=run_symbol_partitions,
    dagster_type=FeatureFrame,
    io_manager_key="label_store",
    code_version=INPUT_CODE_VERSION,
    group_name="inputs",
    kinds={"parquet", "pandas"},
)
def feature_frame(context: AssetExecutionContext, runs_root: RunsRoot) -> Output:
    """One symbol's rows of ``{run}/feature/feature_frame.parquet``, in file order, event_time in UTC."""
    return _slice_output(*_read_slice(runs_root, context, "feature"))


@asset(
    partitions_def=run_symbol_partitions,
    dagster_type=ReplayFrame,
    io_manager_key="label_store",
    code_version=INPUT_CODE_VERSION,
    group_name="inputs",
    kinds={"parquet", "pandas"},
)
def replay_1m(context: AssetExecutionContext, runs_root: RunsRoot) -> Output:
    """One symbol's 1-minute bars of ``{run}/replay/replay_1m.parquet``, stably sorted by event_time."""
    return _slice_output(*_read_slice(runs_root, context, "replay"))
