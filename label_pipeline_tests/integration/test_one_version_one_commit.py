"""A partition is built from one version of its inputs and published all at once (issue: never a
silent mix): a file rewritten while the partition reads, or a disk that fills while it writes,
fails the partition with the path and the partition named, and leaves every stored file as it was."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from label_pipeline import storage
from label_pipeline.assets import inputs as input_assets
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.partitions import partition_key
from label_pipeline_tests.harness.common import QUIET

RUN, SYMBOL = "r1", "AAA"


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def _error(result) -> str:
    return "\n".join(
        str(e.event_specific_data.error.message) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


def _setup(tmp_path: Path, instance):
    runs, store = tmp_path / "runs", tmp_path / "store"
    write_run(runs, RUN, *make_run_frames([SYMBOL], 300, seed=4, messiness=CLEAN))
    defs = build_definitions(str(runs), str(store))
    assert all(o.success for o in materialize_run(defs, instance, RUN, [SYMBOL]))
    return runs, store, defs


def _label_job(defs, instance):
    return defs.resolve_job_def("label_job").execute_in_process(
        partition_key=partition_key(RUN, SYMBOL), instance=instance, raise_on_error=False, run_config=QUIET
    )


def test_inputs_rewritten_while_read_fail_the_partition(tmp_path, instance, monkeypatch) -> None:
    runs, store, defs = _setup(tmp_path, instance)
    before = _files(store)
    real_stream = input_assets.symbol_batches

    def rewrite(files) -> None:  # both files replaced between the feature read and the replay read
        for path in (files.feature, files.replay):
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    def stream_then_rewrite(files, which, symbol):
        yield from real_stream(files, which, symbol)
        if which == "feature":
            rewrite(files)

    monkeypatch.setattr(input_assets, "symbol_batches", stream_then_rewrite)
    result = _label_job(defs, instance)
    assert not result.success
    message = _error(result)
    assert f"partition {RUN}|{SYMBOL}" in message and "changed while" in message
    assert "feature_frame.parquet" in message and "replay_1m.parquet" in message
    assert _files(store) == before
    monkeypatch.undo()
    assert _label_job(defs, instance).success  # the next attempt reads the new versions


def test_a_full_disk_leaves_the_partition_all_old(tmp_path, instance, monkeypatch) -> None:
    runs, store, defs = _setup(tmp_path, instance)
    before = _files(store)
    real_flush = storage.StagedFile._flush

    def full(self, rows):
        if "entry_labels" in str(self.path):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real_flush(self, rows)

    monkeypatch.setattr(storage.StagedFile, "_flush", full)
    result = _label_job(defs, instance)
    assert not result.success
    message = _error(result)
    assert f"partition {RUN}|{SYMBOL}" in message and "No space left on device" in message
    assert "entry_labels" in message and "nothing was published" in message
    assert _files(store) == before  # all old: no file replaced, no temporary file left behind
