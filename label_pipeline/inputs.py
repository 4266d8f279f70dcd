"""Reading one symbol's slice of a run's input files, and the checks that make bad input loud.

A run directory holds all symbols in one file each (the reference's layout). A partition reads only
its symbol's rows (filter pushdown) and only the columns the labels use, so labelling one symbol
of a large run costs what that symbol costs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FEATURE_REQUIRED = (
    "sample_id",
    "symbol",
    "event_time",
    "open_time_ms",
    "split_id",
    "walk_forward_fold",
    "data_quality_flag",
    "spread_bps",
    "spread_rank_24h_pct",
    "realized_vol_15m_bps",
)
# data_quality_flag is required by the reference's input contract but feeds no label, so it is checked
# for presence and not read.
FEATURE_READ = tuple(c for c in FEATURE_REQUIRED if c != "data_quality_flag")
FEATURE_OPTIONAL = ("ret_15m_bps",)
REPLAY_REQUIRED = ("symbol", "event_time", "open_time_ms", "open", "high", "low", "close", "spread_bps")

FEATURE_RELPATH = ("feature", "feature_frame.parquet")
REPLAY_RELPATH = ("replay", "replay_1m.parquet")


class InputDataError(ValueError):
    """Input data that cannot be labelled; the message names the run, file, columns and rows."""


@dataclass(frozen=True)
class RunFiles:
    run_id: str
    run_dir: Path
    feature: Path
    replay: Path


def run_files(runs_root: str | os.PathLike[str], run_id: str) -> RunFiles:
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
    if not path.is_file():
        raise InputDataError(
            f"run {files.run_id!r}: {what} file {path} does not exist; the run directory must hold "
            f"{'/'.join(FEATURE_RELPATH)} and {'/'.join(REPLAY_RELPATH)}"
        )


def read_symbol_slice(
    files: RunFiles,
    which: str,
    symbol: str,
) -> pd.DataFrame:
    """Read ``symbol``'s rows of the run's feature or replay file, with the columns the labels use."""
    if which == "feature":
        path, required, read, optional = files.feature, FEATURE_REQUIRED, FEATURE_READ, FEATURE_OPTIONAL
    elif which == "replay":
        path, required, read, optional = files.replay, REPLAY_REQUIRED, REPLAY_REQUIRED, ()
    else:
        raise ValueError(f"unknown input {which!r}")
    _check_exists(files, path, which)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(
            f"run {files.run_id!r}: {which} file {path} is not a readable parquet file ({exc}); "
            "rewrite it from its source"
        ) from exc
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise InputDataError(
            f"run {files.run_id!r}, symbol {symbol!r}: {which} file {path} is missing required columns {missing}; "
            f"it has {schema.names}"
        )
    columns = list(read) + [c for c in optional if c in schema.names]
    table = pq.read_table(path, columns=columns, filters=[("symbol", "==", symbol)])
    if table.num_rows == 0:
        present = pc.unique(pq.read_table(path, columns=["symbol"]).column("symbol")).to_pylist()
        raise InputDataError(
            f"run {files.run_id!r}: symbol {symbol!r} has no rows in {which} file {path}; "
            f"symbols present: {sorted(map(str, present))[:20]}{' ...' if len(present) > 20 else ''}. "
            "Remove the partition or add the symbol's data"
        )
    return table.to_pandas()


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
