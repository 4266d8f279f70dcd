"""The single pass gives the same files in any chunking: byte for byte, with the same content
hashes, for chunk boundaries on and around gaps and NaN runs, at horizons 1, 2, 45 and 1440
(the kernel's realised vol sums returns in blocks of H - 1 from its first bar, so a chunk's bars
must start on a block boundary; this is the test that catches it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from label_pipeline.artifacts import RUN_SYMBOL, artifact, at_grain
from label_pipeline.config import DEFAULT_COST_CONFIG, DEFAULT_LABEL_CONFIG, EffectiveConfig, merge_config
from label_pipeline.demo.sample_data import CLEAN, make_run_frames
from label_pipeline.engine import label_partition
from label_pipeline.inputs import (
    FEATURE_OPTIONAL,
    FEATURE_READ,
    REPLAY_REQUIRED,
    normalize_features_table,
    normalize_replay_table,
)
from label_pipeline.labels.price_plan import plan_from_frame, price_plan_context, price_plan_frame
from label_pipeline.storage import storage_path

ALL = [a.name for a in at_grain(RUN_SYMBOL)]


def _config(h: int) -> EffectiveConfig:
    override = {
        "direction": {"horizon_minutes": h},
        "entry": {"max_hold_minutes": h},
        "continue": {"horizon_minutes": max(1, h // 2 + 1)},
        "sweep": {"target_bps": [6, 12], "stop_bps": [4, 12], "max_hold_minutes": sorted({1, h})},
    }
    return EffectiveConfig(merge_config(DEFAULT_LABEL_CONFIG, override), dict(DEFAULT_COST_CONFIG), "default")


def _inputs(n: int, seed: int, holes: list[tuple[int, int]], nan_runs: list[tuple[int, int]]):
    feature, replay = make_run_frames(["S"], n, seed=seed, messiness=CLEAN)
    keep = np.ones(len(replay), dtype=bool)
    for start, length in holes:  # gaps: bars (and their feature rows) missing
        keep[start : start + length] = False
    replay = replay[keep].reset_index(drop=True)
    feature = feature[keep[: len(feature)]].reset_index(drop=True)
    for start, length in nan_runs:
        replay.loc[start : start + length - 1, ["close", "high", "low"]] = np.nan
    days = (feature["open_time_ms"] - feature["open_time_ms"].min()) // 3_600_000  # hours: many splits
    feature["split_id"] = np.where(days % 3 == 2, "valid", "train")
    feature["walk_forward_fold"] = (days // 4).astype("int64")
    as_table = lambda f: pa.Table.from_pandas(f, preserve_index=False)  # noqa: E731
    feature = feature[[*FEATURE_READ, *FEATURE_OPTIONAL]]  # the columns a partition reads
    replay = replay[list(REPLAY_REQUIRED)]
    return normalize_features_table(as_table(feature)), normalize_replay_table(as_table(replay))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def _run(root: Path, features, replay, config, chunk_rows: int, selected=ALL) -> dict[str, object]:
    plan = plan_from_frame(price_plan_frame(price_plan_context(config)))
    out = label_partition(
        selected=selected,
        paths=lambda name: storage_path(root, name, "r", "S"),
        config=config,
        features=features,
        replay=replay,
        plan=plan,
        chunk_rows=chunk_rows,
    )
    assert all(r.passed for r in out.results.values()), {n: r.outcomes for n, r in out.results.items()}
    out.publish()
    facts = out.results["label_windows"].extra  # the leakage facts, computed span by span
    return {
        **{n: r.content_hash for n, r in out.results.items()},
        "facts": {k: facts[k] for k in ("crossing_rows", "crossings", "purge_embargo")},
    }


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    h=st.sampled_from([1, 2, 45, 1440]),
    data=st.data(),
)
def test_chunked_equals_whole(tmp_path_factory, h: int, data) -> None:
    n = data.draw(st.integers(min_value=60, max_value=300)) + h
    holes = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 30)), max_size=3))
    nan_runs = data.draw(st.lists(st.tuples(st.integers(0, n // 2), st.integers(1, 10)), max_size=3))
    features, replay = _inputs(n, data.draw(st.integers(0, 10_000)), holes, nan_runs)
    # chunk boundaries on and around the gaps and NaN runs, and a few random sizes
    marks = sorted({s for s, _ in holes + nan_runs} | {s + length for s, length in holes + nan_runs})
    sizes = {max(16, m + d) for m in marks for d in (-1, 0, 1)} | {16, 37, 64}
    chunk = data.draw(st.sampled_from(sorted(sizes)))
    config = _config(h)
    whole_root, chunk_root = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("chunk")
    whole = _run(whole_root, features, replay, config, chunk_rows=10**9)
    chunked = _run(chunk_root, features, replay, config, chunk_rows=chunk)
    assert chunked == whole
    assert _files(chunk_root) == _files(whole_root)


def test_a_partition_without_bars_gives_typed_empty_files(tmp_path) -> None:
    features, replay = _inputs(10, 1, [], [])
    _run(tmp_path, features, replay, _config(45), chunk_rows=4)
    for name in ALL:
        path = storage_path(tmp_path, name, "r", "S")
        assert not any(pa.types.is_null(t) for t in pq.read_schema(path).types), name
        optional = [c.name for c in artifact(name).optional_columns]
        assert [c for c in pd.read_parquet(path).columns if c not in optional] == artifact(name).column_names


def _streamed(files, which: str, read_whole: list[str]):
    from label_pipeline.inputs import read_symbol_table, symbol_batches
    from label_pipeline.slices import Streamed

    def whole():
        read_whole.append(which)
        return read_symbol_table(files, which, "BBB")

    return Streamed(batches=lambda: symbol_batches(files, which, "BBB"), whole=whole)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    order=st.sampled_from(["as written", "bars shuffled", "feature rows shuffled"]),
    batch_rows=st.sampled_from([7, 64, 1 << 16]),
    chunk=st.sampled_from([16, 50, 10**9]),
    data=st.data(),
)
def test_streamed_inputs_equal_whole_tables(tmp_path_factory, monkeypatch, order, batch_rows, chunk, data) -> None:
    """The run's files streamed into the pass (or read whole where a stream cannot do: bars out of
    time order) give the files that whole tables give, byte for byte;
    labels built from the stored slices alone (read a row group at a time) give them too."""
    from label_pipeline import inputs as inputs_module
    from label_pipeline.demo.sample_data import REALISTIC, write_run
    from label_pipeline.inputs import read_symbol_table, run_files
    from label_pipeline.slices import FileSlice

    monkeypatch.setattr(inputs_module, "BATCH_ROWS", batch_rows)
    seed = data.draw(st.integers(0, 10_000))
    feature, replay = make_run_frames(["AAA", "BBB"], 400, seed=seed, messiness=REALISTIC)
    rng = np.random.default_rng(seed)
    if order == "bars shuffled":
        replay = replay.iloc[rng.permutation(len(replay))].reset_index(drop=True)
    elif order == "feature rows shuffled":
        feature = feature.iloc[rng.permutation(len(feature))].reset_index(drop=True)
    else:  # the symbols' rows interleaved, as a run file sorted by time holds them
        feature = feature.sort_values(["open_time_ms", "symbol"], kind="stable").reset_index(drop=True)
        replay = replay.sort_values(["open_time_ms", "symbol"], kind="stable").reset_index(drop=True)
    runs = tmp_path_factory.mktemp("runs")
    write_run(runs, "r", feature, replay)
    files = run_files(runs, "r")
    config = _config(45)

    def run(root: Path, features, bars, selected=ALL) -> dict[str, object]:
        return _run(root, features, bars, config, chunk, selected)

    whole_root, stream_root = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("stream")
    whole = run(whole_root, read_symbol_table(files, "feature", "BBB"), read_symbol_table(files, "replay", "BBB"))
    read_whole: list[str] = []
    streamed = run(stream_root, _streamed(files, "feature", read_whole), _streamed(files, "replay", read_whole))
    assert read_whole == {"as written": [], "bars shuffled": ["replay"], "feature rows shuffled": []}[order]
    assert streamed == whole
    assert _files(stream_root) == _files(whole_root)

    labels = [n for n in ALL if n not in ("feature_frame", "replay_1m")]
    stored_root = tmp_path_factory.mktemp("stored")
    with (
        FileSlice(str(storage_path(whole_root, "feature_frame", "r", "S"))) as stored_features,
        FileSlice(str(storage_path(whole_root, "replay_1m", "r", "S"))) as stored_bars,
    ):
        from_store = run(stored_root, stored_features, stored_bars, labels)
    assert from_store == {n: whole[n] for n in [*labels, "facts"]}


def test_a_narrowed_file_slice_reads_only_its_columns(tmp_path) -> None:
    """The pass reads five of the bars' columns (``engine.BAR_COLUMNS``): the same rows and values
    as the whole row, in the file's column order, for ranges across row groups and empty ones."""
    from label_pipeline.engine import BAR_COLUMNS
    from label_pipeline.slices import FileSlice

    _, replay = _inputs(300, 5, [], [])
    pq.write_table(replay, tmp_path / "bars.parquet", row_group_size=64)
    with FileSlice(str(tmp_path / "bars.parquet")) as whole, FileSlice(str(tmp_path / "bars.parquet")) as narrow:
        narrow.narrow(reversed(list(BAR_COLUMNS)))
        names = [c for c in replay.column_names if c in BAR_COLUMNS]
        assert len(names) == len(BAR_COLUMNS) < replay.num_columns
        for start, stop in ((0, 10), (60, 130), (250, 400), (5, 5)):
            got = narrow.rows(start, stop)
            assert got.column_names == names
            assert got.equals(whole.rows(start, stop).select(names))
        assert narrow.locate(int(replay.column("open_time_ms")[100].as_py()), "left") == 100
