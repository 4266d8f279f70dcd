"""A partition never mixes two price plans (issue: a changed config silently mixed them).

The plan is materialized with one config; the config changes (a barrier moves) and one symbol is
rerun as the README says. The label step must refuse, name both plans and what to do, and leave
every stored file as it was; once the plan is rebuilt, rows, manifest and plan agree again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from label_pipeline.automation.work import WorkFinder
from label_pipeline.config import load_effective_config
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.partitions import partition_key
from label_pipeline.storage import read_parquet, storage_path
from label_pipeline_tests.harness.common import QUIET

RUN, SYMBOL = "r1", "AAA"


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*.parquet"))}


def _error(result) -> str:
    return "\n".join(
        str(e.event_specific_data.error.message)
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    )


@pytest.mark.parametrize("override", [{"entry": {"target_bps": 15}}, {"entry": {"stop_bps": 20}}])
def test_a_changed_config_is_refused_until_the_plan_is_rebuilt(tmp_path: Path, instance, override) -> None:
    runs, store = tmp_path / "runs", tmp_path / "store"
    write_run(runs, RUN, *make_run_frames([SYMBOL], 240, seed=5, messiness=CLEAN))
    assert all(o.success for o in materialize_run(build_definitions(str(runs), str(store)), instance, RUN, [SYMBOL]))
    before = _files(store)

    config_file = tmp_path / "override.json"
    config_file.write_text(json.dumps(override))
    changed = build_definitions(str(runs), str(store), label_config_path=str(config_file))
    key = partition_key(RUN, SYMBOL)
    result = changed.resolve_job_def("label_job").execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET
    )
    assert not result.success
    message = _error(result)
    assert "stored price plan" in message and "another config" in message
    assert "Materialize the run's price_plan_context first" in message
    assert _files(store) == before  # no label of the partition was built with the new barriers
    # the work finder sees the plan as stale: the schedule rebuilds it before any label
    assert WorkFinder(instance, changed.resolve_asset_graph()).plan(RUN) == "stale"

    # after the plan: labels succeed, and rows, manifest and plan agree
    plan_run = changed.resolve_job_def("price_plan_job").execute_in_process(
        partition_key=RUN, instance=instance, run_config=QUIET
    )
    assert plan_run.success
    labels = changed.resolve_job_def("label_job").execute_in_process(
        partition_key=key, instance=instance, run_config=QUIET
    )
    assert labels.success
    config = load_effective_config(str(config_file))
    entry = read_parquet(storage_path(store, "entry_labels", RUN, SYMBOL))
    assert set(entry["price_plan_hash"]) == {config.price_plan_hash}
    manifest = next(
        e.event_specific_data.materialization.metadata
        for e in labels.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.to_user_string() == "entry_labels"
    )
    assert manifest["price_plan_hash"].value == config.price_plan_hash
