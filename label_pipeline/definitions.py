"""The Dagster code location: ``label_pipeline.definitions:defs``, built from ``Settings.from_env()``."""

from __future__ import annotations

from dagster import Definitions

from label_pipeline.assets.labels import build_label_assets
from label_pipeline.assets.sources import SOURCES
from label_pipeline.automation.schedules import build_schedules
from label_pipeline.automation.sensors import run_discovery_sensor
from label_pipeline.jobs import JOBS
from label_pipeline.loading import loaded
from label_pipeline.profiles import executor_for
from label_pipeline.resources import LabelConfig, PathStatsKernel, RunsRoot
from label_pipeline.settings import Settings
from label_pipeline.storage import LabelStoreIOManager

__all__ = ["build_definitions", "defs"]


def _config_hash(label_config: LabelConfig) -> str | None:
    """The effective config's hash; None when it does not load (materializations then fail with the
    config error, and the code location still loads so the UI can show it)."""
    try:
        return label_config.effective().config_hash
    except ValueError:  # ConfigError, or a file the config names that cannot be read
        return None


def build_definitions(
    runs_root: str | None = None,
    storage_root: str | None = None,
    label_config_path: str | None = None,
    cost_config_path: str | None = None,
    price_plan_id: str | None = None,
    backfill_cron: str | None = None,
    *,
    settings: Settings | None = None,
) -> Definitions:
    """Definitions for ``settings`` (default: the environment's) with the given values overriding.

    The label and cost configs are read here, once, for the label assets' code version: after
    editing a config file or variable, reload the code location (the UI's "Reload") so that Dagster
    marks the partitions built with the old config stale. The profile's executor is the location's
    default executor, which every job uses (``label_pipeline.profiles``).
    """
    settings = (settings or Settings.from_env()).replace(
        runs_root=runs_root,
        storage_root=storage_root,
        label_config=label_config_path,
        cost_config=cost_config_path,
        price_plan_id=price_plan_id,
        backfill_cron=backfill_cron,
    )
    label_config = LabelConfig(
        label_config_path=settings.label_config,
        cost_config_path=settings.cost_config,
        price_plan_id=settings.price_plan_id,
    )
    return Definitions(
        assets=[*build_label_assets(_config_hash(label_config)), *SOURCES],
        jobs=JOBS,
        sensors=[run_discovery_sensor],
        schedules=build_schedules(settings.backfill_cron),
        executor=executor_for(settings),
        resources={
            "runs_root": RunsRoot(root=settings.runs_root),
            "label_store": LabelStoreIOManager(root=settings.storage_root),
            "label_config": label_config,
            "path_stats": PathStatsKernel(charts=settings.charts),
        },
    )


defs = build_definitions()
loaded()  # the code location is what a run worker or code server loads last (label_pipeline/loading.py)
