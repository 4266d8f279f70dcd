"""The jobs the sensor, the schedule and backfills launch, and their executor.

A job covers one partitions definition, so the run-level price plan has its own job. Both run
every step in the run's own process (``in_process_executor``, also the default executor of the
code location, which UI-launched backfills use): the multiprocess executor starts a Python process
per step, several seconds each, far more than a day of bars costs to label.

One partition per run (``BackfillPolicy.multi_run(1)``, explicit on every asset). A ranged
(single-run) backfill would save the run's start-up per partition, but Dagster gives every
partition of a range one ``dagster/data_version`` and an unpartitioned check result, fails them
all together, and our input slices and IO manager hold one partition (dagster#14332). Each
(run, symbol) keeps its own run, files, manifest, data version and check result. The figures
behind this are in BENCHMARKS.md, "Backfill overhead".
"""

from __future__ import annotations

from dagster import AssetSelection, BackfillPolicy, define_asset_job, in_process_executor

from label_pipeline.status import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS

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
