"""A snapshot of the Dagster wiring (asset keys, deps and their partition mappings, partitions,
code versions, check specs, types, job selections and executors, sensor and schedule targets), in
the manner of dagster-open-platform's spec snapshots: a wiring change shows up as a reviewed diff
of ``golden/spec_snapshot.json``.

After an intended change: ``LABEL_PIPELINE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest label_pipeline_tests/unit/test_spec_snapshot.py``
and commit the new file with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from label_pipeline.definitions import build_definitions
from label_pipeline.settings import Settings

SNAPSHOT = Path(__file__).resolve().parents[1] / "golden" / "spec_snapshot.json"


def _partitions(partitions_def: Any) -> str | None:
    return None if partitions_def is None else str(partitions_def)


def spec_snapshot() -> dict[str, Any]:
    defs = build_definitions(settings=Settings.from_env({}, cwd=Path("/label_pipeline_snapshot")))
    graph = defs.resolve_asset_graph()
    assets: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets_def = graph.assets_def_for_key(key)
        spec = next(s for s in assets_def.specs if s.key == key)
        output = assets_def.get_output_name_for_asset_key(key) if assets_def.is_executable else None
        assets[key.to_user_string()] = {
            "node": assets_def.node_def.name if assets_def.is_executable else None,
            "group": node.group_name,
            "kinds": sorted(spec.kinds),
            "description": spec.description,
            "partitions": _partitions(node.partitions_def),
            "code_version": node.code_version,
            "deps": {
                dep.to_user_string(): type(assets_def.get_partition_mapping(dep)).__name__
                if assets_def.is_executable and assets_def.get_partition_mapping(dep) is not None
                else None
                for dep in sorted(node.parent_keys, key=lambda k: k.to_user_string())
            },
            "observable": node.is_observable,
            "io_manager": assets_def.get_io_manager_key_for_asset_key(key) if output else None,
            "dagster_type": assets_def.node_def.output_def_named(output).dagster_type.display_name
            if output
            else None,
            "backfill_policy": str(assets_def.backfill_policy) if assets_def.backfill_policy else None,
            "checks": {
                check.name: {"blocking": check.blocking, "partitions": _partitions(check.partitions_def)}
                for check in assets_def.check_specs
                if check.asset_key == key
            },
        }
    jobs = {
        name: {
            "assets": sorted(
                k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.selected_asset_keys
            ),
            "executor": defs.resolve_job_def(name).executor_def.name,
        }
        for name in sorted(job.name for job in defs.jobs or [])
    }
    sensors = {
        s.name: sorted(j.name for j in defs.resolve_sensor_def(s.name).jobs) for s in defs.sensors or []
    }
    schedules = {
        s.name: {"job": defs.resolve_schedule_def(s.name).job.name, "cron": s.cron_schedule}
        for s in defs.schedules or []
    }
    return {"assets": assets, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def test_the_wiring_matches_the_reviewed_snapshot() -> None:
    current = json.loads(json.dumps(spec_snapshot()))
    if os.environ.get("LABEL_PIPELINE_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.is_file(), f"no snapshot yet: run with LABEL_PIPELINE_UPDATE_SNAPSHOTS=1 ({__doc__})"
    assert current == json.loads(SNAPSHOT.read_text()), (
        "the Dagster wiring changed; review the diff and update the snapshot (see this module's docstring)"
    )
