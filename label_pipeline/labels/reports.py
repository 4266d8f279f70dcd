"""The reference's markdown label reports, kept word for word so they read the same in the UI."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def distribution(frame: pd.DataFrame, column: str) -> dict:
    return frame[column].value_counts(dropna=False).to_dict() if not frame.empty else {}


def distribution_report(frame: pd.DataFrame, column: str) -> str:
    """The reference's ``_write_distribution_report`` text."""
    counts = distribution(frame, column)
    lines = [
        "# Label Report",
        "",
        f"- row_count: {len(frame)}",
        f"- target_column: {column}",
        f"- distribution: {counts}",
        "",
    ]
    return "\n".join(lines)


def continue_exit_risk_report(outputs: Sequence[tuple[str, pd.DataFrame, str]]) -> str:
    """The reference's ``continue_exit_risk_label_report.md`` text for (name, frame, target column)."""
    parts = ["# Continue Exit Risk Label Report", ""]
    for name, frame, target in outputs:
        parts += [f"## {name}", "", str(distribution(frame, target)), ""]
    return "\n".join(parts) + "\n"
