"""The manifest every label materialization records as asset metadata.

The reference wrote ``*.manifest.json`` and ``*_report.md`` files beside each parquet; here the same
facts live in Dagster's event log, where the UI shows them per partition and sensors can read them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
from dagster import DataVersion, MetadataValue, Output

from label_pipeline.artifacts import Artifact
from label_pipeline.config import LABEL_VERSION, EffectiveConfig
from label_pipeline.dagster_types import frame_schema
from label_pipeline.dagster_warnings import accepted_preview_apis
from label_pipeline.hashing import content_hash
from label_pipeline.quality import report as quality_report

if TYPE_CHECKING:
    from label_pipeline.engine import ArtifactResult


def _jsonable_counts(counts: dict) -> dict[str, int]:
    return {str(k): int(v) for k, v in counts.items()}


def versioned_output(
    artifact: Artifact, frame: pd.DataFrame, metadata: dict[str, Any], output_name: str = "result"
) -> Output:
    """An Output whose data version is the frame's content hash, so Dagster's staleness follows content.

    The same hash goes into the metadata as ``content_hash``, next to the row count and schema.
    """
    digest = content_hash(frame)
    metadata = {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "dagster/column_schema": frame_schema(artifact, frame),
        "content_hash": digest,
        **metadata,
    }
    with accepted_preview_apis():  # data_version is beta in name only: it is what staleness uses
        return Output(frame, output_name=output_name, data_version=DataVersion(digest), metadata=metadata)


def _base_metadata(result: ArtifactResult) -> dict[str, Any]:
    return {
        "dagster/row_count": MetadataValue.int(result.rows),
        "dagster/column_schema": frame_schema(result.artifact, result.sample),
        "content_hash": result.content_hash,
    }


def stored_metadata(result: ArtifactResult) -> dict[str, Any]:
    """Where the partition's file is, once published (what the IO manager used to add)."""
    return {
        "storage_path": MetadataValue.path(str(result.staged.path)),
        "size_bytes": result.size_bytes,
    }


def input_manifest(result: ArtifactResult, extra: dict[str, Any]) -> dict[str, Any]:
    """An input slice's manifest: rows, schema, content hash (its data version), time range, source."""
    return {**_base_metadata(result), **extra, **stored_metadata(result)}


def label_manifest(result: ArtifactResult, config: EffectiveConfig, report_md: str) -> dict[str, Any]:
    """A label artifact's manifest: the reference's manifest and report, and the config it was built with."""
    return {
        **_base_metadata(result),
        "label_version": LABEL_VERSION,
        "config_hash": config.config_hash,
        "price_plan_id": config.price_plan_id,
        "price_plan_hash": config.price_plan_hash,
        "target_column": result.artifact.target_column,
        "label_distribution": MetadataValue.json(_jsonable_counts(result.distribution or {})),
        "label_report": MetadataValue.md(report_md),
        "effective_config": MetadataValue.json(json.loads(json.dumps(config.as_dict()))),
        **_facts(result),
        **_quality(result, config),
        **stored_metadata(result),
    }


def config_summary(config: EffectiveConfig) -> str:
    label = config.label
    return (
        f"Config {config.config_hash[:12]}: entry target {label['entry']['target_bps']} bps, stop "
        f"{label['entry']['stop_bps']} bps, hold {label['entry']['max_hold_minutes']} min, min net edge "
        f"{label['entry']['min_expected_net_edge_bps']} bps; direction H {label['direction']['horizon_minutes']} "
        f"min; continue H {label['continue']['horizon_minutes']} min; cost {config.cost_bps} bps; plan "
        f"{config.price_plan_id!r}."
    )


def _quality(result: ArtifactResult, config: EffectiveConfig) -> dict[str, Any]:
    """The quality numbers as flat metadata (the Plots tab charts them across partitions), their
    tables as JSON, and the readable report (``label_pipeline.quality``)."""
    facts = result.extra.get("quality")
    if not facts:
        return {}
    out: dict[str, Any] = {key: MetadataValue.float(float(value)) for key, value in facts["flat"].items()}
    out["class_balance"] = MetadataValue.json(facts["balance"])
    if facts["unlabelled"] is not None:
        out["unlabelled_by_cause"] = MetadataValue.json(facts["unlabelled"])
    out["quality_report"] = MetadataValue.md(quality_report(result.artifact, facts, config_summary(config)))
    return out


def _facts(result: ArtifactResult) -> dict[str, Any]:
    """A partition-scope artifact's own manifest entries (``("md", text)`` / ``("json", value)``)."""
    out: dict[str, Any] = {}
    for key, value in result.extra.get("manifest", {}).items():
        if isinstance(value, tuple):
            kind, payload = value
            out[key] = MetadataValue.md(payload) if kind == "md" else MetadataValue.json(payload)
        else:
            out[key] = value
    return out
