"""The jobs the sensor, the schedules and backfills launch, derived from the artifact registry.

A job covers one partitions definition, so the run-level price plan has its own job. The jobs
name no executor: they take the code location's, which the deployment profile picks
(``label_pipeline.profiles``). Locally that is ``in_process_executor``: the multiprocess executor
starts a Python process per step, several seconds each, far more than a day of bars costs to label.
Backfills run one partition per run: ``label_pipeline.partitions.BACKFILL_POLICY`` says why.
"""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, define_asset_job

from label_pipeline.artifacts import RUN, RUN_SYMBOL, at_grain
from label_pipeline.assets.sources import SOURCE_KEYS

# What each job materializes (their checks run in the same steps): every artifact of its grain.
LABEL_JOB_ASSETS: tuple[AssetKey, ...] = tuple(AssetKey(a.name) for a in at_grain(RUN_SYMBOL))
PLAN_JOB_ASSETS: tuple[AssetKey, ...] = tuple(AssetKey(a.name) for a in at_grain(RUN))

price_plan_job = define_asset_job(
    "price_plan_job",
    selection=AssetSelection.assets(*PLAN_JOB_ASSETS),
    description="The price plan of the selected run_id partitions.",
)
label_job = define_asset_job(
    "label_job",
    selection=AssetSelection.assets(*LABEL_JOB_ASSETS),
    description="Every input slice and label artifact (and their checks) of the selected (run_id, symbol) "
    "partitions.",
)
observe_inputs_job = define_asset_job(
    "observe_inputs_job",
    selection=AssetSelection.assets(*SOURCE_KEYS.values()),
    description="Observe every registered run's input files (per-symbol data versions).",
)
JOBS = [price_plan_job, label_job, observe_inputs_job]
