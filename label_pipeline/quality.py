"""Label quality at a glance: numbers every label step records as asset metadata, so the UI's Plots
tab charts them across partitions, and a readable report per artifact.

Computed in the single pass on the chunks already in memory (counts and histograms), except the
MFE/MAE quantiles and histograms, which one more read of the finished file settles exactly in
bounded memory (``OrderStats``): per side the target / stop / timeout / ambiguous and entry-target rates,
median times to target and stop, MFE and MAE quantiles; for every label artifact the share of
feature rows without a label and why; the class balance of every target column per split.
Pure: numpy and Arrow, no Dagster.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from label_pipeline.artifacts import FLAG, Artifact
from label_pipeline.charts import entry_chart_svg
from label_pipeline.kernel.units import MINUTE_MS, SIDES
from label_pipeline.labels.arrow import numbers

WEEK_NS = 7 * 86_400 * 10**9
QUANTILES = (0.1, 0.5, 0.9)
EXCURSIONS = ("mfe_bps", "mae_bps")
# Why a feature row has no label, in the order a row is assigned its first applicable cause.
CAUSES = ("no_bar", "nan_entry_close", "tail_shorter_than_horizon", "window_crosses_gap", "nan_exit_close")
CHART_QUANTILE = 0.99  # the chart's histograms are clipped here
# The finished file's columns again, a row group at a time (``Quality.facts``)
Reread = Callable[[list[str]], Iterator[pa.Table]]


class OrderStats:
    """Exact quantiles (numpy's linear method) of one column's non-NaN values, fed chunk by chunk,
    in memory that does not grow with the rows: the chunks only count values per bucket; at the
    end one more pass over the values (``keep``, then ``quantiles``) keeps just those in the buckets the
    wanted ranks fall in, and the ranks are read off them."""

    def __init__(self) -> None:
        # the bucket kernel (numba) is imported where it is used: the code location imports this
        # module for ``report`` alone, without numba
        from label_pipeline.kernel.buckets import BUCKET_BITS

        self.counts = np.zeros(1 << BUCKET_BITS, dtype=np.int64)
        self.n = 0
        self.finite_min, self.finite_max = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        OrderStats.add_grouped([self], values, np.zeros(len(values), dtype=np.int64))

    @staticmethod
    def add_grouped(stats: list[OrderStats], values: np.ndarray, group: np.ndarray) -> None:
        """``stats[g].add(values[group == g])`` for every g at once: one bucket count of the chunk
        (a group past the list, e.g. rows of neither side, is counted nowhere)."""
        from label_pipeline.kernel.buckets import bucket_counts

        counts, lo, hi = bucket_counts(values, group, len(stats))
        for g, stat in enumerate(stats):
            n = int(counts[g].sum())
            if not n:
                continue
            stat.counts += counts[g]
            stat.n += n
            stat.finite_min = min(stat.finite_min, float(lo[g]))
            stat.finite_max = max(stat.finite_max, float(hi[g]))

    def _plan(self, qs: Iterable[float]) -> tuple[list[float], dict[int, int], np.ndarray]:
        """Where each quantile falls (``(n - 1) q``), the ranks it needs and their buckets."""
        spots = [(self.n - 1) * q for q in qs]  # numpy's virtual index (linear method)
        ranks = sorted({r for h in spots for r in (int(np.floor(h)), min(int(np.floor(h)) + 1, self.n - 1))})
        ends = np.cumsum(self.counts)
        of_rank = {r: int(np.searchsorted(ends, r, side="right")) for r in ranks}
        return spots, of_rank, np.array(sorted(set(of_rank.values())), dtype=np.int64)

    def keep(self, qs: Iterable[float]) -> Callable[[np.ndarray], np.ndarray]:
        """What to keep of the values read again for ``quantiles(qs, kept)``: the non-NaN ones
        whose bucket holds a rank the quantiles need."""
        from label_pipeline.kernel.buckets import bucket_keys

        wanted = np.zeros(len(self.counts), dtype=bool)  # a lookup per bucket, not np.isin's sort
        if self.n:
            wanted[self._plan(qs)[2]] = True

        def kept(values: np.ndarray) -> np.ndarray:
            values = values[~np.isnan(values)]
            return values[wanted[bucket_keys(values)]]

        return kept

    def quantiles(self, qs: Iterable[float], kept: Iterable[np.ndarray]) -> list[float]:
        """The quantiles, from the values ``keep(qs)`` kept of every value read once more."""
        qs = list(qs)
        if self.n == 0:
            return [float("nan")] * len(qs)
        spots, of_rank, wanted = self._plan(qs)
        kept_sorted = np.sort(np.concatenate([*kept, np.zeros(0)]))
        ends = np.cumsum(self.counts)
        # where each wanted bucket's values start among the kept ones, and how many lie below it
        start = dict(zip(wanted.tolist(), np.concatenate([[0], np.cumsum(self.counts[wanted])[:-1]]).tolist(), strict=True))
        below = {b: int(ends[b - 1]) if b else 0 for b in wanted.tolist()}
        value = {r: float(kept_sorted[start[b] + r - below[b]]) for r, b in of_rank.items()}
        out = []
        for h in spots:
            lo = int(np.floor(h))
            a, b, t = value[lo], value[min(lo + 1, self.n - 1)], h - lo
            with np.errstate(invalid="ignore"):  # numpy's lerp: from the nearer end
                out.append(float(b - (b - a) * (1 - t)) if t >= 0.5 else float(a + (b - a) * t))
        return out


def _side_masks(table: pa.Table) -> dict[str, np.ndarray]:
    """Which rows are each side's (compared in Arrow: no Python string per row)."""
    return {
        side: np.asarray(pc.fill_null(pc.equal(table.column("side"), side), False).to_numpy(zero_copy_only=False))
        for side in SIDES
    }


def _side_codes(table: pa.Table) -> np.ndarray:
    """Each row's side as a code: its index in ``SIDES``, else ``len(SIDES)``."""
    codes = np.full(table.num_rows, len(SIDES), dtype=np.int64)
    for i, mask in enumerate(_side_masks(table).values()):
        codes[mask] = i
    return codes


def _targets(art: Artifact) -> list[str]:
    """The artifact's target columns: its flags, and a text target (direction_label)."""
    names = [c.name for c in art.columns if c.kind == FLAG]
    if art.target_column and art.target_column not in names:
        names.insert(0, art.target_column)
    return names


class Quality:
    """One label artifact's quality figures over the chunks of a partition."""

    def __init__(self, art: Artifact, charts: bool = True):
        self.art = art
        self.charts = charts
        self.targets = _targets(art)
        self.balance: dict[str, dict[str, dict[str, int]]] = {c: {} for c in self.targets}
        self.paths = "side" in art.column_names and "time_to_target_ms" in art.column_names
        self.side_counts: dict[str, dict[str, int]] = {s: {} for s in SIDES}
        self.times: dict[str, dict[str, np.ndarray]] = {s: {} for s in SIDES}
        self.excursions = {s: {c: OrderStats() for c in EXCURSIONS} for s in SIDES}
        self.unlabelled: dict[str, int] | None = None
        self.feature_rows = 0
        self.weekly: dict[str, dict[int, list[int]]] = {s: {} for s in SIDES}  # week -> [rows, targets]

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        split_codes, split_names = _codes(table.column("split_id"))
        names = [str(v) for v in split_names.to_pylist()]
        for column in self.targets:
            value_codes, labels = _flag_codes(table.column(column))
            counts = np.bincount(split_codes * len(labels) + value_codes, minlength=len(names) * len(labels))
            per = self.balance[column]
            for i, split in enumerate(names):
                slot = per.setdefault(split, {})
                for j, label in enumerate(labels):
                    if counts[i * len(labels) + j]:
                        slot[label] = slot.get(label, 0) + int(counts[i * len(labels) + j])
        if self.paths:
            self._add_paths(table)

    def _add_paths(self, table: pa.Table) -> None:
        """Per side counts, time histograms, excursion buckets and weekly rates. Every figure is
        one ``bincount`` over (side code, value) of the whole chunk, not a copy per side."""
        side = _side_codes(table)
        n_codes = len(SIDES) + 1  # the last code: neither side (counted nowhere)
        rows = np.bincount(side, minlength=n_codes)
        for i, name in enumerate(SIDES):
            slot = self.side_counts[name]
            slot["rows"] = slot.get("rows", 0) + int(rows[i])
        flags = {f: numbers(table, f, "int64") for f in ("target_hit", "stop_hit", "timeout_hit", "ambiguous_hit", "entry_target")}
        for flag, values in flags.items():
            sums = np.bincount(side, weights=values, minlength=n_codes)
            for i, name in enumerate(SIDES):
                slot = self.side_counts[name]
                slot[flag] = slot.get(flag, 0) + int(sums[i])
        for column in ("time_to_target_ms", "time_to_stop_ms"):
            ms = numbers(table, column, "int64")
            hit = ms > 0
            minutes, codes = ms[hit] // MINUTE_MS, side[hit]
            width = int(minutes.max()) + 1 if len(minutes) else 0
            hist = np.bincount(codes * width + minutes, minlength=n_codes * width).reshape(n_codes, width)
            for i, name in enumerate(SIDES):
                old = self.times[name].get(column, np.zeros(0, dtype=np.int64))
                size = max(len(old), width)
                self.times[name][column] = np.pad(old, (0, size - len(old))) + np.pad(hist[i], (0, size - width))
        for column in EXCURSIONS:
            OrderStats.add_grouped(
                [self.excursions[name][column] for name in SIDES], numbers(table, column, "float64"), side
            )
        weeks = numbers(table, "event_time", "int64") // WEEK_NS
        if len(weeks):
            first = int(weeks.min())
            width = int(weeks.max()) - first + 1
            at = side * width + (weeks - first)
            rows_w = np.bincount(at, minlength=n_codes * width).reshape(n_codes, width)
            hits_w = np.bincount(at, weights=flags["entry_target"], minlength=n_codes * width)
            hits_w = hits_w.reshape(n_codes, width)
            for i, name in enumerate(SIDES):
                for w in np.flatnonzero(rows_w[i]):
                    slot = self.weekly[name].setdefault(first + int(w), [0, 0])
                    slot[0] += int(rows_w[i, w])
                    slot[1] += int(hits_w[i, w])

    def add_unlabelled(self, causes: Mapping[str, int], feature_rows: int) -> None:
        if self.unlabelled is None:
            self.unlabelled = {c: 0 for c in (*CAUSES, "other")}
        for cause, n in causes.items():
            self.unlabelled[cause] += n
        self.feature_rows += feature_rows

    def facts(self, reread: Reread | None = None) -> dict[str, Any]:
        """Flat numbers (plotted across partitions), and the nested tables for the report.
        ``reread(columns)`` yields the finished file's rows again, a row group at a time (the
        excursions' exact quantiles and histograms need a second look at the values)."""
        excursions = self._excursion_facts(reread) if self.paths else {}
        flat: dict[str, float | int] = {}
        sides: dict[str, dict[str, Any]] = {}
        if self.paths:
            for name in SIDES:
                slot = self.side_counts[name]
                rows = slot.get("rows", 0)
                prefix = name.lower()
                entry = {}
                for flag, key in (
                    ("target_hit", "target_rate"),
                    ("stop_hit", "stop_rate"),
                    ("timeout_hit", "timeout_rate"),
                    ("ambiguous_hit", "ambiguous_rate"),
                    ("entry_target", "entry_target_rate"),
                ):
                    entry[key] = slot.get(flag, 0) / rows if rows else float("nan")
                for column in ("time_to_target_ms", "time_to_stop_ms"):
                    entry[f"median_{column[:-3]}_min"] = _hist_median(self.times[name].get(column))
                for column in EXCURSIONS:
                    for q, value in zip(QUANTILES, excursions["quantiles"][name][column], strict=False):
                        entry[f"{column[:-4]}_p{int(q * 100)}_bps"] = value
                entry["rows"] = rows
                sides[name] = entry
                flat.update({f"{prefix}_{k}": v for k, v in entry.items() if k != "rows"})
        if self.unlabelled is not None:
            total = sum(self.unlabelled.values())
            flat["unlabelled_share"] = total / self.feature_rows if self.feature_rows else float("nan")
            for cause, n in self.unlabelled.items():
                flat[f"unlabelled_{cause}_share"] = n / self.feature_rows if self.feature_rows else float("nan")
        if self.art.target_column:
            counts = self.balance.get(self.art.target_column, {})
            rows = sum(sum(v.values()) for v in counts.values())
            if self.art.target_column != "direction_label" and rows:
                flat[f"{self.art.target_column}_rate"] = sum(v.get("1", 0) for v in counts.values()) / rows
        chart = None
        if self.charts and self.art.name == "entry_labels" and any(self.weekly[s] for s in SIDES):
            chart = entry_chart_svg(self.weekly, excursions["histograms"]["mfe_bps"], excursions["histograms"]["mae_bps"])
        return {
            "flat": flat,
            "sides": sides,
            "balance": self.balance,
            "unlabelled": self.unlabelled,
            "feature_rows": self.feature_rows,
            "chart_svg": chart,
        }


    def _excursion_facts(self, reread: Reread | None) -> dict[str, Any]:
        """Per side and column the quantiles, and (charts on, entry labels) the histogram of the
        values clipped at 0 and at the larger side's p99, 40 bins between the clipped extremes."""
        if reread is None:
            raise ValueError("the excursion quantiles need the finished file's rows again")

        def each_pass() -> Iterator[tuple[str, str, np.ndarray]]:
            """Every (side, column)'s values of the finished file, a row group at a time."""
            for table in reread(["side", *EXCURSIONS]):
                masks = _side_masks(table)
                for column in EXCURSIONS:
                    values = numbers(table, column, "float64")
                    for side in SIDES:
                        yield side, column, values[masks[side]]

        charted = self.charts and self.art.name == "entry_labels"
        qs = (*QUANTILES, CHART_QUANTILE) if charted else QUANTILES
        keeps = {(s, c): self.excursions[s][c].keep(qs) for s in SIDES for c in EXCURSIONS}
        kept: dict[tuple[str, str], list[np.ndarray]] = {k: [] for k in keeps}
        for side, column, values in each_pass():  # one read for every quantile of every column
            kept[(side, column)].append(keeps[(side, column)](values))
        quantiles = {
            s: {c: self.excursions[s][c].quantiles(qs, kept.pop((s, c))) for c in EXCURSIONS} for s in SIDES
        }
        histograms: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {c: {} for c in EXCURSIONS}
        if charted:
            ranges = {}
            for column in EXCURSIONS:
                # the p99 of the values: an infinite value (none in practice) sits past it
                tops = [quantiles[s][column][-1] for s in SIDES if self.excursions[s][column].finite_max > -np.inf]
                top = max(tops, default=1.0)
                for side in SIDES:
                    stats = self.excursions[side][column]
                    if stats.finite_max > -np.inf:
                        lo, hi = (float(np.clip(v, 0, top)) for v in (stats.finite_min, stats.finite_max))
                        ranges[(side, column)] = (top, lo, hi)
                        histograms[column][side] = (np.zeros(40, dtype=np.int64), np.zeros(41))
            for side, column, values in each_pass():  # one more read for the histograms
                if (side, column) in ranges:
                    top, lo, hi = ranges[(side, column)]
                    finite = values[np.isfinite(values)]
                    part, edges = np.histogram(np.clip(finite, 0, top), bins=40, range=(lo, hi))
                    counts, _ = histograms[column][side]
                    histograms[column][side] = (counts + part, edges)
        return {"quantiles": quantiles, "histograms": histograms}


def _hist_median(hist: np.ndarray | None) -> float:
    """The median of the values a histogram counts (numpy's: the mean of the middle two)."""
    if hist is None or hist.sum() == 0:
        return float("nan")
    total = int(hist.sum())
    cum = np.cumsum(hist)
    lo = int(np.searchsorted(cum, (total - 1) // 2 + 1))
    hi = int(np.searchsorted(cum, total // 2 + 1))
    return (lo + hi) / 2.0


def unlabelled_causes(
    feature_ms: np.ndarray,
    labelled: np.ndarray,
    bar_ms: np.ndarray,
    bar_close: np.ndarray,
    gaps: np.ndarray,
    horizon: int,
    by_time: bool,
) -> dict[str, int]:
    """Why each feature row without a label has none, counted per cause (``CAUSES``; a row gets
    the first that applies). ``gaps`` are the bar positions after which the next bar is not the
    next minute. ``by_time``: the exit bar is found by timestamp (direction labels), else the window
    is the next H bars, which must be contiguous (path statistics)."""
    n = len(bar_ms)
    idx = np.searchsorted(bar_ms, feature_ms)
    safe = np.minimum(idx, max(n - 1, 0))
    has_bar = (idx < n) & (bar_ms[safe] == feature_ms) if n else np.zeros(len(feature_ms), dtype=bool)
    entry_nan = has_bar & np.isnan(bar_close[safe]) if n else np.zeros(len(feature_ms), dtype=bool)
    if by_time:
        exit_ms = feature_ms + horizon * MINUTE_MS
        j = np.searchsorted(bar_ms, exit_ms)
        jsafe = np.minimum(j, max(n - 1, 0))
        exit_exists = (j < n) & (bar_ms[jsafe] == exit_ms) if n else np.zeros(len(feature_ms), dtype=bool)
        tail = exit_ms > bar_ms[-1] if n else np.ones(len(feature_ms), dtype=bool)
        gap = ~exit_exists & ~tail
        exit_nan = exit_exists & np.isnan(bar_close[jsafe]) if n else np.zeros(len(feature_ms), dtype=bool)
    else:
        tail = idx + horizon >= n
        k = np.searchsorted(gaps, idx)  # the first break at or after the row's bar
        run_end = np.full(len(idx), n - 1, dtype=np.int64)
        inside = k < len(gaps)
        run_end[inside] = gaps[k[inside]]
        gap = ~tail & (run_end < idx + horizon)
        exit_pos = np.minimum(idx + horizon, max(n - 1, 0))
        exit_nan = ~tail & ~gap & (np.isnan(bar_close[exit_pos]) if n else True)
    missing = labelled == 0
    out: dict[str, int] = {}
    left = missing.copy()
    for cause, mask in (
        ("no_bar", ~has_bar),
        ("nan_entry_close", entry_nan),
        ("tail_shorter_than_horizon", tail),
        ("window_crosses_gap", gap),
        ("nan_exit_close", exit_nan),
    ):
        hit = left & mask
        out[cause] = int(hit.sum())
        left &= ~hit
    out["other"] = int(left.sum())
    return out


def _flag_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """A target column as codes and their labels: a 0/1 flag is its own code (no encoding pass)."""
    if pa.types.is_integer(column.type) and column.null_count == 0:
        values = np.asarray(column.to_numpy(), dtype=np.int64)
        if len(values) and values.min() >= 0 and values.max() <= 1:
            return values, ["0", "1"]
    codes, values = _codes(column)
    return codes, [str(v) for v in values.to_pylist()]


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64), encoded.dictionary


def labelled_rows(feature_ms: np.ndarray, frame: pa.Table) -> np.ndarray:
    """1 for the feature rows that have a row of ``frame``, else 0. A feature row and its labels
    share its event time (unique within a partition: the input contract refuses duplicates), so
    the match is on integers, not on sample_id strings."""
    flags = np.zeros(len(feature_ms), dtype=np.int8)
    if not frame.num_rows or not len(feature_ms):
        return flags
    label_ms = numbers(frame, "event_time", "int64") // 1_000_000
    ordered = bool((np.diff(feature_ms) > 0).all())
    order = None if ordered else np.argsort(feature_ms, kind="stable")
    keys = feature_ms if order is None else feature_ms[order]
    pos = np.minimum(np.searchsorted(keys, label_ms), len(keys) - 1)
    pos = pos[keys[pos] == label_ms]
    flags[pos if order is None else order[pos]] = 1
    return flags


def bar_gaps(bar_ms: np.ndarray) -> np.ndarray:
    """Positions i whose next bar is not i's minute + 1 (gaps and duplicates break a window)."""
    return np.flatnonzero(np.diff(bar_ms) != MINUTE_MS).astype(np.int64)


def report(art: Artifact, facts: Mapping[str, Any], config_summary: str) -> str:
    """The quality report of one artifact's partition, as markdown (its chart embedded as an SVG
    data URI, which the UI's markdown view renders)."""
    lines = [f"# {art.name}: label quality", "", config_summary, ""]
    if facts.get("chart_svg"):
        encoded = base64.b64encode(facts["chart_svg"]).decode()
        lines += [f"![entry_target per week; MFE and MAE per side](data:image/svg+xml;base64,{encoded})", ""]
    if facts["sides"]:
        lines += ["## Per side", "", "| | " + " | ".join(SIDES) + " |", "|---|---|---|"]
        keys = list(next(iter(facts["sides"].values())))
        for key in keys:
            cells = [_fmt(facts["sides"][s][key]) for s in SIDES]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines.append("")
    if facts["unlabelled"] is not None:
        total = facts["feature_rows"]
        lines += [f"## Feature rows without a label ({total} feature rows)", "", "| cause | rows | share |", "|---|---|---|"]
        for cause, n in facts["unlabelled"].items():
            lines.append(f"| {cause} | {n} | {_fmt(n / total if total else float('nan'))} |")
        lines.append("")
    balance = facts["balance"]
    if balance:
        splits = sorted({s for per in balance.values() for s in per})
        lines += ["## Class balance per split (share of rows; 1 for flags)", "", "| column | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
        for column, per in balance.items():
            cells = []
            for split in splits:
                counts = per.get(split, {})
                rows = sum(counts.values())
                if not rows:
                    cells.append("")
                elif set(counts) <= {"0", "1"}:
                    cells.append(_fmt(counts.get("1", 0) / rows))
                else:
                    cells.append(", ".join(f"{k} {_fmt(v / rows)}" for k, v in sorted(counts.items())))
            lines.append(f"| {column} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.4g}"
    return str(value)
