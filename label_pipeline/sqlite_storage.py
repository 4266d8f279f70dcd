"""Dagster's SQLite instance storage with the event log's connections kept open (the default
profile's instance, which ``label-pipeline`` writes into its ``dagster.yaml``).

Dagster's SQLite event log opens a new SQLAlchemy engine and connection for every statement and
closes both after it (its shards are one file per run plus an index): a label run stores 66
events and reads its partitions' versions, ~540 connections, and connecting costs more than the
writes: one event write 7.7 ms against 2.4 ms with kept connections, Dagster's share of a small
partition's run 1.12 s against 0.58 s (BENCHMARKS.md, "One pass per partition"). Here each
process keeps an engine per shard it used (the most recent ``KEPT_SHARDS``) with one pooled
connection; statements still take the storage's lock one at a time and commit as Dagster's do.
A new run's shard is a copy of an empty one, made once per Dagster version and kept beside the
shards for the next process (``_new_run_shard``).
A forked child drops what it inherited; ``wipe`` and ``dispose`` close the kept connections
first. Same files, same layout as Dagster's ``storage: sqlite``, so an instance can switch to it
and back::

    storage:
      custom:
        module: label_pipeline.sqlite_storage
        class: KeptSqliteStorage
        config:
          base_dir: /path/to/dagster_home
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import __version__ as dagster_version
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

_SQLITE_HEADER = b"SQLite format 3\x00"
KEPT_SHARDS = 8  # a run worker uses its run's shard and the index; the webserver reads a few runs


def _whole_sqlite_file(data: bytes) -> bool:
    """Whether ``data`` is an SQLite file as long as its header says (page size at offset 16, 1
    meaning 65536; page count at offset 28)."""
    if len(data) < 100 or not data.startswith(_SQLITE_HEADER):
        return False
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    return page_size > 0 and len(data) == page_size * int.from_bytes(data[28:32], "big")


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose ``_connect`` reuses an engine per shard."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._tables: set[str] = set()
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pid = os.getpid()
        self._empty_shard: bytes | None = None
        super().__init__(base_dir, inst_data)  # connects (the index shard's migrations)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> KeptSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        if self._pid != os.getpid():  # a forked child: the parent's connections stay the parent's
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=2,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        self._engines[shard] = engine
        while len(self._engines) > KEPT_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def _close_engines(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def _new_run_shard(self, shard: str) -> bool:
        """Create a run's shard as a copy of an empty one (its tables, WAL mode and alembic
        stamp): ``_initdb`` resolves the alembic scripts on every new shard (~50 ms a run, ~0.3 s
        the first time in a process). Linked into place, so a shard another process created first
        is left as it is (and then checked by ``_initdb`` as usual), as is any shard where linking
        fails (``_initdb`` makes it then)."""
        path = self.path_for_shard(shard)
        if shard == INDEX_SHARD_NAME or os.path.exists(path):
            return False
        empty = self._empty_shard_bytes()
        staged = f"{path}.{os.getpid()}.tmp"
        with open(staged, "wb") as handle:
            handle.write(empty)
        try:
            os.link(staged, path)
        except OSError:  # made by another process first, or a file system without hard links
            return False
        finally:
            os.unlink(staged)
        return True

    def _empty_shard_bytes(self) -> bytes:
        """An empty run shard made by ``_initdb``. It is kept in the shards' folder under a name
        Dagster's ``*.db`` globs do not match, one per Dagster version (whose migrations make the
        schema), so that each new process (a run worker, a ``label-pipeline`` command) copies it
        instead of running alembic; a missing or unreadable one is made again."""
        if self._empty_shard is not None:
            return self._empty_shard
        kept = os.path.join(self._base_dir, f".empty-run-shard-{dagster_version}.sqlite")
        try:
            with open(kept, "rb") as handle:
                data = handle.read()
            if _whole_sqlite_file(data):
                self._empty_shard = data
                return data
        except OSError:
            pass
        with tempfile.TemporaryDirectory(dir=self._base_dir) as folder:
            empty = os.path.join(folder, "empty.db")
            engine = create_engine(f"sqlite:///{empty}", poolclass=NullPool)
            self._initdb(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file
            engine.dispose()
            with open(empty, "rb") as handle:
                self._empty_shard = handle.read()
            try:  # whole or not at all: a concurrent process replaces it with the same bytes
                staged = os.path.join(folder, "kept.sqlite")
                with open(staged, "wb") as handle:
                    handle.write(self._empty_shard)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(staged, kept)
            except OSError:
                pass  # a read-only folder: this process keeps its copy in memory
        return self._empty_shard

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            if shard not in self._initialized_dbs and self._new_run_shard(shard):
                self._initialized_dbs.add(shard)
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        """Dagster asks whether an index table exists before most partition, tag and check
        statements (~100 times a label run), each time on a new engine and connection. Tables come
        with migrations and stay (``wipe`` empties them), so a yes is remembered per process."""
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def wipe(self) -> None:
        self._tables.clear()
        with self._db_lock:
            self._close_engines()  # the shard files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        with self._db_lock:
            self._close_engines()
        super().dispose()


class KeptSqliteStorage(DagsterSqliteStorage):
    """``storage: sqlite`` with ``KeptSqliteEventLogStorage`` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # DagsterSqliteStorage.__init__ with the event log swapped (building Dagster's first would
        # open and migrate its index shard for nothing)
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> KeptSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
