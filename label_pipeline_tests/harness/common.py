"""What many test modules share: the partition's label assets, a quiet run config, a fast
temporary Dagster home, and the rule for tests that need real services."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance

from label_pipeline.artifacts import LABEL_ARTIFACTS, RUN_SYMBOL
from label_pipeline.demo.sample_data import Messiness

# The reference's label artifacts of a (run, symbol) partition, in registry order.
LABEL_ASSETS: list[str] = [a.name for a in LABEL_ARTIFACTS if a.grain == RUN_SYMBOL and a.in_reference]
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
REQUIRE_ENVS = ("LABEL_PIPELINE_REQUIRE_SERVICES", "CI")
# Valid but messy input slices (gaps, NaNs, shuffled rows, naive times, missing feature rows), and the
# location the input-contract unit tests name in their messages.
MESSY = Messiness(
    gap_fraction=0.05,
    nan_close_fraction=0.05,
    nan_spread_fraction=0.05,
    nan_high_low_fraction=0.05,
    shuffle=True,
    naive_event_time=True,
    feature_fraction=0.9,
)
CONTRACT_WHERE = "run 'r', symbol 'S': test file"


def services_required() -> bool:
    """CI (or LABEL_PIPELINE_REQUIRE_SERVICES) must run the tests that need real services."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes") for name in REQUIRE_ENVS)


def skip_or_fail(message: str) -> None:
    """Skip a test whose services or extras are missing; fail instead where they are required."""
    if services_required():
        pytest.fail(f"{message} (required: CI or LABEL_PIPELINE_REQUIRE_SERVICES is set)")
    pytest.skip(message)


def fast_temp_dir() -> str:
    """A temporary folder in memory where the machine has one: the SQLite event log writes a lot."""
    shm = Path("/dev/shm")
    return tempfile.mkdtemp(dir=shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.mkdtemp()


@contextmanager
def kept_instance() -> Iterator[DagsterInstance]:
    """A fresh Dagster instance as ``label-pipeline`` makes them (SQLite with kept connections,
    ``label_pipeline/sqlite_storage.py``) in a fast temporary folder, removed afterwards."""
    from dagster import instance_for_test

    home = fast_temp_dir()
    storage = {"module": "label_pipeline.sqlite_storage", "class": "KeptSqliteStorage", "config": {"base_dir": home}}
    try:
        with instance_for_test(temp_dir=home, overrides={"storage": {"custom": storage}}) as instance:
            yield instance
    finally:
        shutil.rmtree(home, ignore_errors=True)
