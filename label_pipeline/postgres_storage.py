"""PostgreSQL instance storage that keeps its connections open (the ``distributed`` profile).

dagster-postgres creates its engines with SQLAlchemy's ``NullPool`` so that no instance holds a
connection it does not use: every query opens a new connection. A label run writes 50 to 70 events
and reads its partitions' statuses, code versions and dynamic partitions: ~370 connections per
partition, ~5 ms each, about 2 s of every partition's run on PostgreSQL (BENCHMARKS.md, "One pass
per partition"). ``PooledPostgresStorage`` is dagster-postgres's storage with the engines Dagster
gives its own webserver (``optimize_for_webserver``: a pool of one kept connection plus overflow,
recycled hourly, no statement timeout), for every process of a deployment: run workers, Celery
step processes, the daemon. A process holds at most ``1 + max_overflow`` connections per storage
while its instance lives. A forked child drops the pool it inherited (it must not share its
parent's sockets) and opens its own.

Enable it in ``$DAGSTER_HOME/dagster.yaml`` (``deploy/dagster.yaml`` does); its config is
dagster-postgres's (``postgres_url`` or ``postgres_db``)::

    storage:
      custom:
        module: label_pipeline.postgres_storage
        class: PooledPostgresStorage
        config:
          postgres_url:
            env: DAGSTER_POSTGRES_URL
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from functools import partial
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_config, pg_url_from_config

POOL_RECYCLE_SECONDS = 3600
MAX_OVERFLOW = 4
NO_STATEMENT_TIMEOUT = 0


def _forget_pool(storage_ref: weakref.ref) -> None:
    """In a forked child: drop the inherited pool without closing it (the parent's connections stay
    the parent's); the child's first query opens its own connection."""
    storage = storage_ref()
    if storage is not None:
        storage._engine.dispose(close=False)


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage whose run, event-log and schedule storages keep a connection pool."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            storage.optimize_for_webserver(NO_STATEMENT_TIMEOUT, POOL_RECYCLE_SECONDS, MAX_OVERFLOW)
            # the instance keeps the three storages, not this object: each is forgotten on its own
            os.register_at_fork(after_in_child=partial(_forget_pool, weakref.ref(storage)))

    @classmethod
    def config_type(cls) -> Any:
        return pg_config()

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
