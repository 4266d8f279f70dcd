"""The README's "Adding a label artifact" is true: its two code blocks, applied to a copy of the
package (a builder module and one registry record, nothing else), give a new asset that is
materialized by label_job, stored, typed and checked like every other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from label_pipeline.settings import REPO_ROOT

_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dagster import AssetKey, DagsterInstance
    import label_pipeline
    assert label_pipeline.__file__.startswith(sys.argv[1]), label_pipeline.__file__
    from label_pipeline.definitions import build_definitions
    from label_pipeline.demo.local_run import materialize_run
    from label_pipeline.demo.sample_data import make_run_frames, write_run
    from label_pipeline.jobs import LABEL_JOB_ASSETS
    from label_pipeline.storage import read_parquet, storage_path

    work = Path(sys.argv[2])
    write_run(work / "runs", "r1", *make_run_frames(["AAA"], 240, seed=5))
    defs = build_definitions(str(work / "runs"), str(work / "store"))
    assert AssetKey("spread_labels") in LABEL_JOB_ASSETS
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey("spread_labels"))
    assert node.code_version == graph.get(AssetKey("entry_labels")).code_version
    assert {k.to_user_string() for k in node.parent_keys} == {"feature_frame", "replay_1m"}
    with DagsterInstance.ephemeral() as instance:
        outcomes = materialize_run(defs, instance, "r1", ["AAA"])
        assert all(o.success for o in outcomes), outcomes
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key
        from dagster import AssetCheckKey
        key = AssetCheckKey(AssetKey("spread_labels"), "label_contract")
        assert check([key])[key].status.value == "SUCCEEDED"
    frame = read_parquet(storage_path(work / "store", "spread_labels", "r1", "AAA"))
    assert list(frame.columns)[3:5] == ["future_spread_p80_bps", "spread_widens_target"]
    assert str(frame["spread_widens_target"].dtype) == "int8" and len(frame) > 0
    print("ok", len(frame))
    """
)


def _readme_blocks() -> tuple[str, str]:
    section = (REPO_ROOT / "README.md").read_text().split("## Adding a label artifact", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return blocks[0], blocks[1]


def test_a_builder_and_one_record_make_a_new_artifact(tmp_path: Path) -> None:
    builder, record = _readme_blocks()
    package = tmp_path / "pkg" / "label_pipeline"
    # copy2 keeps mtimes, so numba's cache of the kernel stays valid in the copy
    shutil.copytree(REPO_ROOT / "label_pipeline", package, copy_function=shutil.copy2)
    (package / "labels" / "spread.py").write_text(builder)
    registry = package / "artifacts.py"
    text = registry.read_text()
    end = "\n)\n\nBY_NAME"
    assert text.count(end) == 1, "ARTIFACTS no longer ends where this test expects"
    registry.write_text(text.replace(end, "\n" + record.rstrip() + "\n)\n\nBY_NAME"))

    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pkg")}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(package), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.startswith("ok")
