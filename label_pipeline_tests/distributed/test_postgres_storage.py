"""``PooledPostgresStorage`` (the distributed profile's instance storage) against the real
PostgreSQL: an instance keeps its connections instead of opening one per query, and a forked child
opens its own rather than sharing its parent's sockets (Celery's prefork workers fork)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, DagsterRun

from label_pipeline_tests.harness.cluster import (
    SERVICES_HELP,
    create_database,
    dagster_postgres_url,
    drop_database,
    postgres_admin_url,
)
from label_pipeline_tests.harness.common import skip_or_fail


@pytest.fixture
def pooled_instance(tmp_path) -> Iterator[tuple[DagsterInstance, str, str]]:
    admin = postgres_admin_url()
    if admin is None:
        skip_or_fail(f"needs PostgreSQL: {SERVICES_HELP}")
    name = f"label_pipeline_pool_{uuid.uuid4().hex[:8]}"
    url = dagster_postgres_url(create_database(admin, name))
    (tmp_path / "dagster.yaml").write_text(
        "storage:\n  custom:\n    module: label_pipeline.postgres_storage\n    class: PooledPostgresStorage\n"
        f"    config:\n      postgres_url: '{url}'\ntelemetry:\n  enabled: false\n"
    )
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        yield instance, admin, name
    finally:
        instance.dispose()
        drop_database(admin, name)


def _open_connections(admin: str, database: str) -> int:
    """Connections to ``database`` open now (from another connection, to the admin database)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        dagster_postgres_url(admin), isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool
    )
    with engine.connect() as conn:
        return conn.execute(
            sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
        ).scalar_one()


def _backend_pid(instance: DagsterInstance) -> int:
    """The PostgreSQL backend serving the run storage's next query (its own pool)."""
    with instance.run_storage._engine.connect() as conn:
        return conn.connection.dbapi_connection.get_backend_pid()


def test_an_instance_keeps_its_connections(pooled_instance) -> None:
    instance, admin, database = pooled_instance
    pids = set()
    for _ in range(30):
        instance.add_run(DagsterRun(job_name="label_job", run_id=str(uuid.uuid4())))
        pids.add(_backend_pid(instance))
    assert len(instance.get_runs()) == 30
    assert len(pids) == 1, f"{len(pids)} connections for 30 runs: the pool was not kept"
    assert _open_connections(admin, database) <= 3  # one per storage that was used


def test_a_forked_child_opens_its_own_connections(pooled_instance) -> None:
    instance, _, _ = pooled_instance
    instance.add_run(DagsterRun(job_name="label_job", run_id=str(uuid.uuid4())))
    parent_backend = _backend_pid(instance)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: queries through the inherited instance, on new connections
        code = 1
        try:
            instance.add_run(DagsterRun(job_name="label_job", run_id=str(uuid.uuid4())))
            code = 0 if len(instance.get_runs()) == 2 and _backend_pid(instance) != parent_backend else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    child_code = os.read(read, 1)
    os.waitpid(pid, 0)
    assert child_code == b"\x00", child_code
    # the parent's pooled connection was not closed or used by the child
    instance.add_run(DagsterRun(job_name="label_job", run_id=str(uuid.uuid4())))
    assert len(instance.get_runs()) == 3
    assert _backend_pid(instance) == parent_backend
