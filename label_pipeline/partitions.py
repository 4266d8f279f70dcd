"""Partitions: every label artifact is keyed by (run_id, symbol); the price plan by run_id alone."""

from __future__ import annotations

import warnings

from dagster import (
    BetaWarning,
    DagsterInstance,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    MultiToSingleDimensionPartitionMapping,
)

from label_pipeline.keys import validate_key

RUN_DIM = "run_id"
SYMBOL_DIM = "symbol"

run_partitions = DynamicPartitionsDefinition(name=RUN_DIM)
symbol_partitions = DynamicPartitionsDefinition(name=SYMBOL_DIM)
run_symbol_partitions = MultiPartitionsDefinition({RUN_DIM: run_partitions, SYMBOL_DIM: symbol_partitions})

# price_plan_context (run_id) feeds every (run_id, symbol) partition of that run.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", BetaWarning)
    plan_to_label_mapping = MultiToSingleDimensionPartitionMapping(partition_dimension_name=RUN_DIM)


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
