"""The quality numbers each label partition records equal a direct pandas computation on the
stored labels and inputs (issue: see label quality at a glance)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from label_pipeline.config import load_effective_config
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run
from label_pipeline.demo.sample_data import REALISTIC, make_run_frames, write_run
from label_pipeline.storage import read_parquet, storage_path

RUN, SYMBOL = "r1", "AAA"


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    feature, replay = make_run_frames([SYMBOL], 2 * 1440, seed=3, messiness=REALISTIC)
    hours = (feature["open_time_ms"] - feature["open_time_ms"].min()) // 3_600_000
    feature["split_id"] = np.where(hours % 5 == 4, "valid", "train")
    write_run(root / "runs", RUN, feature, replay)
    from dagster import DagsterInstance

    from label_pipeline.settings import Settings

    settings = Settings.from_env({**os.environ, "LABEL_PIPELINE_CHARTS": "1"})  # the charts are tested here
    with DagsterInstance.ephemeral() as instance:
        defs = build_definitions(str(root / "runs"), str(root / "store"), settings=settings)
        outcomes = materialize_run(defs, instance, RUN, [SYMBOL])
    assert all(o.success for o in outcomes)
    meta = next(o for o in outcomes if o.partition_key == f"{RUN}|{SYMBOL}").metadata
    return root / "store", meta


def test_per_side_rates_times_and_excursions(materialized) -> None:
    store, meta = materialized
    entry = read_parquet(storage_path(store, "entry_labels", RUN, SYMBOL))
    m = meta["entry_labels"]
    for side, group in entry.groupby("side"):
        p = side.lower()
        assert m[f"{p}_target_rate"] == pytest.approx(group["target_hit"].mean(), abs=0, rel=1e-12)
        assert m[f"{p}_stop_rate"] == pytest.approx(group["stop_hit"].mean(), rel=1e-12)
        assert m[f"{p}_timeout_rate"] == pytest.approx(group["timeout_hit"].mean(), rel=1e-12)
        assert m[f"{p}_ambiguous_rate"] == pytest.approx(group["ambiguous_hit"].mean(), rel=1e-12)
        assert m[f"{p}_entry_target_rate"] == pytest.approx(group["entry_target"].mean(), rel=1e-12)
        for column, hit in (("time_to_target", "target_hit"), ("time_to_stop", "stop_hit")):
            won = group.loc[group[hit] == 1, f"{column}_ms"] / 60_000
            assert m[f"{p}_median_{column}_min"] == won.median()
        for column in ("mfe", "mae"):
            for q in (10, 50, 90):
                want = group[f"{column}_bps"].dropna().quantile(q / 100)
                assert m[f"{p}_{column}_p{q}_bps"] == pytest.approx(want, rel=1e-12)


def test_unlabelled_rows_and_their_causes(materialized) -> None:
    store, meta = materialized
    features = read_parquet(storage_path(store, "feature_frame", RUN, SYMBOL))
    bars = read_parquet(storage_path(store, "replay_1m", RUN, SYMBOL))
    config = load_effective_config()
    for artifact, horizon in (
        ("direction_labels", config.label["direction"]["horizon_minutes"]),
        ("entry_labels", config.label["entry"]["max_hold_minutes"]),
        ("continue_labels", config.label["continue"]["horizon_minutes"]),
        ("exit_labels", config.label["continue"]["horizon_minutes"]),
    ):
        labels = read_parquet(storage_path(store, artifact, RUN, SYMBOL))
        missing = ~features["sample_id"].isin(labels["sample_id"])
        m = meta[artifact]
        causes = m["unlabelled_by_cause"]
        assert sum(causes.values()) == int(missing.sum())
        assert causes["other"] == 0  # every unlabelled row has a named cause
        assert m["unlabelled_share"] == pytest.approx(missing.mean(), rel=1e-12)
        # one cause checked row by row: no bar for the feature row
        no_bar = missing & ~features["open_time_ms"].isin(bars["open_time_ms"])
        assert causes["no_bar"] == int(no_bar.sum())
        # and the tail: the exit bar would lie past the last bar
        if artifact == "direction_labels":
            tail = (
                missing
                & features["open_time_ms"].isin(bars["open_time_ms"])
                & (features["open_time_ms"] + horizon * 60_000 > bars["open_time_ms"].max())
            )
            assert causes["tail_shorter_than_horizon"] == int(tail.sum())


def test_class_balance_per_split_for_every_target(materialized) -> None:
    store, meta = materialized
    for artifact in ("direction_labels", "entry_labels", "continue_labels", "exit_labels", "risk_labels"):
        labels = read_parquet(storage_path(store, artifact, RUN, SYMBOL))
        balance = meta[artifact]["class_balance"]
        flags = [c for c in labels.columns if labels[c].dtype == "int8"]
        assert set(flags) <= set(balance), artifact
        for column in flags + (["direction_label"] if artifact == "direction_labels" else []):
            want = {
                str(split): {str(k): int(v) for k, v in g[column].value_counts().items()}
                for split, g in labels.groupby("split_id")
            }
            assert balance[column] == want, (artifact, column)
    assert "## Per side" in meta["entry_labels"]["quality_report"]


def test_the_charts_are_embedded_images(materialized) -> None:
    import base64
    import re
    from xml.etree import ElementTree

    _, meta = materialized
    for artifact, key in (("entry_labels", "quality_report"), ("price_plan_sweep", "net_edge_heatmap")):
        found = re.search(r"\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", meta[artifact][key])
        assert found, (artifact, key)
        svg = ElementTree.fromstring(base64.b64decode(found.group(1)))
        assert svg.tag == "{http://www.w3.org/2000/svg}svg", (artifact, key)
        assert svg.findall(".//{http://www.w3.org/2000/svg}polyline") or svg.findall(
            ".//{http://www.w3.org/2000/svg}rect[@class='cell']"
        ), (artifact, key)
