"""Every ``LABEL_PIPELINE_*`` setting of a deployment, with its default, read in one place.

The code location, the CLI and the deployment profiles all take their settings from
``Settings.from_env()``; nothing else reads these variables. Relative defaults are resolved against
the working directory when the settings are read, so every reader agrees on one absolute path.
The README's "Environment" table lists them for users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

RUNS_ROOT_ENV = "LABEL_PIPELINE_RUNS_ROOT"
STORAGE_ROOT_ENV = "LABEL_PIPELINE_STORAGE_ROOT"
LABEL_CONFIG_ENV = "LABEL_PIPELINE_LABEL_CONFIG"
COST_CONFIG_ENV = "LABEL_PIPELINE_COST_CONFIG"
PRICE_PLAN_ID_ENV = "LABEL_PIPELINE_PRICE_PLAN_ID"
BACKFILL_CRON_ENV = "LABEL_PIPELINE_BACKFILL_CRON"
PROFILE_ENV = "LABEL_PIPELINE_PROFILE"
CELERY_CONFIG_ENV = "LABEL_PIPELINE_CELERY_CONFIG"
CHARTS_ENV = "LABEL_PIPELINE_CHARTS"

DEFAULT_HOME = ".label_pipeline"  # below the working directory
DEFAULT_PRICE_PLAN_ID = "default"
DEFAULT_BACKFILL_CRON = "0 3 * * *"  # daily, 03:00 UTC
REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DIR = REPO_ROOT / "deploy"


@dataclass(frozen=True)
class Settings:
    """One deployment's settings; ``None`` means "not set" where the absence itself matters (the
    distributed profiles refuse machine-local defaults, so they must see what was given)."""

    runs_root: str
    storage_root: str
    label_config: str | None = None
    cost_config: str | None = None
    price_plan_id: str = DEFAULT_PRICE_PLAN_ID
    backfill_cron: str = DEFAULT_BACKFILL_CRON
    profile: str = "local"
    celery_config: str | None = None
    runs_root_given: bool = False
    storage_root_given: bool = False
    charts: bool = True  # draw the quality and sweep charts (~0.5 s a partition); "0" turns them off

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        home = (cwd or Path.cwd()) / DEFAULT_HOME
        runs, store = environ.get(RUNS_ROOT_ENV) or "", environ.get(STORAGE_ROOT_ENV) or ""
        return cls(
            runs_root=runs or str(home / "runs"),
            storage_root=store or str(home / "store"),
            label_config=environ.get(LABEL_CONFIG_ENV) or None,
            cost_config=environ.get(COST_CONFIG_ENV) or None,
            price_plan_id=environ.get(PRICE_PLAN_ID_ENV) or DEFAULT_PRICE_PLAN_ID,
            backfill_cron=environ.get(BACKFILL_CRON_ENV) or DEFAULT_BACKFILL_CRON,
            profile=(environ.get(PROFILE_ENV) or "local").strip().lower(),
            celery_config=environ.get(CELERY_CONFIG_ENV) or None,
            runs_root_given=bool(runs),
            storage_root_given=bool(store),
            charts=(environ.get(CHARTS_ENV) or "1").strip().lower() not in ("0", "false", "no"),
        )

    def replace(self, **changes: object) -> Settings:
        """These settings with ``changes`` applied; ``None`` values are ignored (not given)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        given = {k: v for k, v in changes.items() if v is not None}
        values.update(given)
        values["runs_root_given"] = values["runs_root_given"] or "runs_root" in given
        values["storage_root_given"] = values["storage_root_given"] or "storage_root" in given
        return Settings(**values)  # type: ignore[arg-type]
