"""The daily work from the shell: ``label-pipeline status``, ``rerun`` and ``backfill``.

Everything runs on Dagster's own machinery, on the instance of ``DAGSTER_HOME`` (the one the UI,
the sensor and the schedules use), with the code location's definitions
(``build_definitions()``, from the ``LABEL_PIPELINE_*`` variables): each partition is one run of
``price_plan_job`` or ``label_job``, executed in this process, with its partition tags, so it shows
in the UI exactly as a launch from there. Dagster's console logging is kept at CRITICAL (the runs'
logs are in the UI); failures are summarised here.

The run and its symbols are checked before anything is launched: the run against the registered
runs, the symbols against the run's own symbols (its replay file), never against the shared
``symbol`` partitions, which also hold every other run's symbols. Mistakes raise ``UsageError``
(one paragraph, exit code 2); a partition that fails on its data is a result (exit code 1).
"""

from __future__ import annotations

import difflib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
from dagster import DagsterError, DagsterInstance, Definitions

from label_pipeline.automation.status import (
    NOT_OF_RUN,
    UNREGISTERED,
    RunStatus,
    failure_of_run,
    first_line,
    run_status,
)
from label_pipeline.automation.work import FRESH, IN_PROGRESS, NEEDS_WORK, REASON_TAG, WorkFinder
from label_pipeline.demo.local_run import outcome_of
from label_pipeline.inputs import InputDataError, run_files, run_symbols
from label_pipeline.keys import RUN_DIM, SYMBOL_DIM
from label_pipeline.loading import loading
from label_pipeline.partitions import partition_key
from label_pipeline.settings import RUNS_ROOT_ENV, Settings

ROWS_ASSET = "entry_labels"  # whose row count the summary shows
LAUNCHED_BY_TAG = "label_pipeline/launched_by"
MAX_LISTED = 20


class UsageError(Exception):
    """A mistake in how a command was called or set up: reported as one paragraph, exit code 2."""


def listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(items[:limit])
    if not items:
        return "none"
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def suggestions(word: str, candidates: Sequence[str]) -> list[str]:
    """Close matches, case-insensitive ones first (``btc/usdt`` -> ``BTC/USDT``)."""
    folded = [c for c in candidates if c.casefold() == word.casefold() and c != word]
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return list(dict.fromkeys([*folded, *close]))[:3]


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = suggestions(word, candidates)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


# ---------------------------------------------------------------------------------------- set-up


def missing_home_error() -> UsageError:
    return UsageError(
        "DAGSTER_HOME is not set. The commands work on the Dagster instance the UI, the sensor and the "
        "schedules use: export DAGSTER_HOME (the demo's is $PWD/.label_pipeline/dagster_home; a new one "
        "is made by: label-pipeline instance)."
    )


def open_instance() -> DagsterInstance:
    """The instance of ``DAGSTER_HOME``; its absence is a usage error with the fix."""
    home = os.environ.get("DAGSTER_HOME", "")
    if not home:
        raise missing_home_error()
    if not Path(home).is_dir():
        raise UsageError(
            f"DAGSTER_HOME={home} is not a folder. Point it at the instance the UI uses, or create a new one "
            "with: label-pipeline instance"
        )
    try:
        return DagsterInstance.get()
    except DagsterError as exc:
        raise UsageError(f"the Dagster instance at DAGSTER_HOME={home} could not be opened: {exc}") from exc


def check_runs_root(runs_root: str) -> Path:
    root = Path(runs_root)
    if root.is_dir():
        return root
    near = []
    if root.parent.is_dir():
        siblings = [p.name for p in root.parent.iterdir() if p.is_dir()]
        near = [str(root.parent / n) for n in difflib.get_close_matches(root.name, siblings, n=2, cutoff=0.7)]
    elif root.parent.parent.is_dir():
        near_parent = difflib.get_close_matches(
            root.parent.name, [p.name for p in root.parent.parent.iterdir() if p.is_dir()], n=1, cutoff=0.7
        )
        near = [str(root.parent.parent / n / root.name) for n in near_parent]
    hint = f" Did you mean {' or '.join(near)}?" if near else ""
    raise UsageError(
        f"the runs root {root} does not exist (set {RUNS_ROOT_ENV}; default ./.label_pipeline/runs below "
        f"the working directory).{hint}"
    )


def run_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_run_folder(runs_root: str, run_id: str) -> None:
    """The run's folder and replay file exist, else a usage error naming the runs there."""
    root = check_runs_root(runs_root)
    if "|" in run_id:
        raise UsageError(
            f"{run_id!r} is a partition key (RUN|SYMBOL), not a run id: give the run and its symbols "
            f"separately, e.g. `label-pipeline rerun {run_id.split('|', 1)[0]} {run_id.split('|', 1)[1]}`."
        )
    files = run_files(runs_root, run_id)  # refuses ids that are not one folder name (InputDataError)
    if not files.run_dir.is_dir():
        runs = run_dirs(root)
        raise UsageError(
            f"there is no run {run_id!r} under the runs root {root}.{did_you_mean(run_id, runs)} "
            f"Runs there: {listing(runs)}."
        )
    if not files.replay.is_file():
        raise UsageError(
            f"run {run_id!r} has no replay file {files.replay}: a run needs feature/feature_frame.parquet and "
            'replay/replay_1m.parquet (README "Input runs").'
        )


def read_run_symbols(runs_root: str, run_id: str) -> list[str]:
    check_run_folder(runs_root, run_id)
    try:
        return run_symbols(runs_root, run_id)
    except (pa.ArrowException, OSError) as exc:
        path = run_files(runs_root, run_id).replay
        raise UsageError(
            f"the symbols of run {run_id!r} could not be read from {path}: {first_line(str(exc))}. "
            'Rewrite the file (README "Input runs").'
        ) from exc


@dataclass
class Session:
    """What every daily-work command works with."""

    settings: Settings
    instance: DagsterInstance
    defs: Definitions

    @classmethod
    def open(cls) -> Session:
        settings = Settings.from_env()
        check_runs_root(settings.runs_root)
        with loading():  # the instance's storage modules and the whole code location
            instance = open_instance()
            from label_pipeline.definitions import build_definitions

            defs = build_definitions(settings=settings)
        defs.resources["label_config"].effective()  # a bad config is a usage error (ConfigError)
        return cls(settings, instance, defs)

    def close(self) -> None:
        self.instance.dispose()

    def finder(self) -> WorkFinder:
        return WorkFinder(self.instance, self.defs.resolve_asset_graph())

    def check_run(self, run_id: str) -> list[str]:
        """The run's own symbols that are registered; the run must be registered."""
        registered = self.instance.get_dynamic_partitions(RUN_DIM)
        if run_id not in registered:
            folder = Path(self.settings.runs_root) / run_id
            exists = "|" not in run_id and folder.joinpath("replay").is_dir()
            then = (
                f"Its folder {folder} exists: register it with `label-pipeline register {run_id}` (or turn on "
                "run_discovery_sensor in the UI)."
                if exists
                else f"There is no folder {folder} either (runs root {self.settings.runs_root})."
            )
            if "|" in run_id:
                then = (
                    "A partition key RUN|SYMBOL is given as the run and its symbols separately, e.g. "
                    f"`label-pipeline rerun {run_id.split('|', 1)[0]} {run_id.split('|', 1)[1]}`."
                )
            raise UsageError(
                f"run {run_id!r} is not registered on the Dagster instance at DAGSTER_HOME="
                f"{os.environ.get('DAGSTER_HOME')}.{did_you_mean(run_id, registered)} Registered runs: "
                f"{listing(sorted(registered))}. {then}"
            )
        return read_run_symbols(self.settings.runs_root, run_id)

    def check_symbols(self, run_id: str, run_syms: list[str], given: Sequence[str]) -> list[str]:
        """``given`` if every one is a registered symbol of the run, else a usage error saying why."""
        registered = set(self.instance.get_dynamic_partitions(SYMBOL_DIM))
        own = set(run_syms)
        for symbol in given:
            if symbol in own and symbol in registered:
                continue
            where = f"The symbols of run {run_id!r} (its replay file): {listing(run_syms)}."
            if "|" in symbol:
                left, right = symbol.split("|", 1)
                example = right if left == run_id else symbol.replace("|", " ")
                raise UsageError(
                    f"{symbol!r} is a partition key (RUN|SYMBOL), not a symbol: give the run once and then "
                    f"the symbols, e.g. `label-pipeline rerun {run_id} {example}`. {where}"
                )
            if symbol in own:
                raise UsageError(
                    f"{symbol!r} is in run {run_id!r}'s replay file but not registered as a symbol partition "
                    f"(the file changed after registration?): run `label-pipeline register {run_id}` first."
                )
            if symbol in registered:
                holders = self._runs_with_symbol(symbol, exclude=run_id)
                of = f"of run {listing(holders, 5)}" if holders else "of another run"
                raise UsageError(
                    f"{symbol!r} is not a symbol of run {run_id!r}: it is a registered symbol {of}. The symbol "
                    f"partitions are shared by all runs, so the UI lists {run_id}|{symbol}, but run {run_id!r} "
                    f"has no {symbol!r} rows to label. {where}"
                )
            raise UsageError(
                f"{symbol!r} is not a symbol of run {run_id!r}.{did_you_mean(symbol, run_syms)} {where}"
            )
        return list(dict.fromkeys(given))

    def _runs_with_symbol(self, symbol: str, exclude: str, limit: int = 50) -> list[str]:
        found = []
        for other in sorted(self.instance.get_dynamic_partitions(RUN_DIM))[:limit]:
            if other == exclude:
                continue
            try:
                if symbol in run_symbols(self.settings.runs_root, other):
                    found.append(other)
            except (InputDataError, OSError, pa.ArrowException):
                continue
        return found

    def observe_changes(self, run_id: str, symbols: list[str], say: Callable[[str], None]) -> None:
        """Record the run's input files again if they changed since their last observation (what the
        sensor and the label schedule do), so a rewritten symbol is stale before anything is chosen."""
        from label_pipeline.assets.sources import observe_changed_inputs

        try:
            events = observe_changed_inputs(self.instance, self.settings.runs_root, run_id, symbols)
        except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
            say(f"note: the input files of {run_id} could not be observed: {first_line(str(exc))}")
            return
        for event in events:
            self.instance.report_runless_asset_event(event)
        if events:
            assets = sorted({e.asset_key.to_user_string() for e in events})
            say(
                f"input files of {run_id} changed since their last observation: observed again ({', '.join(assets)})"
            )


# ---------------------------------------------------------------------------------------- status


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Plain aligned columns (no terminal needed: the output is read by people and by grep); the
    last column is not padded."""
    widths = [max([len(header[i]), *(len(r[i]) for r in rows)]) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        cells = [
            v.rjust(w) if i in right else (v if i == len(values) - 1 else v.ljust(w))
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


STATE_LABEL = {
    FRESH: "materialized",
    "stale": "stale",
    "failed": "failed",
    "missing": "missing",
    IN_PROGRESS: "in progress",
    NOT_OF_RUN: "not a symbol of this run",
    UNREGISTERED: "not registered",
}


def render_status(status: RunStatus, out: Callable[[str], None]) -> None:
    plan = status.plan
    plan_text = f"price plan (price_plan_context {status.run_id}): {STATE_LABEL.get(plan.state, plan.state)}"
    if plan.when is not None:
        plan_text += (
            f" {_when(plan.when)}"
            if plan.state in (FRESH, "failed")
            else f" (materialized {_when(plan.when)})"
        )
    if plan.dagster_run_id:
        plan_text += f" (Dagster run {plan.dagster_run_id})"
    if plan.reason and plan.state != FRESH:
        plan_text += f": {plan.reason}"
    out(plan_text)
    counts = status.counts()
    summary = ", ".join(f"{n} {STATE_LABEL.get(state, state)}" for state, n in sorted(counts.items()))
    out(f"{plural(len(status.symbols), 'symbol')} of run {status.run_id}: {summary or 'none registered'}")
    out("")
    rows = [
        (s.key, STATE_LABEL.get(s.state, s.state), _when(s.when), s.dagster_run_id or "-", s.reason)
        for s in status.symbols.values()
    ]
    rows += [
        (
            f"{status.run_id}|{symbol}",
            STATE_LABEL[UNREGISTERED],
            "-",
            "-",
            f"run `label-pipeline register {status.run_id}`",
        )
        for symbol in status.unregistered
    ]
    rows += [
        (
            s.key,
            f"{STATE_LABEL[NOT_OF_RUN]} ({STATE_LABEL.get(s.state, s.state)} in the UI)",
            _when(s.when),
            s.dagster_run_id or "-",
            s.reason,
        )
        for s in status.not_of_run_recorded.values()
    ]
    for line in table(("partition", "state", "when (UTC)", "dagster run", "reason"), rows):
        out(line)
    if status.not_of_run:
        out("")
        out(
            f"{plural(len(status.not_of_run), 'registered symbol')} of other runs, not of {status.run_id}: "
            f"{listing(status.not_of_run, 10)}. The symbol partitions are shared by all runs, so the UI's "
            f"run_id x symbol grid shows {status.run_id}|SYMBOL for them, as missing unless someone launched "
            "one (listed above then); nothing requests them, and rerun and backfill refuse them."
        )


def cmd_status(run_id: str, out: Callable[[str], None], err: Callable[[str], None]) -> int:
    session = Session.open()
    try:
        symbols = session.check_run(run_id)
        session.observe_changes(run_id, symbols, err)
        status = run_status(session.instance, session.defs.resolve_asset_graph(), run_id, symbols)
    finally:
        session.close()
    render_status(status, out)
    return 0


# ------------------------------------------------------------------------------- rerun, backfill


@dataclass(frozen=True)
class Outcome:
    partition: str
    result: str  # "ok", "failed", "skipped"
    rows: int | None
    seconds: float
    dagster_run_id: str
    error: str = ""


def execute(session: Session, job_name: str, key: str, reason: str, command: str, log_level: str) -> Outcome:
    """One partition as one Dagster run of ``job_name``, in this process, on the session's instance."""
    started = time.perf_counter()
    job = session.defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        partition_key=key,
        instance=session.instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={REASON_TAG: reason, LAUNCHED_BY_TAG: f"label-pipeline {command}"},
    )
    seconds = time.perf_counter() - started
    if result.success:
        rows = outcome_of(key, result).metadata.get(ROWS_ASSET, {}).get("dagster/row_count")
        return Outcome(key, "ok", rows if isinstance(rows, int) else None, seconds, result.run_id)
    return Outcome(
        key, "failed", None, seconds, result.run_id, failure_of_run(session.instance, result.run_id)
    )


class Progress:
    """A progress bar over partitions on a terminal (rich), one line per partition otherwise."""

    def __init__(self, total: int, err: Callable[[str], None]):
        self.total, self.done, self.err = total, 0, err
        self._bar = None
        if total and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("labelling", total=total)

    def starting(self, key: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=key)

    def finished(self, outcome: Outcome) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        else:
            self.err(
                f"[{self.done}/{self.total}] {outcome.partition}: {outcome.result} ({outcome.seconds:.1f} s)"
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def render_summary(outcomes: Sequence[Outcome], out: Callable[[str], None]) -> None:
    header = ("partition", "result", f"{ROWS_ASSET} rows", "seconds", "dagster run")
    rows = [
        (
            o.partition,
            o.result,
            "-" if o.rows is None else str(o.rows),
            f"{o.seconds:.1f}",
            o.dagster_run_id or "-",
        )
        for o in outcomes
    ]
    out("")
    for line in table(header, rows, right=(2, 3)):
        out(line)
    failed = [o for o in outcomes if o.result == "failed"]
    for o in failed:
        out(f"{o.partition} failed: {o.error} (Dagster run {o.dagster_run_id}; its logs are in the UI)")
    ok = sum(o.result == "ok" for o in outcomes)
    out(f"{ok}/{len(outcomes)} partitions materialized" + (f", {len(failed)} failed" if failed else ""))


def run_partitions(
    session: Session,
    run_id: str,
    targets: Callable[[], dict[str, str]],
    command: str,
    out: Callable[[str], None],
    err: Callable[[str], None],
    verbose: bool,
) -> int:
    """The run's price plan if it needs work, then ``targets()`` (symbol -> reason, chosen once the
    plan is fresh: a rebuilt plan makes the run's labels stale) through label_job, one run each."""
    log_level = "WARNING" if verbose else "CRITICAL"
    plan_state = session.finder().plan_state(run_id)
    if plan_state == IN_PROGRESS:
        raise UsageError(
            f"the price plan of run {run_id!r} is being materialized right now (see Runs in the UI); the labels "
            "read it: wait until that run ends, then run this again."
        )
    outcomes: list[Outcome] = []
    if plan_state in NEEDS_WORK:
        err(f"the price plan of {run_id} is {plan_state}: materializing price_plan_job for {run_id} first")
        progress = Progress(1, err)
        try:
            plan = replace(
                execute(session, "price_plan_job", run_id, plan_state, command, log_level),
                partition=f"{run_id} (price plan)",
            )
            progress.finished(plan)
        finally:
            progress.close()
        outcomes.append(plan)
        if plan.result != "ok":
            render_summary(outcomes, out)
            out(f"no label partition of {run_id} was launched: they read the price plan")
            return 1
    chosen = targets()
    if not chosen and not outcomes:
        out(f"nothing to do: every partition of {run_id} is materialized and fresh")
        return 0
    if chosen:
        err(f"materializing label_job for {plural(len(chosen), 'partition')} of {run_id}")
    progress = Progress(len(chosen), err)
    try:
        for symbol, reason in chosen.items():
            key = str(partition_key(run_id, symbol))
            progress.starting(key)
            outcome = execute(session, "label_job", key, reason, command, log_level)
            outcomes.append(outcome)
            progress.finished(outcome)
    finally:
        progress.close()
    render_summary(outcomes, out)
    return 1 if any(o.result != "ok" for o in outcomes) else 0


def cmd_rerun(
    run_id: str, symbols: Sequence[str], out: Callable[[str], None], err: Callable[[str], None], verbose: bool
) -> int:
    """Materialize label_job for the given symbols of the run (its price plan first if it needs work)."""
    if not symbols:
        if "|" in run_id:
            left, right = run_id.split("|", 1)
            raise UsageError(
                f"{run_id!r} is a partition key (RUN|SYMBOL): give the run and its symbols separately, "
                f"e.g. `label-pipeline rerun {left} {right}`."
            )
        raise UsageError(
            f"give the symbols to rerun after the run, e.g. `label-pipeline rerun {run_id} SYMBOL [SYMBOL ...]` "
            f"(`label-pipeline status {run_id}` lists them; `label-pipeline backfill {run_id}` does them all)."
        )
    session = Session.open()
    try:
        run_syms = session.check_run(run_id)
        chosen = session.check_symbols(run_id, run_syms, symbols)
        session.observe_changes(run_id, run_syms, err)
        return run_partitions(
            session, run_id, lambda: dict.fromkeys(chosen, "rerun"), "rerun", out, err, verbose
        )
    finally:
        session.close()


def cmd_backfill(
    run_id: str, only_needed: bool, out: Callable[[str], None], err: Callable[[str], None], verbose: bool
) -> int:
    """The run's price plan if needed, then every symbol of the run, or only those that are missing,
    failed or stale (``WorkFinder``, what the label schedule would request)."""
    session = Session.open()
    try:
        run_syms = session.check_run(run_id)
        registered = set(session.instance.get_dynamic_partitions(SYMBOL_DIM))
        unregistered = [s for s in run_syms if s not in registered]
        if unregistered:
            raise UsageError(
                f"run {run_id!r} has symbols that are not registered as partitions: {listing(unregistered)} "
                f"(the file changed after registration?): run `label-pipeline register {run_id}` first."
            )
        session.observe_changes(run_id, run_syms, err)

        def needed() -> dict[str, str]:
            if not only_needed:
                return dict.fromkeys(run_syms, "backfill")
            states = session.finder().labels(run_id, run_syms)
            keys = {str(partition_key(run_id, s)): s for s in run_syms}
            chosen = {keys[str(key)]: reason for key, reason in states.items()}
            if chosen:
                err(
                    f"{len(chosen)} of {len(run_syms)} partitions of {run_id} need work: "
                    + listing([f"{s} ({r})" for s, r in chosen.items()])
                )
            return chosen

        return run_partitions(session, run_id, needed, "backfill", out, err, verbose)
    finally:
        session.close()
