"""``label-pipeline``: the demo, sample data, registration and the daily work from the shell.

The demo keeps everything under one folder (default ``./.label_pipeline``): the sample runs, the
label store and a SQLite Dagster instance, so ``dg dev`` pointed at the same folder shows the
demo's materializations, metadata and reports in the UI. ``status``, ``rerun`` and ``backfill``
(``label_pipeline.demo.daily``) work on the instance of ``DAGSTER_HOME`` through the project's jobs.

Mistakes (an unknown run or symbol, an unsafe key, a missing DAGSTER_HOME or runs root, a bad
config) are one paragraph on stderr and exit code 2; ``--verbose`` adds the traceback. A partition
that fails on its data is a result: it is in the summary and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from dagster import DagsterInstance
from dagster._core.errors import DagsterHomeNotSetError

from label_pipeline.artifacts import LABEL_ARTIFACTS, RUN_SYMBOL
from label_pipeline.config import LABEL_VERSION, ConfigError
from label_pipeline.demo import daily
from label_pipeline.demo.daily import UsageError
from label_pipeline.demo.local_run import observe_run_inputs
from label_pipeline.demo.sample_data import generate_sample_run
from label_pipeline.inputs import InputDataError, run_symbols
from label_pipeline.keys import PartitionKeyError
from label_pipeline.partitions import register_partitions
from label_pipeline.settings import REPO_ROOT, Settings

# What a user can get wrong: reported as one paragraph with exit code 2, without a traceback.
USAGE_ERRORS = (UsageError, PartitionKeyError, InputDataError, ConfigError, DagsterHomeNotSetError)


def ui_command(dagster_home: Path, runs: Path, store: Path) -> str:
    """The command that opens the UI on these folders, runnable as printed (absolute paths): the
    venv's ``dg dev`` on the project directory, or ``dagster dev`` where the project's pyproject.toml
    (its ``[tool.dg]`` settings) is not at hand (a non-editable install)."""
    bindir = Path(sys.executable).parent
    env = f"DAGSTER_HOME={dagster_home} LABEL_PIPELINE_RUNS_ROOT={runs} LABEL_PIPELINE_STORAGE_ROOT={store}"
    if (bindir / "dg").is_file() and (REPO_ROOT / "pyproject.toml").is_file():
        return f"{env} {bindir / 'dg'} dev --target-path {REPO_ROOT}"
    return f"{env} {bindir / 'dagster'} dev -m label_pipeline.definitions"


def _home_paths(home: Path) -> dict[str, Path]:
    return {"runs": home / "runs", "store": home / "store", "dagster_home": home / "dagster_home"}


# The demo's instance: Dagster's defaults, and the run coordinator that refuses UI launches of
# (run, symbol) pairs a run does not have (label_pipeline.automation.coordinator).
INSTANCE_YAML = """\
# Dagster's SQLite storage under this folder, its event log keeping its connections open
# (label_pipeline/sqlite_storage.py; the same files as Dagster's default, so deleting the storage
# block switches back), and a QueuedRunCoordinator that refuses, before it starts, a run of a
# (run, symbol) pair the run does not have (README "Reading the UI").
storage:
  custom:
    module: label_pipeline.sqlite_storage
    class: KeptSqliteStorage
    config:
      base_dir: {home}
run_coordinator:
  module: label_pipeline.automation.coordinator
  class: PhantomRefusingRunCoordinator
"""


def instance_yaml(dagster_home: Path) -> str:
    """The dagster.yaml the commands write into a new instance folder."""
    return INSTANCE_YAML.format(home=json.dumps(str(dagster_home.resolve())))


def write_instance_yaml(dagster_home: Path) -> bool:
    """Create ``dagster_home`` and write ``instance_yaml`` there unless its dagster.yaml already has
    settings (a user's instance is never rewritten); whether it wrote."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if config.is_file() and config.read_text().strip():
        return False
    config.write_text(instance_yaml(dagster_home))
    return True


def _instance(dagster_home: Path) -> DagsterInstance:
    write_instance_yaml(dagster_home)
    return DagsterInstance.from_config(str(dagster_home))


def cmd_demo(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    paths = _home_paths(home)
    print(
        f"writing a sample run ({len(args.symbols)} symbols x {args.days} days of 1-minute bars) to {paths['runs']}"
    )
    generate_sample_run(paths["runs"], args.run_id, tuple(args.symbols), days=args.days, seed=args.seed)
    from label_pipeline.definitions import build_definitions
    from label_pipeline.demo.local_run import materialize_run

    defs = build_definitions(
        str(paths["runs"]), str(paths["store"]), args.label_config, args.cost_config, args.price_plan_id
    )
    started = time.perf_counter()
    with _instance(paths["dagster_home"]) as instance:
        outcomes = materialize_run(
            defs, instance, args.run_id, run_symbols(str(paths["runs"]), args.run_id), raise_on_error=False
        )
    seconds = time.perf_counter() - started
    failed = [o for o in outcomes if not o.success]
    print(
        f"\nmaterialized {len(outcomes) - len(failed)}/{len(outcomes)} partitions through Dagster in {seconds:.1f} s "
        f"(label version {LABEL_VERSION})\n"
    )
    header = f"{'asset':<24} {'symbol':<12} {'rows':>8}  label distribution"
    print(header)
    print("-" * len(header))
    for outcome in outcomes:
        if not outcome.success or "|" not in outcome.partition_key:
            continue
        symbol = outcome.partition_key.split("|", 1)[1]
        for art in LABEL_ARTIFACTS:
            if art.grain != RUN_SYMBOL:
                continue
            meta = outcome.metadata.get(art.name, {})
            print(
                f"{art.name:<24} {symbol:<12} {meta.get('dagster/row_count', '?'):>8}  "
                f"{art.target_column}={meta.get('label_distribution', {})}"
            )
    print(
        f"\nlabel files:      {paths['store']}/<asset>/<run_id>/<symbol>.parquet (keys percent-encoded, e.g. BTC%2FUSDT)"
    )
    print(f"dagster instance: {paths['dagster_home']}")
    print("open the UI on these materializations with:")
    print(f"  {ui_command(paths['dagster_home'], paths['runs'], paths['store'])}")
    print(
        f"and see where a run stands with: DAGSTER_HOME={paths['dagster_home']} "
        f"LABEL_PIPELINE_RUNS_ROOT={paths['runs']} LABEL_PIPELINE_STORAGE_ROOT={paths['store']} "
        f"{Path(sys.executable).parent / 'label-pipeline'} status {args.run_id}"
    )
    for outcome in failed:
        print(
            f"FAILED: partition {outcome.partition_key} (Dagster run {outcome.run_id}); see the run's logs",
            file=sys.stderr,
        )
    return 1 if failed else 0


def cmd_instance(args: argparse.Namespace) -> int:
    """Write the project's dagster.yaml into DAGSTER_HOME (created if needed) unless it has one:
    the same instance the demo makes, so the UI, the daemon and the commands share its storage."""
    home = os.environ.get("DAGSTER_HOME", "")
    if not home:
        raise daily.missing_home_error()
    config = Path(home) / "dagster.yaml"
    if write_instance_yaml(Path(home)):
        print(f"{config}: written (Dagster's SQLite storage with kept connections, the phantom-refusing run coordinator)")
    else:
        print(f"{config}: kept as it is (it already has settings)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    run_dir = generate_sample_run(
        args.runs_root, args.run_id, tuple(args.symbols), days=args.days, seed=args.seed
    )
    print(run_dir)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """Register a run's partitions on the instance of DAGSTER_HOME and observe its input files
    (what the run sensor does), so the partitions turn stale when a symbol's data changes."""
    runs_root = args.runs_root or Settings.from_env().runs_root
    if args.symbols:
        daily.check_run_folder(runs_root, args.run_id)
        symbols = args.symbols
    else:
        symbols = daily.read_run_symbols(runs_root, args.run_id)
    with daily.open_instance() as instance:
        keys = register_partitions(instance, args.run_id, symbols)
        observe_run_inputs(runs_root, instance, args.run_id)
    for key in keys:
        print(key)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    return daily.cmd_status(args.run_id, print, _err)


def cmd_rerun(args: argparse.Namespace) -> int:
    return daily.cmd_rerun(args.run_id, args.symbols, print, _err, args.verbose)


def cmd_backfill(args: argparse.Namespace) -> int:
    return daily.cmd_backfill(args.run_id, args.only_missing_or_stale, print, _err, args.verbose)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report_usage_error(command: str, exc: BaseException, verbose: bool) -> None:
    """One paragraph on stderr (the traceback before it with --verbose)."""
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, DagsterHomeNotSetError):
        message = str(daily.missing_home_error())
    else:
        message = " ".join(str(exc).split()) or type(exc).__name__
    hint = "" if verbose else " (--verbose shows the traceback)"
    print(f"label-pipeline {command}: {message}{hint}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="label-pipeline", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", help="show tracebacks, and Dagster's warnings in the console"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    symbols_default = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="generate a sample run and materialize every asset of it through Dagster",
    )
    demo.add_argument(
        "--home", default=".label_pipeline", help="folder for runs, label store and Dagster instance"
    )
    demo.add_argument("--run-id", default="sample_run")
    demo.add_argument("--symbols", nargs="+", default=symbols_default)
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--label-config", default=None, help="partial JSON override of configs/label_config.json"
    )
    demo.add_argument("--cost-config", default=None, help="partial JSON override of configs/cost_config.json")
    demo.add_argument("--price-plan-id", default="default")
    demo.set_defaults(func=cmd_demo)

    instance = sub.add_parser(
        "instance",
        parents=[common],
        help="write the project's dagster.yaml into DAGSTER_HOME (kept if it has one)",
        description="Create DAGSTER_HOME if needed and write the instance settings the demo uses (SQLite "
        "storage with kept connections, the run coordinator that refuses phantom pairs) unless its dagster.yaml "
        "already has settings.",
    )
    instance.set_defaults(func=cmd_instance)

    sample = sub.add_parser("sample", parents=[common], help="write a sample run directory")
    sample.add_argument("runs_root")
    sample.add_argument("--run-id", default="sample_run")
    sample.add_argument("--symbols", nargs="+", default=symbols_default)
    sample.add_argument("--days", type=int, default=3)
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(func=cmd_sample)

    register = sub.add_parser(
        "register",
        parents=[common],
        help="add a run and its symbols to the dynamic partitions of DAGSTER_HOME",
    )
    register.add_argument("run_id")
    register.add_argument(
        "--runs-root", default=None, help="default: LABEL_PIPELINE_RUNS_ROOT, else ./.label_pipeline/runs"
    )
    register.add_argument(
        "--symbols", nargs="*", default=None, help="default: every symbol of the run's replay file"
    )
    register.set_defaults(func=cmd_register)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="each symbol of a run: materialized, stale, failed, missing or in progress, why and when",
        description="The state of RUN's price plan and of each of its symbols' partitions on the instance of "
        "DAGSTER_HOME, as the sensor, the schedules and the UI see them (input files that changed are observed "
        "first).",
    )
    status.add_argument("run_id", metavar="RUN")
    status.set_defaults(func=cmd_status)

    rerun = sub.add_parser(
        "rerun",
        parents=[common],
        help="materialize label_job for some symbols of a run (its price plan first if needed)",
        description="Materialize label_job (both input slices and every label) for each (RUN, SYMBOL) "
        "partition, one Dagster run each, on the instance of DAGSTER_HOME; price_plan_job first when the run's "
        "plan is missing, failed or stale.",
    )
    rerun.add_argument("run_id", metavar="RUN")
    rerun.add_argument("symbols", metavar="SYMBOL", nargs="*")
    rerun.set_defaults(func=cmd_rerun)

    backfill = sub.add_parser(
        "backfill",
        parents=[common],
        help="materialize every symbol of a run (or only those that need work)",
        description="The run's price plan if it needs work, then label_job for every symbol of RUN (its replay "
        "file's), one Dagster run each, on the instance of DAGSTER_HOME.",
    )
    backfill.add_argument("run_id", metavar="RUN")
    backfill.add_argument(
        "--only-missing-or-stale",
        action="store_true",
        help="only the partitions that are missing, failed or stale (what label_backfill_schedule would request)",
    )
    backfill.set_defaults(func=cmd_backfill)

    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        if not args.verbose:  # e.g. Dagster's beta/preview/supersession warnings: not the user's business
            warnings.simplefilter("ignore")
        try:
            return int(args.func(args))
        except USAGE_ERRORS as exc:
            report_usage_error(args.command, exc, args.verbose)
            return 2
        except pa.ArrowException as exc:  # an input file that cannot be read where the command needs it
            report_usage_error(
                args.command, UsageError(f"an input file could not be read: {exc}"), args.verbose
            )
            return 2
        except BrokenPipeError:  # `label-pipeline status RUN | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


if __name__ == "__main__":
    sys.exit(main())
