"""Run discovery and scheduled backfills end to end, against a real instance.

Ticks are evaluated with ``build_sensor_context`` / ``build_schedule_context``; their results are
applied as the daemon applies them (asset events, then dynamic partitions) and the requested runs
are executed for real, in process. The story: a half-written run is ignored, the complete run is
registered and labelled for every symbol, a second tick does nothing, editing one symbol's bars
makes exactly that partition stale (in Dagster's own stale status) and the schedule's next tick
requests exactly it, whose rerun touches no other file; a config change makes the price plan and
every partition stale, and the labels follow the new plan.
"""

from __future__ import annotations

import json

from dagster import (
    AssetKey,
    DagsterInstance,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)

from label_pipeline.automation.sensors import SENSOR_NAME
from label_pipeline.automation.work import STALE, WorkFinder
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.inputs import FEATURE_RELPATH
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.partitions import partition_key
from label_pipeline_tests.harness.daemon import apply_sensor_result, execute_run_requests

RUN = "r1"
SYMBOLS = ["AAA", "BBB/USDT"]
LABELS = [
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
]


# `instance`: conftest's (the kept-connection SQLite instance label-pipeline makes)


class Ticker:
    """Evaluate the sensor and the schedules of ``defs`` as the daemon would, then run the requests."""

    def __init__(self, defs, instance: DagsterInstance):
        self.defs, self.instance, self.cursor = defs, instance, None
        self.resources = {"runs_root": defs.resources["runs_root"]}

    def sensor(self, execute: bool = True):
        sensor = self.defs.resolve_sensor_def(SENSOR_NAME)
        with build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs, resources=self.resources
        ) as context:
            result = sensor(context)
        apply_sensor_result(self.instance, result)
        self.cursor = result.cursor
        if execute:
            outcomes = execute_run_requests(self.defs, self.instance, result.run_requests)
            assert all(o.success for o in outcomes)
        return result

    def schedule(self, name: str):
        schedule = self.defs.resolve_schedule_def(name)
        with build_schedule_context(
            instance=self.instance, repository_def=self.defs.get_repository_def(), resources=self.resources
        ) as context:
            result = schedule(context)
        return [] if isinstance(result, SkipReason) else list(result)


def _frames():
    return make_run_frames(SYMBOLS, 150, seed=11, messiness=CLEAN)


def _materialized(instance: DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(asset)))


def test_new_run_is_labelled_then_exactly_what_changed_is_requested(tmp_path, instance) -> None:
    runs, store = tmp_path / "runs", tmp_path / "store"
    defs = build_definitions(str(runs), str(store))
    tick = Ticker(defs, instance)
    feature, replay = _frames()

    # nothing yet, then a half-written run (feature file only): nothing happens
    assert not tick.sensor().run_requests
    (runs / RUN).joinpath(*FEATURE_RELPATH).parent.mkdir(parents=True)
    feature.to_parquet((runs / RUN).joinpath(*FEATURE_RELPATH))
    first = tick.sensor()
    assert not first.run_requests and not first.dynamic_partitions_requests
    assert instance.get_dynamic_partitions("run_id") == []

    # the run is complete: registered, observed, its price plan requested, then its labels
    write_run(runs, RUN, feature, replay)
    registered = tick.sensor()
    assert [(r.job_name, r.partition_key) for r in registered.run_requests] == [("price_plan_job", RUN)]
    assert instance.get_dynamic_partitions("run_id") == [RUN]
    assert sorted(instance.get_dynamic_partitions("symbol")) == sorted(SYMBOLS)
    assert {e.asset_key.to_user_string() for e in registered.asset_events} == {"feature_file", "replay_file"}
    labelled = tick.sensor()
    keys = {partition_key(RUN, s) for s in SYMBOLS}
    assert {(r.job_name, r.partition_key) for r in labelled.run_requests} == {("label_job", k) for k in keys}
    for asset in LABELS:
        assert _materialized(instance, asset) == keys, asset
    assert (store / "entry_labels" / RUN / "BBB%2FUSDT.parquet").is_file()

    # idempotent: nothing new, nothing requested; the schedules find nothing to do
    assert not tick.sensor().run_requests
    assert tick.schedule("label_backfill_schedule") == []
    assert tick.schedule("price_plan_backfill_schedule") == []

    # one symbol's bars are fixed: exactly that partition turns stale, in Dagster's own status
    edited = replay.copy()
    rows = edited["symbol"] == "AAA"
    prices = ["open", "high", "low", "close"]
    edited.loc[rows, prices] = edited.loc[rows, prices] * 1.0005
    write_run(runs, RUN, feature, edited)
    requests = tick.schedule("label_backfill_schedule")
    assert [(r.partition_key, r.tags["label_pipeline/reason"]) for r in requests] == [
        (partition_key(RUN, "AAA"), STALE)
    ]
    finder = WorkFinder(instance, defs.resolve_asset_graph())
    assert finder.labels(RUN, SYMBOLS) == {partition_key(RUN, "AAA"): STALE}
    assert tick.schedule("price_plan_backfill_schedule") == []

    # the rerun touches AAA's files only, and leaves nothing stale
    other = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob("BBB%2FUSDT.parquet")}
    assert len(other) == len(LABEL_JOB_ASSETS)
    assert all(o.success for o in execute_run_requests(defs, instance, requests, default_job="label_job"))
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob("BBB%2FUSDT.parquet")} == other
    assert tick.schedule("label_backfill_schedule") == []

    # the label config changes (a new code location load): the plan and every partition are stale;
    # the plan schedule requests the plan, the label schedule waits for it, the sensor follows it
    override = tmp_path / "label.json"
    override.write_text(json.dumps({"entry": {"target_bps": 15}}))
    changed = build_definitions(str(runs), str(store), label_config_path=str(override))
    tick.defs = changed
    finder = WorkFinder(instance, changed.resolve_asset_graph())
    assert finder.plan(RUN) == STALE
    assert finder.labels(RUN, SYMBOLS) == {partition_key(RUN, s): STALE for s in SYMBOLS}
    plan_requests = tick.schedule("price_plan_backfill_schedule")
    assert [r.partition_key for r in plan_requests] == [RUN]
    assert tick.schedule("label_backfill_schedule") == []
    assert all(o.success for o in execute_run_requests(changed, instance, plan_requests, "price_plan_job"))
    follow = tick.sensor(execute=False)
    assert sorted(r.partition_key for r in follow.run_requests) == sorted(keys)
    assert not tick.sensor(execute=False).run_requests  # once per plan materialization


def test_one_bad_symbol_does_not_hold_up_its_run(tmp_path, instance) -> None:
    """A symbol that cannot be a partition key is refused alone: the run and its other symbols are
    registered and labelled, and the tick's log names the refused one and why."""
    feature, replay = make_run_frames(["AAA", "B" * 300], 150, seed=11, messiness=CLEAN)
    write_run(tmp_path / "runs", RUN, feature, replay)
    defs = build_definitions(str(tmp_path / "runs"), str(tmp_path / "store"))
    ticker = Ticker(defs, instance)
    ticker.sensor()  # registers, observes, requests the plan
    assert instance.get_dynamic_partitions("symbol") == ["AAA"]
    state = json.loads(ticker.cursor)["runs"][RUN]
    assert state["symbols"] == ["AAA"] and "B" * 300 in state["refused"]
    assert "300 characters long" in state["refused"]["B" * 300]
    ticker.sensor()  # the plan is materialized: its labels follow
    assert _materialized(instance, "entry_labels") == {partition_key(RUN, "AAA")}


def test_a_run_lost_to_the_infrastructure_does_not_stop_the_schedule(tmp_path, instance) -> None:
    """A partition that failed on its inputs is not requested again; a later run of it that never
    started (run monitoring's start timeout, as after a daemon restart) says nothing about inputs or
    code, so the next tick requests the partition again (deploy/README.md, "When something dies")."""
    from dagster import DagsterRunStatus
    from dagster._core.events import JobFailureData, RunFailureReason

    from label_pipeline.automation.status import run_status

    feature, replay = _frames()
    bad = replay["symbol"] == "AAA"
    replay.loc[bad[bad].index[:3], "high"] = -1.0
    write_run(tmp_path / "runs", RUN, feature, replay)
    defs = build_definitions(str(tmp_path / "runs"), str(tmp_path / "store"))
    ticker = Ticker(defs, instance)
    key = str(partition_key(RUN, "AAA"))
    assert all(o.success for o in execute_run_requests(defs, instance, ticker.sensor(execute=False).run_requests))
    first = ticker.schedule("label_backfill_schedule")
    execute_run_requests(defs, instance, first, default_job="label_job", raise_on_error=False)
    assert ticker.schedule("label_backfill_schedule") == []  # failed in its step, same attempt
    request = next(r for r in first if str(r.partition_key) == key)
    lost = instance.create_run_for_job(  # a run of an asset backfill (deploy/run.sh backfill): a one-key range
        defs.resolve_job_def("label_job"),
        status=DagsterRunStatus.STARTING,
        tags={
            **request.tags,
            "dagster/asset_partition_range_start": key,
            "dagster/asset_partition_range_end": key,
        },
    )
    instance.report_run_failed(  # what run monitoring records for a run that never started
        lost, "timed out", JobFailureData(error=None, failure_reason=RunFailureReason.START_TIMEOUT)
    )
    assert [str(r.partition_key) for r in ticker.schedule("label_backfill_schedule")] == [key]
    status = run_status(instance, defs.resolve_asset_graph(), RUN, SYMBOLS).symbols["AAA"]
    assert (status.state, status.dagster_run_id) == ("failed", lost.run_id), status
    assert "not retried" not in status.reason


def test_a_partition_that_failed_on_its_inputs_is_not_retried_until_they_change(tmp_path, instance) -> None:
    """The schedule stops requesting a partition that failed on the same inputs and code, and asks
    again once an input file changes (its new observation is a new attempt)."""
    feature, replay = _frames()
    bad = replay["symbol"] == "AAA"
    replay.loc[bad[bad].index[:3], "high"] = -1.0  # AAA's bars are refused; BBB's are fine
    write_run(tmp_path / "runs", RUN, feature, replay)
    defs = build_definitions(str(tmp_path / "runs"), str(tmp_path / "store"))
    ticker = Ticker(defs, instance)
    key = str(partition_key(RUN, "AAA"))
    plan = ticker.sensor(execute=False).run_requests  # registers the run, requests its price plan
    assert all(o.success for o in execute_run_requests(defs, instance, plan))
    first = ticker.schedule("label_backfill_schedule")
    assert key in {str(r.partition_key) for r in first}
    execute_run_requests(defs, instance, first, default_job="label_job", raise_on_error=False)
    assert WorkFinder(instance, defs.resolve_asset_graph()).labels(RUN, SYMBOLS) == {key: "failed"}
    assert ticker.schedule("label_backfill_schedule") == []  # same inputs, same code: not again
    replay.loc[bad[bad].index[:3], "high"] = replay.loc[bad[bad].index[:3], "close"] + 1.0
    write_run(tmp_path / "runs", RUN, feature, replay)  # the data is fixed
    again = ticker.schedule("label_backfill_schedule")
    assert [str(r.partition_key) for r in again] == [key]
    assert all(o.success for o in execute_run_requests(defs, instance, again, default_job="label_job"))
