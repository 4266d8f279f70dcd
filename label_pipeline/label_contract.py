"""Data checks of the label frames: pure functions, pandas in, a list of outcomes out.

The label assets evaluate them in the step that materializes a partition (``check_specs`` +
``AssetCheckResult``), so a check costs one partition's frame that is already in memory; a plain
``@asset_check`` on a multi-partitioned asset would load every partition (dagster#27747, #30178).
Keeping them free of Dagster makes them testable on a deliberately corrupted frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from label_pipeline.artifacts import ANY, FLAG, FLOAT, INT64, LABEL_ARTIFACTS, TEXT, UTC_TIME, artifact
from label_pipeline.config import LABEL_VERSION
from label_pipeline.kernel.units import MINUTE_MS

# The reference's output columns of every checked asset, in order.
COLUMNS: dict[str, list[str]] = {a.name: a.column_names for a in LABEL_ARTIFACTS}
_FLAG_COLUMNS = {a.name: [c.name for c in a.columns if c.kind == FLAG] for a in LABEL_ARTIFACTS}

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
        meta["problems"] = problems[:20]
    return CheckOutcome(name, not problems, CHECK_DESCRIPTIONS[name], meta)


def _dtype_problem(asset_name: str, name: str, dtype: Any) -> str | None:
    kind = artifact(asset_name).column(name).kind
    ok = {
        FLAG: lambda d: str(d) == "int8",
        INT64: lambda d: str(d) == "int64",
        FLOAT: lambda d: str(d) == "float64",
        TEXT: lambda d: str(d) in {"object", "string", "str"},
        UTC_TIME: is_utc_datetime,
        ANY: lambda d: True,
    }[kind]
    return None if ok(dtype) else f"{name}: dtype {dtype}, expected {kind}"


def check_schema(asset_name: str, frame: pd.DataFrame) -> CheckOutcome:
    expected = COLUMNS[asset_name]
    actual = [str(c) for c in frame.columns]
    problems = []
    if actual != expected:
        missing = [c for c in expected if c not in actual]
        extra = [c for c in actual if c not in expected]
        problems.append(
            f"columns differ from the reference: missing {missing}, extra {extra}, order {actual}"
        )
    problems += [p for c in expected if c in frame.columns and (p := _dtype_problem(asset_name, c, frame[c].dtype))]
    return _outcome("schema", problems, columns=len(actual))


def _flag_frame(asset_name: str, frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in _FLAG_COLUMNS[asset_name] if c in frame.columns]]


def check_targets_binary(asset_name: str, frame: pd.DataFrame) -> CheckOutcome:
    problems = []
    for name, series in _flag_frame(asset_name, frame).items():
        values = pd.to_numeric(series, errors="coerce")
        bad = series[(values.notna() & ~values.isin([0, 1])) | (values.isna() & series.notna())]
        if len(bad):
            problems.append(f"{name}: {len(bad)} values not in {{0, 1}}, e.g. {bad.unique()[:5].tolist()}")
    return _outcome("targets_binary", problems)


def check_targets_not_null(asset_name: str, frame: pd.DataFrame) -> CheckOutcome:
    problems = [
        f"{name}: {int(n)} NaN/null values"
        for name, n in _flag_frame(asset_name, frame).isna().sum().items()
        if n
    ]
    return _outcome("targets_not_null", problems)


def check_side(frame: pd.DataFrame) -> CheckOutcome:
    bad = frame.loc[~frame["side"].isin(["LONG", "SHORT"]), "side"]
    problems = (
        [f"{len(bad)} rows with side not LONG/SHORT, e.g. {bad.unique()[:5].tolist()}"] if len(bad) else []
    )
    return _outcome("side_long_short", problems)


def check_time_to_barrier(frame: pd.DataFrame, max_hold_minutes: int) -> CheckOutcome:
    problems = []
    for column, hit in (("time_to_target_ms", "target_hit"), ("time_to_stop_ms", "stop_hit")):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        in_window = (
            (values >= MINUTE_MS) & (values <= max_hold_minutes * MINUTE_MS) & (values % MINUTE_MS == 0)
        )
        bad = ~((values == -1) | in_window)
        if bad.any():
            problems.append(
                f"{column}: {int(bad.sum())} values neither -1 nor whole minutes in 1..{max_hold_minutes}, "
                f"e.g. {np.unique(values[bad])[:5].tolist()}"
            )
        won = pd.to_numeric(frame[hit], errors="coerce").to_numpy() == 1
        mismatch = won != (values != -1)
        if mismatch.any():
            problems.append(f"{column}: {int(mismatch.sum())} rows where -1 disagrees with {hit}")
    return _outcome("time_to_barrier_range", problems, max_hold_minutes=max_hold_minutes)


def check_one_outcome(frame: pd.DataFrame) -> CheckOutcome:
    flags = frame[["target_hit", "stop_hit", "timeout_hit"]].apply(pd.to_numeric, errors="coerce")
    total = flags.sum(axis=1, min_count=3)
    bad = int((total != 1).sum())
    problems = [f"{bad} rows without exactly one of target_hit/stop_hit/timeout_hit"] if bad else []
    return _outcome("one_outcome_per_row", problems)


def check_one_price_plan(frame: pd.DataFrame, plan_id: str | None, plan_hash: str | None) -> CheckOutcome:
    problems = []
    for column, expected in (("price_plan_id", plan_id), ("price_plan_hash", plan_hash)):
        bad = frame.loc[frame[column] != expected, column]
        if len(bad):
            problems.append(
                f"{column}: {len(bad)} rows differ from the config's {expected!r}, e.g. {bad.unique()[:3].tolist()}"
            )
    return _outcome("one_price_plan", problems, price_plan_id=plan_id, price_plan_hash=plan_hash)


def check_rows_match_entry(position: pd.DataFrame, entry: pd.DataFrame) -> CheckOutcome:
    chosen = entry.loc[entry["entry_target"] == 1, ["sample_id", "side"]].reset_index(drop=True)
    keys = position[["sample_id", "side"]].reset_index(drop=True)
    problems = []
    if len(keys) != len(chosen):
        problems.append(f"{len(keys)} position samples, {len(chosen)} entry rows with entry_target == 1")
    elif not keys.astype(object).equals(chosen.astype(object)):
        problems.append("sample_id/side differ from the entry rows with entry_target == 1")
    return _outcome(
        "rows_match_entry_labels", problems, position_rows=len(keys), entry_target_rows=len(chosen)
    )


def check_label_version(frame: pd.DataFrame) -> CheckOutcome:
    bad = frame.loc[frame["label_version"] != LABEL_VERSION, "label_version"]
    problems = (
        [f"{len(bad)} rows with label_version != {LABEL_VERSION!r}, e.g. {bad.unique()[:5].tolist()}"]
        if len(bad)
        else []
    )
    return _outcome("label_version", problems, expected=LABEL_VERSION)


def check_one_row(frame: pd.DataFrame) -> CheckOutcome:
    return _outcome("one_row", [f"{len(frame)} rows"] if len(frame) != 1 else [])


def _guarded(name: str, run: Callable[[], CheckOutcome]) -> CheckOutcome:
    """A check that cannot even run (a column it needs is missing) fails; it never raises."""
    try:
        return run()
    except (KeyError, TypeError, ValueError) as exc:
        return _outcome(name, [f"could not evaluate: {type(exc).__name__}: {exc}"])


def check_label_frame(
    asset_name: str,
    frame: pd.DataFrame,
    *,
    max_hold_minutes: int,
    entry_labels: pd.DataFrame | None = None,
    price_plan_id: str | None = None,
    price_plan_hash: str | None = None,
) -> list[CheckOutcome]:
    """Every check of ``asset_name`` (see ``check_names``) on one partition's frame.

    ``max_hold_minutes`` bounds ``time_to_*_ms`` (the entry horizon of the effective config);
    ``entry_labels`` is needed for ``position_state_samples`` only; ``price_plan_id`` and
    ``price_plan_hash`` are the effective config's plan, which rows with a plan must carry.
    """
    if asset_name not in COLUMNS:
        raise ValueError(f"no checks for {asset_name!r}; checked assets: {list(COLUMNS)}")
    if "rows_match_entry_labels" in check_names(asset_name) and entry_labels is None:
        raise ValueError(f"{asset_name} is checked against its entry labels; pass entry_labels")
    runners: dict[str, Callable[[], CheckOutcome]] = {
        "schema": lambda: check_schema(asset_name, frame),
        "targets_binary": lambda: check_targets_binary(asset_name, frame),
        "targets_not_null": lambda: check_targets_not_null(asset_name, frame),
        "side_long_short": lambda: check_side(frame),
        "time_to_barrier_range": lambda: check_time_to_barrier(frame, max_hold_minutes),
        "one_outcome_per_row": lambda: check_one_outcome(frame),
        "one_price_plan": lambda: check_one_price_plan(frame, price_plan_id, price_plan_hash),
        "rows_match_entry_labels": lambda: check_rows_match_entry(frame, entry_labels),
        "label_version": lambda: check_label_version(frame),
        "one_row": lambda: check_one_row(frame),
    }
    return [_guarded(name, runners[name]) for name in check_names(asset_name)]
