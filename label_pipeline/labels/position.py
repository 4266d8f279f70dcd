"""Position-state samples: the entries worth taking, as freshly opened positions."""

from __future__ import annotations

import pandas as pd

from label_pipeline.labels.step import StepInputs


def build_position_state_samples(entry: pd.DataFrame) -> pd.DataFrame:
    """Entry rows with ``entry_target == 1`` at age 0 and zero unrealized PnL.

    The reference raises when the whole run's entry labels are empty; per symbol partition an
    empty entry frame is a valid outcome (a short or gappy symbol), so it yields empty samples.
    """
    samples = entry[entry["entry_target"] == 1].copy()
    samples["position_age_minutes"] = 0
    samples["unrealized_pnl_bps"] = 0.0
    samples["mfe_bps"] = pd.to_numeric(samples["mfe_bps"], errors="coerce").fillna(0.0).clip(lower=0)
    samples["mae_bps"] = pd.to_numeric(samples["mae_bps"], errors="coerce").fillna(0.0).clip(lower=0)
    return samples.reset_index(drop=True)


def position_step(inputs: StepInputs) -> dict[str, pd.DataFrame]:
    return {"position_state_samples": build_position_state_samples(inputs.require("entry_labels"))}
