"""The label assets, generated from the artifact registry: one Dagster step per builder, each
artifact its own asset key, file, manifest, data version and ``label_contract`` check.

A step evaluates its checks on the frames already in memory, in the step that materializes the
partition: one partition's cost, and the result is recorded against that partition. The checks are
blocking, so a bad entry frame never reaches position samples.
"""

import json
from collections.abc import Iterator, Mapping, Sequence

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    Failure,
    MetadataValue,
    Output,
    multi_asset,
)

from label_pipeline.artifacts import RUN, Artifact, artifact, steps
from label_pipeline.config import LABEL_VERSION, EffectiveConfig
from label_pipeline.dagster_types import DAGSTER_TYPES
from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.label_contract import CHECK_DESCRIPTIONS, check_label_frame
from label_pipeline.labels.price_plan import (
    PlanMismatchError,
    plan_from_frame,
    price_plan_context,
    require_same_plan,
)
from label_pipeline.labels.reports import continue_exit_risk_report, distribution_report
from label_pipeline.labels.step import StepInputs
from label_pipeline.manifest import label_output, versioned_output
from label_pipeline.partitions import BACKFILL_POLICY, partitions_for, plan_to_label_mapping

# Bump when a label's meaning or computation changes: Dagster then marks every partition stale.
LABEL_CODE_VERSION = f"{LABEL_VERSION}/1"
GROUP = "labels"
CONTRACT_CHECK = "label_contract"
KINDS = {"parquet", "pandas"}


def label_code_version(config_hash: str | None) -> str:
    """The code version of every label asset: the code's version plus the effective config's hash.

    The config (env vars and the JSON files they name) is part of what a label means, and every
    label manifest records its ``config_hash``; folding it into the code version makes Dagster mark
    every partition built with another config stale, in the UI and for the backfill schedule.
    ``None`` (the config does not load) gives a version of its own; materializations then fail
    with the config error.
    """
    return f"{LABEL_CODE_VERSION}+config.{config_hash[:16] if config_hash else 'invalid'}"


def _check_spec(art: Artifact) -> AssetCheckSpec:
    """One blocking check per asset that evaluates every rule of ``label_pipeline.label_contract``.

    One Dagster check rather than one per rule: each check costs two event-log writes per partition
    (planned, evaluated), which on the SQLite instance cost more than labelling a day of bars. The
    result's metadata lists every rule with its verdict and problems.
    """
    rules = "\n".join(f"- {name}: {CHECK_DESCRIPTIONS[name]}" for name in art.rules)
    with accepted_preview_apis():  # partitioned check specs record each evaluation against its partition
        return AssetCheckSpec(
            CONTRACT_CHECK,
            asset=art.name,
            description=f"The reference's contract for {art.name}:\n{rules}",
            blocking=True,
            partitions_def=partitions_for(art.grain),
        )


def _check_result(
    art: Artifact, frame: pd.DataFrame, config: EffectiveConfig, upstream: Mapping[str, pd.DataFrame]
) -> AssetCheckResult:
    outcomes = check_label_frame(
        art.name,
        frame,
        max_hold_minutes=int(config.label["entry"]["max_hold_minutes"]),
        entry_labels=upstream.get("entry_labels"),
        price_plan_id=config.price_plan_id,
        price_plan_hash=config.price_plan_hash,
    )
    failed = [o for o in outcomes if not o.passed]
    return AssetCheckResult(
        asset_key=art.name,
        check_name=CONTRACT_CHECK,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        description=("failed: " + ", ".join(o.name for o in failed)) if failed else "every rule holds",
        metadata={
            "failed_rules": [o.name for o in failed],
            "rules": MetadataValue.json({o.name: {"passed": o.passed, **o.metadata} for o in outcomes}),
        },
    )


def _outputs(
    arts: Sequence[Artifact], frames: Mapping[str, pd.DataFrame], config: EffectiveConfig
) -> list[Output]:
    """Each artifact's frame with its manifest. A run-level artifact (the price plan) records the plan
    it holds; the others the reference's report: one per artifact, or the combined one of a step
    with several outputs (the reference's continue/exit/risk report)."""
    if arts[0].grain == RUN:
        plan_json = json.loads(json.dumps(price_plan_context(config)))
        return [
            versioned_output(
                a,
                frames[a.name],
                {
                    "label_version": LABEL_VERSION,
                    "config_hash": config.config_hash,
                    "price_plan_hash": config.price_plan_hash,
                    "price_plan_context": MetadataValue.json(plan_json),
                    "effective_config": MetadataValue.json(json.loads(json.dumps(config.as_dict()))),
                },
                output_name=a.name,
            )
            for a in arts
        ]
    if len(arts) == 1:
        reports = {arts[0].name: distribution_report(frames[arts[0].name], arts[0].target_column)}
    else:
        combined = continue_exit_risk_report(
            [(a.name.removesuffix("_labels"), frames[a.name], a.target_column) for a in arts]
        )
        reports = {a.name: combined for a in arts}
    return [
        label_output(a, frames[a.name], report_md=reports[a.name], config=config, output_name=a.name)
        for a in arts
    ]


def _step_inputs(context: AssetExecutionContext, loaded: Mapping[str, pd.DataFrame]) -> StepInputs:
    """The step's inputs; a stored plan that another config built is refused before anything is built."""
    config = context.resources.label_config.effective()
    plan = None
    if "price_plan_context" in loaded:
        plan = plan_from_frame(loaded["price_plan_context"])
        try:
            require_same_plan(plan, config)
        except PlanMismatchError as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
    return StepInputs(
        config=config,
        features=loaded.get("feature_frame"),
        replay=loaded.get("replay_1m"),
        plan=plan,
        upstream={
            k: v for k, v in loaded.items() if k not in ("feature_frame", "replay_1m", "price_plan_context")
        },
        **({"kernel": context.resources.path_stats.compute} if "replay_1m" in loaded else {}),
    )


def _step_name(arts: Sequence[Artifact]) -> str:
    if len(arts) == 1:
        return arts[0].name
    return arts[0].builder().__name__.removesuffix("_step") + "_labels"


def _step_asset(arts: Sequence[Artifact], code_version: str) -> AssetsDefinition:
    """One multi-asset computing ``arts`` (the artifacts of one builder) per partition."""
    reads = list(dict.fromkeys(r for a in arts for r in a.reads))
    ins = {
        r: AssetIn(r, partition_mapping=plan_to_label_mapping)
        if artifact(r).grain == RUN and arts[0].grain != RUN
        else AssetIn(r)
        for r in reads
    }
    # the kernel is warmed up (PathStatsKernel) only in the steps that read bars
    resources = {"label_config"} | ({"path_stats"} if "replay_1m" in reads else set())

    with accepted_preview_apis():  # backfill_policy is beta in name

        @multi_asset(
            name=_step_name(arts),
            partitions_def=partitions_for(arts[0].grain),
            ins=ins,
            outs={
                a.name: AssetOut(
                    dagster_type=DAGSTER_TYPES[a.name],
                    io_manager_key="label_store",
                    code_version=code_version,
                    group_name=GROUP,
                    kinds=KINDS,
                    description=a.description,
                )
                for a in arts
            },
            check_specs=[_check_spec(a) for a in arts],
            required_resource_keys=resources,
            backfill_policy=BACKFILL_POLICY,
        )
        def step(context: AssetExecutionContext, **loaded: pd.DataFrame) -> Iterator:
            inputs = _step_inputs(context, loaded)
            frames = arts[0].builder()(inputs)
            yield from _outputs(arts, frames, inputs.config)
            for a in arts:
                yield _check_result(a, frames[a.name], inputs.config, inputs.upstream)

    return step


def build_label_assets(config_hash: str | None) -> list[AssetsDefinition]:
    """Every label artifact of the registry, one step per builder, its code version covering the config."""
    version = label_code_version(config_hash)
    return [
        _step_asset(arts, version)
        for grain in ("run", "run_symbol")
        for arts in steps(grain).values()  # type: ignore[arg-type]
    ]
