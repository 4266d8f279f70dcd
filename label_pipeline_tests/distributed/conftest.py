"""The distributed tests' cluster: each test module gets its own (``LocalCluster``: a fresh
PostgreSQL database and Celery queue, two Celery workers, a code server and the daemon), so xdist can
run two modules' clusters side by side; and the local profile's store of the same run to compare with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run, register_run
from label_pipeline.demo.sample_data import make_run_frames, write_run
from label_pipeline_tests.harness.backfill import N_BARS, RUN_ID, SYMBOLS, WORKERS, worker_name
from label_pipeline_tests.harness.cluster import SERVICES_HELP, LocalCluster, missing_services
from label_pipeline_tests.harness.common import skip_or_fail


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    feature, replay = make_run_frames(SYMBOLS, N_BARS, seed=11)
    write_run(root, RUN_ID, feature, replay)
    return root


@pytest.fixture(scope="module")
def local(runs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The local profile's label store of the same run (in-process, ephemeral instance), and the
    content hash each materialization recorded: {(asset, partition key): hash}."""
    store = tmp_path_factory.mktemp("local_store")
    with DagsterInstance.ephemeral() as instance:
        outcomes = materialize_run(build_definitions(str(runs_root), str(store)), instance, RUN_ID, SYMBOLS)
    assert all(o.success for o in outcomes)
    hashes = {
        (asset, outcome.partition_key): metadata["content_hash"]
        for outcome in outcomes
        for asset, metadata in outcome.metadata.items()
        if "content_hash" in metadata
    }
    return store, hashes


@pytest.fixture(scope="module")
def cluster(
    runs_root: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LocalCluster]:
    missing = missing_services()
    if missing:
        skip_or_fail(f"distributed profile tests need {', '.join(missing)}: {SERVICES_HELP}")
    work = tmp_path_factory.mktemp("cluster")
    store_url = (work / "store").as_uri()  # a URL, as s3://... would be
    # run monitoring as deploy/dagster.yaml ships it, but polling every 5 s instead of 15 s, and runs
    # stuck before they start failed after 60 s instead of 180 s (a module's START_TIMEOUT_SECONDS:
    # the restart test's runs lost at launch are its long pole), to keep the distributed tests short
    start_timeout = getattr(request.module, "START_TIMEOUT_SECONDS", 60)
    overrides = {"run_monitoring": {"start_timeout_seconds": start_timeout, "poll_interval_seconds": 5}}
    with LocalCluster(work, str(runs_root), store_url, max_concurrent_runs=4, instance_overrides=overrides) as c:
        c.start_code_server()
        for name in WORKERS:
            c.start_worker(worker_name(c, name))
        c.wait_for_code_server()
        c.start_daemon()
        c.wait_for_workers([worker_name(c, name) for name in WORKERS])
        c.wait_for_daemon()
        # the run's partitions and price plan (what the run sensor and price_plan_job do)
        defs = build_definitions(str(runs_root), store_url)
        register_run(defs, c.instance, RUN_ID, SYMBOLS)
        plan = defs.resolve_job_def("price_plan_job").execute_in_process(
            partition_key=RUN_ID, instance=c.instance
        )
        assert plan.success
        yield c


@pytest.fixture
def two_workers(cluster: LocalCluster) -> tuple[str, str]:
    """Both workers alive (a test that killed one leaves it dead; start it again)."""
    names = tuple(worker_name(cluster, name) for name in WORKERS)
    for name in names:
        worker = cluster.workers[name]
        if worker.popen is None or worker.popen.poll() is not None or not worker.members():
            worker.kill()
            cluster.start_worker(name)
    cluster.wait_for_workers(names)
    return names  # type: ignore[return-value]
