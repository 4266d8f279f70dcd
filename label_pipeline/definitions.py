"""The Dagster code location: ``label_pipeline.definitions:defs``."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetDep, AssetsDefinition, Definitions, load_assets_from_modules

from label_pipeline.assets import inputs, labels
from label_pipeline.assets.sources import SOURCE_OF_INPUT, SOURCES
from label_pipeline.config import load_effective_config
from label_pipeline.jobs import BACKFILL_POLICY, EXECUTOR, JOBS, label_job, price_plan_job
from label_pipeline.resources import LabelConfig, PathStatsKernel, RunsRoot
from label_pipeline.schedules import build_schedules
from label_pipeline.sensors import run_discovery_sensor
from label_pipeline.storage import LabelStoreIOManager

__all__ = ["all_assets", "build_definitions", "defs", "label_job", "price_plan_job"]

DEFAULT_HOME = Path.cwd() / ".label_pipeline"


def runs_root_default() -> str:
    return os.environ.get("LABEL_PIPELINE_RUNS_ROOT", str(DEFAULT_HOME / "runs"))


def storage_root_default() -> str:
    return os.environ.get("LABEL_PIPELINE_STORAGE_ROOT", str(DEFAULT_HOME / "store"))


all_assets = load_assets_from_modules([inputs, labels])


def _with_source_dep(assets_def: AssetsDefinition) -> AssetsDefinition:
    """Make the input file's observable source upstream of its slice asset (same partition)."""
    names = {key.to_user_string() for key in assets_def.keys}
    if len(names) != 1 or next(iter(names)) not in SOURCE_OF_INPUT:
        return assets_def
    source = SOURCE_OF_INPUT[next(iter(names))]
    return assets_def.map_asset_specs(
        lambda spec: spec.replace_attributes(deps=[*spec.deps, AssetDep(source)])
    )


def _config_hash(label_config: LabelConfig) -> str | None:
    """The effective config's hash; None when it does not load (materializations then fail with the
    config error, and the code location still loads so the UI can show it)."""
    try:
        config = load_effective_config(
            label_config.label_config_path, label_config.cost_config_path, label_config.price_plan_id
        )
    except ValueError:
        return None
    return config.config_hash


def build_assets(config_hash: str | None) -> list:
    """The assets, with the sources upstream of the inputs, the config in the label assets' code
    version, and one partition per backfill run."""
    built = [
        _with_source_dep(a).with_attributes(backfill_policy=BACKFILL_POLICY)
        for a in all_assets
        if isinstance(a, AssetsDefinition)
    ]
    return [*labels.with_config_code_version(built, config_hash), *SOURCES]


def build_definitions(
    runs_root: str | None = None,
    storage_root: str | None = None,
    label_config_path: str | None = None,
    cost_config_path: str | None = None,
    price_plan_id: str | None = None,
    backfill_cron: str | None = None,
) -> Definitions:
    """Definitions wired to the given roots and configs (defaults from the environment).

    The label and cost configs are read here, once, for the label assets' code version: after
    editing a config file or variable, reload the code location (the UI's "Reload") so that Dagster
    marks the partitions built with the old config stale.
    """
    label_config = LabelConfig(
        label_config_path=label_config_path or os.environ.get("LABEL_PIPELINE_LABEL_CONFIG") or None,
        cost_config_path=cost_config_path or os.environ.get("LABEL_PIPELINE_COST_CONFIG") or None,
        price_plan_id=price_plan_id or os.environ.get("LABEL_PIPELINE_PRICE_PLAN_ID", "default"),
    )
    return Definitions(
        assets=build_assets(_config_hash(label_config)),
        jobs=JOBS,
        sensors=[run_discovery_sensor],
        schedules=build_schedules(backfill_cron),
        executor=EXECUTOR,
        resources={
            "runs_root": RunsRoot(root=runs_root or runs_root_default()),
            "label_store": LabelStoreIOManager(root=storage_root or storage_root_default()),
            "label_config": label_config,
            "path_stats": PathStatsKernel(),
        },
    )


# The code location follows the deployment profile (env LABEL_PIPELINE_PROFILE; `local` by default
# leaves it as built): label_pipeline/deployment.py, README "Scaling out".
from label_pipeline.deployment import apply_profile  # noqa: E402

defs = apply_profile(build_definitions())
