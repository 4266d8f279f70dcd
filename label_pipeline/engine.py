"""One pass per (run, symbol) partition: read each input once, compute path statistics once per
(horizon, target, stop), build every selected artifact, and write, hash and check it as it goes.

The partition is processed in chunks of feature rows (``chunk_rows``, ~30 days by default) with the
bars each chunk's windows need: H bars of lookahead, and a start aligned to the kernel's blocks of
H - 1 returns so a chunk's realised vol is bit for bit the whole partition's (the kernel sums
returns in blocks counted from its first bar). Rows reach ``StagedFile``s, which write fixed-size
row groups and hash as rows arrive, so the files and their content hashes do not depend on the
chunking; peak memory follows the chunk, not the span of years (beyond the two input tables).
Writing and hashing run on a second thread while the next chunk is computed (both release the GIL,
as do the numba kernels).

Nothing is published here: the caller publishes every file of the partition once all of them are
finished and their checks passed (``PartitionOutput.publish``), or discards them all. No Dagster
here: the label step (``assets/labels.py``) wires it, and tests and benchmarks call it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from upath import UPath

from label_pipeline.artifacts import INPUT, RUN_SYMBOL, Artifact, artifact, at_grain
from label_pipeline.config import CHUNK_DAYS, EffectiveConfig
from label_pipeline.hashing import TableHasher
from label_pipeline.kernel.path_stats import PathStats, compute_path_stats
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.label_contract import CheckOutcome, check_label_frame, merge_outcomes
from label_pipeline.labels.joins import require_increasing
from label_pipeline.labels.path_stats_frame import KernelFn
from label_pipeline.labels.step import StepInputs
from label_pipeline.quality import Quality, bar_gaps, labelled_rows, unlabelled_causes
from label_pipeline.storage import CONTENT_HASH_KEY, ROW_COUNT_KEY, StagedFile

TYPE_CHECK_ROWS = 1_000  # the dagster-pandas type runs on this many rows of each artifact (it is slow per row)


@dataclass
class ArtifactResult:
    """What one artifact's materialization records (its manifest's raw facts)."""

    artifact: Artifact
    rows: int
    content_hash: str
    schema: pa.Schema
    sample: pd.DataFrame  # its first rows, for the dagster-pandas type check
    distribution: dict[Any, int] | None = None  # the target column's counts, as value_counts
    outcomes: list[CheckOutcome] = field(default_factory=list)
    staged: StagedFile | None = None
    size_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # a partition-scope artifact's own facts

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


@dataclass
class PartitionOutput:
    results: dict[str, ArtifactResult]

    def publish(self) -> None:
        """Rename every finished file over its target: the partition turns new all at once."""
        for result in self.results.values():
            if result.staged is not None:
                result.size_bytes = result.staged.publish()

    def discard(self) -> None:
        for result in self.results.values():
            if result.staged is not None:
                result.staged.discard()


class _ChunkInputs(StepInputs):
    """A chunk of feature rows with the bars its windows reach: the builders see ``replay`` as the
    bars from ``reach`` bars before the chunk's first feature time to ``reach`` bars (and minutes)
    after its last, so nothing they do scans the partition's bars; path stats are computed on the
    partition's bar arrays, block-aligned, and their ``row_index`` made relative to that window."""

    def __init__(
        self, bars: Mapping[str, np.ndarray], replay: pa.Table, first_ms: int, last_ms: int, reach: int, **kwargs: Any
    ):
        bar_ms = bars["open_time_ms"]
        first = int(np.searchsorted(bar_ms, first_ms, side="left"))
        last = int(np.searchsorted(bar_ms, last_ms, side="right"))
        last_by_time = int(np.searchsorted(bar_ms, last_ms + reach * MINUTE_MS, side="right"))
        self._lo = max(first - reach, 0)
        self._hi = min(max(last + reach, last_by_time), len(bar_ms))
        super().__init__(replay=replay.slice(self._lo, self._hi - self._lo), **kwargs)
        self._bars = bars
        self._first, self._last = first, last

    def path_stats(self, horizon: int, target_bps: float, stop_bps: float) -> PathStats:
        key = (int(horizon), float(target_bps), float(stop_bps))
        if key not in self._stats:
            self._stats[key] = self._compute(*key)
        return self._stats[key]

    def _compute(self, horizon: int, target_bps: float, stop_bps: float) -> PathStats:
        start, stop = self._first, self._last + horizon
        if horizon > 1:
            start -= start % (horizon - 1)  # the kernel's vol blocks, counted from the first bar
        window = slice(start, min(stop, len(self._bars["open_time_ms"])))
        if window.start < self._lo or window.stop > self._hi:
            raise ValueError(f"horizon {horizon} reaches beyond the chunk's bars [{self._lo}, {self._hi})")
        stats = self.kernel(
            self._bars["open_time_ms"][window],
            self._bars["close"][window],
            self._bars["high"][window],
            self._bars["low"][window],
            self._bars["spread_bps"][window],
            horizon,
            target_bps,
            stop_bps,
        )
        return replace(stats, row_index=stats.row_index + (start - self._lo))


def _reach(config: EffectiveConfig) -> int:
    """The widest horizon of the chunk builders (bars or minutes past a feature row), plus one."""
    label = config.label
    horizons = (
        label["direction"]["horizon_minutes"],
        label["entry"]["max_hold_minutes"],
        label["continue"]["horizon_minutes"],
    )
    return max(int(h) for h in horizons) + 1


def _bar_arrays(replay: pa.Table) -> dict[str, np.ndarray]:
    return {
        name: np.ascontiguousarray(replay.column(name).to_numpy(), dtype=dtype)
        for name, dtype in (
            ("open_time_ms", "int64"),
            ("close", "float64"),
            ("high", "float64"),
            ("low", "float64"),
            ("spread_bps", "float64"),
        )
    }


class _Sink:
    """One artifact being written: staged file, hash, target counts, check outcomes."""

    def __init__(
        self, art: Artifact, path: UPath, check: Callable[..., list[CheckOutcome]] | None, charts: bool = True
    ):
        self.art = art
        self.quality = Quality(art, charts) if art.layer != INPUT and art.in_reference else None
        self.path = path
        self.check = check
        self.staged: StagedFile | None = None
        self.hasher: TableHasher | None = None
        self.counts: dict[Any, int] = {}
        self.outcomes: list[list[CheckOutcome]] = []
        self.sample: pd.DataFrame | None = None
        self.rows = 0

    def open(self, schema: pa.Schema) -> None:
        self.staged = StagedFile(self.path, schema)
        self.hasher = TableHasher(self.staged.schema)

    def add(
        self, table: pa.Table, writer: ThreadPoolExecutor, pending: list[Future], **check_args: Any
    ) -> None:
        if self.staged is None:
            self.open(table.schema)
        if self.sample is None or (len(self.sample) == 0 and table.num_rows):
            self.sample = table.slice(0, TYPE_CHECK_ROWS).to_pandas()
        self.rows += table.num_rows
        if self.art.target_column:
            counts = pc.value_counts(table.column(self.art.target_column))
            for value, count in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                self.counts[value] = self.counts.get(value, 0) + count
        if self.check is not None:
            self.outcomes.append(self.check(self.art.name, table, **check_args))
        if self.quality is not None:
            self.quality.add(table)
        staged, hasher = self.staged, self.hasher

        def write() -> None:
            table_ = table if table.schema == staged.schema else table.cast(staged.schema)
            hasher.update(table_)
            staged.write(table_)

        pending.append(writer.submit(write))

    def finish(self) -> ArtifactResult:
        digest = self.hasher.hexdigest()
        self.staged.finish({CONTENT_HASH_KEY: digest, ROW_COUNT_KEY: str(self.rows)})
        distribution = None
        if self.art.target_column:
            dtype = self.sample[self.art.target_column].dtype if self.sample is not None else object
            index = pd.Index(list(self.counts), dtype=dtype)
            series = pd.Series(list(self.counts.values()), index=index, dtype="int64")
            distribution = series.sort_values(ascending=False).to_dict()  # as value_counts orders them
        return ArtifactResult(
            artifact=self.art,
            rows=self.rows,
            content_hash=digest,
            schema=self.staged.schema,
            sample=self.sample if self.sample is not None else self.staged.schema.empty_table().to_pandas(),
            distribution=distribution,
            outcomes=merge_outcomes(self.outcomes),
            staged=self.staged,
            extra={"quality": self.quality.facts()} if self.quality is not None else {},
        )


# label artifact -> (the family whose rows decide "labelled", the config key of its horizon, joined by time)
_UNLABELLED = {
    "direction_labels": ("direction_labels", ("direction", "horizon_minutes"), True),
    "entry_labels": ("entry_labels", ("entry", "max_hold_minutes"), False),
    "continue_labels": ("continue_labels", ("continue", "horizon_minutes"), False),
    "exit_labels": ("continue_labels", ("continue", "horizon_minutes"), False),
    "risk_labels": ("continue_labels", ("continue", "horizon_minutes"), False),
}


def _count_unlabelled(
    sinks: Mapping[str, _Sink],
    labelled: Mapping[str, np.ndarray],
    times: np.ndarray,
    bars: Mapping[str, np.ndarray],
    gaps: np.ndarray,
    config: EffectiveConfig,
) -> None:
    """Feed each selected label artifact's quality with why this chunk's unlabelled rows are so."""
    done: dict[str, dict[str, int]] = {}
    for name, (family, (section, key), by_time) in _UNLABELLED.items():
        sink = sinks.get(name)
        if sink is None or sink.quality is None or family not in labelled:
            continue
        if family not in done:
            done[family] = unlabelled_causes(
                times, labelled[family], bars["open_time_ms"], bars["close"], gaps, int(config.label[section][key]), by_time
            )
        sink.quality.add_unlabelled(done[family], len(times))


def _chunks(n: int, size: int) -> Iterable[tuple[int, int]]:
    if n == 0:
        yield 0, 0
        return
    for start in range(0, n, size):
        yield start, min(start + size, n)


def label_partition(
    *,
    selected: Iterable[str],
    paths: Callable[[str], UPath],
    config: EffectiveConfig,
    features: pa.Table,
    replay: pa.Table,
    plan: dict[str, Any] | None = None,
    stored_entry: Callable[[], pa.Table] | None = None,
    kernel: KernelFn = compute_path_stats,
    chunk_rows: int = CHUNK_DAYS * 1440,
    charts: bool = True,
) -> PartitionOutput:
    """Build, write (unpublished), hash and check the ``selected`` artifacts of one partition.

    ``features`` / ``replay`` are the partition's normalised input tables (feature rows in file
    order, bars in event-time order); ``paths(name)`` is where each artifact is stored; ``plan`` is
    the stored price plan (needed by the artifacts that read it); ``stored_entry`` loads the stored
    entry labels when position samples are selected without them. On any error every staged file
    is discarded.
    """
    wanted = [a for a in at_grain(RUN_SYMBOL) if a.name in set(selected)]
    labels = [a for a in wanted if a.layer != INPUT]
    features, replay = features.combine_chunks(), replay.combine_chunks()
    bars = _bar_arrays(replay)
    feature_ms = np.asarray(features.column("open_time_ms").to_numpy(), dtype="int64")
    check_args = {
        "max_hold_minutes": int(config.label["entry"]["max_hold_minutes"]),
        "price_plan_id": config.price_plan_id,
        "price_plan_hash": config.price_plan_hash,
    }
    sinks = {
        a.name: _Sink(a, paths(a.name), None if a.layer == INPUT else check_label_frame, charts) for a in wanted
    }
    # builders to run per chunk: every selected label's, entry's when position is built from it,
    # and those whose frames a partition-scope artifact needs
    accumulators = {
        a.name: a.builder()(config, features, replay, bars, charts) for a in labels if a.scope == "partition"
    }
    needed = {a.name for a in labels if a.scope == "chunk"}
    for acc in accumulators.values():
        needed.update(acc.needs)
    position_from_store = "position_state_samples" in needed and "entry_labels" not in needed
    if "position_state_samples" in needed and not position_from_store:
        needed.add("entry_labels")
    builders: dict[str, Callable[..., dict[str, pa.Table]]] = {}
    for name in [a.name for a in at_grain(RUN_SYMBOL) if a.name in needed]:
        if name == "position_state_samples":
            continue  # built from the entry labels: this chunk's, or the stored ones
        art = artifact(name)
        builders.setdefault(art.build, art.builder())

    gaps = bar_gaps(bars["open_time_ms"])
    reach = _reach(config)
    if builders:  # the joins need one bar per time; each chunk's builders see only its window
        require_increasing(bars["open_time_ms"], "replay_1m")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-writer")
    pending: list[Future] = []
    output = PartitionOutput({})
    try:
        if "replay_1m" in sinks:
            for start, stop in _chunks(replay.num_rows, chunk_rows):
                sinks["replay_1m"].add(replay.slice(start, stop - start), writer, pending)
        for start, stop in _chunks(features.num_rows, chunk_rows):
            chunk = features.slice(start, stop - start)
            if "feature_frame" in sinks:
                sinks["feature_frame"].add(chunk, writer, pending)
            if not builders and not accumulators:
                continue
            times = feature_ms[start:stop]
            inputs = _ChunkInputs(
                bars,
                replay,
                int(times.min()) if len(times) else 0,
                int(times.max()) if len(times) else -1,
                reach,
                config=config,
                features=chunk,
                plan=plan,
                kernel=kernel,
            )
            frames: dict[str, pa.Table] = {}
            for build in builders.values():
                frames.update(build(inputs))
            if "position_state_samples" in needed and not position_from_store:
                inputs.upstream = {"entry_labels": frames["entry_labels"]}
                frames.update(artifact("position_state_samples").builder()(inputs))
            labelled = {
                family: labelled_rows(times, frames[family])
                for family in ("direction_labels", "entry_labels", "continue_labels")
                if family in frames
            }
            for acc in accumulators.values():
                acc.add(start, stop, frames, labelled)
            _count_unlabelled(sinks, labelled, times, bars, gaps, config)
            for art in labels:
                if art.name in frames and art.name in sinks:
                    extra = (
                        {"entry_labels": frames["entry_labels"]}
                        if art.name == "position_state_samples"
                        else {}
                    )
                    sinks[art.name].add(frames[art.name], writer, pending, **check_args, **extra)
            for done in [f for f in pending if f.done()]:
                done.result()  # surface a write error early
            pending[:] = [f for f in pending if not f.done()]
            while len(pending) > 2 * len(sinks):  # bound the chunks in flight (memory)
                pending.pop(0).result()
        if position_from_store:
            entry = stored_entry()
            inputs = StepInputs(config=config, upstream={"entry_labels": entry})
            samples = artifact("position_state_samples").builder()(inputs)["position_state_samples"]
            sinks["position_state_samples"].add(samples, writer, pending, **check_args, entry_labels=entry)
        for name, acc in accumulators.items():
            for table in acc.tables(chunk_rows):
                sinks[name].add(table, writer, pending, **check_args)
        for future in pending:
            future.result()
        output.results = {name: sink.finish() for name, sink in sinks.items()}
        for name, acc in accumulators.items():
            output.results[name].extra.update(acc.facts())
    except BaseException:
        writer.shutdown(wait=True)
        for sink in sinks.values():
            if sink.staged is not None:
                sink.staged.discard()
        raise
    writer.shutdown(wait=True)
    return output
