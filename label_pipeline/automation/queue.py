"""Queue an asset backfill from the shell (``deploy/run.sh backfill JOB KEYS``).

Why an asset backfill, not ``dagster job backfill``: Dagster marks a job backfill complete as soon
as it has submitted its runs, and its run-retry daemon skips runs of finished backfills, so a run
lost to a daemon or code-server restart (``label_pipeline.automation.launcher``) or to a dead step
process would stay failed until someone relaunched it. An asset backfill stays in progress until
every partition is materialized or has failed for good, and its runs are retried by the instance's
``run_retries`` policy: the same runs (one per partition, ``BACKFILL_POLICY``), recovering alone.

The backfill is submitted through Dagster's GraphQL API (``launchPartitionBackfill``, as the UI's
"Materialize" dialog does), run in process by the ``dagster-graphql`` command against the
deployment's workspace and instance (``$DAGSTER_HOME``). It prints the backfill id.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

QUERY = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""


def backfill_params(job_name: str, partition_keys: Sequence[str]) -> dict:
    """The ``LaunchBackfillParams`` of an asset backfill of ``job_name``'s assets (``label_pipeline.jobs``)."""
    from label_pipeline.automation.work import REASON_TAG
    from label_pipeline.jobs import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS, label_job, price_plan_job

    assets = {label_job.name: LABEL_JOB_ASSETS, price_plan_job.name: PLAN_JOB_ASSETS}
    if job_name not in assets:
        raise ValueError(f"unknown job {job_name!r}: one of {sorted(assets)}")
    return {
        "assetSelection": [{"path": list(key.path)} for key in assets[job_name]],
        "partitionNames": list(partition_keys),
        "tags": [{"key": REASON_TAG, "value": "shell backfill"}],
    }


def launch(workspace: str, job_name: str, partition_keys: Sequence[str]) -> str:
    """Submit the backfill; returns its id, or raises ``RuntimeError`` with Dagster's answer."""
    beside = Path(sys.executable).with_name("dagster-graphql")  # the same environment's, when not on PATH
    command = str(beside) if beside.is_file() else shutil.which("dagster-graphql") or "dagster-graphql"
    variables = json.dumps({"params": backfill_params(job_name, partition_keys)})
    done = subprocess.run(
        [command, "-w", workspace, "-t", QUERY, "-v", variables], capture_output=True, text=True, check=False
    )
    answer = None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            answer = json.loads(line)
            break
    result = ((answer or {}).get("data") or {}).get("launchPartitionBackfill") or {}
    if done.returncode != 0 or result.get("__typename") != "LaunchBackfillSuccess":
        detail = result.get("message") or (answer or {}).get("errors") or done.stderr.strip()[-2000:]
        raise RuntimeError(f"the backfill of {job_name} was not queued: {detail}")
    return result["backfillId"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m label_pipeline.automation.queue", description=__doc__)
    parser.add_argument("-w", "--workspace", required=True, help="the deployment's workspace.yaml")
    parser.add_argument("job", help="label_job or price_plan_job")
    parser.add_argument("keys", help="comma-separated partition keys, e.g. 'r1|BTC/USDT,r1|ETH/USDT'")
    args = parser.parse_args(argv)
    keys = [key for key in args.keys.split(",") if key]
    try:
        backfill_id = launch(args.workspace, args.job, keys)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(backfill_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
