"""The jobs the sensor, the schedule and backfills launch, and their executor.

A job covers one partitions definition, so the run-level price plan has its own job. Both run
every step in the run's own process (``in_process_executor``): the multiprocess executor starts a
Python process per step, which costs more than a step computes for all but very long runs (see
BENCHMARKS.md, "Backfill overhead"). One run per partition (the default backfill policy, kept
explicit on the assets): a run then writes one (run, symbol)'s files, records that partition's
own manifest, data version and check results, and fails alone.
"""

from __future__ import annotations

from dagster import AssetSelection, BackfillPolicy, define_asset_job, in_process_executor

from label_pipeline.status import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS

# One partition per run; see BENCHMARKS.md for why not ranged (single-run) backfills.
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)
EXECUTOR = in_process_executor

price_plan_job = define_asset_job(
    "price_plan_job",
    selection=AssetSelection.assets(*PLAN_JOB_ASSETS),
    executor_def=EXECUTOR,
    description="The price plan of the selected run_id partitions.",
)
label_job = define_asset_job(
    "label_job",
    selection=AssetSelection.assets(*LABEL_JOB_ASSETS),
    executor_def=EXECUTOR,
    description="Every input slice and label artifact (and their checks) of the selected (run_id, symbol) "
    "partitions.",
)
observe_inputs_job = define_asset_job(
    "observe_inputs_job",
    selection=AssetSelection.assets("feature_file", "replay_file"),
    executor_def=EXECUTOR,
    description="Observe every registered run's input files (per-symbol data versions).",
)
JOBS = [price_plan_job, label_job, observe_inputs_job]
