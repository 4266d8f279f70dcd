"""The reference's markdown label reports, kept word for word so they read the same in the UI.

The label step counts target values chunk by chunk (``engine``); these render the counts, in
``value_counts`` order, as the reference's ``_write_distribution_report`` and its combined
continue/exit/risk report do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def distribution_report_from(rows: int, column: str, counts: Mapping[Any, int]) -> str:
    """The reference's ``_write_distribution_report`` text, from the counts."""
    lines = [
        "# Label Report",
        "",
        f"- row_count: {rows}",
        f"- target_column: {column}",
        f"- distribution: {dict(counts) if rows else {}}",
        "",
    ]
    return "\n".join(lines)


def combined_report_from(outputs: Sequence[tuple[str, int, Mapping[Any, int]]]) -> str:
    """The reference's ``continue_exit_risk_label_report.md`` text for (name, rows, counts)."""
    parts = ["# Continue Exit Risk Label Report", ""]
    for name, rows, counts in outputs:
        parts += [f"## {name}", "", str(dict(counts) if rows else {}), ""]
    return "\n".join(parts) + "\n"
