"""Scheduled backfills: request exactly the partitions that are missing, failed or stale.

Hand-written ``@schedule``s rather than declarative automation: README "Workflows" says why
(no "stale" condition, foreign run x symbol pairs, the plan before its labels). A schedule targets
one job, so there are two on the same cron, one for the run-level price plans and one for the
(run, symbol) labels; the label schedule leaves a run whose plan needs work alone. Before
selecting, the label schedule observes input files whose size or mtime changed since their last
observation, so an edited file is stale even when the sensor is not running.
"""

from __future__ import annotations

import pyarrow as pa
from dagster import (
    DagsterInstance,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from label_pipeline.assets.sources import observe_changed_inputs
from label_pipeline.automation.work import ATTEMPT_TAG, FAILED, REASON_TAG, WorkFinder
from label_pipeline.inputs import InputDataError, run_symbols
from label_pipeline.jobs import label_job, price_plan_job
from label_pipeline.keys import RUN_DIM
from label_pipeline.resources import RunsRoot


def _runs(
    context: ScheduleEvaluationContext, instance: DagsterInstance, runs_root: str
) -> dict[str, list[str]]:
    """Every registered run still on disk, with the symbols its replay file holds."""
    runs = {}
    for run_id in instance.get_dynamic_partitions(RUN_DIM):
        try:
            runs[run_id] = run_symbols(runs_root, run_id)
        except (InputDataError, OSError, pa.ArrowException) as exc:
            context.log.warning(f"run {run_id!r} skipped: {exc}")
    return runs


def select_label_work(context: ScheduleEvaluationContext, runs_root: str) -> list[RunRequest] | SkipReason:
    """The label runs of one tick: every (run, symbol) partition missing, failed or stale."""
    instance = context.instance
    runs = _runs(context, instance, runs_root)
    for run_id, symbols in runs.items():
        try:
            events = observe_changed_inputs(instance, runs_root, run_id, symbols)
        except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
            context.log.warning(f"run {run_id!r}: input files not observed: {exc}")
            continue
        for event in events:  # recorded before the selection below, which reads them
            instance.report_runless_asset_event(event)
    finder = WorkFinder(instance, context.repository_def.asset_graph)
    requests = []
    waiting = []
    given_up: list[str] = []
    for run_id, symbols in runs.items():
        if finder.plan(run_id):
            waiting.append(run_id)
            continue
        for key, reason in finder.labels(run_id, symbols).items():
            attempt = finder.attempt(key)
            if reason == FAILED and finder.failed_on(key) == attempt:
                given_up.append(key)  # failed on these very inputs and code: retried once either changes
                continue
            requests.append(RunRequest(partition_key=key, tags={REASON_TAG: reason, ATTEMPT_TAG: attempt}))
    if waiting:
        context.log.info(f"runs waiting for their price plan: {waiting}")
    if given_up:
        context.log.warning(
            f"not retried, they failed on the same inputs and code: {given_up}; fix the data or the code "
            "(a changed input file or config is retried on the next tick), or rerun them by hand"
        )
    return requests or SkipReason(f"nothing missing, failed or stale in {len(runs)} runs")


def select_plan_work(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
    """The price plan runs of one tick: every registered run whose plan is missing, failed or stale."""
    finder = WorkFinder(context.instance, context.repository_def.asset_graph)
    requests = []
    for run_id in context.instance.get_dynamic_partitions(RUN_DIM):
        reason = finder.plan(run_id)
        if reason:
            requests.append(RunRequest(partition_key=run_id, tags={REASON_TAG: reason}))
    return requests or SkipReason("every price plan is fresh")


def build_schedules(cron: str) -> list[ScheduleDefinition]:
    """The two backfill schedules on ``cron`` (``Settings.backfill_cron``)."""

    @schedule(
        name="label_backfill_schedule",
        cron_schedule=cron,
        job=label_job,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Requests label_job for every (run, symbol) partition that is missing, failed or stale.",
    )
    def label_backfill_schedule(
        context: ScheduleEvaluationContext, runs_root: RunsRoot
    ) -> list[RunRequest] | SkipReason:
        return select_label_work(context, runs_root.root)

    @schedule(
        name="price_plan_backfill_schedule",
        cron_schedule=cron,
        job=price_plan_job,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Requests price_plan_job for every run whose price plan is missing, failed or stale.",
    )
    def price_plan_backfill_schedule(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        return select_plan_work(context)

    return [label_backfill_schedule, price_plan_backfill_schedule]
