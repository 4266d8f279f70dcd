"""A single-symbol rerun with the README's CLI command: only that (run, symbol)'s files are
rewritten (every other file keeps its bytes and its mtime), the rerun on unchanged input records the
same content hash for every asset, and its checks run with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

from label_pipeline.automation.work import WorkFinder
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.partitions import partition_key
from label_pipeline.settings import REPO_ROOT

REPO = REPO_ROOT
RUN = "r1"
SYMBOLS = ["AAA", "BBB/USDT"]
SELECT = ",".join(k.path[-1] for k in LABEL_JOB_ASSETS)  # label_job's assets, as a rerun selects them
N_ASSETS = len(LABEL_JOB_ASSETS)


def _snapshot(store: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(store.rglob("*.parquet"))}


def _hashes(instance: DagsterInstance, key: str) -> dict[str, tuple[str, str]]:
    """asset -> (run id, content hash) of the partition's latest materialization."""
    out = {}
    for asset in SELECT.split(","):
        records_filter = AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[key])
        record = instance.fetch_materializations(records_filter, limit=1).records[0]
        out[asset] = (record.run_id, record.asset_materialization.metadata["content_hash"].value)
    return out


def test_cli_rerun_of_one_symbol_rewrites_only_its_files(tmp_path) -> None:
    runs, store = tmp_path / "runs", tmp_path / "store"
    write_run(runs, RUN, *make_run_frames(SYMBOLS, 150, seed=3, messiness=CLEAN))
    shm = Path("/dev/shm")
    home = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    (home / "dagster.yaml").touch()
    key = partition_key(RUN, "AAA")
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            assert all(
                o.success
                for o in materialize_run(build_definitions(str(runs), str(store)), instance, RUN, SYMBOLS)
            )
            before_hashes = _hashes(instance, key)
        before = _snapshot(store)
        mine = {p for p in before if p.name == "AAA.parquet"}
        assert len(mine) == N_ASSETS and len(before) == 2 * N_ASSETS + 1  # 2 symbols + the price plan

        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "LABEL_PIPELINE_RUNS_ROOT": str(runs),
            "LABEL_PIPELINE_STORAGE_ROOT": str(store),
        }
        command = [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "label_pipeline.definitions",
            "--select",
            SELECT,
            "--partition",
            f"{RUN}|AAA",
        ]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

        after = _snapshot(store)
        assert set(after) == set(before)
        assert {p: v for p, v in after.items() if p not in mine} == {
            p: v for p, v in before.items() if p not in mine
        }
        assert all(after[p][1] != before[p][1] for p in mine)  # rewritten ...
        with DagsterInstance.from_config(str(home)) as instance:
            after_hashes = _hashes(instance, key)
            rerun_ids = {run_id for run_id, _ in after_hashes.values()}
            assert len(rerun_ids) == 1 and rerun_ids.isdisjoint(r for r, _ in before_hashes.values())
            # ... with the same content: same hash for every asset
            assert {a: h for a, (_, h) in after_hashes.items()} == {
                a: h for a, (_, h) in before_hashes.items()
            }
            checks = instance.get_records_for_run(
                rerun_ids.pop(), of_type={DagsterEventType.ASSET_CHECK_EVALUATION}
            ).records
            # a contract per label artifact, and label_windows' leakage check (passes: one split, one fold)
            assert len(checks) == N_ASSETS - 2 + 1 and all(
                r.event_log_entry.dagster_event.event_specific_data.passed for r in checks
            )
            assert (
                WorkFinder(instance, build_definitions(str(runs), str(store)).resolve_asset_graph()).labels(
                    RUN, SYMBOLS
                )
                == {}
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)
