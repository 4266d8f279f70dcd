"""The artifact registry is the one source of the wiring: everything derived from it agrees."""

from __future__ import annotations

import subprocess
import sys

from dagster import AssetKey

from label_pipeline.artifacts import ARTIFACTS, LABEL, LABEL_ARTIFACTS, RUN_SYMBOL, at_grain, steps
from label_pipeline.assets.labels import label_code_version
from label_pipeline.dagster_types import DAGSTER_TYPES
from label_pipeline.definitions import build_definitions
from label_pipeline.jobs import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS
from label_pipeline.label_contract import CHECK_DESCRIPTIONS, COLUMNS
from label_pipeline.settings import Settings


def test_every_record_is_complete_and_consistent() -> None:
    names = [a.name for a in ARTIFACTS]
    assert len(names) == len(set(names))
    for art in ARTIFACTS:
        columns = [c.name for c in art.columns]
        assert len(columns) == len(set(columns)), art.name
        assert art.name in DAGSTER_TYPES
        for read in art.reads:
            assert read in names, f"{art.name} reads unknown {read}"
        if art.layer == LABEL:
            assert art.build and callable(art.builder()), art.name
            assert set(art.rules) <= set(CHECK_DESCRIPTIONS), art.name
            assert art.rules[0] == "schema" and COLUMNS[art.name] == columns
            assert art.target_column is None or art.target_column in columns
        for column in (*art.columns, *art.optional_columns):
            assert column.description, f"{art.name}.{column.name} has no description"


def test_jobs_and_code_versions_cover_every_artifact_by_construction() -> None:
    assert set(LABEL_JOB_ASSETS) == {AssetKey(a.name) for a in at_grain(RUN_SYMBOL)}
    assert set(LABEL_JOB_ASSETS) | set(PLAN_JOB_ASSETS) == {AssetKey(a.name) for a in ARTIFACTS}
    settings = Settings.from_env({})
    defs = build_definitions(settings=settings)
    graph = defs.resolve_asset_graph()
    config_hash = defs.resources["label_config"].effective().config_hash
    for art in LABEL_ARTIFACTS:
        assert graph.get(AssetKey(art.name)).code_version == label_code_version(config_hash), art.name
    # one Dagster step per builder; artifacts of one builder are one multi-asset
    built = {a.name for group in (*steps("run").values(), *steps("run_symbol").values()) for a in group}
    assert built == {a.name for a in LABEL_ARTIFACTS}


def test_importing_the_code_location_starts_no_thread_and_no_harness() -> None:
    code = (
        "import sys, threading\n"
        "import label_pipeline.definitions\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "harness = sorted(m for m in sys.modules if m.startswith('label_pipeline_tests'))\n"
        "assert not harness, harness\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "/usr/bin:/bin"})
