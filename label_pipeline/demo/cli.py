"""``label-pipeline``: the demo, sample data, and partition registration from the shell.

The demo keeps everything under one folder (default ``./.label_pipeline``): the sample runs, the
label store and a SQLite Dagster instance, so ``dagster dev`` pointed at the same folder shows
the demo's materializations, metadata and reports in the UI.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dagster import DagsterInstance

from label_pipeline.artifacts import LABEL_ARTIFACTS, RUN_SYMBOL
from label_pipeline.config import LABEL_VERSION
from label_pipeline.definitions import build_definitions
from label_pipeline.demo.local_run import materialize_run, observe_run_inputs
from label_pipeline.demo.sample_data import generate_sample_run
from label_pipeline.inputs import run_symbols
from label_pipeline.partitions import register_partitions
from label_pipeline.settings import Settings


def _home_paths(home: Path) -> dict[str, Path]:
    return {"runs": home / "runs", "store": home / "store", "dagster_home": home / "dagster_home"}


def _instance(dagster_home: Path) -> DagsterInstance:
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").touch(exist_ok=True)
    return DagsterInstance.from_config(str(dagster_home))


def cmd_demo(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    paths = _home_paths(home)
    print(
        f"writing a sample run ({len(args.symbols)} symbols x {args.days} days of 1-minute bars) to {paths['runs']}"
    )
    generate_sample_run(paths["runs"], args.run_id, tuple(args.symbols), days=args.days, seed=args.seed)
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
    print(
        f"  DAGSTER_HOME={paths['dagster_home']} LABEL_PIPELINE_RUNS_ROOT={paths['runs']} "
        f"LABEL_PIPELINE_STORAGE_ROOT={paths['store']} dagster dev -w workspace.yaml"
    )
    for outcome in failed:
        print(
            f"FAILED: partition {outcome.partition_key} (Dagster run {outcome.run_id}); see the run's logs",
            file=sys.stderr,
        )
    return 1 if failed else 0


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
    symbols = args.symbols or run_symbols(runs_root, args.run_id)
    with DagsterInstance.get() as instance:
        keys = register_partitions(instance, args.run_id, symbols)
        observe_run_inputs(runs_root, instance, args.run_id)
    for key in keys:
        print(key)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="label-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    symbols_default = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]

    demo = sub.add_parser(
        "demo", help="generate a sample run and materialize every asset of it through Dagster"
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

    sample = sub.add_parser("sample", help="write a sample run directory")
    sample.add_argument("runs_root")
    sample.add_argument("--run-id", default="sample_run")
    sample.add_argument("--symbols", nargs="+", default=symbols_default)
    sample.add_argument("--days", type=int, default=3)
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(func=cmd_sample)

    register = sub.add_parser(
        "register", help="add a run and its symbols to the dynamic partitions of DAGSTER_HOME"
    )
    register.add_argument("run_id")
    register.add_argument(
        "--runs-root", default=None, help="default: LABEL_PIPELINE_RUNS_ROOT, else ./.label_pipeline/runs"
    )
    register.add_argument(
        "--symbols", nargs="*", default=None, help="default: every symbol of the run's replay file"
    )
    register.set_defaults(func=cmd_register)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
