"""The obviously-correct twin of ``windows``: one row at a time, plain loops over the rows and over
the minutes of every span, re-deriving each column from its written definition (the ``windows``
module docstring). It shares no code with the fast kernel, which the tests check against it
(``label_pipeline_tests/unit/test_label_windows.py``); O(N^2 + N x H), for tests only.
"""

from __future__ import annotations

import numpy as np

from label_pipeline.kernel.units import MINUTE_MS

__all__ = ["boundary_crossings_slow", "label_windows_slow", "purge_embargo_counts_slow"]

_NAT = int(np.iinfo(np.int64).min)


def label_windows_slow(event_time_ms, split_codes, fold_codes, labelled, horizon) -> dict[str, np.ndarray]:
    """``labelled``, ``label_end_ms``, ``crosses_split``, ``crosses_fold``, ``avg_uniqueness``, one
    entry per row in input order."""
    times = [int(t) for t in event_time_ms]
    minutes = [t // MINUTE_MS for t in times]
    splits = [int(s) for s in split_codes]
    folds = [int(f) for f in fold_codes]
    flags = [int(x) for x in labelled]
    n = len(times)

    # c(m): for every labelled row, every minute of its span
    concurrency: dict[int, int] = {}
    for i in range(n):
        if flags[i] == 1:
            for k in range(1, horizon + 1):
                m = minutes[i] + k
                concurrency[m] = concurrency.get(m, 0) + 1

    label_end = []
    crosses_split = []
    crosses_fold = []
    uniqueness = []
    for i in range(n):
        later = [j for j in range(n) if minutes[i] < minutes[j] <= minutes[i] + horizon]
        crosses_split.append(int(any(splits[j] != splits[i] for j in later)))
        crosses_fold.append(int(any(folds[j] != folds[i] for j in later)))
        if flags[i] == 1:
            label_end.append(times[i] + (horizon + 1) * MINUTE_MS)
            total = 0.0
            for k in range(1, horizon + 1):
                total += 1.0 / concurrency[minutes[i] + k]
            uniqueness.append(total / horizon)
        else:
            label_end.append(_NAT)
            uniqueness.append(np.nan)
    return {
        "labelled": np.array(flags, np.int8),
        "label_end_ms": np.array(label_end, np.int64),
        "crosses_split": np.array(crosses_split, np.int8),
        "crosses_fold": np.array(crosses_fold, np.int8),
        "avg_uniqueness": np.array(uniqueness, np.float64),
    }


def purge_embargo_counts_slow(event_time_ms, fold_codes, labelled, horizon, embargo_minutes) -> dict:
    """Per fold code (ascending) as the test fold, the same keys as ``windows.purge_embargo_counts``."""
    minutes = [int(t) // MINUTE_MS for t in event_time_ms]
    folds = [int(f) for f in fold_codes]
    flags = [int(x) for x in labelled]
    out: dict[str, list[int]] = {
        k: [] for k in ("fold_code", "first_ms", "last_ms", "n_rows", "n_labelled", "n_purged", "n_embargoed")
    }
    for g in sorted(set(folds)):
        test_minutes = [m for m, f in zip(minutes, folds, strict=True) if f == g]
        first = min(test_minutes)
        last = max(test_minutes)
        purged = 0
        embargoed = 0
        for i, m in enumerate(minutes):
            if folds[i] == g or flags[i] != 1:
                continue
            span = range(m + 1, m + horizon + 1)
            if any(first <= x <= last for x in span):
                purged += 1
            elif last < m <= last + embargo_minutes:
                embargoed += 1
        out["fold_code"].append(g)
        out["first_ms"].append(first * MINUTE_MS)
        out["last_ms"].append(last * MINUTE_MS)
        out["n_rows"].append(len(test_minutes))
        out["n_labelled"].append(sum(flags[i] for i in range(len(folds)) if folds[i] == g))
        out["n_purged"].append(purged)
        out["n_embargoed"].append(embargoed)
    return {k: np.array(v, np.int64) for k, v in out.items()}


def boundary_crossings_slow(event_time_ms, codes, labelled, horizon) -> dict[str, np.ndarray]:
    """Same keys as ``windows.boundary_crossings``."""
    rows = sorted(
        (int(t) // MINUTE_MS, int(c), int(x)) for t, c, x in zip(event_time_ms, codes, labelled, strict=True)
    )
    out: dict[str, list[int]] = {"boundary_ms": [], "from_code": [], "to_code": [], "n_crossing": []}
    for p in range(1, len(rows)):
        if rows[p][1] == rows[p - 1][1]:
            continue
        at = rows[p][0]
        out["boundary_ms"].append(at * MINUTE_MS)
        out["from_code"].append(rows[p - 1][1])
        out["to_code"].append(rows[p][1])
        out["n_crossing"].append(sum(1 for m, _, x in rows if x == 1 and m < at <= m + horizon))
    return {k: np.array(v, np.int64) for k, v in out.items()}
