"""Artifacts of a whole partition rather than of each chunk: they see every chunk of the single
pass (``add``) and give their rows at the end (``tables``), keeping only small per-row arrays or
additive counts in between. The registry names their class as ``build`` with ``scope="partition"``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from label_pipeline.artifacts import artifact
from label_pipeline.charts import heatmap_svg
from label_pipeline.config import LABEL_VERSION, EffectiveConfig
from label_pipeline.kernel import sweep as sweep_kernel
from label_pipeline.kernel import windows as windows_kernel
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.labels.arrow import numbers
from label_pipeline.labels.joins import inner_match
from label_pipeline.slices import Slice

# label family -> (the artifact whose rows say "labelled", the config key of its horizon)
FAMILIES: dict[str, tuple[str, tuple[str, str]]] = {
    "direction": ("direction_labels", ("direction", "horizon_minutes")),
    "entry": ("entry_labels", ("entry", "max_hold_minutes")),
    "continue": ("continue_labels", ("continue", "horizon_minutes")),
}


def codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of a column (a missing value gets a code of its own) and the values they name."""
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype="int64"), encoded.dictionary


class Codes:
    """``codes`` of a column fed chunk by chunk: numbered in order of first appearance, as
    ``pc.dictionary_encode`` numbers a whole column, so the codes and names do not depend on the
    chunking."""

    def __init__(self, type_: pa.DataType):
        self.type = type_
        self._code: dict[Any, int] = {}

    def add(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        local, values = codes(column)
        mapping = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values.to_pylist()):
            mapping[i] = self._code.setdefault(value, len(self._code))
        return mapping[local]

    @property
    def names(self) -> pa.Array:
        return pa.array(list(self._code), type=self.type)


@dataclass(frozen=True)
class PassChunk:
    """One chunk of the single pass as a partition-scope artifact sees it: feature rows
    ``start:stop`` (``features``), the bars its windows reach, the chunk's label frames, and which
    of its rows each of direction / entry / continue labels (by artifact name)."""

    start: int
    stop: int
    features: pa.Table
    bars: Mapping[str, np.ndarray]
    frames: Mapping[str, pa.Table]
    labelled: Mapping[str, np.ndarray]


class Accumulator:
    """One partition-scope artifact being built over the chunks of the single pass."""

    name: str
    needs: tuple[str, ...] = ()  # chunk artifacts it needs the frames of

    def __init__(self, config: EffectiveConfig, features: Slice, charts: bool = True):
        self.config, self.features, self.charts = config, features, charts
        self.feature_schema = features.rows(0, 0).schema

    def add(self, chunk: PassChunk) -> None:
        """One chunk of the pass."""
        raise NotImplementedError

    def tables(self, chunk_rows: int) -> Iterator[pa.Table]:
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        """What the artifact's manifest (and its own checks) report beyond the rows."""
        return {}


class LabelWindows(Accumulator):
    """``label_windows``: per feature row and label family, whether it is labelled, where its label
    window ends, whether the window crosses a split or fold boundary, and its AFML average
    uniqueness (``label_pipeline.kernel.windows``; README "Leak-proof training data").

    A window's columns need its neighbours' labelled flags, so the rows come at the end of the
    pass from per-row state kept compact (event time, int32 split and fold codes, a flag per
    family: 19 bytes a feature row); the rows and the leakage facts are then computed a span of
    rows at a time with the neighbours each span's windows reach, as the kernel's chunking
    contract allows, so their temporaries are a span's, not the partition's."""

    name = "label_windows"
    needs = tuple(f for f, _ in FAMILIES.values())

    def __init__(self, *args: Any):
        super().__init__(*args)
        n = self.features.num_rows
        self.event_ms = np.zeros(n, dtype=np.int64)
        self.split_codes = np.zeros(n, dtype=np.int32)
        self.fold_codes = np.zeros(n, dtype=np.int32)
        self._splits = Codes(self.feature_schema.field("split_id").type)
        self._folds = Codes(self.feature_schema.field("walk_forward_fold").type)
        self.horizons = {f: int(self.config.label[s][k]) for f, (_, (s, k)) in FAMILIES.items()}
        self.labelled = {f: np.zeros(n, dtype=np.int8) for f in FAMILIES}
        embargo = self.config.label["windows"]["embargo_minutes"]
        self.embargo = {f: (self.horizons[f] if embargo is None else int(embargo)) for f in FAMILIES}
        self.span_rows = n or 1

    def add(self, chunk: PassChunk) -> None:
        rows, features = slice(chunk.start, chunk.stop), chunk.features
        self.event_ms[rows] = numbers(features, "open_time_ms", "int64")
        self.split_codes[rows] = self._splits.add(features.column("split_id"))
        self.fold_codes[rows] = self._folds.add(features.column("walk_forward_fold"))
        for family, (name, _) in FAMILIES.items():
            self.labelled[family][rows] = chunk.labelled[name]

    @property
    def split_names(self) -> pa.Array:
        return self._splits.names

    @property
    def fold_names(self) -> pa.Array:
        return self._folds.names

    @functools.cached_property
    def ordered(self) -> bool:
        """Whether the feature rows come in time order (asked once every chunk has been added)."""
        return len(self.event_ms) < 2 or bool((self.event_ms[1:] > self.event_ms[:-1]).all())

    def _spans(self) -> list[tuple[int, int]]:
        """Spans of rows in time order (one span of every row when the feature rows are not)."""
        n = len(self.event_ms)
        if not self.ordered or n == 0:
            return [(0, n)]
        return [(s, min(s + self.span_rows, n)) for s in range(0, n, self.span_rows)]

    def _reach(self, start: int, stop: int, before: int, after: int) -> tuple[int, int]:
        """Rows ``[lo, hi)`` of an ordered span's neighbours ``before`` / ``after`` minutes out."""
        t = self.event_ms
        lo = int(np.searchsorted(t, t[start] - before * MINUTE_MS, side="left"))
        hi = int(np.searchsorted(t, t[stop - 1] + after * MINUTE_MS, side="right"))
        return lo, hi

    def _columns(self, start: int, stop: int) -> dict[str, Any]:
        if self.ordered and stop > start:
            widest = max(self.horizons.values())
            lo, hi = self._reach(start, stop, widest, widest + 1)  # as the kernel's chunk_selection
            ctx, rows = slice(lo, hi), np.arange(start - lo, stop - lo, dtype=np.int64)
        else:
            ctx, rows = slice(None), None
        families = {f: (self.labelled[f][ctx], self.horizons[f]) for f in FAMILIES}
        out = windows_kernel.label_windows_families(
            self.event_ms[ctx], self.split_codes[ctx], self.fold_codes[ctx], families, rows=rows
        )
        columns: dict[str, Any] = {}
        for family in FAMILIES:
            ends = out[f"{family}_label_end"]
            missing = ends == windows_kernel.NO_LABEL_END
            columns[f"{family}_labelled"] = out[f"{family}_labelled"].astype(np.int8)
            columns[f"{family}_label_end"] = pa.array(
                np.where(missing, 0, ends) * 1_000_000, type=pa.timestamp("ns", tz="UTC"), mask=missing
            )
            columns[f"{family}_crosses_split"] = out[f"{family}_crosses_split"].astype(np.int8)
            columns[f"{family}_crosses_fold"] = out[f"{family}_crosses_fold"].astype(np.int8)
            columns[f"{family}_avg_uniqueness"] = out[f"{family}_avg_uniqueness"].astype(np.float64)
        return columns

    def tables(self, chunk_rows: int) -> Iterator[pa.Table]:
        names = artifact(self.name).column_names
        self.span_rows = max(int(chunk_rows), 1)
        for start, stop in self._spans():
            columns = self._columns(start, stop)
            rows = self.features.rows(start, stop)
            for name in ("sample_id", "event_time", "split_id", "walk_forward_fold"):
                columns[name] = rows.column(name)
            yield pa.table({c: columns[c] for c in names})

    def _crossings(self, codes: np.ndarray, lab: np.ndarray, h: int) -> dict[tuple[int, int], int]:
        """``windows.boundary_pair_counts`` span by span: each span's boundaries, counted on the
        rows ``h`` minutes (and one row) before it."""
        out: dict[tuple[int, int], int] = {}
        for start, stop in self._spans():
            if stop == start:
                continue
            lo = min(self._reach(start, stop, h, 0)[0], max(start - 1, 0)) if self.ordered else start
            ctx = slice(lo, stop)
            b = windows_kernel.boundary_crossings(self.event_ms[ctx], codes[ctx], lab[ctx], h)
            own = b["boundary_ms"] >= self.event_ms[start] if self.ordered else slice(None)  # the span's own
            for f, t, k in zip(
                b["from_code"][own].tolist(), b["to_code"][own].tolist(), b["n_crossing"][own].tolist(), strict=True
            ):
                out[(f, t)] = out.get((f, t), 0) + k
        return out

    @functools.cached_property
    def _folds_in_time(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The folds present (codes ascending), their first and last row and their row counts,
        span by span (feature rows in time order; the same for every family)."""
        k = len(self.fold_names)
        first = np.full(k, -1, dtype=np.int64)
        last = np.zeros(k, dtype=np.int64)
        n_rows = np.zeros(k, dtype=np.int64)
        for start, stop in self._spans():
            codes = self.fold_codes[start:stop]
            n_rows += np.bincount(codes, minlength=k)
            seen, at = np.unique(codes, return_index=True)
            new = first[seen] < 0
            first[seen[new]] = start + at[new]
            seen, at = np.unique(codes[::-1], return_index=True)
            last[seen] = stop - 1 - at
        present = np.flatnonzero(n_rows)
        return present, first[present], last[present], n_rows[present]

    def _purge_embargo(self, lab: np.ndarray, h: int, e: int) -> dict[str, np.ndarray]:
        """``windows.purge_embargo_counts`` span by span (feature rows in time order): from each
        fold's first and last row, one pass adding up the labelled rows in its purge and embargo
        intervals (counts over disjoint spans add up)."""
        if not self.ordered:
            return windows_kernel.purge_embargo_counts(self.event_ms, self.fold_codes, lab, h, e)
        present, first, last, n_rows = self._folds_in_time
        n_lab = np.zeros(len(present), dtype=np.int64)
        first_m, last_m = self.event_ms[first] // MINUTE_MS, self.event_ms[last] // MINUTE_MS
        purge = np.zeros(len(present), dtype=np.int64)
        embargo = np.zeros(len(present), dtype=np.int64)
        for start, stop in self._spans():
            flags = lab[start:stop]
            n_lab += np.bincount(self.fold_codes[start:stop], weights=flags, minlength=len(self.fold_names)).astype(
                np.int64
            )[present]
            minutes = self.event_ms[start:stop][flags == 1] // MINUTE_MS

            def between(a: np.ndarray, b: np.ndarray, minutes: np.ndarray = minutes) -> np.ndarray:
                return np.maximum(
                    np.searchsorted(minutes, b, side="right") - np.searchsorted(minutes, a, side="left"), 0
                )

            purge += between(first_m - h, last_m - 1)
            embargo += between(last_m + 1, last_m + e)
        own = n_lab - lab[last].astype(np.int64)  # the test fold's labelled rows but its last
        return {
            "fold_code": present.astype(np.int64),
            "n_rows": n_rows,
            "n_purged": purge - own,
            "n_embargoed": embargo,
        }

    def facts(self) -> dict[str, Any]:
        """Labelled rows whose window crosses into another split / fold, per boundary and family,
        and per fold taken as the test fold, what a purge and an embargo remove."""
        crossings: dict[str, Any] = {}
        purges: dict[str, Any] = {}
        total = 0
        for family in FAMILIES:
            lab, h = self.labelled[family], self.horizons[family]
            for what, values, names in (
                ("split", self.split_codes, self.split_names),
                ("fold", self.fold_codes, self.fold_names),
            ):
                pairs = self._crossings(values, lab, h)
                named = {f"{names[a].as_py()} -> {names[b].as_py()}": int(k) for (a, b), k in pairs.items()}
                crossings[f"{family}_{what}"] = named
                total += sum(named.values())
            counts = self._purge_embargo(lab, h, self.embargo[family])
            fold_names = self.fold_names
            purges[family] = {
                str(fold_names[int(code)].as_py()): {
                    "test_rows": int(counts["n_rows"][i]),
                    "purged": int(counts["n_purged"][i]),
                    "embargoed": int(counts["n_embargoed"][i]),
                    "embargo_minutes": self.embargo[family],
                }
                for i, code in enumerate(counts["fold_code"].tolist())
            }
        labelled = {f: int(self.labelled[f].sum()) for f in FAMILIES}
        return {
            "crossing_rows": total,
            "crossings": crossings,
            "purge_embargo": purges,
            "manifest": {"crossing_rows": total, "labelled_rows": ("json", labelled)},
        }


class PricePlanSweep(Accumulator):
    """``price_plan_sweep``: the config's grid of (target, stop, hold) evaluated in the same pass,
    per side and split, every number what that plan's entry labels would give
    (``label_pipeline.kernel.sweep``; README "Price-plan search")."""

    name = "price_plan_sweep"

    def __init__(self, *args: Any):
        super().__init__(*args)
        grid = self.config.label["sweep"]
        self.grid = (grid["target_bps"], grid["stop_bps"], grid["max_hold_minutes"])
        self.max_hold = int(max(grid["max_hold_minutes"]))
        self._splits = Codes(self.feature_schema.field("split_id").type)
        self.counts: sweep_kernel.SweepCounts | None = None
        self.min_edge = float(self.config.label["entry"]["min_expected_net_edge_bps"])

    @property
    def split_names(self) -> pa.Array:
        return self._splits.names

    def add(self, chunk: PassChunk) -> None:
        split_codes = self._splits.add(chunk.features.column("split_id"))
        if chunk.stop <= chunk.start:
            return
        times = numbers(chunk.features, "open_time_ms", "int64")
        bars = chunk.bars
        bar_ms = bars["open_time_ms"]  # reaching the widest hold past the chunk (engine._reach)
        lo = int(np.searchsorted(bar_ms, int(times.min()), side="left"))
        hi = min(int(np.searchsorted(bar_ms, int(times.max()), side="right")) + self.max_hold, len(bar_ms))
        window = slice(lo, hi)
        left, right = inner_match(times, bar_ms[window], "replay_1m")
        counts = sweep_kernel.sweep_counts(
            bar_ms[window],
            bars["close"][window],
            bars["high"][window],
            bars["low"][window],
            *self.grid,
            split_codes,
            left,
            right,
            self.config.cost_bps,
            self.min_edge,
            n_splits=len(self.split_names),
        )
        if self.counts is None:
            self.counts = counts
        else:  # a chunk meeting a new split widens the counts before they add up
            self.counts = self.counts.with_splits(counts.n_splits).merge(counts)

    def tables(self, chunk_rows: int) -> Iterator[pa.Table]:
        names = artifact(self.name).column_names
        if self.counts is None:
            yield artifact_schema_empty(names, self.split_names.type)
            return
        table = sweep_kernel.sweep_table(self.counts)
        columns: dict[str, Any] = {k: v for k, v in table.items() if k not in ("side", "split_code")}
        columns["target_bps"] = np.asarray(table["target_bps"], dtype="float64")
        columns["stop_bps"] = np.asarray(table["stop_bps"], dtype="float64")
        columns["max_hold_minutes"] = np.asarray(table["max_hold_minutes"], dtype="int64")
        columns["rows"] = np.asarray(table["rows"], dtype="int64")
        columns["side"] = pa.array(np.asarray(table["side"]).tolist(), pa.string())  # a few hundred rows
        columns["split_id"] = self.split_names.take(pa.array(np.asarray(table["split_code"], dtype="int64")))
        columns["label_version"] = pa.repeat(pa.scalar(LABEL_VERSION), len(columns["rows"]))
        self.table = table
        yield pa.table({c: columns[c] for c in names})

    def facts(self) -> dict[str, Any]:
        """The best plans per side by mean net edge, and the grid as heat maps (markdown), over all
        splits of the partition (split means weighted by their rows)."""
        table = getattr(self, "table", None)
        if table is None:
            return {"manifest": {}}
        keys = ("target_bps", "stop_bps", "max_hold_minutes", "side")
        rows = np.asarray(table["rows"], dtype="float64")
        net = np.nan_to_num(np.asarray(table["mean_net_edge_bps"], dtype="float64") * rows)
        hit = np.nan_to_num(np.asarray(table["target_rate"], dtype="float64") * rows)
        plans: dict[tuple, list[float]] = {}
        for i in range(len(rows)):
            k = tuple(np.asarray(table[c])[i] for c in keys)
            k = (float(k[0]), float(k[1]), int(k[2]), sweep_kernel.SIDES.index(k[3]))
            acc = plans.setdefault(k, [0.0, 0.0, 0.0])
            acc[0] += rows[i]
            acc[1] += net[i]
            acc[2] += hit[i]
        lines = [
            "| side | target_bps | stop_bps | max_hold_minutes | rows | mean_net_edge_bps | target_rate |",
            "|---|---|---|---|---|---|---|",
        ]
        for side in (0, 1):
            ranked = sorted(
                ((v[1] / v[0], k, v) for k, v in plans.items() if k[3] == side and v[0] > 0), reverse=True
            )[:5]
            for edge, (t, st, h, _), v in ranked:
                lines.append(
                    f"| {sweep_kernel.SIDES[side]} | {t:g} | {st:g} | {h} | {int(v[0])} | {edge:.2f} | {v[2] / v[0]:.3f} |"
                )
        targets, stops = self.grid[0], self.grid[1]
        maps = []
        for hold in self.grid[2]:
            for side in (0, 1):
                maps.append(
                    f"**{sweep_kernel.SIDES[side]}, hold {hold} min: mean net edge (bps), target x stop**"
                )
                maps.append("| target \\ stop | " + " | ".join(f"{x:g}" for x in stops) + " |")
                maps.append("|---" * (len(stops) + 1) + "|")
                for t in targets:
                    cells = []
                    for st in stops:
                        v = plans.get((float(t), float(st), int(hold), side))
                        cells.append(f"{v[1] / v[0]:.2f}" if v and v[0] else "")
                    maps.append(f"| {t:g} | " + " | ".join(cells) + " |")
                maps.append("")
        picture = ""
        if self.charts:
            chart = _heatmap_svg(plans, targets, stops, self.grid[2])
            picture = f"![mean net edge per plan](data:image/svg+xml;base64,{base64.b64encode(chart).decode()})\n\n"
        return {
            "manifest": {
                "plans": len({k[:3] for k in plans}),
                "best_plans": ("md", "\n".join(lines)),
                "net_edge_heatmap": ("md", picture + "\n".join(maps)),
            }
        }


def artifact_schema_empty(names: list[str], split_type: pa.DataType) -> pa.Table:
    types = {
        "side": pa.string(),
        "split_id": split_type,
        "label_version": pa.string(),
        "rows": pa.int64(),
        "max_hold_minutes": pa.int64(),
    }
    return pa.table({n: pa.array([], type=types.get(n, pa.float64())) for n in names})


def _heatmap_svg(plans: Mapping[tuple, list[float]], targets: list, stops: list, holds: list) -> bytes:
    """Mean net edge per (target, stop), one panel per hold and side: the grid at a glance."""
    panels = []
    for side in (0, 1):
        for hold in holds:
            grid = np.full((len(targets), len(stops)), np.nan)
            for i, t in enumerate(targets):
                for j, st in enumerate(stops):
                    v = plans.get((float(t), float(st), int(hold), side))
                    if v and v[0]:
                        grid[i, j] = v[1] / v[0]
            panels.append((f"{sweep_kernel.SIDES[side]}, hold {hold} min", grid))
    return heatmap_svg(
        panels, [f"{t:g}" for t in targets], [f"{s:g}" for s in stops],
        "mean net edge (bps) per plan", "target bps", "stop bps", columns=len(holds),
    )
