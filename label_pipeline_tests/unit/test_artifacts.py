"""The artifact registry is the one source of the wiring: everything derived from it agrees."""

from __future__ import annotations

import subprocess
import sys

from dagster import AssetKey

from label_pipeline.artifacts import ARTIFACTS, LABEL, LABEL_ARTIFACTS, RUN_SYMBOL, artifact, at_grain, steps
from label_pipeline.assets.labels import label_code_version
from label_pipeline.config import load_effective_config
from label_pipeline.dagster_types import DAGSTER_TYPES, type_check
from label_pipeline.definitions import build_definitions
from label_pipeline.jobs import LABEL_JOB_ASSETS, PLAN_JOB_ASSETS
from label_pipeline.label_contract import CHECK_DESCRIPTIONS, COLUMNS
from label_pipeline.labels.step import StepInputs
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


def test_loading_the_code_location_is_light() -> None:
    """Importing the code location starts no thread and imports no test harness, no kernel and no
    plotting library: numba (the kernels) loads when a step runs, not in every process that loads
    the location (the UI, the daemon, each run's worker, each ``label-pipeline`` command), which
    would pay ~0.5 s for it; the charts are SVG written by hand (``label_pipeline/charts.py``)."""
    code = (
        "import sys, threading\n"
        "import label_pipeline.definitions\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "harness = sorted(m for m in sys.modules if m.startswith('label_pipeline_tests'))\n"
        "assert not harness, harness\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite', 'matplotlib'))\n"
        "assert not heavy, heavy[:10]\n"
        "ours = {'label_pipeline.engine', 'label_pipeline.kernel.path_stats', 'label_pipeline.kernel.sweep',\n"
        "        'label_pipeline.kernel.windows'}\n"
        "assert not ours & set(sys.modules), sorted(ours & set(sys.modules))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "/usr/bin:/bin"})


def test_type_check_runs_the_dagster_pandas_type_directly() -> None:
    """``type_check`` is the artifact's dagster-pandas check (what ``check_dagster_type`` ran, without
    its ephemeral instance): a frame of the registry passes, a wrong dtype or a missing column fails
    with the constraint's description."""
    plan = artifact("price_plan_context")
    frame = plan.builder()(StepInputs(config=load_effective_config()))[plan.name]
    # the dagster-pandas checks use no context (the label step passes its step's type-check context)
    assert type_check(plan.name, frame, None).success  # type: ignore[arg-type]
    column = next(c.name for c in plan.columns if str(frame[c.name].dtype) == "float64")
    bad = frame.astype({column: "object"})
    result = type_check(plan.name, bad, None)  # type: ignore[arg-type]
    assert not result.success and column in (result.description or "")
    missing = type_check(plan.name, frame.drop(columns=[column]), None)  # type: ignore[arg-type]
    assert not missing.success
