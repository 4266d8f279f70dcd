"""dagster-pandas types of every artifact, built from the artifact registry, so type checks run at
materialization and the UI shows each artifact's columns. One column record serves the type
check, the column schema and the contract's dtype rule."""

from __future__ import annotations

import pandas as pd
from dagster import DagsterType, Failure, TableColumn, TableSchema, TypeCheck, TypeCheckContext
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import (
    CategoricalColumnConstraint,
    ColumnDTypeFnConstraint,
    ColumnDTypeInSetConstraint,
    InRangeColumnConstraint,
    NonNullableColumnConstraint,
    StrictColumnsConstraint,
)

from label_pipeline.artifacts import ARTIFACTS, FLAG, FLOAT, INT64, TEXT, UTC_TIME, Artifact, Column
from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.label_contract import is_utc_datetime


def _pandas_column(column: Column, required: bool = True) -> PandasColumn:
    constraints: list = []
    if column.kind == FLAG:
        constraints = [
            ColumnDTypeInSetConstraint({"int8"}),
            InRangeColumnConstraint(0, 1, ignore_missing_vals=False),
            NonNullableColumnConstraint(),
        ]
    elif column.kind == INT64:
        constraints = [ColumnDTypeInSetConstraint({"int64"})]
    elif column.kind == FLOAT:
        constraints = [ColumnDTypeInSetConstraint({"float64"})]
    elif column.kind == TEXT:
        constraints = [ColumnDTypeInSetConstraint({"object", "string", "str"})]
        if column.categories:
            constraints.append(CategoricalColumnConstraint(set(column.categories), ignore_missing_vals=False))
    elif column.kind == UTC_TIME:
        constraints = [ColumnDTypeFnConstraint(is_utc_datetime)]
    return PandasColumn(name=column.name, constraints=constraints, is_required=required)


def frame_schema(artifact: Artifact, frame: pd.DataFrame) -> TableSchema:
    """The stored frame's actual columns and dtypes, described, for ``dagster/column_schema``."""
    described = {c.name: c for c in (*artifact.columns, *artifact.optional_columns)}
    return TableSchema(
        columns=[
            TableColumn(
                name=str(c),
                type=str(frame[c].dtype),
                description=f"{described[c].description} [{described[c].kind}]" if c in described else None,
            )
            for c in frame.columns
        ]
    )


def _frame_type(artifact: Artifact) -> DagsterType:
    with accepted_preview_apis():
        return create_dagster_pandas_dataframe_type(
            name=artifact.type_name,
            description=artifact.description,
            columns=[_pandas_column(c) for c in artifact.columns]
            + [_pandas_column(c, required=False) for c in artifact.optional_columns],
            dataframe_constraints=[StrictColumnsConstraint(artifact.column_names, enforce_ordering=True)]
            if artifact.strict
            else None,
        )


DAGSTER_TYPES: dict[str, DagsterType] = {a.name: _frame_type(a) for a in ARTIFACTS}


def type_check(name: str, frame: pd.DataFrame, context: TypeCheckContext) -> TypeCheck:
    """The artifact's dagster-pandas type check on ``frame``, called as Dagster calls an output's
    (``DagsterType.type_check`` with the step's type-check context, ``StepExecutionContext.for_type``).

    ``dagster.check_dagster_type`` runs the same check but builds an ephemeral instance, job and run
    for every call (~50 ms each, ten a partition); the types need nothing of them (no resources).
    A ``Failure`` raised by a check is a failed check, as ``check_dagster_type`` reports it.
    """
    try:
        return DAGSTER_TYPES[name].type_check(context, frame)
    except Failure as failure:
        return TypeCheck(success=False, description=failure.description)


def registry_schema(artifact: Artifact) -> TableSchema:
    """The columns the registry promises, for the asset's definition (shown before any materialization)."""
    return TableSchema(
        columns=[
            TableColumn(name=c.name, type=c.kind, description=c.description)
            for c in (*artifact.columns, *artifact.optional_columns)
        ]
    )
