"""Bad input through real Dagster materializations: one test per row of the README's "Bad input"
table. Each failing case starts from a store holding good outputs, breaks one thing, materializes
again, and asserts that the error names the problem and that every stored file is byte-identical
(nothing is written, removed or left half-written, and nothing appears outside the store).

The good store is materialized once per module (the price plan and three symbols: a normal one, one
with fewer bars than every horizon, one whose name is full of path characters); each test copies
it. Pure-function coverage of every column and config key is in ``test_bad_input_units.py``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import PartitionOutcome, materialize_run
from label_pipeline.demo.sample_data import CLEAN, make_run_frames, write_run
from label_pipeline.hashing import content_hash
from label_pipeline.inputs import FEATURE_RELPATH, REPLAY_RELPATH
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline.keys import PartitionKeyError
from label_pipeline.partitions import RUN_DIM, SYMBOL_DIM, partition_key, register_partitions
from label_pipeline.storage import read_parquet, storage_path, stored_file_metadata
from label_pipeline_tests.harness.common import LABEL_ASSETS, QUIET, kept_instance

RUN = "r1"
GOOD = "AAA"
TINY = "TINY"  # 10 bars: fewer than every default horizon
PATHY = "../../a\\b/.c"  # a symbol made of path syntax: stored encoded, inside the store


def _good_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    parts = [
        make_run_frames([GOOD], 120, seed=3, messiness=CLEAN),
        make_run_frames([TINY], 10, seed=4, messiness=CLEAN),
        make_run_frames([PATHY], 60, seed=5, messiness=CLEAN),
    ]
    feature = pd.concat([f for f, _ in parts], ignore_index=True)
    replay = pd.concat([r for _, r in parts], ignore_index=True)
    feature["close"] = -1.0  # an extra column named like a price: never read, cannot collide
    return feature, replay


def _snapshot(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@dataclass
class Baseline:
    root: Path
    instance: DagsterInstance
    snapshot: dict[str, bytes]
    outcomes: dict[str, PartitionOutcome]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    feature, replay = _good_frames()
    write_run(root / "runs", RUN, feature, replay)
    defs = build_definitions(str(root / "runs"), str(root / "store"))
    with kept_instance() as instance:
        outcomes = materialize_run(defs, instance, RUN, [GOOD, TINY, PATHY])
        assert all(o.success for o in outcomes), outcomes
        by_symbol = {o.partition_key.split("|", 1)[1]: o for o in outcomes if "|" in o.partition_key}
        yield Baseline(root, instance, _snapshot(root / "store"), by_symbol)


def _copy(baseline: Baseline, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(baseline.root / "runs", tmp_path / "runs")
    shutil.copytree(baseline.root / "store", tmp_path / "store")
    return tmp_path / "runs", tmp_path / "store"


def _materialize(
    baseline: Baseline,
    tmp_path: Path,
    run_id: str = RUN,
    symbol: str = GOOD,
    label_config: Path | None = None,
    cost_config: Path | None = None,
    job: str = "label_job",
):
    defs = build_definitions(
        str(tmp_path / "runs"),
        str(tmp_path / "store"),
        str(label_config) if label_config else None,
        str(cost_config) if cost_config else None,
    )
    key = run_id if job == "price_plan_job" else partition_key(run_id, symbol)
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=key, instance=baseline.instance, raise_on_error=False, run_config=QUIET
    )


def _error_text(result) -> str:
    """Every step failure's message and causes, as the UI shows them."""
    parts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error is not None:
                parts.append(error.message)
                error = error.cause
    return "\n".join(parts)


def _fails_and_keeps_outputs(baseline: Baseline, tmp_path: Path, result, *phrases: str) -> str:
    """The run failed, its error names every phrase, and the store is byte-identical to before."""
    assert not result.success
    text = _error_text(result)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    assert _snapshot(tmp_path / "store") == baseline.snapshot
    assert {p.name for p in tmp_path.iterdir()} <= {"runs", "store", "cfg"}
    return text


def _break_run(
    tmp_path: Path, feature: pd.DataFrame | None = None, replay: pd.DataFrame | None = None
) -> None:
    """Rewrite the run's input files (only the ones given) in place."""
    good_f, good_r = _good_frames()
    write_run(
        tmp_path / "runs", RUN, good_f if feature is None else feature, good_r if replay is None else replay
    )


def _rows(frame: pd.DataFrame, symbol: str = GOOD) -> pd.Index:
    return frame.index[frame["symbol"] == symbol]


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------


def test_missing_run_directory(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    register_partitions(baseline.instance, "nope", [GOOD])
    result = _materialize(baseline, tmp_path, run_id="nope")
    _fails_and_keeps_outputs(baseline, tmp_path, result, "run 'nope'", "run directory", "does not exist")


def test_missing_input_file(baseline, tmp_path) -> None:
    runs, _ = _copy(baseline, tmp_path)
    shutil.rmtree(runs / RUN / REPLAY_RELPATH[0])
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(baseline, tmp_path, result, "replay file", "replay_1m.parquet does not exist")


@pytest.mark.parametrize("damage", ["not_parquet", "truncated", "empty"])
def test_unreadable_input_file(baseline, tmp_path, damage: str) -> None:
    runs, _ = _copy(baseline, tmp_path)
    path = runs / RUN / Path(*FEATURE_RELPATH)
    good = path.read_bytes()
    path.write_bytes(
        {"not_parquet": b"sample_id,symbol\n1,AAA\n", "truncated": good[: len(good) // 2], "empty": b""}[
            damage
        ]
    )
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline, tmp_path, result, "feature file", "is not a readable parquet file", "Rewrite it"
    )


# ---------------------------------------------------------------------------------------------
# columns
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["feature", "replay"])
def test_missing_required_columns(baseline, tmp_path, which: str) -> None:
    _copy(baseline, tmp_path)
    feature, replay = _good_frames()
    if which == "feature":
        # the reference only needs these later (entry and continue labels), yet they are required up front
        dropped = ["data_quality_flag", "spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps"]
        _break_run(tmp_path, feature=feature.drop(columns=dropped))
    else:
        dropped = ["high", "spread_bps"]
        _break_run(tmp_path, replay=replay.drop(columns=dropped))
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline, tmp_path, result, f"{which} file", f"is missing required columns {dropped}", "symbol 'AAA'"
    )


@pytest.mark.parametrize("which", ["feature", "replay"])
def test_wrong_dtypes(baseline, tmp_path, which: str) -> None:
    _copy(baseline, tmp_path)
    feature, replay = _good_frames()
    if which == "replay":
        replay["close"] = replay["close"].map(repr)  # prices as strings
        replay["event_time"] = replay["open_time_ms"] / 1000.0  # times as float seconds
        _break_run(tmp_path, replay=replay)
        phrases = [
            "column 'close' has dtype object",
            "must be numeric",
            "column 'event_time' has dtype float64",
        ]
    else:
        feature["open_time_ms"] = feature["open_time_ms"].astype("float64")
        feature["realized_vol_15m_bps"] = feature["realized_vol_15m_bps"].astype(str)
        _break_run(tmp_path, feature=feature)
        phrases = [
            "column 'open_time_ms' has dtype float64",
            "must be int64",
            "column 'realized_vol_15m_bps'",
        ]
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(baseline, tmp_path, result, f"{which} file", "Nothing is converted", *phrases)


def test_missing_key_values(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    feature, replay = _good_frames()
    feature.loc[_rows(feature)[3], "sample_id"] = None
    replay.loc[_rows(replay)[5], "event_time"] = pd.NaT
    _break_run(tmp_path, feature, replay)
    result = _materialize(baseline, tmp_path)
    t5 = int(replay.loc[_rows(replay)[5], "open_time_ms"])
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "column 'sample_id' is missing in 1 feature row",
        f"column 'event_time' is missing (NaT) in 1 bar: open_time_ms={t5}",
    )


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------


def test_duplicate_bars(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    _, replay = _good_frames()
    dup = replay.loc[_rows(replay)[[7, 8]]]
    _break_run(tmp_path, replay=pd.concat([replay, dup], ignore_index=True))
    result = _materialize(baseline, tmp_path)
    times = dup["open_time_ms"].tolist()
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "replay file",
        "column 'open_time_ms': 2 bar times appear more than once (4 rows in all)",
        f"{times[0]} (2 rows)",
        "keep one bar per minute",
    )


def test_duplicate_feature_rows(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    feature, _ = _good_frames()
    rows = _rows(feature)
    same_id = feature.loc[[rows[10]]].assign(
        open_time_ms=feature.loc[rows[11], "open_time_ms"] + 10_000 * 60_000
    )
    same_id["event_time"] = pd.to_datetime(same_id["open_time_ms"], unit="ms", utc=True)
    same_time = feature.loc[[rows[20]]].assign(sample_id="another-id")
    _break_run(tmp_path, feature=pd.concat([feature, same_id, same_time], ignore_index=True))
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "feature file",
        f"column 'sample_id': 1 sample ids appear more than once (2 rows in all): '{feature.loc[rows[10], 'sample_id']}'",
        f"column 'open_time_ms': 1 bar times appear more than once (2 rows in all): {feature.loc[rows[20], 'open_time_ms']}",
    )


def test_open_time_not_on_a_minute(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    _, replay = _good_frames()
    row = _rows(replay)[30]
    replay.loc[row, "open_time_ms"] += 1_000
    replay.loc[row, "event_time"] += pd.Timedelta(seconds=1)
    _break_run(tmp_path, replay=replay)
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "column 'open_time_ms' is not on a minute boundary",
        f"open_time_ms={replay.loc[row, 'open_time_ms']}",
    )


def test_event_time_disagrees_with_open_time(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    feature, replay = _good_frames()
    feature.loc[_rows(feature)[4], "event_time"] += pd.Timedelta(hours=1)  # a time zone slip
    replay.loc[_rows(replay)[6], "event_time"] += pd.Timedelta(minutes=1)
    _break_run(tmp_path, feature, replay)
    result = _materialize(baseline, tmp_path)
    text = _fails_and_keeps_outputs(
        baseline, tmp_path, result, "column 'event_time' disagrees with 'open_time_ms'"
    )
    assert "feature file" in text and "replay file" in text


def test_non_positive_prices(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    _, replay = _good_frames()
    rows = _rows(replay)
    replay.loc[rows[9], ["open", "close"]] = 0.0
    replay.loc[rows[12], "low"] = -1.0
    _break_run(tmp_path, replay=replay)
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "column 'close' is zero or negative in 1 bar",
        "column 'low' is zero or negative in 1 bar",
        "low=-1.0",
        "prices must be > 0",
    )


def test_high_below_low(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    _, replay = _good_frames()
    rows = _rows(replay)[[14, 15]]
    replay.loc[rows, ["high", "low"]] = replay.loc[rows, ["low", "high"]].to_numpy()  # swapped columns
    _break_run(tmp_path, replay=replay)
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline, tmp_path, result, "column 'high' is below column 'low' in 2 bars", "swapped"
    )


def test_close_outside_the_bar_range(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    _, replay = _good_frames()
    row = _rows(replay)[40]
    replay.loc[row, "close"] = replay.loc[row, "high"] * 1.01
    _break_run(tmp_path, replay=replay)
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(baseline, tmp_path, result, "column 'close' is outside [low, high] in 1 bar")


def test_infinite_values(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    feature, replay = _good_frames()
    replay.loc[_rows(replay)[50], "high"] = np.inf
    feature.loc[_rows(feature)[51], "realized_vol_15m_bps"] = -np.inf
    _break_run(tmp_path, feature, replay)
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "column 'high' is infinite in 1 bar",
        "column 'realized_vol_15m_bps' is infinite in 1 feature row",
        "use NaN for a missing value",
    )


def test_negative_spreads(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    feature, replay = _good_frames()
    replay.loc[_rows(replay)[60], "spread_bps"] = -0.5
    feature.loc[_rows(feature)[61], "spread_bps"] = -0.25
    _break_run(tmp_path, feature, replay)
    result = _materialize(baseline, tmp_path)
    text = _fails_and_keeps_outputs(
        baseline, tmp_path, result, "column 'spread_bps' is negative", "spread_bps=-0.5"
    )
    assert "spread_bps=-0.25" in text


def test_feature_values_out_of_range(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    feature, _ = _good_frames()
    rows = _rows(feature)
    feature.loc[rows[:5], "spread_rank_24h_pct"] *= 100.0  # percent instead of a fraction
    feature.loc[rows[70], "realized_vol_15m_bps"] = -3.0
    _break_run(tmp_path, feature=feature)
    result = _materialize(baseline, tmp_path)
    _fails_and_keeps_outputs(
        baseline,
        tmp_path,
        result,
        "column 'spread_rank_24h_pct' is outside [0, 1]",
        "divide by 100",
        "column 'realized_vol_15m_bps' is negative in 1 feature row",
    )


# ---------------------------------------------------------------------------------------------
# symbols
# ---------------------------------------------------------------------------------------------


def test_symbol_without_rows(baseline, tmp_path) -> None:
    _copy(baseline, tmp_path)
    register_partitions(baseline.instance, RUN, ["ZZZ"])
    result = _materialize(baseline, tmp_path, symbol="ZZZ")
    text = _fails_and_keeps_outputs(
        baseline, tmp_path, result, "symbol 'ZZZ' has no rows", "Remove the partition"
    )
    assert repr(sorted([GOOD, TINY, PATHY])) in text


def test_symbol_shorter_than_the_horizon_gives_empty_labels(baseline) -> None:
    outcome = baseline.outcomes[TINY]
    assert outcome.success
    assert outcome.metadata["replay_1m"]["dagster/row_count"] == 10
    for name in LABEL_ASSETS:
        meta = outcome.metadata[name]
        assert meta["dagster/row_count"] == 0, name
        stored = read_parquet(storage_path(baseline.root / "store", name, RUN, TINY))
        assert len(stored) == 0 and meta["content_hash"] == content_hash(stored)
    assert "- row_count: 0" in outcome.metadata["entry_labels"]["label_report"]
    assert "## continue\n\n{}" in outcome.metadata["continue_labels"]["label_report"]


def test_extra_columns_are_ignored(baseline) -> None:
    """The feature file has a column named 'close' (and the replay file a 'volume'): neither is read."""
    feature_file = pd.read_parquet(baseline.root / "runs" / RUN / Path(*FEATURE_RELPATH))
    assert "close" in feature_file.columns
    stored = read_parquet(storage_path(baseline.root / "store", "feature_frame", RUN, GOOD))
    assert "close" not in stored.columns
    assert "volume" not in read_parquet(storage_path(baseline.root / "store", "replay_1m", RUN, GOOD)).columns
    assert baseline.outcomes[GOOD].metadata["entry_labels"]["dagster/row_count"] > 0


# ---------------------------------------------------------------------------------------------
# partition keys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id, symbol, reason",
    [
        (RUN, "a|b", "pipe"),
        (RUN, "a,b", "comma"),
        (RUN, "a\x00b", "NUL"),
        (RUN, "a\tb", "tab"),
        (RUN, "", "empty"),
        (RUN, " AAA", "white space"),
        (RUN, "x" * 201, "limit is 200"),
        (RUN, "/" * 80, "encodes to a 240-character file name"),
        (RUN, "..", "relative path name"),
        ("..", GOOD, "relative path name"),
        ("a/b", GOOD, "slash"),
        ("a\\b", GOOD, "backslash"),
    ],
)
def test_unsafe_keys_are_refused_at_registration(baseline, run_id: str, symbol: str, reason: str) -> None:
    with pytest.raises(PartitionKeyError, match=reason):
        register_partitions(baseline.instance, run_id, [symbol])


@pytest.mark.parametrize("dimension", [RUN_DIM, SYMBOL_DIM])
def test_unsafe_key_added_behind_registrations_back_fails_the_materialization(
    baseline, tmp_path, dimension
) -> None:
    """The UI can add a dynamic partition without ``register_partitions``: the input assets check again."""
    _copy(baseline, tmp_path)
    run_id, symbol = ("..", GOOD) if dimension == RUN_DIM else (RUN, "..")
    baseline.instance.add_dynamic_partitions(dimension, [".."])
    result = _materialize(baseline, tmp_path, run_id=run_id, symbol=symbol)
    _fails_and_keeps_outputs(baseline, tmp_path, result, f"{dimension} key '..' is a relative path name")


def test_path_characters_in_a_symbol_are_encoded_inside_the_store(baseline) -> None:
    """``../../a\\b/.c`` is a valid symbol: every file lands one level down in the store, named by the
    reversible encoding, and nothing is written anywhere else."""
    root = baseline.root
    assert sorted(p.name for p in root.iterdir()) == ["runs", "store"]
    store = (root / "store").resolve()
    files = [p for p in store.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(store) and not p.is_symlink() for p in files)
    pathy = [p for p in files if unquote(p.parent.name) == RUN and unquote(p.stem) == PATHY]
    assert sorted(p.parent.parent.name for p in pathy) == sorted(k.path[-1] for k in LABEL_JOB_ASSETS)
    assert {p.name for p in pathy} == {"%2E.%2F..%2Fa%5Cb%2F.c.parquet"}  # a leading dot is encoded too
    assert not any(p.name.startswith(".") for p in files)  # no hidden file: not one key, no temp debris
    loaded = read_parquet(storage_path(root / "store", "entry_labels", RUN, PATHY))
    assert set(loaded["symbol"]) <= {PATHY} and len(loaded) > 0


# ---------------------------------------------------------------------------------------------
# configs (the price plan job: it loads and validates the whole effective config)
# ---------------------------------------------------------------------------------------------


def _config(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / "cfg").mkdir(exist_ok=True)
    path = tmp_path / "cfg" / name
    path.write_text(text)
    return path


CONFIG_CASES = {
    "malformed_json": ("label", '{"entry": {"target_bps": 15,}}', ["is not valid JSON"]),
    "unknown_keys": (
        "label",
        json.dumps({"entry": {"target_bsp": 15}, "exits": {}}),
        ["unknown key 'target_bsp' in section 'entry' (did you mean 'target_bps'?)", "unknown key 'exits'"],
    ),
    "wrong_types": (
        "cost",
        json.dumps({"fee_bps": "4", "slippage_bps": None, "funding_cost_bps": True}),
        [
            "fee_bps must be a finite number, got str '4'",
            "slippage_bps",
            "funding_cost_bps must be a finite number, got bool",
        ],
    ),
    "non_positive": (
        "label",
        json.dumps(
            {"direction": {"horizon_minutes": 0}, "entry": {"stop_bps": -8.0, "max_hold_minutes": 2.5}}
        ),
        [
            "direction.horizon_minutes must be a whole number > 0, got 0",
            "entry.stop_bps must be a number > 0, got -8.0",
            "entry.max_hold_minutes must be a whole number > 0, got 2.5 (a fraction would be truncated)",
        ],
    ),
    "thresholds_in_wrong_order": (
        "label",
        json.dumps({"direction": {"long_threshold_bps": -5.0, "short_threshold_bps": 5.0}}),
        ["direction.short_threshold_bps (5.0) must be below direction.long_threshold_bps (-5.0)"],
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config(baseline, tmp_path, case: str) -> None:
    _copy(baseline, tmp_path)
    which, text, phrases = CONFIG_CASES[case]
    path = _config(tmp_path, f"{which}.json", text)
    kwargs = {"label_config": path} if which == "label" else {"cost_config": path}
    result = _materialize(baseline, tmp_path, job="price_plan_job", **kwargs)
    _fails_and_keeps_outputs(baseline, tmp_path, result, str(path), *phrases)


def test_stored_files_carry_the_metadata_of_their_materialization(baseline) -> None:
    """Every stored label file's footer holds the content hash and row count Dagster recorded."""
    meta = baseline.outcomes[GOOD].metadata
    for name in ["feature_frame", "replay_1m", *LABEL_ASSETS]:
        path = storage_path(baseline.root / "store", name, RUN, GOOD)
        stored = stored_file_metadata(path)
        assert (
            stored["label_pipeline.content_hash"]
            == meta[name]["content_hash"]
            == content_hash(read_parquet(path))
        )
        assert int(stored["label_pipeline.row_count"]) == meta[name]["dagster/row_count"]
        assert meta[name]["storage_path"] == str(path)
