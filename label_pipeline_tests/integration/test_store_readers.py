"""The label store as generic readers see it: every asset folder, read as one dataset by pyarrow,
pandas, DuckDB and polars, gives every row of every partition's file.

Two ways this used to lose or refuse data silently: a run id or symbol starting with ``_`` was
stored as ``_name`` (pyarrow datasets and ``pd.read_parquet(folder)`` skip names starting with
``_`` or ``.``), and a symbol too short for any label horizon gave empty files whose text columns
were typed ``null`` (reading the folder then failed: "Unsupported cast from string to null").
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from upath import UPath

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.keys import decode_segment, encode_segment
from label_pipeline.storage import _write_options, read_parquet, storage_path, write_parquet_atomic
from label_pipeline_tests.harness.common import kept_instance

LABEL_ASSETS = [
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
]
RUNS = ["run1", "_run2"]
SYMBOLS = ["_ALT", "BTC/USDT"]
# 10 one-minute bars: shorter than every default horizon (30 and 45 minutes), so its label files are
# empty. Its stored name %23SHORT sorts before every other, so readers meet the empty file first (a
# null-typed first file is what made them fail: its schema cannot take the other files' strings).
SHORT = "#SHORT"
N_BARS = 240
SHORT_BARS = 10


def _text(field: pa.Field) -> bool:
    t = field.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("store_readers")
    runs, store = base / "runs", base / "store"
    for seed, run in enumerate(RUNS, start=11):
        feature, replay = make_run_frames(SYMBOLS, N_BARS, seed=seed, messiness=CLEAN)
        short_feature, short_replay = make_run_frames([SHORT], SHORT_BARS, seed=seed + 100, messiness=CLEAN)
        write_run(
            runs,
            run,
            pd.concat([feature, short_feature], ignore_index=True),
            pd.concat([replay, short_replay], ignore_index=True),
        )
    defs = build_definitions(str(runs), str(store))
    with kept_instance() as instance:
        for run in RUNS:
            outcomes = materialize_run(defs, instance, run, [*SYMBOLS, SHORT])
            assert outcomes and all(o.success for o in outcomes), run
    return store


def _stored_rows(files: list[Path]) -> int:
    return sum(pq.read_metadata(f).num_rows for f in files)


def _assert_readers_count(folder: Path, expected: int) -> None:
    """Every generic reader, given the folder (read recursively), returns all ``expected`` rows."""
    assert ds.dataset(str(folder), format="parquet").count_rows() == expected
    assert ds.dataset(str(folder), format="parquet").to_table().num_rows == expected
    assert len(pd.read_parquet(folder)) == expected
    pattern = f"{folder}/**/*.parquet"
    assert duckdb.sql(f"select count(*) from read_parquet('{pattern}')").fetchall()[0][0] == expected
    assert len(duckdb.sql(f"select * from read_parquet('{pattern}')").fetchall()) == expected
    assert pl.scan_parquet(pattern).select(pl.len()).collect().item() == expected
    assert pl.read_parquet(pattern).height == expected


@pytest.mark.parametrize("asset", LABEL_ASSETS)
def test_generic_readers_see_every_row_of_an_asset_folder(store: Path, asset: str) -> None:
    folder = store / asset
    files = sorted(folder.rglob("*.parquet"))
    assert len(files) == len(RUNS) * (len(SYMBOLS) + 1), files  # one file per run x symbol
    expected = _stored_rows(files)
    assert expected > 0
    _assert_readers_count(folder, expected)
    for run_folder in sorted(p for p in folder.iterdir() if p.is_dir()):  # a run's symbols as one dataset
        _assert_readers_count(run_folder, _stored_rows(sorted(run_folder.glob("*.parquet"))))
    # an explicit file list with an empty partition first, whatever the listing order
    empty = [f for f in files if pq.read_metadata(f).num_rows == 0]
    assert empty, f"{asset}: the short symbol gave no empty file"
    ordered = [str(f) for f in empty + [f for f in files if f not in empty]]
    assert ds.dataset(ordered, format="parquet").to_table().num_rows == expected
    assert duckdb.sql(f"select count(*) from read_parquet({ordered!r})").fetchall()[0][0] == expected
    assert pl.scan_parquet(ordered).select(pl.len()).collect().item() == expected


def test_no_stored_name_starts_with_underscore_or_dot(store: Path) -> None:
    names = [p.relative_to(store) for p in store.rglob("*")]
    assert names
    assert [n for n in names if any(part.startswith(("_", ".")) for part in n.parts)] == []
    # the keys are still there, encoded, and decode back
    assert (store / "entry_labels" / "%5Frun2" / "%5FALT.parquet").is_file()
    assert (store / "entry_labels" / "run1" / "BTC%2FUSDT.parquet").is_file()
    assert (store / "price_plan_context" / "%5Frun2.parquet").is_file()
    stored_runs = {decode_segment(p.name) for p in (store / "entry_labels").iterdir()}
    assert stored_runs == set(RUNS)


@pytest.mark.parametrize("asset", LABEL_ASSETS)
def test_empty_partition_has_text_typed_columns(store: Path, asset: str) -> None:
    for run in RUNS:
        empty = Path(storage_path(store, asset, run, SHORT).path)
        full = Path(storage_path(store, asset, run, "BTC/USDT").path)
        assert pq.read_metadata(empty).num_rows == 0, f"{asset} {run}: {SHORT} was expected to give no rows"
        assert pq.read_metadata(full).num_rows > 0
        empty_schema, full_schema = pq.read_schema(empty), pq.read_schema(full)
        assert [f for f in empty_schema if pa.types.is_null(f.type)] == []
        assert [f for f in full_schema if pa.types.is_null(f.type)] == []
        text = [f.name for f in full_schema if _text(f)]
        assert "sample_id" in text and "symbol" in text
        for name in text:
            assert pa.types.is_string(empty_schema.field(name).type), (asset, name)
        # the empty text columns are dictionary-encoded like the non-empty file's
        md = pq.read_metadata(empty)
        if md.num_row_groups:
            by_name = {md.row_group(0).column(i).path_in_schema: i for i in range(md.num_columns)}
            for name in text:
                assert md.row_group(0).column(by_name[name]).has_dictionary_page, (asset, name)
        assert pd.read_parquet(empty).columns.tolist() == pd.read_parquet(full).columns.tolist()


@pytest.mark.parametrize("asset", LABEL_ASSETS)
def test_non_empty_partition_is_written_as_before(store: Path, asset: str, tmp_path: Path) -> None:
    """For a non-empty label frame the fix changes nothing: the file ``write_parquet_atomic`` writes
    has the same bytes as the pre-fix conversion (``pa.Table.from_pandas`` as inferred)."""
    stored = Path(storage_path(store, asset, "run1", "BTC/USDT").path)
    frame = read_parquet(UPath(stored))
    assert len(frame) > 0
    footer = {k.decode(): v.decode() for k, v in (pq.read_schema(stored).metadata or {}).items()}
    footer.pop("pandas", None)
    new = write_parquet_atomic(frame, UPath(tmp_path / "new.parquet"), footer)
    assert new == (tmp_path / "new.parquet").stat().st_size
    old_table = pa.Table.from_pandas(frame, preserve_index=False)
    options = _write_options(old_table)
    old_table = old_table.replace_schema_metadata(
        {**(old_table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in footer.items()}}
    )
    pq.write_table(old_table, tmp_path / "old.parquet", **options)
    assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    for field in pq.read_schema(stored):
        if field.name in ("sample_id", "symbol"):
            assert _text(field), (asset, field)


def test_all_none_text_column_of_a_non_empty_frame_is_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"sample_id": ["a", "b"], "note": [None, None], "x": [1.0, 2.0]})
    path = UPath(tmp_path / "f.parquet")
    write_parquet_atomic(frame, path)
    schema = pq.read_schema(tmp_path / "f.parquet")
    assert schema.field("note").type == pa.string()
    assert schema.field("x").type == pa.float64()
    assert json.loads(schema.metadata[b"pandas"])["columns"][1]["name"] == "note"
    assert read_parquet(path)["note"].isna().all()


@pytest.mark.parametrize("key", ["_ALT", "_run2", "_", "__x__", "_.", "_/a", "._x", "_%5F"])
def test_leading_underscore_is_encoded_and_decodes_back(key: str) -> None:
    segment = encode_segment(key)
    assert not segment.startswith(("_", "."))
    assert segment.startswith("%5F") or segment.startswith("%2E")
    assert decode_segment(segment) == key
    assert "/" not in segment


@pytest.mark.parametrize(
    "key, segment",
    [
        ("BTC/USDT", "BTC%2FUSDT"),
        ("run1", "run1"),
        ("a_b", "a_b"),
        ("x_", "x_"),
        ("-_.", "-_."),
        (".hidden", "%2Ehidden"),
        ("_ALT", "%5FALT"),
        ("_run2", "%5Frun2"),
        ("__", "%5F_"),
    ],
)
def test_segment_encoding(key: str, segment: str) -> None:
    assert encode_segment(key) == segment
    assert decode_segment(segment) == key
