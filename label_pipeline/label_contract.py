"""Data checks of the label frames: pure functions, an Arrow table (or pandas frame) in, a list of
outcomes out.

The label step evaluates them on every chunk it writes, on the Arrow columns already in memory
(numpy and Arrow compute, no Python objects per row), and merges the chunks' outcomes; the result
is the artifact's blocking ``label_contract`` check, recorded against its partition. A plain
``@asset_check`` on a multi-partitioned asset would load every partition (dagster#27747, #30178).
Keeping them free of Dagster makes them testable on a deliberately corrupted frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from label_pipeline.artifacts import ANY, FLAG, FLOAT, INT64, LABEL_ARTIFACTS, TEXT, UTC_TIME, artifact
from label_pipeline.config import LABEL_VERSION
from label_pipeline.hashing import as_arrow
from label_pipeline.kernel.units import MINUTE_MS

# The reference's output columns of every checked asset, in order.
COLUMNS: dict[str, list[str]] = {a.name: a.column_names for a in LABEL_ARTIFACTS}
_FLAG_COLUMNS = {a.name: [c.name for c in a.columns if c.kind == FLAG] for a in LABEL_ARTIFACTS}
MAX_PROBLEMS = 20

# name -> what it guards; the same text is the check's description in the UI.
CHECK_DESCRIPTIONS: dict[str, str] = {
    "schema": "Columns, column order and dtypes are the reference's (int8 flags, int64 times, float64 bps, UTC times).",
    "targets_binary": "Every target / hit / prob-label flag column holds only 0 and 1.",
    "targets_not_null": "No NaN or null in a target / hit / prob-label flag column.",
    "side_long_short": "side is only LONG or SHORT.",
    "time_to_barrier_range": "time_to_target_ms and time_to_stop_ms are -1 (barrier did not win) or a whole "
    "number of minutes in 1 .. max_hold_minutes, and -1 exactly when their barrier did not win.",
    "one_price_plan": "Every row's price_plan_id and price_plan_hash are the plan of the config in force, the one "
    "the manifest records (a partition never mixes two price plans).",
    "one_outcome_per_row": "Exactly one of target_hit, stop_hit, timeout_hit is 1 on every row.",
    "rows_match_entry_labels": "Position samples are exactly the entry rows with entry_target == 1 "
    "(same count, same sample_id and side in the same order).",
    "label_version": f"label_version is the project's ({LABEL_VERSION}) on every row.",
    "one_row": "The price plan has exactly one row.",
}


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict on one frame; ``metadata`` says what failed and where."""

    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def check_names(asset_name: str) -> list[str]:
    """The checks an asset's materialization evaluates, in evaluation order (its registry rules)."""
    return list(artifact(asset_name).rules)


def is_utc_datetime(dtype: object) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"


def _outcome(name: str, problems: list[str], **metadata: Any) -> CheckOutcome:
    meta = {k: v for k, v in metadata.items() if v is not None}
    if problems:
        meta["problems"] = problems[:MAX_PROBLEMS]
    return CheckOutcome(name, not problems, CHECK_DESCRIPTIONS[name], meta)


def _type_ok(kind: str, type_: pa.DataType) -> bool:
    """Whether an Arrow type reads back as the reference's dtype (int8 flags, int64, float64,
    text as ``object``, UTC times)."""
    if kind == FLAG:
        return type_ == pa.int8()
    if kind == INT64:
        return type_ == pa.int64()
    if kind == FLOAT:
        return type_ == pa.float64()
    if kind == TEXT:
        return pa.types.is_string(type_) or pa.types.is_large_string(type_)
    if kind == UTC_TIME:
        return pa.types.is_timestamp(type_) and type_.tz in ("UTC", "+00:00")
    return kind == ANY


def check_schema(asset_name: str, table: pa.Table) -> CheckOutcome:
    expected = COLUMNS[asset_name]
    actual = [str(c) for c in table.column_names]
    problems = []
    if actual != expected:
        missing = [c for c in expected if c not in actual]
        extra = [c for c in actual if c not in expected]
        problems.append(
            f"columns differ from the reference: missing {missing}, extra {extra}, order {actual}"
        )
    art = artifact(asset_name)
    for name in expected:
        if name in actual:
            kind = art.column(name).kind
            type_ = table.schema.field(name).type
            if not _type_ok(kind, type_):
                problems.append(f"{name}: type {type_}, expected {kind}")
    return _outcome("schema", problems, columns=len(actual))


def _as_float(column: pa.ChunkedArray) -> np.ndarray | None:
    """The column's values as float64 (nulls NaN); None when it holds no numbers at all."""
    type_ = column.type
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_boolean(type_):
        return np.asarray(column.cast(pa.float64()).to_numpy(), dtype="float64")
    try:
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(), dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _flags(asset_name: str, table: pa.Table) -> list[str]:
    present = set(table.column_names)  # a new list of every name at each access
    return [c for c in _FLAG_COLUMNS[asset_name] if c in present]


def _within_01(column: pa.ChunkedArray) -> bool:
    """An integer column whose values (nulls aside) all lie in {0, 1}."""
    if not pa.types.is_integer(column.type) or column.null_count == len(column):
        return False
    extremes = pc.min_max(column)
    return extremes["min"].as_py() >= 0 and extremes["max"].as_py() <= 1


def check_targets_binary(asset_name: str, table: pa.Table) -> CheckOutcome:
    problems = []
    for name in _flags(asset_name, table):
        column = table.column(name)
        if _within_01(column):
            continue  # the usual case, settled on the column's extremes
        values = _as_float(column)
        if values is None:
            bad = column.drop_null()
            examples = bad.unique().to_pylist()[:5]
            count = len(bad)
        else:
            mask = ~np.isnan(values) & (values != 0) & (values != 1)
            count = int(mask.sum())
            examples = np.unique(values[mask])[:5].tolist()
        if count:
            problems.append(f"{name}: {count} values not in {{0, 1}}, e.g. {examples}")
    return _outcome("targets_binary", problems)


def check_targets_not_null(asset_name: str, table: pa.Table) -> CheckOutcome:
    problems = []
    for name in _flags(asset_name, table):
        column = table.column(name)
        if pa.types.is_integer(column.type):
            count = column.null_count  # an integer column's only missing values
        else:
            values = _as_float(column)
            count = column.null_count if values is None else int(np.isnan(values).sum())
        if count:
            problems.append(f"{name}: {count} NaN/null values")
    return _outcome("targets_not_null", problems)


def _not_equal_count(column: pa.ChunkedArray, values: Iterable[str]) -> tuple[int, list]:
    values = list(values)
    if len(values) == 1:  # one allowed value (a plan, a version): a comparison, 3x cheaper than a hash set
        ok = pc.fill_null(pc.equal(column, pa.scalar(values[0], column.type)), False)
    else:
        ok = pc.fill_null(pc.is_in(column, value_set=pa.array(values, column.type)), False)
    if pc.all(ok).as_py() is not False:  # every value allowed (or no rows)
        return 0, []
    bad = column.filter(pc.invert(ok))
    return len(bad), bad.unique().to_pylist()[:5]


def check_side(table: pa.Table) -> CheckOutcome:
    count, examples = _not_equal_count(table.column("side"), ["LONG", "SHORT"])
    problems = [f"{count} rows with side not LONG/SHORT, e.g. {examples}"] if count else []
    return _outcome("side_long_short", problems)


def check_time_to_barrier(table: pa.Table, max_hold_minutes: int) -> CheckOutcome:
    problems = []
    for column, hit in (("time_to_target_ms", "target_hit"), ("time_to_stop_ms", "stop_hit")):
        values = _as_float(table.column(column))
        if values is None:
            problems.append(f"{column}: not numeric ({table.schema.field(column).type})")
            continue
        in_window = (
            (values >= MINUTE_MS) & (values <= max_hold_minutes * MINUTE_MS) & (values % MINUTE_MS == 0)
        )
        bad = ~((values == -1) | in_window)
        if bad.any():
            problems.append(
                f"{column}: {int(bad.sum())} values neither -1 nor whole minutes in 1..{max_hold_minutes}, "
                f"e.g. {np.unique(values[bad])[:5].tolist()}"
            )
        won_values = _as_float(table.column(hit))
        won = (won_values == 1) if won_values is not None else np.zeros(len(values), dtype=bool)
        mismatch = won != (values != -1)
        if mismatch.any():
            problems.append(f"{column}: {int(mismatch.sum())} rows where -1 disagrees with {hit}")
    return _outcome("time_to_barrier_range", problems, max_hold_minutes=max_hold_minutes)


def check_one_outcome(table: pa.Table) -> CheckOutcome:
    parts = [_as_float(table.column(c)) for c in ("target_hit", "stop_hit", "timeout_hit")]
    if any(p is None for p in parts):
        return _outcome("one_outcome_per_row", ["target_hit/stop_hit/timeout_hit are not numeric"])
    total = parts[0] + parts[1] + parts[2]  # NaN anywhere makes the row bad, as pandas' min_count=3
    bad = int((total != 1).sum())
    problems = [f"{bad} rows without exactly one of target_hit/stop_hit/timeout_hit"] if bad else []
    return _outcome("one_outcome_per_row", problems)


def check_one_price_plan(table: pa.Table, plan_id: str | None, plan_hash: str | None) -> CheckOutcome:
    problems = []
    for column, expected in (("price_plan_id", plan_id), ("price_plan_hash", plan_hash)):
        count, examples = _not_equal_count(table.column(column), [] if expected is None else [expected])
        if count:
            problems.append(f"{column}: {count} rows differ from the config's {expected!r}, e.g. {examples[:3]}")
    return _outcome("one_price_plan", problems, price_plan_id=plan_id, price_plan_hash=plan_hash)


def check_rows_match_entry(position: pa.Table, entry: pa.Table) -> CheckOutcome:
    target = _as_float(entry.column("entry_target"))
    chosen = entry.select(["sample_id", "side"]).filter(pa.array(target == 1))
    keys = position.select(["sample_id", "side"])
    problems = []
    if keys.num_rows != chosen.num_rows:
        problems.append(f"{keys.num_rows} position samples, {chosen.num_rows} entry rows with entry_target == 1")
    elif not keys.equals(chosen):
        problems.append("sample_id/side differ from the entry rows with entry_target == 1")
    return _outcome(
        "rows_match_entry_labels", problems, position_rows=keys.num_rows, entry_target_rows=chosen.num_rows
    )


def check_label_version(table: pa.Table) -> CheckOutcome:
    count, examples = _not_equal_count(table.column("label_version"), [LABEL_VERSION])
    problems = [f"{count} rows with label_version != {LABEL_VERSION!r}, e.g. {examples}"] if count else []
    return _outcome("label_version", problems, expected=LABEL_VERSION)


def check_one_row(table: pa.Table) -> CheckOutcome:
    return _outcome("one_row", [f"{table.num_rows} rows"] if table.num_rows != 1 else [])


def _guarded(name: str, run: Callable[[], CheckOutcome]) -> CheckOutcome:
    """A check that cannot even run (a column it needs is missing) fails; it never raises."""
    try:
        return run()
    except (KeyError, TypeError, ValueError, pa.ArrowException) as exc:
        return _outcome(name, [f"could not evaluate: {type(exc).__name__}: {exc}"])


def check_label_frame(
    asset_name: str,
    frame: pa.Table | pd.DataFrame,
    *,
    max_hold_minutes: int,
    entry_labels: pa.Table | pd.DataFrame | None = None,
    price_plan_id: str | None = None,
    price_plan_hash: str | None = None,
) -> list[CheckOutcome]:
    """Every check of ``asset_name`` (see ``check_names``) on one partition's frame, or one chunk.

    ``max_hold_minutes`` bounds ``time_to_*_ms`` (the entry horizon of the effective config);
    ``entry_labels`` is needed for ``position_state_samples`` only (the entry rows the chunk was
    built from); ``price_plan_id`` and ``price_plan_hash`` are the effective config's plan, which
    rows with a plan must carry.
    """
    if asset_name not in COLUMNS:
        raise ValueError(f"no checks for {asset_name!r}; checked assets: {list(COLUMNS)}")
    if "rows_match_entry_labels" in check_names(asset_name) and entry_labels is None:
        raise ValueError(f"{asset_name} is checked against its entry labels; pass entry_labels")
    table = as_arrow(frame)
    entry = as_arrow(entry_labels) if entry_labels is not None else None
    runners: dict[str, Callable[[], CheckOutcome]] = {
        "schema": lambda: check_schema(asset_name, table),
        "targets_binary": lambda: check_targets_binary(asset_name, table),
        "targets_not_null": lambda: check_targets_not_null(asset_name, table),
        "side_long_short": lambda: check_side(table),
        "time_to_barrier_range": lambda: check_time_to_barrier(table, max_hold_minutes),
        "one_outcome_per_row": lambda: check_one_outcome(table),
        "one_price_plan": lambda: check_one_price_plan(table, price_plan_id, price_plan_hash),
        "rows_match_entry_labels": lambda: check_rows_match_entry(table, entry),
        "label_version": lambda: check_label_version(table),
        "one_row": lambda: check_one_row(table),
    }
    return [_guarded(name, runners[name]) for name in check_names(asset_name)]


def merge_outcomes(per_chunk: list[list[CheckOutcome]]) -> list[CheckOutcome]:
    """One verdict per rule over the chunks of a partition: failed if any chunk failed, with the
    first problems; the metadata of the first chunk otherwise."""
    if not per_chunk:
        return []
    merged = []
    for i, first in enumerate(per_chunk[0]):
        chunks = [outcomes[i] for outcomes in per_chunk]
        problems = [p for o in chunks for p in o.metadata.get("problems", [])]
        if not problems:
            merged.append(first)
            continue
        metadata = {**first.metadata, "problems": problems[:MAX_PROBLEMS]}
        merged.append(CheckOutcome(first.name, False, first.description, metadata))
    return merged
