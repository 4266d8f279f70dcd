"""Atomic writes under kill -9, with real processes.

1. A writer process rewriting one file in a loop is SIGKILLed at random points, over and over: the
   file is always byte-for-byte the old or the new version, readers see no other file, and the
   temporary files of the killed writers are hidden and removed by the next write.
2. A real Dagster materialization is SIGKILLed in the middle of writing a label file: every stored
   file is byte-identical afterwards, and the next materialization succeeds and leaves no debris.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import instance_for_test

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.hashing import content_hash
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.partitions import partition_key
from label_pipeline.settings import REPO_ROOT
from label_pipeline.storage import read_parquet, storage_path, stored_file_metadata, write_parquet_atomic

REPO = REPO_ROOT
ROUNDS = 16


def _frame(value: float, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"i": np.arange(rows, dtype="int64"), "v": np.full(rows, value)})


# The driver never touches pyarrow itself: every write happens in a forked child, which it kills.
_KILL_DRIVER = r"""
import hashlib, json, os, random, signal, sys, time
from pathlib import Path
from upath import UPath
import numpy as np
import pandas as pd
from label_pipeline.storage import write_parquet_atomic

target, rounds, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
frame = lambda value, rows: pd.DataFrame({"i": np.arange(rows, dtype="int64"), "v": np.full(rows, value)})
A, B = frame(1.0, 300_000), frame(2.0, 200_000)

def child(body):
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid

def prepare():
    write_parquet_atomic(A, UPath(str(target) + ".A"))
    write_parquet_atomic(B, UPath(str(target) + ".B"))
    write_parquet_atomic(A, UPath(target))
    started = time.perf_counter()
    for _ in range(3):
        write_parquet_atomic(B, UPath(str(target) + ".B"))
    Path(str(target) + ".duration").write_text(str((time.perf_counter() - started) / 3))

os.waitpid(child(prepare), 0)
sha = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()
versions = {sha(str(target) + ".A"): "A", sha(str(target) + ".B"): "B"}
duration = float(Path(str(target) + ".duration").read_text())

def rewrite_forever():
    while True:
        write_parquet_atomic(B, UPath(target))
        write_parquet_atomic(A, UPath(target))

rng, results = random.Random(seed), []
for i in range(rounds):
    pid = child(rewrite_forever)
    if i == rounds - 1:
        # The last kill waits until a write has completed (bounded), so a loaded machine, where
        # random delays may all land before the first rename, still shows the new version.
        deadline = time.monotonic() + 60
        while versions.get(sha(target)) != "B" and time.monotonic() < deadline:
            time.sleep(duration / 4)
    else:
        # Once the writer runs (its first temporary file exists: on a loaded machine a new process
        # may wait longer for a core than the random delay), kill it at a random point.
        deadline = time.monotonic() + 30
        while not any(f"-{pid}." in p.name for p in target.parent.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 2.5 * duration))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    names = sorted(p.name for p in target.parent.iterdir() if not p.name.startswith(target.name + "."))
    results.append({"version": versions.get(sha(target), "neither"), "names": names})
print(json.dumps({"duration": duration, "rounds": results}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the driver forks its writers")
def test_kill_9_at_random_points_of_a_write_leaves_the_old_or_the_new_file(tmp_path) -> None:
    target = tmp_path / "store" / "entry_labels" / "r1" / "BTC%2FUSDT.parquet"
    target.parent.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_DRIVER, str(target), str(ROUNDS), "7"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    rounds = report["rounds"]
    # every kill left a complete file, the old or the new, and readers see nothing else
    assert [r["version"] for r in rounds if r["version"] not in ("A", "B")] == []
    visible = {name for r in rounds for name in r["names"] if not name.startswith(".")}
    assert visible == {target.name}
    debris = [n for r in rounds for n in r["names"] if n.startswith(".")]
    assert debris, "no kill landed mid-write; the test did not test anything"
    assert all(n.startswith(f".{target.name}.") and n.endswith(".tmp") for n in debris)
    assert "B" in {r["version"] for r in rounds}, "no write ever completed before a kill"
    # the next write removes the dead writers' temporary files
    write_parquet_atomic(_frame(3.0, 10), storage_path(tmp_path / "store", "entry_labels", "r1", "BTC/USDT"))
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.startswith(target.name + ".")) == [
        target.name
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(target), _frame(3.0, 10))


# A materialization that has written the entry labels' rows into its temporary file (real row
# groups, no footer yet: the file is cut where a kill mid-write leaves it), signals, and waits to
# be killed. The partition's other files are staged beside their targets at that point too.
_MATERIALIZE_AND_HANG = r"""
import os, sys, time
from pathlib import Path
from dagster import instance_for_test
from label_pipeline import storage
from label_pipeline.definitions import build_definitions
from label_pipeline.partitions import register_partitions

runs, store, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
real_finish = storage.StagedFile.finish

def finish_half_then_hang(self, footer):
    if "entry_labels" in str(self.path):
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        marker.write_text(str(os.getpid()))
        time.sleep(600)
    return real_finish(self, footer)

storage.StagedFile.finish = finish_half_then_hang
defs = build_definitions(runs, store)
with instance_for_test() as instance:
    [key] = register_partitions(instance, "r1", ["AAA"])
    defs.resolve_job_def("label_job").execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
sys.exit(3)  # never reached: killed while writing
"""


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def test_kill_9_of_a_materialization_mid_write_keeps_every_stored_file(tmp_path) -> None:
    runs, store, marker = tmp_path / "runs", tmp_path / "store", tmp_path / "writing"
    feature, replay = make_run_frames(["AAA"], 120, messiness=CLEAN)
    write_run(runs, "r1", feature, replay)
    defs = build_definitions(str(runs), str(store))
    with instance_for_test() as instance:
        assert all(o.success for o in materialize_run(defs, instance, "r1", ["AAA"]))
        before = _files(store)

        proc = subprocess.Popen(
            [sys.executable, "-c", _MATERIALIZE_AND_HANG, str(runs), str(store), str(marker)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 240
            while not marker.exists():
                assert proc.poll() is None, f"exited before writing: {proc.stderr.read().decode()[-3000:]}"
                assert time.monotonic() < deadline, "the materialization never reached the write"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=60)
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL

        after = _files(store)
        debris = [name for name in after if Path(name).name.startswith(".")]
        # the partition's staged files, each beside its target, hidden; the entry labels' holds rows
        assert {Path(name).parent.parts[0] for name in debris} == {k.path[-1] for k in LABEL_JOB_ASSETS}
        assert all(Path(name).name.startswith(".AAA.parquet.") for name in debris)
        entry_debris = [name for name in debris if name.startswith("entry_labels/")]
        assert len(entry_debris) == 1 and len(after[entry_debris[0]]) > 0
        # nothing was published: every stored file is byte-identical, the staged ones hidden from readers
        assert {k: v for k, v in after.items() if k not in debris} == before
        assert read_parquet(storage_path(store, "entry_labels", "r1", "AAA")).equals(
            pd.read_parquet(store / "entry_labels" / "r1" / "AAA.parquet")
        )

        # the next materialization succeeds, removes the dead writer's temporary file, and each
        # stored file's footer holds the content hash Dagster recorded for it
        result = defs.resolve_job_def("label_job").execute_in_process(
            partition_key=partition_key("r1", "AAA"), instance=instance
        )
        assert result.success
        assert _files(store) == before
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            path = storage_path(store, mat.asset_key.path[-1], "r1", "AAA")
            recorded = mat.metadata["content_hash"].value
            assert stored_file_metadata(path)["label_pipeline.content_hash"] == recorded
            assert content_hash(read_parquet(path)) == recorded
