"""The label assets, generated from the artifact registry: the run-level price plan, and one
subsettable step for every (run, symbol) artifact (``_partition_asset``), each artifact its own
asset key, file, manifest, data version and blocking ``label_contract`` check.

The checks are evaluated in the step that builds the partition, on the chunks already in memory
(one partition's cost, recorded against that partition); a failed check keeps every file of the
partition as it was, so a bad entry frame never reaches position samples.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetOut,
    AssetsDefinition,
    AssetSpec,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from label_pipeline.artifacts import INPUT, RUN, RUN_SYMBOL, Artifact, artifact, at_grain, steps
from label_pipeline.assets.inputs import (
    FILE_OF_INPUT,
    INPUT_CODE_VERSION,
    identities,
    open_from_store,
    read_from_store,
    require_unchanged,
    slice_metadata,
    source_from_run,
)
from label_pipeline.assets.sources import SOURCE_KEYS
from label_pipeline.config import LABEL_VERSION, EffectiveConfig
from label_pipeline.dagster_types import DAGSTER_TYPES, registry_schema, type_check
from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.inputs import InputDataError
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM
from label_pipeline.label_contract import CHECK_DESCRIPTIONS, CheckOutcome, check_label_frame
from label_pipeline.labels.price_plan import (
    PlanMismatchError,
    plan_from_frame,
    price_plan_context,
    require_same_plan,
)
from label_pipeline.labels.reports import combined_report_from, distribution_report_from
from label_pipeline.labels.step import StepInputs
from label_pipeline.manifest import input_manifest, label_manifest, versioned_output
from label_pipeline.partitions import (
    BACKFILL_POLICY,
    partitions_for,
    plan_to_label_mapping,
    run_symbol_partitions,
)
from label_pipeline.slices import InputErrors
from label_pipeline.storage import read_parquet, storage_path

if TYPE_CHECKING:  # the engine (and the numba kernel it imports) is loaded when a step runs
    from label_pipeline.engine import ArtifactResult, PartitionOutput

# Bump when a label's meaning or computation changes: Dagster then marks every partition stale.
LABEL_CODE_VERSION = f"{LABEL_VERSION}/1"
GROUP = "labels"
CONTRACT_CHECK = "label_contract"
LEAKAGE_CHECK = "window_leakage"
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


def _check_result(art: Artifact, outcomes: Sequence[CheckOutcome]) -> AssetCheckResult:
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


def _plan_asset(art: Artifact, code_version: str) -> AssetsDefinition:
    """The run-level price plan: one row, built from the config, stored through the IO manager."""
    with accepted_preview_apis():  # backfill_policy is beta in name

        @multi_asset(
            name=art.name,
            partitions_def=partitions_for(art.grain),
            outs={
                art.name: AssetOut(
                    dagster_type=DAGSTER_TYPES[art.name],
                    io_manager_key="label_store",
                    code_version=code_version,
                    group_name=GROUP,
                    kinds=KINDS,
                    description=art.description,
                )
            },
            check_specs=[_check_spec(art)],
            required_resource_keys={"label_config"},
            backfill_policy=BACKFILL_POLICY,
        )
        def plan_step(context: AssetExecutionContext) -> Iterator:
            config = context.resources.label_config.effective()
            frame = art.builder()(StepInputs(config=config))[art.name]
            yield versioned_output(
                art,
                frame,
                {
                    "label_version": LABEL_VERSION,
                    "config_hash": config.config_hash,
                    "price_plan_hash": config.price_plan_hash,
                    "price_plan_context": MetadataValue.json(json.loads(json.dumps(price_plan_context(config)))),
                    "effective_config": MetadataValue.json(json.loads(json.dumps(config.as_dict()))),
                },
                output_name=art.name,
            )
            yield _check_result(art, check_label_frame(art.name, frame, max_hold_minutes=0))

    return plan_step


def _spec(art: Artifact, code_version: str) -> AssetSpec:
    """One artifact of the partition step: its deps are the registry's reads (the run's price plan
    through its run_id dimension), an input slice's the observable source of its file."""
    if art.layer == INPUT:
        deps = [AssetDep(SOURCE_KEYS[FILE_OF_INPUT[art.name]])]
    else:
        deps = [
            AssetDep(r, partition_mapping=plan_to_label_mapping) if artifact(r).grain == RUN else AssetDep(r)
            for r in art.reads
        ]
    return AssetSpec(
        art.name,
        deps=deps,
        description=art.description,
        partitions_def=run_symbol_partitions,
        group_name="inputs" if art.layer == INPUT else GROUP,
        kinds=KINDS,
        code_version=INPUT_CODE_VERSION if art.layer == INPUT else code_version,
        metadata={"dagster/column_schema": registry_schema(art)},
    ).with_io_manager_key("label_store")


def _reports(results: Mapping[str, "ArtifactResult"]) -> dict[str, str]:
    """The reference's report of each label artifact: its own, or the combined one of the artifacts
    one builder makes together (continue/exit/risk)."""
    reports = {}
    for arts in steps(RUN_SYMBOL).values():
        done = [a for a in arts if a.name in results]
        if len(arts) == 1 and done and done[0].target_column is None:  # not one of the reference's
            reports[done[0].name] = f"# {done[0].name}\n\n- row_count: {results[done[0].name].rows}\n"
        elif len(arts) == 1 and done:
            r = results[done[0].name]
            reports[done[0].name] = distribution_report_from(r.rows, done[0].target_column, r.distribution or {})
        elif done:
            combined = combined_report_from(
                [(a.name.removesuffix("_labels"), results[a.name].rows, results[a.name].distribution or {}) for a in done]
            )
            reports.update({a.name: combined for a in done})
    return reports


def _type_problems(context: AssetExecutionContext, results: Mapping[str, "ArtifactResult"]) -> list[str]:
    """The dagster-pandas types, run on each artifact's first rows (the contract checks every row),
    in the step's own type-check context (``dagster_types.type_check``)."""
    step = context.get_step_execution_context()
    problems = []
    for name, result in results.items():
        check = type_check(name, result.sample, step.for_type(DAGSTER_TYPES[name]))
        if not check.success:
            problems.append(f"{name}: {check.description}")
    return problems


def _partition_asset(code_version: str) -> AssetsDefinition:
    """Every (run, symbol) artifact in one subsettable step: each input read once, path stats once
    per (horizon, target, stop), every selected artifact built, written, hashed and checked in one
    pass (``label_pipeline.engine``). Each keeps its own asset, file, manifest, data version and
    blocking check; the files of a partition are published together, only when every selected
    artifact passed its checks, so a failure leaves the partition as it was."""
    arts = at_grain(RUN_SYMBOL)
    with accepted_preview_apis():

        @multi_asset(
            name="label_partition",
            specs=[_spec(a, code_version) for a in arts],
            check_specs=[
                *(_check_spec(a) for a in arts if a.layer != INPUT),
                AssetCheckSpec(
                    LEAKAGE_CHECK,
                    asset="label_windows",
                    description="Labelled rows whose label window reaches into another split or walk-forward "
                    "fold, per boundary and family (warns; README 'Leak-proof training data'), and what a purge "
                    "and an embargo remove per test fold.",
                    blocking=False,
                    partitions_def=run_symbol_partitions,
                ),
            ],
            can_subset=True,
            required_resource_keys={"label_config", "path_stats", "runs_root", "label_store"},
            backfill_policy=BACKFILL_POLICY,
        )
        def label_partition_step(context: AssetExecutionContext) -> Iterator:
            yield from _run_partition(context)

    return label_partition_step


def _write_failure(run_id: str, symbol: str, exc: OSError) -> Failure:
    return Failure(
        description=f"partition {run_id}|{symbol}: writing its files failed ({exc}); nothing was published, "
        "every stored file of the partition is as it was. Free space or fix the store and materialize again",
        metadata={"path": str(getattr(exc, "filename", "") or "")},
    )


def _run_partition(context: AssetExecutionContext) -> Iterator:
    # a run launched with only the dagster/partition tag gives the key as a string
    key = run_symbol_partitions.get_partition_key_from_str(str(context.partition_key))
    run_id, symbol = key.keys_by_dimension[RUN_DIM], key.keys_by_dimension[SYMBOL_DIM]
    selected = {k.to_user_string() for k in context.selected_asset_keys}
    wanted = [a for a in at_grain(RUN_SYMBOL) if a.name in selected]
    reads = {r for a in wanted for r in a.reads}
    config = context.resources.label_config.effective()
    store = context.resources.label_store.root
    runs_root = context.resources.runs_root

    inputs: dict[str, Any] = {}
    sources = {}
    try:
        before = identities(runs_root, run_id) if selected & set(FILE_OF_INPUT) else {}
    except InputDataError:
        before = {}  # a run id that names no folder: the read below says so
    problems: list[Failure] = []  # both files' problems at once, so one rerun shows all to fix
    for name in FILE_OF_INPUT:
        try:
            if name in selected:
                inputs[name], sources[name] = source_from_run(runs_root, run_id, symbol, name)
            elif name in reads:
                inputs[name] = open_from_store(store, run_id, symbol, name)
        except Failure as exc:
            problems.append(exc)
    if problems:
        raise Failure(
            description="\n\n".join(p.description or "" for p in problems),
            metadata={k: v for p in problems for k, v in (p.metadata or {}).items()},
            allow_retries=False,
        )
    plan = None
    if "price_plan_context" in reads:
        plan = plan_from_frame(read_parquet(storage_path(store, "price_plan_context", run_id)))
        try:
            require_same_plan(plan, config)
        except PlanMismatchError as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc

    try:
        output = _label(context, store, run_id, symbol, selected, config, inputs, plan)
    except InputErrors as exc:  # both files' problems at once, so one rerun shows all to fix
        raise Failure(
            description=str(exc),
            metadata={
                "run_id": run_id,
                "symbol": symbol,
                "file": ", ".join(str(sources[name]) for name in exc.errors),
            },
            allow_retries=False,
        ) from exc
    except OSError as exc:  # a full disk, a lost mount: named, and nothing of the partition published
        raise _write_failure(run_id, symbol, exc) from exc
    try:
        if before:  # the inputs were read during the pass: one version of them, or nothing published
            require_unchanged(runs_root, run_id, symbol, {n: before[n] for n in sources})
    except Failure:
        output.discard()
        raise
    yield from _finish(context, output, run_id, symbol, config, before)


def _label(
    context: AssetExecutionContext,
    store: str,
    run_id: str,
    symbol: str,
    selected: set[str],
    config: EffectiveConfig,
    inputs: Mapping[str, Any],
    plan: dict | None,
) -> "PartitionOutput":
    from label_pipeline.engine import label_partition

    empty = pa.table({})
    return label_partition(
        selected=selected,
        paths=lambda name: storage_path(store, name, run_id, symbol),
        config=config,
        features=inputs.get("feature_frame", empty),
        replay=inputs.get("replay_1m", empty),
        plan=plan,
        stored_entry=lambda: read_from_store(store, run_id, symbol, "entry_labels"),
        kernel=context.resources.path_stats.compute,
        chunk_rows=context.resources.path_stats.chunk_rows,
        charts=context.resources.path_stats.charts,
    )


def _finish(
    context: AssetExecutionContext,
    output: "PartitionOutput",
    run_id: str,
    symbol: str,
    config: EffectiveConfig,
    before: Mapping[str, dict],
) -> Iterator:
    results = output.results
    failed = [r for r in results.values() if not r.passed]
    type_problems = _type_problems(context, results)
    if failed or type_problems:
        output.discard()
        blocked = {r.artifact.name for r in failed}
        for r in results.values():
            # as Dagster's blocking checks: nothing downstream of a failed check is evaluated
            if r.artifact.layer != INPUT and not blocked & set(r.artifact.reads):
                yield _check_result(r.artifact, r.outcomes)
        why = [f"{r.artifact.name}: {', '.join(o.name for o in r.outcomes if not o.passed)}" for r in failed]
        raise Failure(
            description=f"partition {run_id}|{symbol} not written (every stored file kept as it was): "
            + "; ".join(why + type_problems),
            allow_retries=False,
        )
    try:
        output.publish()
    except OSError as exc:  # a file's fsync failed: publish discarded them all before any rename
        raise _write_failure(run_id, symbol, exc) from exc
    reports = _reports(results)
    for r in results.values():
        metadata = (
            input_manifest(r, slice_metadata(*r.extra["event_time_ns"], before[r.artifact.name]))
            if r.artifact.layer == INPUT
            else label_manifest(r, config, reports[r.artifact.name])
        )
        # The manifest goes on the materialization only: metadata of a MaterializeResult is also
        # copied into its STEP_OUTPUT event, which would store every manifest (and chart) twice.
        context.add_asset_metadata(metadata, asset_key=r.artifact.name)
        with accepted_preview_apis():  # data_version is beta in name only: it is what staleness uses
            yield MaterializeResult(asset_key=r.artifact.name, data_version=DataVersion(r.content_hash))
    for r in results.values():
        if r.artifact.layer != INPUT:
            yield _check_result(r.artifact, r.outcomes)
    if "label_windows" in results:
        facts = results["label_windows"].extra
        yield AssetCheckResult(
            asset_key="label_windows",
            check_name=LEAKAGE_CHECK,
            passed=facts["crossing_rows"] == 0,
            severity=AssetCheckSeverity.WARN,
            description=f"{facts['crossing_rows']} labelled rows' windows cross a split or fold boundary",
            metadata={
                "crossing_rows": facts["crossing_rows"],
                "crossings": MetadataValue.json(facts["crossings"]),
                "purge_embargo": MetadataValue.json(facts["purge_embargo"]),
            },
        )


def build_label_assets(config_hash: str | None) -> list[AssetsDefinition]:
    """Every artifact of the registry: the run-level price plan, and one step for every
    (run, symbol) artifact; the label code version covers the config by construction."""
    version = label_code_version(config_hash)
    return [*(_plan_asset(a, version) for a in at_grain(RUN)), _partition_asset(version)]
