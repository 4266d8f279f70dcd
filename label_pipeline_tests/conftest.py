"""Fixtures shared by the suite. Layout: ``unit/`` (pure functions, no Dagster instance),
``integration/`` (real materializations on a SQLite instance), ``distributed/`` (the distributed
profile against real PostgreSQL and RabbitMQ), ``harness/`` (helpers and process harnesses),
``golden/`` (the reference's outputs on small runs, for parity without ../shared)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from dagster import DagsterInstance
from hypothesis import settings

from label_pipeline_tests.harness.common import kept_instance

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
    """A fresh SQLite Dagster instance (``kept_instance``)."""
    with kept_instance() as inst:
        yield inst
