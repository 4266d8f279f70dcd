"""The Dagster code location: ``label_pipeline.definitions:defs``."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetSelection, Definitions, define_asset_job, load_assets_from_modules

from label_pipeline.assets import inputs, labels
from label_pipeline.resources import LabelConfig, PathStatsKernel, RunsRoot
from label_pipeline.storage import LabelStoreIOManager

DEFAULT_HOME = Path.cwd() / ".label_pipeline"


def runs_root_default() -> str:
    return os.environ.get("LABEL_PIPELINE_RUNS_ROOT", str(DEFAULT_HOME / "runs"))


def storage_root_default() -> str:
    return os.environ.get("LABEL_PIPELINE_STORAGE_ROOT", str(DEFAULT_HOME / "store"))


all_assets = load_assets_from_modules([inputs, labels])

# A job covers one partitions definition, so the run-level price plan has its own job.
price_plan_job = define_asset_job(
    "price_plan_job",
    selection=AssetSelection.assets("price_plan_context"),
    description="The price plan of the selected run_id partitions.",
)
label_job = define_asset_job(
    "label_job",
    selection=AssetSelection.all() - AssetSelection.assets("price_plan_context"),
    description="Every input slice and label artifact of the selected (run_id, symbol) partitions.",
)


def build_definitions(
    runs_root: str | None = None,
    storage_root: str | None = None,
    label_config_path: str | None = None,
    cost_config_path: str | None = None,
    price_plan_id: str | None = None,
) -> Definitions:
    """Definitions wired to the given roots and configs (defaults from the environment)."""
    return Definitions(
        assets=all_assets,
        jobs=[price_plan_job, label_job],
        resources={
            "runs_root": RunsRoot(root=runs_root or runs_root_default()),
            "label_store": LabelStoreIOManager(root=storage_root or storage_root_default()),
            "label_config": LabelConfig(
                label_config_path=label_config_path or os.environ.get("LABEL_PIPELINE_LABEL_CONFIG") or None,
                cost_config_path=cost_config_path or os.environ.get("LABEL_PIPELINE_COST_CONFIG") or None,
                price_plan_id=price_plan_id or os.environ.get("LABEL_PIPELINE_PRICE_PLAN_ID", "default"),
            ),
            "path_stats": PathStatsKernel(),
        },
    )


defs = build_definitions()
