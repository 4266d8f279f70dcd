"""Deployment profiles: where the steps of a run execute, and what every process must share.

``LABEL_PIPELINE_PROFILE`` (``label_pipeline.settings``) picks the profile, the way Dagster's
``project_fully_featured`` picks resources per deployment:

``local`` (default)
    What the README's demo and ``dagster dev`` use: a SQLite instance under ``DAGSTER_HOME``, the
    label store and runs under ``./.label_pipeline`` (or the ``LABEL_PIPELINE_*_ROOT`` variables),
    every step of a run in the run's own process (``in_process_executor``; ``jobs.py`` says why).
``distributed``
    The instance of ``deploy/dagster.yaml`` (dagster-postgres, QueuedRunCoordinator with a
    concurrency limit) and the ``dagster-celery`` executor of ``deploy/celery.yaml``: every step of
    every run is a Celery task, executed by whichever worker process (on any machine) takes it.
``kubernetes``
    The Helm chart's instance (``deploy/k8s/values.yaml``: Postgres, QueuedRunCoordinator,
    K8sRunLauncher): each run is its own pod and runs its steps in that pod (in process).

The profile's executor is the code location's default executor (``Definitions(executor=...)``),
which every job without an executor of its own uses, the sensor's and schedules' targets included.

In ``distributed`` and ``kubernetes`` the code runs in many processes on many machines, so the
profile checks at load time that nothing points at a machine-local default: the label store must be
a URL (``s3://``, ``gs://``, ``file://``) or an absolute path of a shared mount, the runs root an
absolute path (the inputs are read with pathlib), and the config overrides absolute paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import ExecutorDefinition, in_process_executor

from label_pipeline.settings import (
    CELERY_CONFIG_ENV,
    COST_CONFIG_ENV,
    DEPLOY_DIR,
    LABEL_CONFIG_ENV,
    PROFILE_ENV,
    RUNS_ROOT_ENV,
    STORAGE_ROOT_ENV,
    Settings,
)

LOCAL, DISTRIBUTED, KUBERNETES = "local", "distributed", "kubernetes"
PROFILES = (LOCAL, DISTRIBUTED, KUBERNETES)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class DeploymentError(ValueError):
    """The environment does not satisfy the selected deployment profile."""


def current_profile(settings: Settings) -> str:
    """The profile the settings name, refused when it is not one."""
    if settings.profile not in PROFILES:
        raise DeploymentError(
            f"{PROFILE_ENV}={settings.profile!r} is not a profile; use one of {', '.join(PROFILES)}"
        )
    return settings.profile


def environment_problems(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """What keeps the settings' profile from working on more than one machine. ``environ`` is where
    the Celery executor config's ``env:`` references (the broker URL) are looked up."""
    profile = current_profile(settings)
    if profile == LOCAL:
        return []
    problems = []
    storage = settings.storage_root if settings.storage_root_given else ""
    if not storage:
        problems.append(
            f"{STORAGE_ROOT_ENV} is not set: the {profile} profile needs a label store every process "
            "reaches (s3://..., gs://..., or an absolute path of a shared mount)"
        )
    elif not _URL.match(storage) and not os.path.isabs(storage):
        problems.append(
            f"{STORAGE_ROOT_ENV}={storage!r} is a relative path; each process would resolve it in its own "
            "working directory. Use a URL or an absolute path of a shared mount"
        )
    runs = settings.runs_root if settings.runs_root_given else ""
    if not runs:
        problems.append(
            f"{RUNS_ROOT_ENV} is not set: the {profile} profile needs the input runs at an absolute path "
            "mounted on every machine"
        )
    elif _URL.match(runs):
        problems.append(
            f"{RUNS_ROOT_ENV}={runs!r} is a URL; input runs are read with pathlib, so it must be an absolute "
            "path (a shared mount)"
        )
    elif not os.path.isabs(runs):
        problems.append(
            f"{RUNS_ROOT_ENV}={runs!r} is a relative path; use an absolute path of a shared mount"
        )
    for name, value in ((LABEL_CONFIG_ENV, settings.label_config), (COST_CONFIG_ENV, settings.cost_config)):
        if value and not os.path.isabs(value):
            problems.append(
                f"{name}={value!r} is a relative path; use an absolute path present on every machine"
            )
    if profile == DISTRIBUTED:
        environ = os.environ if environ is None else environ
        try:
            config = celery_executor_config(celery_config_path(settings))
        except DeploymentError as exc:
            problems.append(str(exc))
        else:
            broker = config.get("broker")
            if broker is None:
                problems.append("the Celery executor config has no broker (LABEL_PIPELINE_CELERY_BROKER)")
            elif isinstance(broker, Mapping) and broker.get("env") and not environ.get(broker["env"]):
                problems.append(f"{broker['env']} is not set: the Celery broker URL")
    return problems


def check_environment(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """Raise ``DeploymentError`` listing every problem of the profile's environment; returns the profile."""
    problems = environment_problems(settings, environ)
    if problems:
        raise DeploymentError(
            f"{PROFILE_ENV}={settings.profile}: " + "; ".join(problems) + " (see deploy/env.template)"
        )
    return settings.profile


def celery_config_path(settings: Settings) -> Path:
    """The executor/worker config file: ``LABEL_PIPELINE_CELERY_CONFIG``, else ``deploy/celery.yaml``."""
    path = Path(settings.celery_config or DEPLOY_DIR / "celery.yaml")
    if not path.is_file():
        raise DeploymentError(
            f"the Celery executor config {path} does not exist; set {CELERY_CONFIG_ENV} to a copy of "
            "deploy/celery.yaml"
        )
    return path


def celery_executor_config(path: Path) -> dict[str, Any]:
    """The ``execution.config`` block of the Celery config file (the celery executor's config)."""
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    config = (document.get("execution") or {}).get("config")
    if not isinstance(config, dict):
        raise DeploymentError(f"{path} has no execution.config block (the dagster-celery executor config)")
    return config


def celery_queue(config: Mapping[str, Any]) -> str:
    """The queue runs publish their steps to (the workers' ``-q``)."""
    return str((config.get("config_source") or {}).get("task_default_queue") or "dagster")


def executor_for(settings: Settings, environ: Mapping[str, str] | None = None) -> ExecutorDefinition:
    """The code location's default executor for the settings' profile, after checking its
    environment: in process, except ``distributed``, whose runs send each step to the Celery workers."""
    if check_environment(settings, environ) != DISTRIBUTED:
        return in_process_executor
    from dagster_celery import celery_executor  # the `distributed` extra; not needed by `local`

    config = celery_executor_config(celery_config_path(settings))
    return celery_executor.configured(config, name="label_pipeline_celery")
