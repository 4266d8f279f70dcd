"""Position-state samples: the entries worth taking, as freshly opened positions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from label_pipeline.artifacts import artifact
from label_pipeline.labels.arrow import Frame, as_table, like, numbers
from label_pipeline.labels.step import StepInputs

POSITION_COLUMNS = artifact("position_state_samples").column_names


def _non_negative(values: np.ndarray) -> np.ndarray:
    """The reference's ``fillna(0.0).clip(lower=0)``: NaN and negatives become 0 (-0.0 stays)."""
    values = np.where(np.isnan(values), 0.0, values)
    return np.where(values < 0, 0.0, values)


def build_position_state_samples(entry: Frame) -> Frame:
    """Entry rows with ``entry_target == 1`` at age 0 and zero unrealized PnL.

    The reference raises when the whole run's entry labels are empty; per symbol partition an
    empty entry frame is a valid outcome (a short or gappy symbol), so it yields empty samples.
    """
    table = as_table(entry)
    chosen = np.flatnonzero(numbers(table, "entry_target", "int64") == 1)
    samples = table.take(pa.array(chosen, type=pa.int64()))
    n = samples.num_rows
    for name in ("mfe_bps", "mae_bps"):
        samples = samples.set_column(
            samples.schema.get_field_index(name), name, pa.array(_non_negative(numbers(samples, name, "float64")))
        )
    samples = samples.append_column("position_age_minutes", pa.array(np.zeros(n, dtype="int64")))
    samples = samples.append_column("unrealized_pnl_bps", pa.array(np.zeros(n, dtype="float64")))
    return like(samples.select(POSITION_COLUMNS), entry)


def position_step(inputs: StepInputs) -> dict[str, Frame]:
    return {"position_state_samples": build_position_state_samples(inputs.require("entry_labels"))}
