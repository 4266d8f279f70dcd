"""Fixtures shared by the suite. Layout: ``unit/`` (pure functions, no Dagster instance),
``integration/`` (real materializations on a SQLite instance), ``distributed/`` (the distributed
profile against real PostgreSQL and RabbitMQ), ``harness/`` (helpers and process harnesses),
``golden/`` (the reference's outputs on small runs, for parity without ../shared)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, instance_for_test
from hypothesis import settings

from label_pipeline_tests.harness.common import fast_temp_dir

# CI explores the same examples every run (a property failure there is then a change's, not the
# dice's); locally each run draws new ones. Failures print the blob that replays them.
settings.register_profile("ci", derandomize=True, print_blob=True)
# Charts cost about half a second a partition and the suite materializes hundreds: off, except in
# the tests of the charts themselves (integration/test_quality_metadata.py turns them on).
os.environ.setdefault("LABEL_PIPELINE_CHARTS", "0")
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A fresh SQLite Dagster instance in a fast temporary folder, removed afterwards."""
    home = fast_temp_dir()
    try:
        with instance_for_test(temp_dir=home) as inst:
            yield inst
    finally:
        shutil.rmtree(home, ignore_errors=True)
