"""Deployment profiles without services: profile choice, environment checks, the executor wiring,
the deploy/ files against the schemas that read them, and a label store given as a non-local URL.

The real-services tests of the distributed profile are in test_distributed_backfill.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import make_run_frames, write_run
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.profiles import (
    DISTRIBUTED,
    KUBERNETES,
    LOCAL,
    DeploymentError,
    celery_config_path,
    celery_executor_config,
    celery_queue,
    check_environment,
    current_profile,
    environment_problems,
)
from label_pipeline.settings import DEPLOY_DIR, Settings
from label_pipeline.storage import storage_path
from label_pipeline_tests.harness.common import skip_or_fail


def _require_distributed_extra() -> None:
    """dagster-celery (the `distributed` extra) is needed: skip without it, fail where required."""
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        skip_or_fail("dagster-celery is not installed: pip install -e '.[distributed]' (or '.[test]')")


GOOD_ENV = {
    "LABEL_PIPELINE_STORAGE_ROOT": "s3://bucket/labels",
    "LABEL_PIPELINE_RUNS_ROOT": "/mnt/shared/runs",
    "LABEL_PIPELINE_CELERY_BROKER": "amqp://guest:guest@127.0.0.1:5672//",
    "LABEL_PIPELINE_CELERY_BACKEND": "rpc://",
}


def _settings(environ: dict[str, str]) -> Settings:
    return Settings.from_env(environ)


def test_the_profile_is_local_unless_the_variable_names_another() -> None:
    assert current_profile(_settings({})) == LOCAL
    assert current_profile(_settings({"LABEL_PIPELINE_PROFILE": ""})) == LOCAL
    assert current_profile(_settings({"LABEL_PIPELINE_PROFILE": " Distributed "})) == DISTRIBUTED
    assert current_profile(_settings({"LABEL_PIPELINE_PROFILE": "kubernetes"})) == KUBERNETES
    with pytest.raises(DeploymentError, match="not a profile"):
        current_profile(_settings({"LABEL_PIPELINE_PROFILE": "cluster"}))


def _problems(profile: str, environ: dict[str, str]) -> list[str]:
    return environment_problems(_settings({**environ, "LABEL_PIPELINE_PROFILE": profile}), environ)


def test_local_needs_nothing_and_distributed_refuses_machine_local_settings() -> None:
    assert _problems(LOCAL, {}) == []
    assert _problems(DISTRIBUTED, GOOD_ENV) == []
    assert _problems(KUBERNETES, {**GOOD_ENV, "LABEL_PIPELINE_STORAGE_ROOT": "/mnt/nfs/labels"}) == []

    missing = " ".join(_problems(DISTRIBUTED, {}))
    for name in ("LABEL_PIPELINE_STORAGE_ROOT", "LABEL_PIPELINE_RUNS_ROOT", "LABEL_PIPELINE_CELERY_BROKER"):
        assert name in missing
    bad = {
        **GOOD_ENV,
        "LABEL_PIPELINE_STORAGE_ROOT": ".label_pipeline/store",
        "LABEL_PIPELINE_RUNS_ROOT": "s3://bucket/runs",
        "LABEL_PIPELINE_LABEL_CONFIG": "configs/override.json",
    }
    problems = _problems(DISTRIBUTED, bad)
    assert len(problems) == 3
    assert "relative path" in problems[0] and "URL" in problems[1] and "relative path" in problems[2]
    with pytest.raises(DeploymentError, match="env.template"):
        check_environment(_settings({**bad, "LABEL_PIPELINE_PROFILE": DISTRIBUTED}), bad)


def _executor_names(defs) -> set[str]:
    """The executors of every job, and of the jobs the sensor and schedules launch: the daemon
    launches a target by its name, so it runs the code location's job of that name."""
    targets = {job.name for job in defs.jobs or []}
    for sensor in defs.sensors or []:
        targets |= {job.name for job in defs.resolve_sensor_def(sensor.name).jobs}
    for schedule in defs.schedules or []:
        targets.add(defs.resolve_schedule_def(schedule.name).job.name)
    return {defs.resolve_job_def(name).executor_def.name for name in targets}


def test_the_profile_picks_the_executor_of_every_job_when_the_definitions_are_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _require_distributed_extra()
    roots = (str(tmp_path / "runs"), str(tmp_path / "store"))
    local = build_definitions(*roots, settings=_settings({}))
    assert _executor_names(local) == {"in_process"}
    with pytest.raises(DeploymentError, match="LABEL_PIPELINE_STORAGE_ROOT"):
        build_definitions(settings=_settings({"LABEL_PIPELINE_PROFILE": KUBERNETES}))  # no machine-local defaults

    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)  # the broker URL the Celery config names
    kubernetes = build_definitions(settings=_settings({**GOOD_ENV, "LABEL_PIPELINE_PROFILE": KUBERNETES}))
    assert _executor_names(kubernetes) == {"in_process"}  # steps run in the run's pod
    distributed = build_definitions(settings=_settings({**GOOD_ENV, "LABEL_PIPELINE_PROFILE": DISTRIBUTED}))
    assert _executor_names(distributed) == {"label_pipeline_celery"}
    # the same assets, resources, sensors and schedules: only the executor differs
    assert set(distributed.resolve_all_asset_keys()) == set(local.resolve_all_asset_keys())
    assert {s.name for s in distributed.sensors or []} == {s.name for s in local.sensors or []}
    assert {s.name for s in distributed.schedules or []} == {s.name for s in local.schedules or []}


def test_the_celery_config_is_valid_for_the_executor_and_the_worker_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _require_distributed_extra()
    from dagster_celery.cli import get_validated_config

    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    validated = get_validated_config(str(DEPLOY_DIR / "celery.yaml"))  # what `worker start -y` reads
    assert validated["broker"] == GOOD_ENV["LABEL_PIPELINE_CELERY_BROKER"]
    source = validated["config_source"]
    assert source["task_acks_late"] is True and source["task_reject_on_worker_lost"] is False
    assert celery_queue(celery_executor_config(celery_config_path(_settings({})))) == "label_pipeline"


def test_the_instance_yaml_validates(tmp_path: Path) -> None:
    from dagster import QueuedRunCoordinator
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config

    from label_pipeline.automation.launcher import CodeServerRunLauncher
    from label_pipeline.postgres_storage import PooledPostgresStorage

    shutil.copy(DEPLOY_DIR / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    storage = config["storage"]["custom"]
    assert (storage["module"], storage["class"]) == ("label_pipeline.postgres_storage", "PooledPostgresStorage")
    assert storage["config"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}
    assert validate_config(PooledPostgresStorage.config_type(), storage["config"]).success
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("label_pipeline.automation.launcher", "CodeServerRunLauncher")
    assert validate_config(CodeServerRunLauncher.config_type(), launcher["config"]).success
    assert config["run_monitoring"]["enabled"] and config["run_monitoring"]["poll_interval_seconds"] <= 30
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert validate_config(QueuedRunCoordinator.config_type(), coordinator["config"]).success
    assert coordinator["config"]["max_concurrent_runs"] > 0
    assert config["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}


# The keys this project sets, as the dagster chart (1.13) documents them: helm/dagster/values.yaml
# and its schema helm/dagster/schema/schema/charts/dagster/{values.py,subschema/*.py} and
# .../dagster_user_deployments/subschema/user_deployments.py in dagster-io/dagster.
CHART_KEYS = {
    (): {
        "global",
        "dagsterWebserver",
        "dagster-user-deployments",
        "postgresql",
        "generatePostgresqlPasswordSecret",
        "generateCeleryConfigSecret",
        "rabbitmq",
        "redis",
        "flower",
        "ingress",
        "imagePullSecrets",
        "computeLogManager",
        "scheduler",
        "runLauncher",
        "pythonLogs",
        "dagsterDaemon",
        "busybox",
        "migrate",
        "telemetry",
        "serviceAccount",
        "retention",
        "additionalInstanceConfig",
    },
    ("global",): {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName"},
    ("postgresql",): {
        "image",
        "enabled",
        "postgresqlHost",
        "postgresqlUsername",
        "postgresqlPassword",
        "postgresqlSecretKeyRefKey",
        "postgresqlDatabase",
        "postgresqlParams",
        "postgresqlScheme",
        "service",
    },
    ("runLauncher",): {"type", "config"},
    ("runLauncher", "config"): {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    ("runLauncher", "config", "k8sRunLauncher"): {
        "image",
        "imagePullPolicy",
        "jobNamespace",
        "loadInclusterConfig",
        "kubeconfigFile",
        "envConfigMaps",
        "envSecrets",
        "envVars",
        "volumeMounts",
        "volumes",
        "labels",
        "failPodOnRunFailure",
        "resources",
        "schedulerName",
        "securityContext",
        "runK8sConfig",
    },
    ("runLauncher", "config", "k8sRunLauncher", "runK8sConfig"): {
        "containerConfig",
        "podSpecConfig",
        "podTemplateSpecMetadata",
        "jobSpecConfig",
        "jobMetadata",
    },
    ("dagsterDaemon",): {
        "enabled",
        "image",
        "runCoordinator",
        "heartbeatTolerance",
        "env",
        "envConfigMaps",
        "envSecrets",
        "deploymentLabels",
        "labels",
        "nodeSelector",
        "affinity",
        "tolerations",
        "podSecurityContext",
        "securityContext",
        "resources",
        "checkDbReadyInitContainer",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "annotations",
        "runMonitoring",
        "runRetries",
        "sensors",
        "schedules",
        "backfills",
        "schedulerName",
        "logFormat",
        "volumeMounts",
        "volumes",
    },
    ("dagsterDaemon", "runCoordinator"): {"enabled", "type", "config"},
    ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator"): {
        "maxConcurrentRuns",
        "tagConcurrencyLimits",
        "dequeueIntervalSeconds",
        "dequeueNumWorkers",
        "dequeueUseThreads",
        "blockOpConcurrencyLimitedRuns",
    },
    ("dagsterDaemon", "runRetries"): {"enabled", "maxRetries", "retryOnAssetOrOpFailure"},
    ("dagsterDaemon", "runMonitoring"): {
        "enabled",
        "startTimeoutSeconds",
        "maxResumeRunAttempts",
        "pollIntervalSeconds",
        "freeSlotsAfterRunEndSeconds",
    },
    ("dagster-user-deployments",): {"enabled", "enableSubchart", "deployments", "imagePullSecrets"},
}
USER_DEPLOYMENT_KEYS = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
    "deploymentNamespace", "port", "replicaCount", "env", "envConfigMaps", "envSecrets", "annotations",
    "nodeSelector", "affinity", "tolerations", "podSecurityContext", "securityContext", "resources",
    "livenessProbe", "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName",
    "initContainers", "sidecarContainers", "deploymentStrategy",
}  # fmt: skip


def test_the_helm_values_use_only_documented_chart_keys() -> None:
    values = yaml.safe_load((DEPLOY_DIR / "k8s" / "values.yaml").read_text())
    for path, allowed in CHART_KEYS.items():
        node = values
        for key in path:
            node = node.get(key, {})
        assert set(node) <= allowed, (
            f"{'.'.join(path) or '<top>'}: undocumented {sorted(set(node) - allowed)}"
        )
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    for user_deployment in values["dagster-user-deployments"]["deployments"]:
        assert set(user_deployment) <= USER_DEPLOYMENT_KEYS
        assert user_deployment["env"]["LABEL_PIPELINE_PROFILE"] == KUBERNETES
        assert user_deployment["dagsterApiGrpcArgs"][:2] == ["--module-name", "label_pipeline.definitions"]
        assert environment_problems(_settings(user_deployment["env"]), user_deployment["env"]) == []


def test_a_store_given_as_a_non_local_url_holds_the_same_bytes(tmp_path: Path) -> None:
    """Nothing in the store assumes a local path: an fsspec memory:// root (the object-store branch
    of the writer) gets byte-identical files."""
    import fsspec

    symbols = ["BTC/USDT"]
    feature, replay = make_run_frames(symbols, 300, seed=3)
    write_run(tmp_path / "runs", "r1", feature, replay)
    url = "memory://label_pipeline_test_store"
    try:
        with DagsterInstance.ephemeral() as remote, DagsterInstance.ephemeral() as local:
            for root, instance in ((url, remote), (str(tmp_path / "store"), local)):
                outcomes = materialize_run(
                    build_definitions(str(tmp_path / "runs"), root), instance, "r1", symbols
                )
                assert all(o.success for o in outcomes)
        for key in LABEL_JOB_ASSETS:
            remote_file = storage_path(url, key.path[-1], "r1", "BTC/USDT")
            assert remote_file.protocol == "memory"
            assert (
                remote_file.read_bytes()
                == storage_path(tmp_path / "store", key.path[-1], "r1", "BTC/USDT").read_bytes()
            )
    finally:
        fsspec.filesystem("memory").rm("/label_pipeline_test_store", recursive=True)
