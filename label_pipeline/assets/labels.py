"""The label assets, one per artifact of the reference, partitioned by (run_id, symbol).

Each asset evaluates its data checks (``label_pipeline.checks``) in the step that materializes the
partition, on the frame already in memory: one partition's cost, and the result is recorded against
that partition. The checks are blocking, so a bad entry frame never reaches position samples.
"""

import json
import warnings
from collections.abc import Iterator, Sequence

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    DagsterType,
    MetadataValue,
    PartitionsDefinition,
    PreviewWarning,
    asset,
    multi_asset,
)

from label_pipeline import dagster_types as types
from label_pipeline.checks import CHECK_DESCRIPTIONS, check_label_frame, check_names
from label_pipeline.config import LABEL_VERSION, EffectiveConfig
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
LABEL_ASSET_NAMES = (
    "price_plan_context",
    "direction_labels",
    "entry_labels",
    "position_state_samples",
    "continue_labels",
    "exit_labels",
    "risk_labels",
)


def label_code_version(config_hash: str | None) -> str:
    """The code version of every label asset: the code's version plus the effective config's hash.

    The config (env vars and the JSON files they name) is part of what a label means, and every
    label manifest records its ``config_hash``; folding it into the code version makes Dagster mark
    every partition built with another config stale, in the UI and for the backfill schedule.
    ``None`` (the config does not load) gives a version of its own; materializations then fail
    with the config error.
    """
    return f"{LABEL_CODE_VERSION}+config.{config_hash[:16] if config_hash else 'invalid'}"


def with_config_code_version(assets_defs: Sequence[AssetsDefinition], config_hash: str | None) -> list:
    """``assets_defs`` with the label assets' code version set to ``label_code_version(config_hash)``."""
    version = label_code_version(config_hash)
    return [
        a.map_asset_specs(
            lambda spec: (
                spec.replace_attributes(code_version=version)
                if spec.key.to_user_string() in LABEL_ASSET_NAMES
                else spec
            )
        )
        if isinstance(a, AssetsDefinition)
        else a
        for a in assets_defs
    ]


CONTRACT_CHECK = "label_contract"


def _check_specs(asset_name: str, partitions_def: PartitionsDefinition) -> list[AssetCheckSpec]:
    """One blocking check per asset that evaluates every rule of ``label_pipeline.checks``.

    One Dagster check rather than one per rule: each check costs two event-log writes per partition
    (planned, evaluated), which on the SQLite instance cost more than labelling a day of bars. The
    result's metadata lists every rule with its verdict and problems.
    """
    rules = "\n".join(f"- {name}: {CHECK_DESCRIPTIONS[name]}" for name in check_names(asset_name))
    # Partitioned check specs (preview in 1.13) record each evaluation against its partition.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            AssetCheckSpec(
                CONTRACT_CHECK,
                asset=asset_name,
                description=f"The reference's contract for {asset_name}:\n{rules}",
                blocking=True,
                partitions_def=partitions_def,
            )
        ]


def _check_results(
    asset_name: str, frame: pd.DataFrame, config: EffectiveConfig, entry_labels: pd.DataFrame | None = None
) -> Iterator[AssetCheckResult]:
    outcomes = check_label_frame(
        asset_name,
        frame,
        max_hold_minutes=int(config.label["entry"]["max_hold_minutes"]),
        entry_labels=entry_labels,
    )
    failed = [o for o in outcomes if not o.passed]
    yield AssetCheckResult(
        asset_key=asset_name,
        check_name=CONTRACT_CHECK,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        description=("failed: " + ", ".join(o.name for o in failed)) if failed else "every rule holds",
        metadata={
            "failed_rules": [o.name for o in failed],
            "rules": MetadataValue.json({o.name: {"passed": o.passed, **o.metadata} for o in outcomes}),
        },
    )


@asset(
    partitions_def=run_partitions,
    dagster_type=types.PricePlanContextFrame,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
    check_specs=_check_specs("price_plan_context", run_partitions),
)
def price_plan_context(label_config: LabelConfig) -> Iterator:
    """The run's price plan: barriers, holding time, costs and the plan hash entry labels carry."""
    config = label_config.effective()
    context_json = build_plan(config)
    frame = price_plan_frame(context_json)
    yield versioned_output(
        frame,
        {
            "label_version": LABEL_VERSION,
            "config_hash": config.config_hash,
            "price_plan_hash": config.price_plan_hash,
            "price_plan_context": MetadataValue.json(json.loads(json.dumps(context_json))),
            "effective_config": MetadataValue.json(json.loads(json.dumps(config.as_dict()))),
        },
    )
    yield from _check_results("price_plan_context", frame, config)


@asset(
    partitions_def=run_symbol_partitions,
    dagster_type=types.DirectionLabels,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
    check_specs=_check_specs("direction_labels", run_symbol_partitions),
)
def direction_labels(
    feature_frame: pd.DataFrame, replay_1m: pd.DataFrame, label_config: LabelConfig
) -> Iterator:
    """LONG / SHORT / NEUTRAL by the close-to-close return over the direction horizon."""
    config = label_config.effective()
    frame = build_direction_labels(feature_frame, replay_1m, config.label["direction"])
    column = TARGET_COLUMN["direction_labels"]
    yield label_output(
        frame, target_column=column, report_md=distribution_report(frame, column), config=config
    )
    yield from _check_results("direction_labels", frame, config)


@asset(
    partitions_def=run_symbol_partitions,
    ins={"price_plan_context": _PLAN_IN},
    dagster_type=types.EntryLabels,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
    check_specs=_check_specs("entry_labels", run_symbol_partitions),
)
def entry_labels(
    feature_frame: pd.DataFrame,
    replay_1m: pd.DataFrame,
    price_plan_context: pd.DataFrame,
    label_config: LabelConfig,
    path_stats: PathStatsKernel,
) -> Iterator:
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
    yield label_output(
        frame, target_column=column, report_md=distribution_report(frame, column), config=config
    )
    yield from _check_results("entry_labels", frame, config)


@asset(
    partitions_def=run_symbol_partitions,
    dagster_type=types.PositionStateSamples,
    io_manager_key="label_store",
    code_version=LABEL_CODE_VERSION,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
    check_specs=_check_specs("position_state_samples", run_symbol_partitions),
)
def position_state_samples(entry_labels: pd.DataFrame, label_config: LabelConfig) -> Iterator:
    """Entry rows with entry_target == 1, as positions of age 0."""
    config = label_config.effective()
    frame = build_position_state_samples(entry_labels)
    column = TARGET_COLUMN["position_state_samples"]
    yield label_output(
        frame, target_column=column, report_md=distribution_report(frame, column), config=config
    )
    yield from _check_results("position_state_samples", frame, config, entry_labels=entry_labels)


def _label_out(dagster_type: DagsterType) -> AssetOut:
    """One output of the continue/exit/risk multi-asset, stored like every other label asset."""
    return AssetOut(
        dagster_type=dagster_type,
        io_manager_key="label_store",
        code_version=LABEL_CODE_VERSION,
        group_name=GROUP,
        kinds={"parquet", "pandas"},
    )


@multi_asset(
    partitions_def=run_symbol_partitions,
    ins={
        "feature_frame": AssetIn("feature_frame"),
        "replay_1m": AssetIn("replay_1m"),
        "price_plan_context": _PLAN_IN,
    },
    outs={
        "continue_labels": _label_out(types.ContinueLabels),
        "exit_labels": _label_out(types.ExitLabels),
        "risk_labels": _label_out(types.RiskLabels),
    },
    check_specs=[
        *_check_specs("continue_labels", run_symbol_partitions),
        *_check_specs("exit_labels", run_symbol_partitions),
        *_check_specs("risk_labels", run_symbol_partitions),
    ],
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
    for name, frame, _ in named:
        yield from _check_results(f"{name}_labels", frame, config)
