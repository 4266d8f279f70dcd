"""``CodeServerRunLauncher``'s health check without a code server: what run monitoring is told when
the server that started a run cannot be reached (the server that answers "not mine" is exercised
against real processes in distributed/test_distributed_backfill.py)."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterRun
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from label_pipeline.automation.launcher import CodeServerRunLauncher


def _run(tags: dict[str, str]) -> DagsterRun:
    return DagsterRun(job_name="label_job", run_id="a" * 36, tags=tags)


def test_a_run_without_a_code_server_tag_is_not_judged(tmp_path: Path) -> None:
    result = CodeServerRunLauncher().check_run_worker_health(_run({}))
    assert result.status == WorkerStatus.UNKNOWN


def test_an_unreachable_code_server_is_waited_for_then_its_run_is_failed(tmp_path: Path) -> None:
    tags = {GRPC_INFO_TAG: json.dumps({"socket": str(tmp_path / "gone.sock")})}
    waiting = CodeServerRunLauncher(unreachable_grace_seconds=3600).check_run_worker_health(_run(tags))
    assert waiting.status == WorkerStatus.RUNNING and "not reachable" in (waiting.msg or "")
    failed = CodeServerRunLauncher(unreachable_grace_seconds=0).check_run_worker_health(_run(tags))
    assert failed.status == WorkerStatus.FAILED and "gone.sock" in (failed.msg or "")
