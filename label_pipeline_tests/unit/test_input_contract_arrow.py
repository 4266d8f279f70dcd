"""The input contract on Arrow tables (``check_*_table``, what a partition's read runs) is the
pandas contract (``validate_*_slice``): the same slices pass, the same slices fail with the same
message, and valid slices never need the pandas copy. And the slice a partition reads batch by
batch, column by column, is the slice a whole-file read gives."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import label_pipeline.input_contract as contract
import label_pipeline.inputs as inputs
from label_pipeline.demo.sample_data import CLEAN, Messiness, make_run_frames, write_run
from label_pipeline.input_contract import (
    InputDataError,
    arrow_frame,
    check_feature_table,
    check_replay_table,
    validate_feature_slice,
    validate_replay_slice,
)
from label_pipeline_tests.harness.common import CONTRACT_WHERE as WHERE
from label_pipeline_tests.harness.common import MESSY


def _frames(messiness: Messiness = CLEAN, n: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    feature, replay = make_run_frames(["S"], n, seed=1, messiness=messiness)
    return feature.drop(columns=["data_quality_flag"]), replay


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[row, column] = value
        return frame

    return edit


def _outcome(check: Callable, validate: Callable, table: pa.Table) -> tuple[str | None, str | None]:
    """(the Arrow contract's error, the pandas contract's error on the same slice)."""
    got = want = None
    try:
        check(table, WHERE)
    except InputDataError as exc:
        got = str(exc)
    try:
        validate(arrow_frame(table), WHERE)
    except InputDataError as exc:
        want = str(exc)
    return got, want


REPLAY_CASES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "clean": lambda f: f,
    "zoned elsewhere": lambda f: f.assign(event_time=f["event_time"].dt.tz_convert("America/New_York")),
    "naive seconds": lambda f: f.assign(event_time=f["event_time"].dt.tz_localize(None).astype("datetime64[s]")),
    "integer prices": lambda f: f.assign(open=100, high=102, low=99, close=101),
    "naive local time": lambda f: f.assign(event_time=f["event_time"].dt.tz_convert("Asia/Tokyo").dt.tz_localize(None)),
    "event time off": lambda f: f.assign(event_time=f["event_time"] + pd.Timedelta(seconds=1)),
    "missing event time": _set("event_time", 4, pd.NaT),
    "open time off the minute": lambda f: f.assign(open_time_ms=f["open_time_ms"] + 1),
    "duplicate bar, unsorted": lambda f: pd.concat([f.iloc[::-1], f.iloc[[7]]], ignore_index=True),
    "unsorted": lambda f: f.sample(frac=1.0, random_state=3).reset_index(drop=True),
    "infinite close": _set("close", 5, np.inf),
    "-infinite spread": _set("spread_bps", 5, -np.inf),
    "zero low": _set("low", 5, 0.0),
    "negative open": _set("open", 5, -1.0),
    "subnormal high": _set("high", 5, 4e-321),
    "high below low": lambda f: f.assign(high=f["low"] - 0.5, close=f["low"] - 0.25),
    "close above high": _set("close", 9, 1e9),
    "negative spread": _set("spread_bps", 9, -0.5),
    "prices as text": lambda f: f.assign(close=f["close"].map(str)),
    "open time as float": lambda f: f.assign(open_time_ms=f["open_time_ms"].astype("float64")),
    "open time as int32": lambda f: f.assign(open_time_ms=(f["open_time_ms"] // 60000).astype("int32")),
    "event time as integers": lambda f: f.assign(event_time=f["event_time"].astype("int64")),
    "nullable floats": lambda f: f.assign(close=f["close"].astype("Float64")),
    "many problems": lambda f: pd.concat(
        [f.assign(spread_bps=-1.0, close=f["high"] + 1.0), f.iloc[[3]]], ignore_index=True
    ),
}

FEATURE_CASES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "clean": lambda f: f,
    "integer ids": lambda f: f.assign(sample_id=np.arange(len(f))),
    "unsorted integer ids": lambda f: f.assign(sample_id=np.arange(len(f))[::-1].copy()),
    "unsorted": lambda f: f.sample(frac=1.0, random_state=4).reset_index(drop=True),
    "naive seconds": lambda f: f.assign(event_time=f["event_time"].dt.tz_localize(None).astype("datetime64[s]")),
    "nan values": _set("ret_15m_bps", 30, np.nan),
    "rank bounds": lambda f: f.assign(spread_rank_24h_pct=np.where(np.arange(len(f)) % 2, 0.0, 1.0)),
    "missing id": _set("sample_id", 3, None),
    "duplicate id": lambda f: f.assign(sample_id=f["sample_id"].where(f.index != 5, f["sample_id"][4])),
    "duplicate id, unsorted": lambda f: pd.concat([f.iloc[::-1], f.iloc[[2]].assign(open_time_ms=0)], ignore_index=True),
    "duplicate integer id": lambda f: f.assign(sample_id=np.minimum(np.arange(len(f)), 40)),
    "duplicate bar time": lambda f: pd.concat([f, f.iloc[[2]].assign(sample_id="other")], ignore_index=True),
    "event time off": lambda f: f.assign(event_time=f["event_time"] - pd.Timedelta(minutes=1)),
    "infinite spread": _set("spread_bps", 30, np.inf),
    "infinite return": _set("ret_15m_bps", 30, -np.inf),
    "negative spread": _set("spread_bps", 30, -1.0),
    "rank as percent": _set("spread_rank_24h_pct", 30, 45.0),
    "negative rank": _set("spread_rank_24h_pct", 30, -0.01),
    "negative vol": _set("realized_vol_15m_bps", 30, -2.0),
    "ids as floats": lambda f: f.assign(sample_id=np.arange(len(f)) + 0.5),
    "vol as text": lambda f: f.assign(realized_vol_15m_bps=f["realized_vol_15m_bps"].map(str)),
    "open time with a null": lambda f: f.assign(open_time_ms=f["open_time_ms"].astype("Int64").where(f.index != 2)),
    "no returns column": lambda f: f.drop(columns=["ret_15m_bps"]),
    "ids as pandas strings": lambda f: f.assign(sample_id=f["sample_id"].astype("string")),
    "vol as nullable floats": lambda f: f.assign(realized_vol_15m_bps=f["realized_vol_15m_bps"].astype("Float64")),
    "fold as nullable integers": lambda f: f.assign(walk_forward_fold=f["walk_forward_fold"].astype("Int64")),
}


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.mark.parametrize("block_rows", [contract.BLOCK_ROWS, 7])
@pytest.mark.parametrize("case", list(REPLAY_CASES))
def test_replay_contract_on_arrow_is_the_pandas_contract(case, block_rows, monkeypatch) -> None:
    monkeypatch.setattr(contract, "BLOCK_ROWS", block_rows)  # 7: checks that span blocks
    _, replay = _frames()
    table = _table(REPLAY_CASES[case](replay))
    got, want = _outcome(check_replay_table, validate_replay_slice, table)
    assert got == want
    if want is None:  # a valid slice is checked on its buffers: no pandas copy
        assert contract._replay_table_ok(table)
    else:
        assert got.startswith(WHERE)


@pytest.mark.parametrize("block_rows", [contract.BLOCK_ROWS, 7])
@pytest.mark.parametrize("case", list(FEATURE_CASES))
def test_feature_contract_on_arrow_is_the_pandas_contract(case, block_rows, monkeypatch) -> None:
    monkeypatch.setattr(contract, "BLOCK_ROWS", block_rows)
    feature, _ = _frames()
    table = _table(FEATURE_CASES[case](feature))
    got, want = _outcome(check_feature_table, validate_feature_slice, table)
    assert got == want
    if want is None:
        assert contract._feature_table_ok(table)
    else:
        assert got.startswith(WHERE)


def test_messy_valid_slices_pass_on_their_buffers() -> None:
    feature, replay = _frames(MESSY, 400)
    assert contract._replay_table_ok(_table(replay))
    assert contract._feature_table_ok(_table(feature))


@pytest.mark.parametrize("batch_rows", [5, 64, inputs.BATCH_ROWS])
@pytest.mark.parametrize("text", ["string", "category"])
def test_slice_read_in_batches_is_the_whole_file_read(tmp_path, batch_rows, text, monkeypatch) -> None:
    """Several symbols interleaved over several row groups, read a few rows at a time."""
    monkeypatch.setattr(inputs, "BATCH_ROWS", batch_rows)
    feature, replay = make_run_frames(["AAA", "BBB", "CCC"], 90, seed=5, messiness=MESSY)
    write_run(tmp_path, "r", feature, replay)
    files = inputs.run_files(tmp_path, "r")
    for path in (files.feature, files.replay):
        table = pq.read_table(path)
        if text == "category":
            index = table.schema.get_field_index("symbol")
            table = table.set_column(index, "symbol", table.column(index).dictionary_encode())
        pq.write_table(table, path, row_group_size=37)
    for which, path, columns in (
        ("feature", files.feature, [*inputs.FEATURE_READ, *inputs.FEATURE_OPTIONAL]),
        ("replay", files.replay, list(inputs.REPLAY_REQUIRED)),
    ):
        whole = inputs._plain_text(pq.read_table(path, columns=columns))
        for symbol in ("AAA", "BBB", "CCC"):
            got = inputs._read_symbol_rows(path, columns, symbol)
            want = whole.filter(pc.equal(whole.column("symbol"), symbol)).combine_chunks()
            assert got.equals(want, check_metadata=True), (which, symbol)
            assert all(column.num_chunks == 1 for column in got.columns)
        assert inputs._read_symbol_rows(path, columns, "ZZZ").num_rows == 0


def test_bars_already_in_time_order_are_not_copied() -> None:
    _, replay = _frames(CLEAN, 50)
    table = _table(replay)
    normalised = inputs.normalize_replay_table(table)
    assert normalised.column("open").chunk(0).buffers()[1].address == table.column("open").chunk(0).buffers()[1].address
    shuffled = _table(replay.sample(frac=1.0, random_state=1))
    assert inputs.normalize_replay_table(shuffled).equals(normalised)
