"""The distributed profile on one machine, for tests and benchmarks: ``LocalCluster`` starts a fresh
Postgres database, a code server, the daemon and Celery workers, each a process group, with a
watchdog that cleans up if the owning process dies. Not part of the product: deployments run the
same pieces with ``deploy/run.sh`` (README "Scaling out").
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from label_pipeline.profiles import DISTRIBUTED, DeploymentError, celery_executor_config
from label_pipeline.settings import (
    CELERY_CONFIG_ENV,
    DEPLOY_DIR,
    PROFILE_ENV,
    REPO_ROOT,
    RUNS_ROOT_ENV,
    STORAGE_ROOT_ENV,
)

POSTGRES_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
SERVICES_HELP = (
    "start PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`, user postgres or root) and RabbitMQ on "
    "127.0.0.1:5672 (guest/guest), e.g. `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust "
    "-e POSTGRES_DB=test postgres:15` and `docker run -d -p 5672:5672 rabbitmq:3`"
)
TERMINAL_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")

# Kills a cluster's process groups and drops its database if the process that started them dies
# without closing the cluster (killed by a timeout, say): no orphans either way.
_WATCHDOG = """
import os, signal, sys, time
owner, groups_file, admin_url, database, broker, queue = int(sys.argv[1]), *sys.argv[2:7]
while True:
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        break
    time.sleep(1.0)
try:
    groups = [int(line) for line in open(groups_file).read().split()]
except OSError:
    groups = []
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
try:
    from kombu import Connection
    with Connection(broker, connect_timeout=5) as broker_connection:
        broker_connection.default_channel.queue_delete(queue)
except Exception:
    pass
if admin_url and database:
    import psycopg2
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    connection.cursor().execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
"""


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def postgres_admin_url(candidates: Sequence[str] = POSTGRES_ADMIN_URLS, timeout: float = 3.0) -> str | None:
    """The first admin URL that connects (None when PostgreSQL is not reachable)."""
    import psycopg2

    for url in candidates:
        try:
            psycopg2.connect(url, connect_timeout=int(max(1, timeout))).close()
        except psycopg2.Error:
            continue
        return url
    return None


def rabbitmq_reachable(url: str = RABBITMQ_URL, timeout: float = 3.0) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception:
        return False
    return True


def missing_services() -> list[str]:
    """The services the distributed profile's tests need that are not reachable."""
    missing = []
    try:
        if postgres_admin_url() is None:
            missing.append("PostgreSQL (127.0.0.1:5432)")
    except ImportError:
        missing.append("psycopg2 (pip install dagster-postgres)")
    try:
        if not rabbitmq_reachable():
            missing.append("RabbitMQ (127.0.0.1:5672)")
    except ImportError:
        missing.append("kombu (pip install dagster-celery)")
    return missing


def _with_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


def dagster_postgres_url(url: str) -> str:
    """``url`` with the psycopg2 driver named: SQLAlchemy 2.1 maps a bare ``postgresql://`` to
    psycopg 3, which dagster-postgres does not install (it installs psycopg2-binary)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name``; returns its URL."""
    import psycopg2

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
    finally:
        connection.close()
    return _with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting whatever is still connected."""
    import psycopg2

    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        connection.close()


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_config(source: Path, target: Path, overrides: Mapping[str, Any] | None = None) -> Path:
    """Copy a deploy/ YAML file to ``target`` with ``overrides`` merged in (nested keys)."""
    document = yaml.safe_load(source.read_text()) or {}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(_deep_merge(document, overrides or {}), sort_keys=False))
    return target


def process_group_members(pgid: int) -> list[int]:
    """Live pids of the process group ``pgid`` (read from /proc; empty where there is none)."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass
class GroupProcess:
    """A command started in its own session, so that it and every descendant share one process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = REPO_ROOT
    popen: subprocess.Popen | None = None

    def start(self) -> GroupProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pgid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid  # a session leader's pid is its group id

    def members(self) -> list[int]:
        return process_group_members(self.pgid) if self.popen is not None else []

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, wait at most ``timeout``, then SIGKILL whatever is left (bounded)."""
        stop_groups([self], timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole group and reap the leader (bounded)."""
        if self.popen is None:
            return
        self.signal(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.popen.poll()
            if not self.members():
                break
            time.sleep(0.05)
        try:
            self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_groups(processes: Sequence[GroupProcess], timeout: float = 10.0) -> None:
    """SIGTERM every group at once, wait at most ``timeout`` for all, then SIGKILL what is left."""
    started = [p for p in processes if p.popen is not None]
    for process in started:
        process.signal(signal.SIGCONT)  # a stopped group cannot act on SIGTERM
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(p.members() for p in started) and time.monotonic() < deadline:
        for process in started:
            process.popen.poll()  # type: ignore[union-attr]
        time.sleep(0.1)
    for process in started:
        process.kill()


@dataclass
class LocalCluster:
    """The ``distributed`` profile on this machine: a fresh Postgres database, an instance rendered
    from ``deploy/dagster.yaml``, a Celery queue of its own, Celery workers and the daemon.

    Everything it starts is a process group that ``close()`` stops (SIGTERM, bounded wait, SIGKILL);
    ``close()`` also drops the database and deletes the queue. Use it as a context manager.
    """

    workdir: Path
    runs_root: str
    storage_root: str
    broker: str = RABBITMQ_URL
    backend: str = "rpc://"
    admin_url: str | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    max_concurrent_runs: int = 8
    instance_overrides: Mapping[str, Any] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    workers: dict[str, GroupProcess] = field(default_factory=dict)
    daemon: GroupProcess | None = None
    code_server: GroupProcess | None = None
    watchdog: GroupProcess | None = None
    database: str | None = None
    postgres_url: str = ""
    _instance: Any = None

    # -- set-up -------------------------------------------------------------------------------
    def __enter__(self) -> LocalCluster:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def queue(self) -> str:
        return f"label_pipeline_{self.token}"

    @property
    def dagster_home(self) -> Path:
        return self.workdir / "dagster_home"

    @property
    def celery_config(self) -> Path:
        return self.workdir / "celery.yaml"

    @property
    def _groups_file(self) -> Path:
        return self.workdir / "process_groups"

    def _started(self, process: GroupProcess) -> GroupProcess:
        process.start()
        with open(self._groups_file, "a") as groups:
            groups.write(f"{process.pgid}\n")
        return process

    @property
    def code_socket(self) -> Path:
        return self.workdir / "code.sock"

    @property
    def workspace(self) -> Path:
        """The workspace of the daemon and the CLI: the cluster's one long-running code server."""
        return self.workdir / "workspace.yaml"

    def setup(self) -> None:
        self.admin_url = self.admin_url or postgres_admin_url()
        if self.admin_url is None:
            raise DeploymentError(f"PostgreSQL is not reachable: {SERVICES_HELP}")
        self.database = f"label_pipeline_{self.token}"
        self.postgres_url = dagster_postgres_url(create_database(self.admin_url, self.database))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._groups_file.write_text("")
        self.watchdog = GroupProcess(
            "watchdog",
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(os.getpid()),
                str(self._groups_file),
                self.admin_url,
                self.database,
                self.broker,
                self.queue,
            ],
            dict(os.environ),
            self.workdir / "logs" / "watchdog.log",
        ).start()
        render_config(
            DEPLOY_DIR / "dagster.yaml",
            self.dagster_home / "dagster.yaml",
            _deep_merge(
                {
                    "run_coordinator": {
                        "config": {
                            "max_concurrent_runs": self.max_concurrent_runs,
                            "dequeue_interval_seconds": 1,
                        }
                    }
                },
                self.instance_overrides,
            ),
        )
        render_config(
            DEPLOY_DIR / "celery.yaml",
            self.celery_config,
            {
                "execution": {
                    "config": {"config_source": {"task_default_queue": self.queue, "result_expires": 120}}
                }
            },
        )
        self.workspace.write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {"grpc_server": {"socket": str(self.code_socket), "location_name": "label_pipeline"}}
                    ]
                }
            )
        )
        # create the schema once, before processes that would each try to (`dagster instance migrate`)
        self.instance.upgrade()

    @property
    def env(self) -> dict[str, str]:
        """The environment every process of the deployment shares (deploy/env.template)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_PIPELINE_", "DAGSTER_"))}
        env.update(
            {
                PROFILE_ENV: DISTRIBUTED,
                "DAGSTER_HOME": str(self.dagster_home),
                "DAGSTER_POSTGRES_URL": self.postgres_url,
                "LABEL_PIPELINE_CELERY_BROKER": self.broker,
                "LABEL_PIPELINE_CELERY_BACKEND": self.backend,
                CELERY_CONFIG_ENV: str(self.celery_config),
                STORAGE_ROOT_ENV: self.storage_root,
                RUNS_ROOT_ENV: self.runs_root,
                "DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
                # `dagster-celery worker start` runs `celery` from PATH
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            }
        )
        env.update(self.extra_env)
        return env

    @property
    def instance(self) -> Any:
        """The cluster's Dagster instance, loaded in this process (Postgres)."""
        if self._instance is None:
            from dagster import DagsterInstance

            saved = os.environ.get("DAGSTER_POSTGRES_URL")
            os.environ["DAGSTER_POSTGRES_URL"] = self.postgres_url  # read while the config loads
            try:
                self._instance = DagsterInstance.from_config(str(self.dagster_home))
            finally:
                if saved is None:
                    os.environ.pop("DAGSTER_POSTGRES_URL", None)
                else:
                    os.environ["DAGSTER_POSTGRES_URL"] = saved
        return self._instance

    # -- processes ------------------------------------------------------------------------------
    def worker_command(self, name: str, concurrency: int = 1) -> list[str]:
        """deploy/README.md's worker start command, for this cluster's config and queue."""
        return [
            _venv_bin("dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(self.celery_config),
            "-q",
            self.queue,
            "-n",
            name,
            "-i",
            "label_pipeline.definitions",
            "-l",
            "WARNING",
            "--",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
        ]

    def node_name(self, name: str) -> str:
        """The Celery node name of worker ``name`` (what the event log records)."""
        return f"{name}@{socket.gethostname()}"

    def start_worker(self, name: str, concurrency: int = 1) -> GroupProcess:
        worker = self._started(
            GroupProcess(
                name, self.worker_command(name, concurrency), self.env, self.workdir / "logs" / f"{name}.log"
            )
        )
        self.workers[name] = worker
        return worker

    def start_code_server(self) -> GroupProcess:
        """The code location as one long-running gRPC server (deploy/README.md); the daemon and
        ``dagster job backfill`` connect to it, and it starts the run workers."""
        argv = [
            _venv_bin("dagster"),
            "api",
            "grpc",
            "-m",
            "label_pipeline.definitions",
            "-a",
            "defs",
            "--location-name",
            "label_pipeline",
            "--socket",
            str(self.code_socket),
            "--log-level",
            "warning",
        ]
        self.code_server = self._started(
            GroupProcess("code_server", argv, self.env, self.workdir / "logs" / "code_server.log")
        )
        return self.code_server

    def wait_for_code_server(self, timeout: float = 120.0) -> None:
        from dagster._grpc.client import DagsterGrpcClient

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.code_server is not None and self.code_server.popen is not None
            if self.code_server.popen.poll() is not None:
                raise RuntimeError(f"the code server exited:\n{self.code_server.log_tail()}")
            if self.code_socket.exists():
                try:
                    DagsterGrpcClient(socket=str(self.code_socket)).ping("")
                    return
                except Exception:
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"the code server did not answer within {timeout:.0f} s")

    def start_daemon(self) -> GroupProcess:
        argv = [_venv_bin("dagster-daemon"), "run", "-w", str(self.workspace), "--log-level", "warning"]
        self.daemon = self._started(
            GroupProcess("daemon", argv, self.env, self.workdir / "logs" / "daemon.log")
        )
        return self.daemon

    def celery_app(self) -> Any:
        from dagster_celery.executor import CeleryExecutor
        from dagster_celery.make_app import make_app

        config = {"broker": self.broker, "backend": self.backend}
        config_source = dict(celery_executor_config(self.celery_config)["config_source"])
        return make_app(CeleryExecutor.for_cli(config_source=config_source, **config).app_args())

    def wait_for_workers(self, names: Iterable[str], timeout: float = 120.0) -> None:
        """Until every named worker answers a ping through the broker (bounded)."""
        wanted = {self.node_name(name) for name in names}
        app = self.celery_app()
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            for name in names:
                worker = self.workers[name]
                if worker.popen is not None and worker.popen.poll() is not None:
                    raise RuntimeError(f"worker {name} exited:\n{worker.log_tail()}")
            replies = app.control.ping(destination=sorted(wanted - seen), timeout=1.0) or []
            for reply in replies:
                seen.update(reply)
            if wanted <= seen:
                return
        raise TimeoutError(f"workers {sorted(wanted - seen)} did not answer within {timeout:.0f} s")

    def wait_for_daemon(self, timeout: float = 120.0) -> None:
        """Until the daemon's run queue loop has sent a heartbeat (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.daemon is not None and self.daemon.popen is not None
            if self.daemon.popen.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited:\n{self.daemon.log_tail()}")
            heartbeats = self.instance.get_daemon_heartbeats()
            if "QUEUED_RUN_COORDINATOR" in heartbeats:
                return
            time.sleep(0.5)
        raise TimeoutError(
            f"dagster-daemon sent no heartbeat within {timeout:.0f} s:\n{self.daemon.log_tail()}"
        )

    # -- runs -----------------------------------------------------------------------------------
    def backfill(
        self, job_name: str, partition_keys: Sequence[str], via_cli: bool = True, timeout: float = 180.0
    ) -> str:
        """Submit one queued run per partition, as ``dagster job backfill`` does; returns the
        backfill id. ``via_cli=False`` runs the same command body in this process (no interpreter
        start-up and imports, seconds less per call) against the cluster's code server."""
        if not via_cli:
            from dagster._cli.job import execute_backfill_command
            from dagster_shared.cli import WorkspaceOpts

            printed: list[str] = []
            execute_backfill_command(
                workspace_opts=WorkspaceOpts(workspace=[str(self.workspace)]),
                partitions=",".join(partition_keys),
                noprompt=True,
                job_name=job_name,
                print_fn=printed.append,
                instance=self.instance,
            )
            output = "\n".join(str(line) for line in printed)
        else:
            argv = [
                _venv_bin("dagster"),
                "job",
                "backfill",
                "-w",
                str(self.workspace),
                "-j",
                job_name,
                "--partitions",
                ",".join(partition_keys),
                "--noprompt",
            ]
            done = subprocess.run(
                argv,
                env=self.env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                )
            output = done.stdout
        found = re.search(r"Launched backfill job `([^`]+)`", output)
        if not found:
            raise RuntimeError(f"no backfill launched for {job_name} {list(partition_keys)}:\n{output}")
        return found.group(1)

    def asset_backfill(self, job_name: str, partition_keys: Sequence[str], timeout: float = 180.0) -> str:
        """Queue an asset backfill of the job's assets with ``deploy/run.sh backfill``'s command
        (``label_pipeline.automation.queue``, in its own process); returns the backfill id."""
        argv = [
            sys.executable,
            "-m",
            "label_pipeline.automation.queue",
            "-w",
            str(self.workspace),
            job_name,
            ",".join(partition_keys),
        ]
        done = subprocess.run(
            argv, env=self.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def wait_for_asset_backfill(self, backfill_id: str, timeout: float = 300.0) -> Any:
        """Until the backfill is in a terminal state (bounded); returns it."""
        from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES

        deadline = time.monotonic() + timeout
        while True:
            backfill = self.instance.get_backfill(backfill_id)
            if backfill is not None and backfill.status in BULK_ACTION_TERMINAL_STATUSES:
                return backfill
            if time.monotonic() > deadline:
                status = None if backfill is None else backfill.status
                raise TimeoutError(
                    f"backfill {backfill_id} not finished after {timeout:.0f} s ({status}):\n"
                    f"daemon log:\n{self.daemon.log_tail() if self.daemon else ''}"
                )
            time.sleep(0.5)

    def backfill_runs(self, backfill_id: str) -> list[Any]:
        """Every run of the backfill and every re-execution of one (run retries), oldest first."""
        from dagster import RunsFilter

        runs = {
            run.run_id: run
            for run in self.instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        }
        if runs:
            retries = self.instance.get_runs(RunsFilter(tags={"dagster/root_run_id": sorted(runs)}))
            runs.update({run.run_id: run for run in retries})
        records = {run_id: self.instance.get_run_record_by_id(run_id) for run_id in runs}
        return sorted(runs.values(), key=lambda run: records[run.run_id].create_timestamp)

    def wait_for_backfill(
        self,
        backfill_id: str,
        partitions: Sequence[str],
        timeout: float = 300.0,
        on_poll: Callable[[], None] | None = None,
        poll_seconds: float = 0.25,
    ) -> list[Any]:
        """Until every partition has a run and no run of the backfill (re-executions included) is
        queued or in progress; returns the runs, oldest first. Success is for the caller to check:
        ``failed_partitions(runs)`` are the ones to relaunch."""
        deadline = time.monotonic() + timeout
        while True:
            if on_poll is not None:
                on_poll()
            runs = self.backfill_runs(backfill_id)
            started = {run.tags.get("dagster/partition") for run in runs}
            busy = [run for run in runs if run.status.value not in TERMINAL_STATUSES]
            if not busy and set(partitions) <= started:
                return runs
            if time.monotonic() > deadline:
                states = {
                    run.run_id[:8]: (run.tags.get("dagster/partition"), run.status.value) for run in runs
                }
                raise TimeoutError(
                    f"backfill {backfill_id} not finished after {timeout:.0f} s: {states}\n"
                    f"daemon log:\n{self.daemon.log_tail() if self.daemon else ''}"
                )
            time.sleep(poll_seconds)

    # -- tear-down ------------------------------------------------------------------------------
    def close(self) -> None:
        stop_groups([*self.workers.values(), *(p for p in (self.daemon, self.code_server) if p is not None)])
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None
        try:
            with self.celery_app().connection_for_write() as connection:
                connection.default_channel.queue_delete(self.queue)
        except Exception:
            pass  # the queue was never declared, or the broker is gone
        if self.admin_url and self.database:
            drop_database(self.admin_url, self.database)
            self.database = None
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog = None


def failed_partitions(runs: Iterable[Any]) -> list[str]:
    """Partitions of ``runs`` (finished) without a successful run: what a relaunch must cover."""
    partitions: dict[str, bool] = {}
    for run in runs:
        key = run.tags.get("dagster/partition")
        partitions[key] = partitions.get(key, False) or run.status.value == "SUCCESS"
    return sorted(key for key, succeeded in partitions.items() if not succeeded)
