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

from collections.abc import Callable, Iterable, Iterator, Mapping
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
from label_pipeline.input_contract import InputDataError
from label_pipeline.kernel.path_stats import PathStats, compute_path_stats
from label_pipeline.kernel.units import MINUTE_MS
from label_pipeline.label_contract import CheckOutcome, check_label_frame, merge_outcomes
from label_pipeline.labels.accumulate import Accumulator, PassChunk
from label_pipeline.labels.arrow import numbers
from label_pipeline.labels.joins import require_increasing
from label_pipeline.labels.path_stats_frame import KernelFn
from label_pipeline.labels.step import StepInputs
from label_pipeline.quality import Quality, bar_gaps, labelled_rows, unlabelled_causes
from label_pipeline.slices import FileSlice, InputErrors, NotStreamable, Slice, Streamed, TableSlice
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
        """Rename every finished file over its target: the partition turns new all at once. Every
        file's fsync is waited for first; one that failed discards them all and raises (the
        partition stays all old)."""
        files = [r for r in self.results.values() if r.staged is not None]
        try:
            for result in files:
                result.staged.wait()
        except OSError:
            self.discard()
            raise
        for result in files:
            result.size_bytes = result.staged.publish()

    def discard(self) -> None:
        for result in self.results.values():
            if result.staged is not None:
                result.staged.discard()


class _ChunkInputs(StepInputs):
    """A chunk of feature rows with the bars its windows reach: the builders see ``replay`` as the
    bars from ``reach`` bars before the chunk's first feature time to ``reach`` bars (and minutes)
    after its last, read from the partition's bars (``label_pipeline.slices``), so nothing they
    do scans or holds the partition's bars. Path stats start on the kernel's block boundaries
    counted from the partition's first bar, and their ``row_index`` is relative to that window."""

    def __init__(self, bars: Slice, first_ms: int, last_ms: int, reach: int, **kwargs: Any):
        first = bars.locate(first_ms, "left")
        last = bars.locate(last_ms, "right")
        last_by_time = bars.locate(last_ms + reach * MINUTE_MS, "right")
        self._n = bars.num_rows
        self._lo = max(first - reach, 0)
        self._hi = min(max(last + reach, last_by_time), self._n)
        window = bars.rows(self._lo, self._hi)
        super().__init__(replay=window, **kwargs)
        self.bars = _bar_arrays(window)  # the window's arrays: position i is the partition's lo + i
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
        stop = min(stop, self._n)
        if start < self._lo or stop > self._hi:
            raise ValueError(f"horizon {horizon} reaches beyond the chunk's bars [{self._lo}, {self._hi})")
        window = slice(start - self._lo, stop - self._lo)
        stats = self.kernel(
            self.bars["open_time_ms"][window],
            self.bars["close"][window],
            self.bars["high"][window],
            self.bars["low"][window],
            self.bars["spread_bps"][window],
            horizon,
            target_bps,
            stop_bps,
        )
        return replace(stats, row_index=stats.row_index + (start - self._lo))


def _reach(config: EffectiveConfig) -> int:
    """The widest horizon of the chunk builders and the sweep (bars or minutes past a feature
    row), plus one."""
    label = config.label
    horizons = (
        label["direction"]["horizon_minutes"],
        label["entry"]["max_hold_minutes"],
        label["continue"]["horizon_minutes"],
        *label["sweep"]["max_hold_minutes"],
    )
    return max(int(h) for h in horizons) + 1


# The bars' columns the pass uses: the kernel's arrays (the builders look up open_time_ms and close)
BAR_COLUMNS = {
    "open_time_ms": "int64",
    "close": "float64",
    "high": "float64",
    "low": "float64",
    "spread_bps": "float64",
}


def _bar_arrays(replay: pa.Table) -> dict[str, np.ndarray]:
    return {
        name: np.ascontiguousarray(replay.column(name).to_numpy(), dtype=dtype)
        for name, dtype in BAR_COLUMNS.items()
    }


class _Sink:
    """One artifact being written: staged file, hash, target counts, check outcomes."""

    def __init__(
        self, art: Artifact, path: UPath, check: Callable[..., list[CheckOutcome]] | None, charts: bool = True
    ):
        self.art, self.path, self.check, self.charts = art, path, check, charts
        self.reset()

    def reset(self) -> None:
        """Start over (a streamed input read whole after all): the staged file so far is dropped."""
        if getattr(self, "staged", None) is not None:
            self.staged.discard()
        self.quality = Quality(self.art, self.charts) if self.art.layer != INPUT and self.art.in_reference else None
        self.staged: StagedFile | None = None
        self.hasher: TableHasher | None = None
        self.counts: dict[Any, int] = {}
        self.outcomes: list[list[CheckOutcome]] = []
        self.sample: pd.DataFrame | None = None
        self.rows = 0
        self.times: tuple[int, int] | None = None  # an input slice's first and last event time (ns)
        self.result: ArtifactResult | None = None

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
        if self.art.layer == INPUT and table.num_rows:
            span = pc.min_max(table.column("event_time").cast(pa.int64()))
            first, last = span["min"].as_py(), span["max"].as_py()
            self.times = (min(first, self.times[0]), max(last, self.times[1])) if self.times else (first, last)
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

    def _reread(self, columns: list[str]) -> Iterator[pa.Table]:
        """The finished (unpublished) file's ``columns``, a row group at a time."""
        with FileSlice(self.staged.readable()) as stored:
            for g in range(stored.file.num_row_groups):
                yield stored.file.read_row_group(g, columns=columns, use_threads=False)

    def finish(self) -> ArtifactResult:
        """Close the file (once: a streamed input is finished before the labels are built)."""
        if self.result is not None:
            return self.result
        digest = self.hasher.hexdigest()
        self.staged.finish({CONTENT_HASH_KEY: digest, ROW_COUNT_KEY: str(self.rows)})
        distribution = None
        if self.art.target_column:
            dtype = self.sample[self.art.target_column].dtype if self.sample is not None else object
            index = pd.Index(list(self.counts), dtype=dtype)
            series = pd.Series(list(self.counts.values()), index=index, dtype="int64")
            distribution = series.sort_values(ascending=False).to_dict()  # as value_counts orders them
        extra: dict[str, Any] = {"quality": self.quality.facts(self._reread)} if self.quality is not None else {}
        if self.art.layer == INPUT:
            extra["event_time_ns"] = self.times or (None, None)
        self.result = ArtifactResult(
            artifact=self.art,
            rows=self.rows,
            content_hash=digest,
            schema=self.staged.schema,
            sample=self.sample if self.sample is not None else self.staged.schema.empty_table().to_pandas(),
            distribution=distribution,
            outcomes=merge_outcomes(self.outcomes),
            staged=self.staged,
            extra=extra,
        )
        return self.result


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


InputSource = pa.Table | Streamed | FileSlice | TableSlice


def _drain(pending: list[Future]) -> None:
    for future in pending:
        future.result()
    pending.clear()


def _input_slices(
    sources: Mapping[str, InputSource],
    sinks: Mapping[str, _Sink],
    writer: ThreadPoolExecutor,
    pending: list[Future],
    chunk_rows: int,
) -> dict[str, Slice]:
    """Each input as a slice the pass reads by range. A streamed one is staged as its input
    artifact (checked and hashed as it is read) and then read back from that file, a chunk at a
    time; one that cannot be streamed is read whole. Every input's problems are raised together."""
    slices: dict[str, Slice] = {}
    errors: dict[str, InputDataError] = {}
    for name, source in sources.items():
        sink = sinks.get(name)
        if isinstance(source, Streamed) and sink is not None:
            try:
                for batch in source.batches():
                    sink.add(batch, writer, pending)
                    while len(pending) > 2:  # bound the batches in flight (memory)
                        pending.pop(0).result()
                _drain(pending)
                slices[name] = FileSlice(sink.finish().staged.readable())
                continue
            except NotStreamable:
                _drain(pending)
                sink.reset()
        if isinstance(source, Streamed):
            try:
                source = source.whole()
            except InputDataError as exc:
                errors[name] = exc
                continue
        if isinstance(source, pa.Table):
            source = TableSlice(source)
            if sink is not None:
                for start, stop in _chunks(source.num_rows, chunk_rows):
                    sink.add(source.rows(start, stop), writer, pending)
        slices[name] = source
    if errors:
        raise InputErrors(errors)
    return slices


def _label_pass(
    slices: Mapping[str, Slice],
    labels: list[Artifact],
    sinks: Mapping[str, _Sink],
    config: EffectiveConfig,
    plan: dict[str, Any] | None,
    stored_entry: Callable[[], pa.Table] | None,
    kernel: KernelFn,
    chunk_rows: int,
    charts: bool,
    check_args: Mapping[str, Any],
    writer: ThreadPoolExecutor,
    pending: list[Future],
) -> dict[str, Accumulator]:
    """The chunks of the single pass; returns the partition-scope artifacts' accumulators."""
    features, bars = slices["feature_frame"], slices["replay_1m"]
    if isinstance(bars, FileSlice):
        bars.narrow(BAR_COLUMNS)
    # builders to run per chunk: every selected label's, entry's when position is built from it,
    # and those whose frames a partition-scope artifact needs
    accumulators = {
        a.name: a.builder()(config, features, charts) for a in labels if a.scope == "partition"
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
    reach = _reach(config)
    for start, stop in _chunks(features.num_rows, chunk_rows):
        if not builders and not accumulators:
            break
        chunk = features.rows(start, stop)
        times = numbers(chunk, "open_time_ms", "int64")
        inputs = _ChunkInputs(
            bars,
            int(times.min()) if len(times) else 0,
            int(times.max()) if len(times) else -1,
            reach,
            config=config,
            features=chunk,
            plan=plan,
            kernel=kernel,
        )
        if builders:  # the joins need one bar per time
            require_increasing(inputs.bars["open_time_ms"], "replay_1m")
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
            acc.add(PassChunk(start, stop, chunk, inputs.bars, frames, labelled))
        _count_unlabelled(sinks, labelled, times, inputs.bars, bar_gaps(inputs.bars["open_time_ms"]), config)
        for art in labels:
            if art.name in frames and art.name in sinks:
                extra = {"entry_labels": frames["entry_labels"]} if art.name == "position_state_samples" else {}
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
    _drain(pending)
    return accumulators


def _finish_all(sinks: Mapping[str, _Sink]) -> dict[str, ArtifactResult]:
    """Finish every file on two threads: a file's footer and fsync, and the re-reads of its quality
    figures, release the GIL, so one artifact's figures are computed while another's disk waits."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="label-finish") as pool:
        futures = {name: pool.submit(sink.finish) for name, sink in sinks.items()}
        return {name: future.result() for name, future in futures.items()}


def label_partition(
    *,
    selected: Iterable[str],
    paths: Callable[[str], UPath],
    config: EffectiveConfig,
    features: InputSource,
    replay: InputSource,
    plan: dict[str, Any] | None = None,
    stored_entry: Callable[[], pa.Table] | None = None,
    kernel: KernelFn = compute_path_stats,
    chunk_rows: int = CHUNK_DAYS * 1440,
    charts: bool = True,
) -> PartitionOutput:
    """Build, write (unpublished), hash and check the ``selected`` artifacts of one partition.

    ``features`` / ``replay`` are the partition's normalised inputs (feature rows in file order,
    bars in event-time order): tables, slices of stored files, or ``Streamed`` from the run's
    files (then their input artifacts must be selected: the staged files are what the pass
    reads); ``paths(name)`` is where each artifact is stored; ``plan`` is the stored price plan
    (needed by the artifacts that read it); ``stored_entry`` loads the stored entry labels when
    position samples are selected without them. On any error every staged file is discarded.
    """
    wanted = [a for a in at_grain(RUN_SYMBOL) if a.name in set(selected)]
    labels = [a for a in wanted if a.layer != INPUT]
    check_args = {
        "max_hold_minutes": int(config.label["entry"]["max_hold_minutes"]),
        "price_plan_id": config.price_plan_id,
        "price_plan_hash": config.price_plan_hash,
    }
    sinks = {
        a.name: _Sink(a, paths(a.name), None if a.layer == INPUT else check_label_frame, charts) for a in wanted
    }
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-writer")
    pending: list[Future] = []
    output = PartitionOutput({})
    slices: dict[str, Slice] = {}
    try:
        slices = _input_slices(
            {"feature_frame": features, "replay_1m": replay}, sinks, writer, pending, chunk_rows
        )
        accumulators = _label_pass(
            slices, labels, sinks, config, plan, stored_entry, kernel, chunk_rows, charts, check_args, writer, pending
        )
        output.results = _finish_all(sinks)
        for name, acc in accumulators.items():
            output.results[name].extra.update(acc.facts())
    except BaseException:
        writer.shutdown(wait=True)
        for sink in sinks.values():
            if sink.staged is not None:
                sink.staged.discard()
        raise
    finally:
        for piece in slices.values():
            if isinstance(piece, FileSlice):
                piece.close()
    writer.shutdown(wait=True)
    return output
