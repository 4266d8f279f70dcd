"""``label-pipeline status / rerun / backfill / register`` end to end, on a real instance.

A temporary ``DAGSTER_HOME`` (an empty dagster.yaml) and runs root, as a user has them. The story:
register two runs (r2's symbol is a "phantom" pair for r1), status (missing), backfill (the plan
first), status (materialized), one symbol's bars rewritten -> status says exactly that partition is
stale and why, rerun of that symbol rewrites only its files, a partition that fails on its data is a
result (exit 1), and every user mistake is one paragraph with exit code 2 and no traceback
(``--verbose`` shows it). The CLI runs in process through ``main``, and once as the installed
command in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from label_pipeline.demo.cli import main
from label_pipeline.demo.sample_data import make_run_frames, write_run
from label_pipeline.jobs import LABEL_JOB_ASSETS
from label_pipeline_tests.harness.common import LABEL_ASSETS, fast_temp_dir

RUN, OTHER = "r1", "r2"


@pytest.fixture
def env(monkeypatch, tmp_path) -> Iterator[dict[str, Path]]:
    """DAGSTER_HOME (an empty dagster.yaml, in memory where possible), runs root and store."""
    home = Path(fast_temp_dir())
    (home / "dagster.yaml").touch()
    paths = {"home": home, "runs": tmp_path / "runs", "store": tmp_path / "store"}
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LABEL_PIPELINE_RUNS_ROOT", str(paths["runs"]))
    monkeypatch.setenv("LABEL_PIPELINE_STORAGE_ROOT", str(paths["store"]))
    for name in ("LABEL_PIPELINE_LABEL_CONFIG", "LABEL_PIPELINE_COST_CONFIG", "LABEL_PIPELINE_PRICE_PLAN_ID"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield paths
    finally:
        shutil.rmtree(home, ignore_errors=True)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(result: tuple[int, str, str], *expected: str) -> str:
    """Exit code 2, one paragraph on stderr naming ``expected``, no traceback."""
    code, _out, err = result
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err  # one paragraph
    for text in expected:
        assert text in err, (text, err)
    return err


def line_of(output: str, start: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(start)]
    assert lines, (start, output)
    return lines[0]


def files_of(store: Path, segment: str) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob(f"{RUN}/{segment}.parquet")}


def test_daily_work_from_the_shell(env, capsys) -> None:
    feature, replay = make_run_frames(["AAA", "BBB"], 240, seed=5)
    write_run(env["runs"], RUN, feature, replay)
    write_run(env["runs"], OTHER, *make_run_frames(["CCC"], 240, seed=6))

    # register both runs; the instance now has symbols AAA, BBB, CCC shared by r1 and r2
    code, out, _ = cli(capsys, "register", RUN)
    assert code == 0 and out.split() == ["r1|AAA", "r1|BBB"]
    assert cli(capsys, "register", OTHER)[0] == 0

    # status: both of r1's partitions missing, the price plan too; CCC told apart
    code, out, _ = cli(capsys, "status", RUN)
    assert code == 0
    assert "price plan (price_plan_context r1): missing" in out
    assert "missing" in line_of(out, "r1|AAA") and "missing" in line_of(out, "r1|BBB")
    assert "1 registered symbol of other runs, not of r1: CCC" in out
    assert not [line for line in out.splitlines() if line.startswith("r1|CCC")]

    # backfill: the plan first, then every symbol; a summary table with entry_labels rows
    code, out, err = cli(capsys, "backfill", RUN)
    assert code == 0, out + err
    assert "materializing price_plan_job for r1 first" in err
    assert "3/3 partitions materialized" in out
    for key in ("r1 (price plan)", "r1|AAA", "r1|BBB"):
        assert " ok " in line_of(out, key)
    assert int(line_of(out, "r1|AAA").split()[2]) > 0  # entry_labels rows
    for asset in LABEL_ASSETS:
        assert (env["store"] / asset / RUN / "AAA.parquet").is_file()
    assert not (env["store"] / "entry_labels" / RUN / "CCC.parquet").exists()

    code, out, _ = cli(capsys, "status", RUN)
    assert "2 materialized" in out
    assert "materialized" in line_of(out, "r1|AAA") and "materialized" in line_of(out, "r1|BBB")
    code, out, _ = cli(capsys, "backfill", RUN, "--only-missing-or-stale")
    assert code == 0 and "nothing to do" in out

    # AAA's bars are fixed: status observes the file and says exactly r1|AAA is stale, and why
    edited = replay.copy()
    rows = edited["symbol"] == "AAA"
    prices = ["open", "high", "low", "close"]
    edited.loc[rows, prices] = edited.loc[rows, prices] * 1.0005
    write_run(env["runs"], RUN, feature, edited)
    code, out, err = cli(capsys, "status", RUN)
    assert "observed again" in err
    assert "stale" in line_of(out, "r1|AAA") and "replay_file" in line_of(out, "r1|AAA")
    assert "stale" not in line_of(out, "r1|BBB")

    # rerun AAA: only AAA's files change, BBB's keep their bytes and mtimes
    bbb, aaa = files_of(env["store"], "BBB"), files_of(env["store"], "AAA")
    assert len(bbb) == len(aaa) == len(LABEL_JOB_ASSETS)
    code, out, err = cli(capsys, "rerun", RUN, "AAA")
    assert code == 0, out + err
    assert "1/1 partitions materialized" in out and "price plan" not in out
    assert files_of(env["store"], "BBB") == bbb
    assert all(files_of(env["store"], "AAA")[p][1] != aaa[p][1] for p in aaa)
    assert "materialized" in line_of(cli(capsys, "status", RUN)[1], "r1|AAA")

    # the mistakes: one paragraph each, exit code 2, no traceback, nothing launched
    assert_usage_error(
        cli(capsys, "rerun", RUN, "AAB"), "'AAB' is not a symbol of run 'r1'", "Did you mean 'AAA'"
    )
    assert_usage_error(cli(capsys, "rerun", RUN, "aaa"), "Did you mean 'AAA'")
    assert_usage_error(
        cli(capsys, "rerun", "r9", "AAA"), "run 'r9' is not registered", "Registered runs: r1, r2"
    )
    assert_usage_error(cli(capsys, "status", "r11"), "Did you mean 'r1'")
    assert_usage_error(cli(capsys, "rerun", RUN, "r1|AAA"), "partition key", "label-pipeline rerun r1 AAA")
    assert_usage_error(cli(capsys, "rerun", "r1|AAA"), "label-pipeline rerun r1 AAA")
    assert_usage_error(
        cli(capsys, "rerun", RUN, "CCC"), "'CCC' is not a symbol of run 'r1'", "of run r2", "AAA, BBB"
    )
    assert_usage_error(cli(capsys, "register", RUN, "--symbols", "A|B"), "pipe")
    assert_usage_error(cli(capsys, "register", "r3"), "no run 'r3'", "Runs there: r1, r2")
    os.environ["LABEL_PIPELINE_RUNS_ROOT"] = str(env["runs"]) + "x"  # monkeypatch restores it
    assert_usage_error(cli(capsys, "status", RUN), "does not exist", f"Did you mean {env['runs']}")
    assert_usage_error(cli(capsys, "register", RUN), "does not exist", f"Did you mean {env['runs']}")
    os.environ["LABEL_PIPELINE_RUNS_ROOT"] = str(env["runs"])
    home = os.environ.pop("DAGSTER_HOME")
    assert_usage_error(cli(capsys, "backfill", RUN), "DAGSTER_HOME is not set")
    os.environ["DAGSTER_HOME"] = home
    bad_config = env["runs"].parent / "label_config.json"
    bad_config.write_text('{"entry": {"target_bps": "x"}}')
    os.environ["LABEL_PIPELINE_LABEL_CONFIG"] = str(bad_config)
    assert_usage_error(cli(capsys, "rerun", RUN, "AAA"), "entry.target_bps")
    del os.environ["LABEL_PIPELINE_LABEL_CONFIG"]
    code, _out, err = cli(capsys, "rerun", RUN, "AAB", "--verbose")
    assert code == 2 and "Traceback" in err and "UsageError" in err
    # nothing was launched by the mistakes: still exactly one materialization of BBB's files
    assert files_of(env["store"], "BBB") == bbb

    # a partition that fails on its data is a result, not a mistake: summary + exit code 1
    broken = edited.copy()
    bad = broken.index[broken["symbol"] == "BBB"][10]
    broken.loc[bad, "high"] = broken.loc[bad, "low"] - 1.0
    write_run(env["runs"], RUN, feature, broken)
    code, out, err = cli(capsys, "rerun", RUN, "BBB")
    assert code == 1 and "Traceback" not in err
    assert "failed" in line_of(out, "r1|BBB") and "0/1 partitions materialized, 1 failed" in out
    failure = line_of(out, "r1|BBB failed:")
    assert "high" in failure and "Dagster run" in failure
    status_line = line_of(cli(capsys, "status", RUN)[1], "r1|BBB")
    assert "failed" in status_line and "high" in status_line
    assert files_of(env["store"], "BBB") == bbb  # a failed partition writes nothing


def test_the_installed_command(env, tmp_path) -> None:
    """The console script itself: exit codes and stderr without a traceback."""
    write_run(env["runs"], RUN, *make_run_frames(["AAA", "BBB"], 240, seed=5))
    command = Path(sys.executable).parent / "label-pipeline"
    environ = {**os.environ}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(command), *args], env=environ, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    registered = run("register", RUN)
    assert registered.returncode == 0, registered.stderr
    typo = run("rerun", RUN, "AAB")
    assert typo.returncode == 2
    assert "Did you mean 'AAA'" in typo.stderr and "Traceback" not in typo.stderr
    assert typo.stdout == ""
