"""Dagster's current CLI, ``dg``, works in the project (pyproject.toml ``[tool.dg]``): the code
location loads (``dg check defs``) and lists the project's jobs (``dg list defs``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from label_pipeline.settings import REPO_ROOT

DG = Path(sys.executable).parent / "dg"


def dg(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if not DG.is_file():
        pytest.fail(
            f"{DG} is missing: dagster-dg-cli is a dependency; reinstall with pip install -e '.[test]'"
        )
    environ = {
        **os.environ,
        "LABEL_PIPELINE_RUNS_ROOT": str(tmp_path / "runs"),
        "LABEL_PIPELINE_STORAGE_ROOT": str(tmp_path / "store"),
        "DAGSTER_HOME": str(tmp_path),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [str(DG), *args], cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=600
    )


def test_dg_check_and_list_defs(tmp_path) -> None:
    checked = dg(tmp_path, "check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = dg(tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    defs = json.loads(listed.stdout)
    assert {job["name"] for job in defs["jobs"]} >= {"label_job", "price_plan_job", "observe_inputs_job"}
    assert {sensor["name"] for sensor in defs["sensors"]} == {"run_discovery_sensor"}

    table = dg(tmp_path, "list", "defs")
    assert table.returncode == 0 and "label_job" in table.stdout
