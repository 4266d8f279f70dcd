"""The default profile's SQLite storage (``label_pipeline.sqlite_storage``): Dagster's files and
layout, its event log's connections kept per process; an instance on it runs the label job, and
Dagster's own storage reads what it wrote (switching back loses nothing)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from pathlib import Path

from dagster import AssetKey, AssetObservation, DagsterInstance

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.cli import instance_yaml
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.keys import RUN_DIM
from label_pipeline.partitions import partition_key, register_partitions
from label_pipeline.sqlite_storage import KEPT_SHARDS, KeptSqliteEventLogStorage
from label_pipeline_tests.harness.common import QUIET


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    return home


def _observe_in_child(home: str) -> None:
    with DagsterInstance.from_config(home) as instance:
        instance.report_runless_asset_event(AssetObservation("probe", metadata={"from": "child"}))


def test_label_job_on_kept_connections_reads_back_with_dagsters_storage(tmp_path) -> None:
    runs, store = tmp_path / "runs", tmp_path / "store"
    write_run(runs, "r1", *make_run_frames(["AAA"], 300, seed=1, messiness=CLEAN))
    defs = build_definitions(str(runs), str(store))
    home = _home(tmp_path)
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
        register_partitions(instance, "r1", ["AAA"])
        key = partition_key("r1", "AAA")
        defs.resolve_job_def("price_plan_job").execute_in_process(
            partition_key="r1", instance=instance, run_config=QUIET
        )
        result = defs.resolve_job_def("label_job").execute_in_process(
            partition_key=key, instance=instance, run_config=QUIET
        )
        assert result.success
        stored = instance.all_logs(result.run_id)
        assert instance.event_log_storage._engines  # the connections were kept  # noqa: SLF001
        assert len(instance.event_log_storage._engines) <= KEPT_SHARDS  # noqa: SLF001
        # a forked child opens its own connections (the parent's are not shared) and writes
        instance.report_runless_asset_event(AssetObservation("probe", metadata={"from": "parent"}))
        child = multiprocessing.get_context("fork").Process(target=_observe_in_child, args=(str(home),))
        child.start()
        child.join(60)
        assert child.exitcode == 0
    # the same folder through Dagster's default SQLite storage
    (home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(home)) as stock:
        assert not isinstance(stock.event_log_storage, KeptSqliteEventLogStorage)
        assert [e.dagster_event_type for e in stock.all_logs(result.run_id)] == [e.dagster_event_type for e in stored]
        materialized = stock.get_latest_materialization_event(AssetKey("entry_labels"))
        assert materialized is not None and materialized.run_id == result.run_id
        probes = stock.fetch_observations(AssetKey("probe"), limit=10).records
        assert sorted(r.asset_observation.metadata["from"].value for r in probes) == ["child", "parent"]
        # a run's shard (copied from an empty one) is what Dagster's own storage creates
        with stock.event_log_storage.run_connection("made-by-dagster"):
            pass
    runs_dir = home / "history" / "runs"
    assert _shape(runs_dir / f"{result.run_id}.db") == _shape(runs_dir / "made-by-dagster.db")


def _shape(path: Path) -> tuple:
    with closing(sqlite3.connect(path)) as db:
        return (
            db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall(),
            db.execute("SELECT version_num FROM alembic_version").fetchall(),
            db.execute("PRAGMA journal_mode").fetchall(),
        )


def test_wipe_closes_the_kept_connections(tmp_path) -> None:
    home = _home(tmp_path)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.report_runless_asset_event(AssetObservation("probe"))
        with instance.event_log_storage.run_connection("some-run"):
            pass
        assert "some-run" in instance.event_log_storage._engines  # noqa: SLF001
        instance.wipe()  # deletes the run shards: no connection to one survives (the index is kept)
        assert set(instance.event_log_storage._engines) <= {"index"}  # noqa: SLF001
        instance.report_runless_asset_event(AssetObservation("probe"))
        assert len(instance.fetch_observations(AssetKey("probe"), limit=10).records) == 1


def test_a_file_system_without_hard_links_falls_back_to_dagsters_own_shard_creation(tmp_path, monkeypatch) -> None:
    import label_pipeline.sqlite_storage as kept

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted", dst)

    monkeypatch.setattr(kept.os, "link", no_links)
    home = _home(tmp_path)
    with DagsterInstance.from_config(str(home)) as instance:
        with instance.event_log_storage.run_connection("some-run"):
            pass
        assert "some-run" in instance.event_log_storage._initialized_dbs  # noqa: SLF001
    runs_dir = home / "history" / "runs"
    assert not list(runs_dir.glob("*.tmp"))
    with DagsterInstance.from_config(str(home)) as stock:  # made by _initdb: the stamp is there too
        with stock.event_log_storage.run_connection("made-by-dagster"):
            pass
    assert _shape(runs_dir / "some-run.db") == _shape(runs_dir / "made-by-dagster.db")


def test_instance_command_writes_this_storage_once(tmp_path, monkeypatch, capsys) -> None:
    """`label-pipeline instance` (the README's set-up of DAGSTER_HOME) makes the instance the demo
    makes, and keeps a dagster.yaml that already has settings."""
    from label_pipeline.demo.cli import main

    home = tmp_path / "new_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["instance"]) == 0
    assert (home / "dagster.yaml").read_text() == instance_yaml(home)
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert main(["instance"]) == 0
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    assert "kept" in capsys.readouterr().out
    monkeypatch.delenv("DAGSTER_HOME")
    assert main(["instance"]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err


def test_a_new_process_copies_the_kept_empty_shard_instead_of_running_migrations(tmp_path, monkeypatch) -> None:
    home = _home(tmp_path)
    runs_dir = home / "history" / "runs"
    with DagsterInstance.from_config(str(home)) as first:
        with first.event_log_storage.run_connection("run-1"):
            pass
    (kept,) = runs_dir.glob(".empty-run-shard-*.sqlite")  # out of Dagster's *.db globs
    made = []
    real = KeptSqliteEventLogStorage._initdb

    def recording(self, engine, *args, **kwargs):
        made.append(str(engine.url))
        return real(self, engine, *args, **kwargs)

    monkeypatch.setattr(KeptSqliteEventLogStorage, "_initdb", recording)
    with DagsterInstance.from_config(str(home)) as second:  # as a new process: nothing in memory
        with second.event_log_storage.run_connection("run-2"):
            pass
    assert not [url for url in made if "run-2" in url or "empty" in url]
    kept.write_bytes(kept.read_bytes()[:-100])  # cut short (a crash mid-write): made again
    with DagsterInstance.from_config(str(home)) as third:
        with third.event_log_storage.run_connection("run-3"):
            pass
    assert [url for url in made if "empty" in url]
    (home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(home)) as stock:
        with stock.event_log_storage.run_connection("made-by-dagster"):
            pass
        assert _shape(runs_dir / "run-2.db") == _shape(runs_dir / "run-3.db") == _shape(runs_dir / "made-by-dagster.db")
        stock.wipe()  # deletes the run shards; the kept empty one (not a *.db) is left as it is
    assert kept.exists() and not (runs_dir / "run-2.db").exists()


def test_an_index_table_once_found_is_not_looked_up_again(tmp_path, monkeypatch) -> None:
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    looked_up = []
    real = SqliteEventLogStorage.has_table

    def counting(self, table_name):
        looked_up.append(table_name)
        return real(self, table_name)

    monkeypatch.setattr(SqliteEventLogStorage, "has_table", counting)
    home = _home(tmp_path)
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        looked_up.clear()
        assert all(storage.has_table("dynamic_partitions") for _ in range(3))
        assert not any(storage.has_table("no_such_table") for _ in range(2))  # a no is asked again
        assert looked_up == ["dynamic_partitions", "no_such_table", "no_such_table"]
        register_partitions(instance, "r1", ["AAA"])  # Dagster's own callers get the remembered yes
        assert instance.has_dynamic_partition(RUN_DIM, "r1")
        assert looked_up.count("dynamic_partitions") == 1
        instance.wipe()
        assert storage.has_table("dynamic_partitions")
        assert looked_up.count("dynamic_partitions") == 2  # wipe forgets
