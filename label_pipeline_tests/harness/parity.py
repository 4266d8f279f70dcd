"""Helpers shared by the parity tests: run the reference, run the pipeline, compare frames."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.inputs import run_symbols
from label_pipeline.storage import read_parquet, storage_path
from label_pipeline_tests.harness.common import LABEL_ASSETS, kept_instance
from label_pipeline_tests.harness.reference import reference_labels


def write_json(path: Path, value: dict | None) -> str | None:
    if value is None:
        return None
    path.write_text(json.dumps(value))
    return str(path)


def run_reference(
    runs_root: Path, run_id: str, label_cfg: str | None, cost_cfg: str | None, plan_id: str
) -> dict[str, pd.DataFrame]:
    """Run the reference's five functions on the run directory; its outputs by artifact name."""
    labels = reference_labels()
    args = SimpleNamespace(
        output_root=str(runs_root),
        run_id=run_id,
        feature_path=None,
        replay_path=None,
        label_config_path=label_cfg,
        cost_config_path=cost_cfg,
        price_plan_id=plan_id,
        price_plan_context_path=None,
        entry_label_path=None,
    )
    for fn in (
        labels.write_price_plan_context,
        labels.build_direction_labels,
        labels.build_entry_labels,
        labels.build_position_state_samples,
        labels.build_continue_exit_risk_labels,
    ):
        fn(args)
    out_dir = runs_root / run_id / "label"
    return {
        name: pd.read_parquet(out_dir / f"{name}.parquet") for name in ["price_plan_context", *LABEL_ASSETS]
    }


def run_pipeline(
    runs_root: Path, store: Path, run_id: str, label_cfg: str | None, cost_cfg: str | None, plan_id: str
) -> tuple[list[str], dict[str, dict[str, pd.DataFrame]], dict[str, pd.DataFrame]]:
    """Materialize every partition of the run through Dagster; read back what the store holds."""
    defs = build_definitions(str(runs_root), str(store), label_cfg, cost_cfg, plan_id)
    symbols = run_symbols(str(runs_root), run_id)
    with kept_instance() as instance:
        outcomes = materialize_run(defs, instance, run_id, symbols)
    assert all(o.success for o in outcomes), outcomes
    per_symbol = {
        sym: {name: read_parquet(storage_path(store, name, run_id, sym)) for name in LABEL_ASSETS}
        for sym in symbols
    }
    plan = {"price_plan_context": read_parquet(storage_path(store, "price_plan_context", run_id))}
    return symbols, per_symbol, plan


# The reference's path-stat flags turn int64 when any symbol of the run is shorter than the
# horizon (its empty frame is object-typed and poisons the concat); ours stay int8 (README,
# "Differences from the reference").
FLAG_DRIFT_COLUMNS = {"target_hit", "stop_hit", "timeout_hit", "ambiguous_hit"}


def assert_frames_match(
    ours: pd.DataFrame, expected: pd.DataFrame, what: str, flag_drift: bool = False
) -> None:
    """Same columns in the same order, same dtypes, ints/strings equal, floats within 1e-9 relative."""
    ours = ours.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert list(ours.columns) == list(expected.columns), (
        f"{what}: columns differ\n{list(ours.columns)}\n{list(expected.columns)}"
    )
    assert len(ours) == len(expected), f"{what}: {len(ours)} rows, reference has {len(expected)}"
    for column in expected.columns:
        a, b = ours[column], expected[column]
        if flag_drift and column in FLAG_DRIFT_COLUMNS and str(b.dtype) == "int64":
            assert str(a.dtype) == "int8", f"{what}.{column}: dtype {a.dtype}, contract int8"
            b = b.astype("int8")
        assert str(a.dtype) == str(b.dtype), f"{what}.{column}: dtype {a.dtype}, reference {b.dtype}"
        if pd.api.types.is_float_dtype(b.dtype):
            x, y = a.to_numpy(), b.to_numpy()
            same_nan = np.isnan(x) == np.isnan(y)
            assert same_nan.all(), f"{what}.{column}: NaN at different rows {np.flatnonzero(~same_nan)[:10]}"
            finite = ~np.isnan(y)
            np.testing.assert_allclose(x[finite], y[finite], rtol=1e-9, atol=0, err_msg=f"{what}.{column}")
        else:
            mismatch = ~((a == b) | (a.isna() & b.isna()))
            assert not mismatch.any(), (
                f"{what}.{column}: differs at rows {list(np.flatnonzero(mismatch.to_numpy())[:10])}"
            )


def for_symbol(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return frame[frame["symbol"] == symbol].reset_index(drop=True)
