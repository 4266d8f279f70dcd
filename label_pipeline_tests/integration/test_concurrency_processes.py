"""Concurrent materializations in real processes sharing one Dagster instance (SQLite) and store.

Each process holds its ``entry_labels`` rename until the others have reached the same point, so the
two writes are in flight at the same moment (not one after the other by luck of scheduling).

Three processes at once: two materialize the same partition, one another symbol of the same run.
All succeed; each symbol ends with one complete file per asset whose content, footer and last
recorded metadata all agree, and no temporary file is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.hashing import content_hash
from label_pipeline.partitions import partition_key, register_partitions
from label_pipeline.settings import REPO_ROOT
from label_pipeline.storage import read_parquet, storage_path, stored_file_metadata

REPO = REPO_ROOT
ASSETS = [
    "feature_frame",
    "replay_1m",
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
]

_MATERIALIZE = r"""
import json, os, sys, time
from pathlib import Path
from dagster import DagsterInstance
from label_pipeline.definitions import build_definitions
from label_pipeline.partitions import partition_key

home, runs, store, symbol, barrier, parties = sys.argv[1:7]
barrier, parties = Path(barrier), int(parties)
real_replace = os.replace

def replace_together(src, dst, *args, **kwargs):
    # the entry_labels rename waits (bounded) until every process has its temporary file written
    if "entry_labels" in str(dst):
        (barrier / f"{os.getpid()}").touch()
        deadline = time.monotonic() + 180
        while len(list(barrier.iterdir())) < parties and time.monotonic() < deadline:
            time.sleep(0.005)
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace_together
defs = build_definitions(runs, store)
with DagsterInstance.from_config(home) as instance:
    result = defs.resolve_job_def("label_job").execute_in_process(
        partition_key=partition_key("r1", symbol), instance=instance, raise_on_error=False
    )
    metadata = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        metadata[mat.asset_key.path[-1]] = {k: v.value for k, v in mat.metadata.items() if k in ("content_hash", "dagster/row_count")}
print(json.dumps({"success": result.success, "metadata": metadata, "together": len(list(barrier.iterdir()))}))
"""


def _setup(tmp_path: Path, symbols: list[str]) -> tuple[Path, Path, Path]:
    runs, store, home = tmp_path / "runs", tmp_path / "store", tmp_path / "dagster_home"
    feature, replay = make_run_frames(symbols, 120, messiness=CLEAN)
    write_run(runs, "r1", feature, replay)
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(home)) as instance:
        register_partitions(instance, "r1", symbols)
        plan = build_definitions(str(runs), str(store)).resolve_job_def("price_plan_job")
        assert plan.execute_in_process(partition_key="r1", instance=instance).success
    return runs, store, home


def _run_together(tmp_path: Path, runs: Path, store: Path, home: Path, symbols: list[str]) -> list[dict]:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _MATERIALIZE,
                str(home),
                str(runs),
                str(store),
                symbol,
                str(barrier),
                str(len(symbols)),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for symbol in symbols
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["together"] == len(symbols) for r in reports), "the writes did not overlap"
    return reports


def test_concurrent_materializations_of_one_run(tmp_path) -> None:
    """Three processes at once: AAA twice (the same partition) and BTC/USDT (another symbol)."""
    runs, store, home = _setup(tmp_path, ["AAA", "BTC/USDT"])
    symbols = ["AAA", "BTC/USDT", "AAA"]
    reports = _run_together(tmp_path, runs, store, home, symbols)
    assert [r["success"] for r in reports] == [True, True, True]
    with DagsterInstance.from_config(str(home)) as instance:
        for symbol in ("AAA", "BTC/USDT"):
            key = str(partition_key("r1", symbol))
            mine = [r for s, r in zip(symbols, reports, strict=True) if s == symbol]
            for name in ASSETS:
                path = storage_path(store, name, "r1", symbol)
                frame = read_parquet(path)
                digest = content_hash(frame)
                assert set(frame["symbol"]) <= {symbol}, (symbol, name)
                # one complete file, and everything that describes it agrees with it: its footer, what
                # each process recorded, and the partition's last materialization in the instance
                assert stored_file_metadata(path)["label_pipeline.content_hash"] == digest
                assert {r["metadata"][name]["content_hash"] for r in mine} == {digest}
                records = instance.fetch_materializations(AssetKey(name), limit=10).records
                ours = [r for r in records if r.partition_key == key]
                assert len(ours) == len(mine), (symbol, name)
                last = ours[0].asset_materialization.metadata  # newest first
                assert last["content_hash"].value == digest
                assert last["dagster/row_count"].value == len(frame)
    assert sorted(p.name for p in (store / "entry_labels" / "r1").iterdir()) == [
        "AAA.parquet",
        "BTC%2FUSDT.parquet",
    ]
    assert len(read_parquet(storage_path(store, "entry_labels", "r1", "AAA"))) > 0
    assert [p for p in store.rglob(".*")] == []  # no temporary file left
