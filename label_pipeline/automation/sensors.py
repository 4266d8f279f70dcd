"""Run discovery: a new run directory becomes registered partitions, a price plan and labels.

Each tick the sensor lists the runs root. A run directory is picked up once both input files are
complete (present, and their parquet footers readable: a file still being written has no footer
yet, and a run with only its feature file is not complete). For a new or rewritten run it

* adds the run to the ``run_id`` partitions and its symbols (read from the replay file's symbol
  column alone) to the ``symbol`` partitions (``SensorResult.dynamic_partitions_requests``);
* records each input file's per-symbol data versions (``asset_events``: observations of
  ``feature_file`` / ``replay_file``), which is what makes a rewritten symbol stale in the UI;
* requests ``price_plan_job`` for the run when its plan is missing, failed or stale.

Labels are requested once the run's price plan is materialized (entry and continue/exit/risk labels
read it): on every tick the sensor reads the plan materializations since its cursor (one query) and
requests ``label_job`` for each of that run's (run, symbol) partitions that is missing, failed or
stale. Requesting both at once would let a label run start before its plan exists and fail.

The cursor holds each run's file identities (size, mtime) and symbols, and the last plan event
seen, so a tick with nothing new reads no file and requests nothing; run keys make a repeated
request a no-op as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from label_pipeline.assets.sources import observe_file
from label_pipeline.automation.work import FRESH, REASON_TAG, WorkFinder
from label_pipeline.inputs import FEATURE_RELPATH, REPLAY_RELPATH, InputDataError, run_symbols
from label_pipeline.jobs import label_job, price_plan_job
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM, PartitionKeyError, validate_key
from label_pipeline.resources import RunsRoot

SENSOR_NAME = "run_discovery_sensor"
MAX_RUNS_PER_TICK = 10  # new or rewritten runs handled per tick (each is hashed); the rest wait a tick
PLAN_KEY = AssetKey("price_plan_context")


@dataclass
class SensorState:
    """The cursor: what the sensor has already acted on."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run -> {"files", "symbols"[, "rejected"]}
    plan_event_id: int | None = None  # storage id of the last price plan materialization seen

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(runs=data.get("runs", {}), plan_event_id=data.get("plan_event_id"))

    def to_cursor(self) -> str:
        return json.dumps({"runs": self.runs, "plan_event_id": self.plan_event_id}, sort_keys=True)


def _complete(path: Path) -> list[int] | None:
    """The file's identity (size, mtime_ns) if it is a whole parquet file, else None."""
    try:
        stat = path.stat()
        pq.read_metadata(path)  # raises while the footer is not written yet
    except (OSError, pa.ArrowException):
        return None
    return [stat.st_size, stat.st_mtime_ns]


def complete_runs(runs_root: str) -> dict[str, dict[str, list[int]]]:
    """``{run_id: {"feature": identity, "replay": identity}}`` of the run directories whose two input
    files are both complete, in name order."""
    root = Path(runs_root)
    if not root.is_dir():
        return {}
    runs = {}
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        feature = _complete(run_dir.joinpath(*FEATURE_RELPATH))
        replay = _complete(run_dir.joinpath(*REPLAY_RELPATH))
        if feature is not None and replay is not None:
            runs[run_dir.name] = {"feature": feature, "replay": replay}
    return runs


def _plan_events_since(context: SensorEvaluationContext, after: int | None) -> list[tuple[str, int]]:
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=PLAN_KEY, after_storage_id=after), limit=1000, ascending=True
    ).records
    return [(r.partition_key, r.storage_id) for r in records if r.partition_key]


def evaluate_run_discovery(context: SensorEvaluationContext, runs_root: str) -> SensorResult:
    """One tick of the run sensor (the decorated sensor below is a thin wrapper)."""
    state = SensorState.from_cursor(context.cursor)
    instance = context.instance
    finder = WorkFinder(instance, context.repository_def.asset_graph)
    registered_runs = set(instance.get_dynamic_partitions(RUN_DIM))
    registered_symbols = set(instance.get_dynamic_partitions(SYMBOL_DIM))
    events, new_runs, new_symbols, requests = [], [], [], []

    changed = {
        run_id: files
        for run_id, files in complete_runs(runs_root).items()
        if state.runs.get(run_id, {}).get("files") != files
    }
    for run_id, files in list(changed.items())[:MAX_RUNS_PER_TICK]:
        known = state.runs.get(run_id, {})
        try:
            validate_key(run_id, RUN_DIM)
            symbols, refused = [], {}
            for symbol in run_symbols(runs_root, run_id):
                try:
                    symbols.append(validate_key(symbol, SYMBOL_DIM))
                except PartitionKeyError as exc:  # one bad symbol does not hold up the others
                    refused[symbol] = str(exc)
            for which in ("feature", "replay"):
                if known.get("files", {}).get(which) != files[which] or known.get("rejected"):
                    events += observe_file(runs_root, run_id, which)
        except OSError as exc:  # possibly transient (a network share): try again next tick
            context.log.warning(f"run {run_id!r} could not be read, retrying next tick: {exc}")
            continue
        except (PartitionKeyError, InputDataError, pa.ArrowException, ValueError, TypeError) as exc:
            # the same files would fail the same way: wait until one of them changes
            context.log.warning(f"run {run_id!r} is not registered: {exc}")
            state.runs[run_id] = {"files": files, "symbols": [], "rejected": str(exc)}
            continue
        context.log.info(f"run {run_id!r}: {len(symbols)} symbols, input files observed")
        if refused:
            context.log.warning(
                f"run {run_id!r}: {len(refused)} symbol(s) not registered, the other {len(symbols)} are: "
                + "; ".join(f"{s!r}: {why}" for s, why in refused.items())
                + ". Rename them in the run's files to label them"
            )
        state.runs[run_id] = {"files": files, "symbols": symbols, **({"refused": refused} if refused else {})}
        if run_id not in registered_runs:
            new_runs.append(run_id)
        new_symbols += [s for s in symbols if s not in registered_symbols and s not in new_symbols]
        plan_reason = finder.plan(run_id) if run_id in registered_runs else "missing"
        if plan_reason:
            requests.append(
                RunRequest(
                    job_name=price_plan_job.name,
                    partition_key=run_id,
                    run_key=f"price_plan:{run_id}:{files['feature'][1]}:{files['replay'][1]}",
                    tags={REASON_TAG: plan_reason},
                )
            )

    # Labels follow their run's price plan: once per new plan materialization whose plan is still
    # the fresh one (a plan that is stale again will be rematerialized, and its event comes then).
    latest_plan: dict[str, int] = {}
    for run_id, event_id in _plan_events_since(context, state.plan_event_id):
        latest_plan[run_id] = event_id
        state.plan_event_id = max(event_id, state.plan_event_id or 0)
    for run_id, event_id in latest_plan.items():
        symbols = state.runs.get(run_id, {}).get("symbols") or []
        if not symbols or finder.plan_state(run_id) != FRESH:
            continue
        for key, reason in finder.labels(run_id, symbols).items():
            requests.append(
                RunRequest(
                    job_name=label_job.name,
                    partition_key=key,
                    run_key=f"labels:{key}:{event_id}",
                    tags={REASON_TAG: reason},
                )
            )

    partition_requests = []
    if new_runs:
        partition_requests.append(AddDynamicPartitionsRequest(RUN_DIM, new_runs))
    if new_symbols:
        partition_requests.append(AddDynamicPartitionsRequest(SYMBOL_DIM, new_symbols))
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        asset_events=events,
        cursor=state.to_cursor(),
    )


@sensor(
    name=SENSOR_NAME,
    jobs=[price_plan_job, label_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description="Registers new run directories of the runs root, observes their input files, requests "
    "their price plan and then their labels.",
)
def run_discovery_sensor(context: SensorEvaluationContext, runs_root: RunsRoot) -> SensorResult:
    return evaluate_run_discovery(context, runs_root.root)
