"""dagster-pandas types of every frame, so type checks run at materialization and the UI shows
each artifact's columns. One spec per column serves the type check and the column schema."""

from __future__ import annotations

import warnings

import pandas as pd
from dagster import BetaWarning, TableColumn, TableSchema
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import (
    CategoricalColumnConstraint,
    ColumnDTypeFnConstraint,
    ColumnDTypeInSetConstraint,
    InRangeColumnConstraint,
    NonNullableColumnConstraint,
    StrictColumnsConstraint,
)

from label_pipeline.inputs import FEATURE_OPTIONAL, FEATURE_READ, REPLAY_REQUIRED
from label_pipeline.labels import columns as cols

# Column kinds: the contract of the reference's dtypes. Pass-through columns (ids, splits) keep
# whatever dtype the feature frame gives them, so they are only required to exist.
FLAG = "int8 flag"
INT64 = "int64"
FLOAT = "float64"
TEXT = "string"
UTC_TIME = "datetime (UTC)"
ANY = "as in input"

_KINDS: dict[str, str] = {
    "sample_id": ANY,
    "symbol": TEXT,
    "event_time": UTC_TIME,
    "open_time_ms": INT64,
    "split_id": ANY,
    "walk_forward_fold": ANY,
    "horizon_minutes": INT64,
    "direction_label": TEXT,
    "side": TEXT,
    "price_plan_id": TEXT,
    "price_plan_hash": TEXT,
    "time_to_target_ms": INT64,
    "time_to_stop_ms": INT64,
    "label_method": TEXT,
    "label_version": TEXT,
    "position_age_minutes": INT64,
    "entry_label_method": TEXT,
    "max_hold_minutes": INT64,
    # raw inputs: numeric columns whose dtype comes from the input file
    "open": ANY,
    "high": ANY,
    "low": ANY,
    "close": ANY,
    "spread_bps": ANY,
    "spread_rank_24h_pct": ANY,
    "realized_vol_15m_bps": ANY,
    "ret_15m_bps": ANY,
}
_FLAG_SUFFIXES = ("_target", "_hit", "_prob_label")
_CATEGORIES = {"side": {"LONG", "SHORT"}, "direction_label": {"LONG", "SHORT", "NEUTRAL"}}


def column_kind(name: str) -> str:
    if name in _KINDS:
        return _KINDS[name]
    if name.endswith(_FLAG_SUFFIXES):
        return FLAG
    return FLOAT


def _is_utc_datetime(dtype: object) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"


def _pandas_column(name: str, required: bool = True) -> PandasColumn:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return _build_pandas_column(name, required)


def _build_pandas_column(name: str, required: bool) -> PandasColumn:
    kind = column_kind(name)
    constraints: list = []
    if kind == FLAG:
        constraints = [
            ColumnDTypeInSetConstraint({"int8"}),
            InRangeColumnConstraint(0, 1, ignore_missing_vals=False),
            NonNullableColumnConstraint(),
        ]
    elif kind == INT64:
        constraints = [ColumnDTypeInSetConstraint({"int64"})]
    elif kind == FLOAT:
        constraints = [ColumnDTypeInSetConstraint({"float64"})]
    elif kind == TEXT:
        constraints = [ColumnDTypeInSetConstraint({"object", "string", "str"})]
        if name in _CATEGORIES:
            constraints.append(CategoricalColumnConstraint(_CATEGORIES[name], ignore_missing_vals=False))
    elif kind == UTC_TIME:
        constraints = [ColumnDTypeFnConstraint(_is_utc_datetime)]
    return PandasColumn(name=name, constraints=constraints, is_required=required)


def table_schema(columns: list[str]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=c, type=column_kind(c)) for c in columns])


def frame_schema(frame: pd.DataFrame) -> TableSchema:
    """The stored frame's actual columns and dtypes, for ``dagster/column_schema``."""
    return TableSchema(
        columns=[
            TableColumn(name=str(c), type=str(frame[c].dtype), description=column_kind(str(c)))
            for c in frame.columns
        ]
    )


def _frame_type(
    name: str, description: str, columns: list[str], optional: tuple[str, ...] = (), strict: bool = True
):
    # dagster-pandas marks its whole API beta; the warning says nothing actionable at each import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return create_dagster_pandas_dataframe_type(
            name=name,
            description=description,
            columns=[_pandas_column(c) for c in columns]
            + [_pandas_column(c, required=False) for c in optional],
            dataframe_constraints=[StrictColumnsConstraint(columns, enforce_ordering=True)]
            if strict
            else None,
        )


FeatureFrame = _frame_type(
    "FeatureFrame",
    "One symbol's feature rows, in file order, event_time in UTC.",
    list(FEATURE_READ),
    FEATURE_OPTIONAL,
    strict=False,
)
ReplayFrame = _frame_type(
    "ReplayFrame", "One symbol's 1-minute bars sorted by event_time (UTC).", list(REPLAY_REQUIRED)
)
PricePlanContextFrame = _frame_type(
    "PricePlanContext", "The run's one-row price plan.", cols.PRICE_PLAN_COLUMNS
)
DirectionLabels = _frame_type(
    "DirectionLabels", "Direction labels (reference columns and order).", cols.DIRECTION_COLUMNS
)
EntryLabels = _frame_type(
    "EntryLabels", "Entry labels, LONG and SHORT (reference columns and order).", cols.ENTRY_COLUMNS
)
PositionStateSamples = _frame_type(
    "PositionStateSamples", "Entry rows with entry_target == 1 as new positions.", cols.POSITION_COLUMNS
)
ContinueLabels = _frame_type(
    "ContinueLabels", "Continue labels (reference columns and order).", cols.CONTINUE_COLUMNS
)
ExitLabels = _frame_type("ExitLabels", "Exit labels (reference columns and order).", cols.EXIT_COLUMNS)
RiskLabels = _frame_type("RiskLabels", "Risk labels (reference columns and order).", cols.RISK_COLUMNS)
