"""Fail a run whose run worker died with its code server, so run retries relaunch it in seconds.

Dagster's ``DefaultRunLauncher`` starts a run's process as a child of the code server (``dagster
api grpc``). When that server is killed or restarted (a deploy, an OOM kill, a machine reboot) its
children die with it, but the runs stay ``STARTED``: the launcher cannot health-check them
(``supports_check_run_worker_health`` is False), so run monitoring only fails them after
``max_runtime_seconds`` (6 h in ``deploy/dagster.yaml``), holding queue slots all that time, and the
schedule sees their partitions as in progress.

``CodeServerRunLauncher`` is ``DefaultRunLauncher`` with that health check. The code server that
started a run (the run's ``GRPC_INFO_TAG``, which ``DefaultRunLauncher`` writes at launch) is asked
over gRPC whether it still executes the run (``CanCancelExecution``, the same call the UI's
"terminate" uses). A server that answers "no" was restarted since; a server that cannot be reached
for ``unreachable_grace_seconds`` is gone. Either way run monitoring (which asks every
``poll_interval_seconds``) marks the run failed, with Dagster's own "Detected run worker status"
message, and ``run_retries`` re-executes it from failure; a run that finished between the query
and the check is left alone (run monitoring re-reads its status first). A run whose process died
under a live server is the server's own business: it fails the run itself (its orphan check).

Enable it in the instance's ``dagster.yaml`` (``deploy/dagster.yaml`` does)::

    run_launcher:
      module: label_pipeline.automation.launcher
      class: CodeServerRunLauncher
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from dagster import DefaultRunLauncher, Field
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import ConfigurableClassData

DEFAULT_UNREACHABLE_GRACE_SECONDS = 60


class CodeServerRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose runs run monitoring can health-check (module docstring)."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        unreachable_grace_seconds: float = DEFAULT_UNREACHABLE_GRACE_SECONDS,
    ):
        super().__init__(inst_data=inst_data)
        self._grace = float(unreachable_grace_seconds)
        self._unreachable_since: dict[str, float] = {}

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "unreachable_grace_seconds": Field(
                float,
                is_required=False,
                default_value=float(DEFAULT_UNREACHABLE_GRACE_SECONDS),
                description="How long a run's code server may not answer before its run counts as dead.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> CodeServerRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        from dagster._grpc.client import DagsterGrpcClient
        from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
        from dagster._serdes import deserialize_value

        raw = run.tags.get(GRPC_INFO_TAG)
        if raw is None:  # not launched by this launcher (e.g. executed in a process): nothing to ask
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no code server tag", transient=True)
        info = json.loads(raw)
        where = info.get("socket") or f"{info.get('host')}:{info.get('port')}"
        client = DagsterGrpcClient(
            port=info.get("port"),
            socket=info.get("socket"),
            host=info.get("host"),
            use_ssl=bool(info.get("use_ssl", False)),
        )
        try:
            answer = client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id), timeout=10)
        except Exception as exc:  # the server is down, restarting, or unreachable
            since = self._unreachable_since.setdefault(run.run_id, time.monotonic())
            waited = time.monotonic() - since
            if waited < self._grace:
                return CheckRunHealthResult(
                    WorkerStatus.RUNNING,
                    f"code server {where} not reachable for {waited:.0f} s ({type(exc).__name__}); waiting",
                    transient=True,
                )
            self._unreachable_since.pop(run.run_id, None)
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"the code server {where} that started this run has not answered for {waited:.0f} s: "
                "the run's process is gone with it",
            )
        self._unreachable_since.pop(run.run_id, None)
        if deserialize_value(answer, CanCancelExecutionResult).can_cancel:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the code server {where} no longer executes this run: it was restarted and the run's process "
            "died with the old one",
        )
