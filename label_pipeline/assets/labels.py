"""The label assets, one per artifact of the reference, partitioned by (run_id, symbol)."""

import json

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, MetadataValue, Output, asset, multi_asset

from label_pipeline import dagster_types as types
from label_pipeline.config import LABEL_VERSION
from label_pipeline.labels.columns import TARGET_COLUMN
from label_pipeline.labels.continue_exit_risk import build_continue_exit_risk_labels
from label_pipeline.labels.direction import build_direction_labels
from label_pipeline.labels.entry import build_entry_labels
from label_pipeline.labels.path_stats_frame import compute_for_replay
from label_pipeline.labels.position import build_position_state_samples
from label_pipeline.labels.price_plan import plan_from_frame, price_plan_frame
from label_pipeline.labels.price_plan import price_plan_context as build_plan
from label_pipeline.labels.reports import continue_exit_risk_report, distribution_report
from label_pipeline.manifest import label_output, versioned_output
from label_pipeline.partitions import plan_to_label_mapping, run_partitions, run_symbol_partitions
from label_pipeline.resources import LabelConfig, PathStatsKernel

# Bump when a label's meaning or computation changes: Dagster then marks every partition stale.
LABEL_CODE_VERSION = f"{LABEL_VERSION}/1"
GROUP = "labels"
_PLAN_IN = AssetIn("price_plan_context", partition_mapping=plan_to_label_mapping)


@asset(
    partitions_def=run_partitions,
    dagster_type=types.PricePlanContextFrame,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
)
def price_plan_context(label_config: LabelConfig) -> Output:
    """The run's price plan: barriers, holding time, costs and the plan hash entry labels carry."""
    config = label_config.effective()
    context_json = build_plan(config)
    return versioned_output(
        price_plan_frame(context_json),
        {
            "label_version": LABEL_VERSION,
            "config_hash": config.config_hash,
            "price_plan_hash": config.price_plan_hash,
            "price_plan_context": MetadataValue.json(json.loads(json.dumps(context_json))),
            "effective_config": MetadataValue.json(json.loads(json.dumps(config.as_dict()))),
        },
    )


@asset(
    partitions_def=run_symbol_partitions,
    dagster_type=types.DirectionLabels,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
)
def direction_labels(
    feature_frame: pd.DataFrame, replay_1m: pd.DataFrame, label_config: LabelConfig
) -> Output:
    """LONG / SHORT / NEUTRAL by the close-to-close return over the direction horizon."""
    config = label_config.effective()
    frame = build_direction_labels(feature_frame, replay_1m, config.label["direction"])
    column = TARGET_COLUMN["direction_labels"]
    return label_output(
        frame, target_column=column, report_md=distribution_report(frame, column), config=config
    )


@asset(
    partitions_def=run_symbol_partitions,
    ins={"price_plan_context": _PLAN_IN},
    dagster_type=types.EntryLabels,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
)
def entry_labels(
    feature_frame: pd.DataFrame,
    replay_1m: pd.DataFrame,
    price_plan_context: pd.DataFrame,
    label_config: LabelConfig,
    path_stats: PathStatsKernel,
) -> Output:
    """Target/stop first hit, MFE/MAE and the MAX_FUTURE_EDGE_V1 entry target, both sides."""
    config = label_config.effective()
    entry_conf = config.label["entry"]
    stats = compute_for_replay(
        path_stats.compute,
        replay_1m,
        int(entry_conf["max_hold_minutes"]),
        float(entry_conf["target_bps"]),
        float(entry_conf["stop_bps"]),
    )
    frame = build_entry_labels(
        feature_frame, replay_1m, stats, entry_conf, config.cost_bps, plan_from_frame(price_plan_context)
    )
    column = TARGET_COLUMN["entry_labels"]
    return label_output(
        frame, target_column=column, report_md=distribution_report(frame, column), config=config
    )


@asset(
    partitions_def=run_symbol_partitions,
    dagster_type=types.PositionStateSamples,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
)
def position_state_samples(entry_labels: pd.DataFrame, label_config: LabelConfig) -> Output:
    """Entry rows with entry_target == 1, as positions of age 0."""
    config = label_config.effective()
    frame = build_position_state_samples(entry_labels)
    column = TARGET_COLUMN["position_state_samples"]
    return label_output(
        frame, target_column=column, report_md=distribution_report(frame, column), config=config
    )


@multi_asset(
    partitions_def=run_symbol_partitions,
    ins={
        "feature_frame": AssetIn("feature_frame"),
        "replay_1m": AssetIn("replay_1m"),
        "price_plan_context": _PLAN_IN,
    },
    outs={
        "continue_labels": AssetOut(
            dagster_type=types.ContinueLabels,
            io_manager_key="label_store",
            code_version=LABEL_CODE_VERSION,
            group_name=GROUP,
            kinds={"parquet", "pandas"},
        ),
        "exit_labels": AssetOut(
            dagster_type=types.ExitLabels,
            io_manager_key="label_store",
            code_version=LABEL_CODE_VERSION,
            group_name=GROUP,
            kinds={"parquet", "pandas"},
        ),
        "risk_labels": AssetOut(
            dagster_type=types.RiskLabels,
            io_manager_key="label_store",
            code_version=LABEL_CODE_VERSION,
            group_name=GROUP,
            kinds={"parquet", "pandas"},
        ),
    },
)
def continue_exit_risk_labels(
    context: AssetExecutionContext,
    feature_frame: pd.DataFrame,
    replay_1m: pd.DataFrame,
    price_plan_context: pd.DataFrame,
    label_config: LabelConfig,
    path_stats: PathStatsKernel,
):
    """Continue, exit and risk labels from one computation of the path stats at the continue horizon."""
    config = label_config.effective()
    plan = plan_from_frame(price_plan_context)
    stats = compute_for_replay(
        path_stats.compute,
        replay_1m,
        int(config.label["continue"]["horizon_minutes"]),
        float(plan["targetDistanceBps"]),
        float(plan["stopDistanceBps"]),
    )
    frames = build_continue_exit_risk_labels(
        feature_frame, replay_1m, stats, config.label, config.cost_bps, plan
    )
    named = [
        (name, frame, TARGET_COLUMN[f"{name}_labels"])
        for name, frame in zip(("continue", "exit", "risk"), frames, strict=True)
    ]
    report = continue_exit_risk_report(named)
    for name, frame, column in named:
        yield label_output(
            frame, target_column=column, report_md=report, config=config, output_name=f"{name}_labels"
        )
