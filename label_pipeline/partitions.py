"""Partitions: every label artifact is keyed by (run_id, symbol); the price plan by run_id alone."""

from __future__ import annotations

from dagster import (
    BackfillPolicy,
    DagsterInstance,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    MultiToSingleDimensionPartitionMapping,
    PartitionsDefinition,
)

from label_pipeline.artifacts import RUN, Grain
from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM, validate_key

run_partitions = DynamicPartitionsDefinition(name=RUN_DIM)
symbol_partitions = DynamicPartitionsDefinition(name=SYMBOL_DIM)
run_symbol_partitions = MultiPartitionsDefinition({RUN_DIM: run_partitions, SYMBOL_DIM: symbol_partitions})

# One partition per backfill run, on every asset: a ranged backfill shares one data version, one
# check result and one failure among its partitions (dagster#21072, #14332). README "Workflows"
# ("Jobs and backfill policy") and BENCHMARKS.md ("Backfill overhead") have the figures.
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)

# price_plan_context (run_id) feeds every (run_id, symbol) partition of that run.
with accepted_preview_apis():
    plan_to_label_mapping = MultiToSingleDimensionPartitionMapping(partition_dimension_name=RUN_DIM)


def partitions_for(grain: Grain) -> PartitionsDefinition:
    return run_partitions if grain == RUN else run_symbol_partitions


def partition_key(run_id: str, symbol: str) -> MultiPartitionKey:
    return MultiPartitionKey({RUN_DIM: run_id, SYMBOL_DIM: symbol})


def register_partitions(
    instance: DagsterInstance, run_id: str, symbols: list[str]
) -> list[MultiPartitionKey]:
    """Add a run and its symbols to the dynamic partitions; validates every key first."""
    validate_key(run_id, RUN_DIM)
    for symbol in symbols:
        validate_key(symbol, SYMBOL_DIM)
    if not instance.has_dynamic_partition(RUN_DIM, run_id):
        instance.add_dynamic_partitions(RUN_DIM, [run_id])
    new_symbols = [s for s in symbols if not instance.has_dynamic_partition(SYMBOL_DIM, s)]
    if new_symbols:
        instance.add_dynamic_partitions(SYMBOL_DIM, new_symbols)
    return [partition_key(run_id, s) for s in symbols]
