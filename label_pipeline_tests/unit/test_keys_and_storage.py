from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from label_pipeline import storage
from label_pipeline.engine import PartitionOutput
from label_pipeline.hashing import content_hash
from label_pipeline.keys import PartitionKeyError, decode_segment, encode_segment, validate_key
from label_pipeline.storage import StagedFile, read_parquet, storage_path, write_parquet_atomic


@given(st.text(min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_encoding_is_reversible_and_one_safe_segment(key: str) -> None:
    segment = encode_segment(key)
    assert decode_segment(segment) == key
    assert "/" not in segment and "\\" not in segment and "\x00" not in segment
    assert segment not in (".", "..") and not segment.startswith(".")


@pytest.mark.parametrize("key", ["..", "../../etc", "a/b", "BTC/USDT", "x\\y", ".hidden"])
def test_storage_paths_never_leave_the_root(tmp_path, key: str) -> None:
    path = storage_path(tmp_path, "entry_labels", key, key)
    resolved = os.path.realpath(path.path)
    assert resolved.startswith(str(tmp_path.resolve()) + os.sep)
    assert path.parent.parent == storage_path(tmp_path, "entry_labels", "r", "s").parent.parent


@pytest.mark.parametrize(
    "key, reason",
    [("", "empty"), ("   ", "empty"), ("a|b", "pipe"), ("a,b", "comma"), ("a\x00b", "NUL"), ("x" * 201, "limit"), (" a", "white space")],
)
def test_unaddressable_keys_are_refused(key: str, reason: str) -> None:
    with pytest.raises(PartitionKeyError, match=reason):
        validate_key(key, "symbol")


def test_slash_symbols_are_fine() -> None:
    assert validate_key("BTC/USDT", "symbol") == "BTC/USDT"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": np.array([1, 2, 3], dtype="int8"),
            "b": [0.5, np.nan, -np.nan],
            "s": ["x", None, "z"],
            "t": pd.to_datetime([0, 60_000, 120_000], unit="ms", utc=True),
        }
    )


def test_atomic_write_round_trips_and_leaves_no_temp_files(tmp_path) -> None:
    path = storage_path(tmp_path, "asset", "run", "BTC/USDT")
    write_parquet_atomic(_frame(), path)
    write_parquet_atomic(_frame().iloc[:2], path)
    pd.testing.assert_frame_equal(read_parquet(path), _frame().iloc[:2])
    assert sorted(p.name for p in (tmp_path / "asset" / "run").iterdir()) == ["BTC%2FUSDT.parquet"]


def test_failed_write_keeps_the_old_file(tmp_path) -> None:
    path = storage_path(tmp_path, "asset", "run", "S")
    write_parquet_atomic(_frame(), path)
    before = open(path.path, "rb").read()
    with pytest.raises(pa.ArrowException):
        write_parquet_atomic(pd.DataFrame({"bad": [object()]}), path)
    assert open(path.path, "rb").read() == before
    assert len(list((tmp_path / "asset" / "run").iterdir())) == 1


def _staged(path, frame: pd.DataFrame) -> StagedFile:
    staged = StagedFile(path, pa.Table.from_pandas(_frame(), preserve_index=False).schema)
    staged.write(pa.Table.from_pandas(frame, preserve_index=False))
    staged.finish({})
    return staged


def test_a_staged_file_is_published_only_once_its_fsync_is_done(tmp_path, monkeypatch) -> None:
    """``finish`` leaves the fsync to a thread; ``publish`` waits for it before the rename, and a
    failed fsync keeps the old file and the staged one off the target."""
    path = storage_path(tmp_path, "asset", "run", "S")
    write_parquet_atomic(_frame(), path)
    before = open(path.path, "rb").read()
    synced_files: list[int] = []  # regular files only: publish fsyncs the folder after the rename
    real_fsync, real_replace = os.fsync, os.replace

    def slow_fsync(fd: int) -> None:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
        threading.Event().wait(0.2)
        real_fsync(fd)
        if regular:
            synced_files.append(fd)

    def checked_replace(src, dst) -> None:
        assert synced_files, "renamed before the file's fsync was done"
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "fsync", slow_fsync)
    monkeypatch.setattr(storage.os, "replace", checked_replace)
    staged = _staged(path, _frame().iloc[:2])
    assert not synced_files and open(path.path, "rb").read() == before  # finish returned before its fsync
    staged.publish()
    pd.testing.assert_frame_equal(read_parquet(path), _frame().iloc[:2])

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage.os, "fsync", failing_fsync)
    staged = _staged(path, _frame())
    with pytest.raises(OSError, match="Input/output error"):
        staged.publish()
    staged.discard()
    pd.testing.assert_frame_equal(read_parquet(path), _frame().iloc[:2])
    assert sorted(p.name for p in (tmp_path / "asset" / "run").iterdir()) == ["S.parquet"]


def test_a_partition_whose_one_fsync_failed_publishes_nothing(tmp_path, monkeypatch) -> None:
    """Every file's fsync is waited for before any rename: one that failed leaves the partition
    all old and no temporary file behind."""
    paths = [storage_path(tmp_path, name, "run", "S") for name in ("a", "b")]
    for path in paths:
        write_parquet_atomic(_frame().iloc[:1], path)
    real_fsync = os.fsync
    bad = Path(paths[1].path).parent

    def fsync_failing_in_b(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).parent == bad:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", fsync_failing_in_b)
    staged = {p.parent.parent.name: SimpleNamespace(staged=_staged(p, _frame()), size_bytes=0) for p in paths}
    output = PartitionOutput(staged)  # type: ignore[arg-type]  # publish reads .staged and sets .size_bytes
    with pytest.raises(OSError, match="Input/output error"):
        output.publish()
    for path in paths:
        pd.testing.assert_frame_equal(read_parquet(path), _frame().iloc[:1])
        assert [p.name for p in Path(path.path).parent.iterdir()] == ["S.parquet"]


def test_content_hash_is_deterministic_and_content_sensitive() -> None:
    frame = _frame()
    assert content_hash(frame) == content_hash(_frame())
    # NaN sign does not matter, values, dtypes and column names do
    other = frame.copy()
    other.loc[1, "b"] = -np.nan
    assert content_hash(other) == content_hash(frame)
    changed = frame.copy()
    changed.loc[0, "b"] = 0.5000001
    assert content_hash(changed) != content_hash(frame)
    assert content_hash(frame.astype({"a": "int64"})) != content_hash(frame)
    assert content_hash(frame.rename(columns={"a": "A"})) != content_hash(frame)
    assert content_hash(frame.iloc[::-1].reset_index(drop=True)) != content_hash(frame)


def test_content_hash_known_value() -> None:
    """Pinned so a change of the hash (which would make every partition look changed) is deliberate.
    Changed once, to BLAKE3 over Arrow buffers (README "Manifests")."""
    assert content_hash(_frame()) == "c6644e60ce0f2bf6e219b2fc9162ce0731e9a2984e7bae41d1194fe30f2a8f35"


def test_content_hash_of_integer_and_time_columns_with_nulls_known_value() -> None:
    """Pinned with the code before the no-nulls shortcut (a chunk without nulls skips
    ``fill_null``): nulls hash as 0 plus the validity stream, whichever chunk they first appear in."""
    import datetime

    import pyarrow as pa

    from label_pipeline.hashing import TableHasher

    day = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    table = pa.table(
        {
            "i": pa.array([1, 2, None, 4], pa.int64()),
            "t": pa.array([day, None, day + datetime.timedelta(days=1), None], pa.timestamp("ns", tz="UTC")),
            "f": pa.array([1, None, 1, 0], pa.int8()),
        }
    )
    want = "fd9030eaa00c58fd794a665481f52f8c7676729e08769f106cd2b3fde4be1530"
    assert content_hash(table) == want
    hasher = TableHasher(table.schema)
    hasher.update(table.slice(0, 1))  # no nulls yet
    hasher.update(table.slice(1, 3))
    assert hasher.hexdigest() == want


def test_content_hash_of_date_columns(tmp_path) -> None:
    """Dates (a pandas column of ``datetime.date``, Arrow ``date32``) hash as their days, in any
    chunking and after a parquet round trip; a day more changes the digest."""
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    from label_pipeline.hashing import TableHasher

    days = [datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(5)]
    table = pa.table({"d": pa.array([*days, None], pa.date32()), "d64": pa.array([*days, None], pa.date64())})
    whole = content_hash(table)
    hasher = TableHasher(table.schema)
    hasher.update(table.slice(0, 2))
    hasher.update(table.slice(2))
    assert hasher.hexdigest() == whole
    dates = table.select(["d"])  # parquet stores date64 as date32 (days): a type of its own here
    pq.write_table(dates, tmp_path / "d.parquet")
    assert content_hash(pq.read_table(tmp_path / "d.parquet")) == content_hash(dates)
    later = table.set_column(0, "d", pa.array([*days[:4], days[4] + datetime.timedelta(days=1), None], pa.date32()))
    assert content_hash(later) != whole


def test_content_hash_is_the_same_in_any_chunking_and_after_a_parquet_round_trip(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from label_pipeline.hashing import TableHasher

    frame = pd.concat([_frame()] * 7, ignore_index=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    whole = content_hash(table)
    for cuts in ([0, 21], [0, 1, 2, 20, 21], [0, 5, 5, 13, 21]):
        hasher = TableHasher(table.schema)
        for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
            hasher.update(table.slice(start, stop - start))
        assert hasher.hexdigest() == whole, cuts
    pq.write_table(table, tmp_path / "t.parquet")
    assert content_hash(pd.read_parquet(tmp_path / "t.parquet")) == whole
    assert content_hash(frame.assign(b=frame["b"] + 1)) != whole
