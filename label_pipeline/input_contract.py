"""The input contract of one symbol's slice: every way a feature or replay frame can be unusable,
named precisely (file, column, offending keys, what to do).

Pure pandas/numpy, no Dagster: ``label_pipeline.inputs`` calls it on each slice it reads. Nothing
here repairs, converts or drops anything; a frame either passes unchanged or raises
``InputDataError``. What the reference treats as *invalid rows* rather than errors stays allowed:
gaps between bars and NaN in ``close``/``high``/``low``/``spread_bps`` (those rows get no label), and
NaN in the feature columns the labels fill or skip (``realized_vol_15m_bps``, ...).

Checks run per file in two passes: column dtypes first (value checks need the right types), then
row values. Each pass reports all of its problems at once, so one rerun shows everything to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from label_pipeline.kernel.units import MINUTE_MS

MAX_LISTED = 10  # offending keys listed per problem; the count is always given


class InputDataError(ValueError):
    """Input data that cannot be labelled; the message names the run, file, columns and rows."""


# ---------------------------------------------------------------------------------------------
# column kinds
# ---------------------------------------------------------------------------------------------

TIME = "timestamp"
EPOCH_MS = "int64 epoch milliseconds"
NUMBER = "number"
ID = "id"
ANY = "any"

REPLAY_KINDS = {
    "event_time": TIME,
    "open_time_ms": EPOCH_MS,
    "open": NUMBER,
    "high": NUMBER,
    "low": NUMBER,
    "close": NUMBER,
    "spread_bps": NUMBER,
}
FEATURE_KINDS = {
    "sample_id": ID,
    "event_time": TIME,
    "open_time_ms": EPOCH_MS,
    "split_id": ANY,
    "walk_forward_fold": ANY,
    "spread_bps": NUMBER,
    "spread_rank_24h_pct": NUMBER,
    "realized_vol_15m_bps": NUMBER,
    "ret_15m_bps": NUMBER,
}
PRICE_COLUMNS = ("open", "high", "low", "close")


def _dtype_problem(name: str, series: pd.Series, kind: str) -> str | None:
    dtype = series.dtype
    numpy_kind = dtype.kind if isinstance(dtype, np.dtype) else None
    if kind == TIME:
        if isinstance(dtype, pd.DatetimeTZDtype) or numpy_kind == "M":
            return None
        want = "a timestamp (naive timestamps are taken as UTC)"
    elif kind == EPOCH_MS:
        if dtype == np.dtype("int64"):
            return None
        want = "int64 (epoch milliseconds of the bar's open)"
    elif kind == NUMBER:
        if numpy_kind is not None and numpy_kind in "iuf":
            return None
        want = "numeric (float64, or an integer type; NaN for a missing value)"
    elif kind == ID:
        if numpy_kind is not None and numpy_kind in "iu":
            return None
        if numpy_kind == "O" or isinstance(dtype, pd.StringDtype):
            inferred = pd.api.types.infer_dtype(series, skipna=True)
            if inferred in ("string", "integer", "empty"):
                return None
            dtype = f"{dtype} holding {inferred} values"
        want = "strings or integers, one type for the whole column"
    else:
        return None
    if isinstance(dtype, pd.StringDtype):
        dtype = "object"  # text, as pandas reads it from the file (kept in Arrow for the checks)
    sample = series.dropna()
    example = f", e.g. {sample.iloc[0]!r} ({type(sample.iloc[0]).__name__})" if len(sample) else ""
    return (
        f"column {name!r} has dtype {dtype}{example}; it must be {want}. Nothing is converted: "
        "write the column with that type in the source and rewrite the file"
    )


# ---------------------------------------------------------------------------------------------
# row checks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """The rows of one slice and how to name a row in a message."""

    frame: pd.DataFrame
    key_column: str  # open_time_ms for bars, sample_id for feature rows
    noun: str  # "bar" / "feature row"

    def describe(self, mask: np.ndarray, show: Sequence[str] = ()) -> str:
        """'3 bars: open_time_ms=... (high=1.0, low=2.0), ...' for the first MAX_LISTED rows."""
        positions = np.flatnonzero(mask)
        show = [c for c in show if c != self.key_column]
        parts = []
        for pos in positions[:MAX_LISTED]:
            row = self.frame.iloc[int(pos)]
            text = f"{self.key_column}={_fmt(row[self.key_column])}"
            if self.key_column == "open_time_ms":
                text += _as_time(row["open_time_ms"])
            if show:
                text += " (" + ", ".join(f"{c}={_fmt(row[c])}" for c in show) + ")"
            parts.append(text)
        more = f", ... ({len(positions) - MAX_LISTED} more)" if len(positions) > MAX_LISTED else ""
        return f"{len(positions)} {self.noun}{'s' if len(positions) != 1 else ''}: {', '.join(parts)}{more}"


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _as_time(open_ms: object) -> str:
    """' [2026-01-01 00:20:00Z]': the bar's open as a UTC time, to find the row in the source."""
    try:
        return f" [{pd.Timestamp(int(open_ms), unit='ms', tz='UTC'):%Y-%m-%d %H:%M:%S.%f}"[:-3] + "Z]"
    except (ValueError, OverflowError, TypeError):
        return ""


def _float(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _event_time_ms_agrees(event_time: pd.Series, open_ms: np.ndarray) -> np.ndarray:
    """Whether each event_time is exactly the instant ``open_time_ms`` (integer arithmetic, no
    overflow): naive times are UTC, tz-aware ones are compared as instants."""
    if isinstance(event_time.dtype, pd.DatetimeTZDtype):
        event_time = event_time.dt.tz_convert("UTC").dt.tz_localize(None)
    values = event_time.to_numpy()
    return _instant_agrees(values.view("int64"), np.datetime_data(values.dtype)[0], open_ms)


def _instant_agrees(raw: np.ndarray, unit: str, open_ms: np.ndarray) -> np.ndarray:
    """Whether each raw UTC time in ``unit`` is exactly the instant ``open_ms`` (integer arithmetic)."""
    per_ms = {"ns": 1_000_000, "us": 1_000, "ms": 1}
    if unit in per_ms:
        f = per_ms[unit]
        return (raw % f == 0) & (raw // f == open_ms)
    if unit == "s":
        return (open_ms % 1000 == 0) & (open_ms // 1000 == raw)
    return np.zeros(len(raw), dtype=bool)  # days or coarser: never a 1-minute bar's open


def _duplicates(rows: _Rows, column: str, what: str, keep: str) -> str | None:
    series = rows.frame[column]
    dup = (series.duplicated(keep=False) & series.notna()).to_numpy()
    if not dup.any():
        return None
    counts = series[dup].value_counts(sort=False)
    listed = ", ".join(f"{_fmt(k)} ({int(n)} rows)" for k, n in list(counts.items())[:MAX_LISTED])
    more = f", ... ({len(counts) - MAX_LISTED} more)" if len(counts) > MAX_LISTED else ""
    return (
        f"column {column!r}: {len(counts)} {what} appear more than once ({int(dup.sum())} rows in all): "
        f"{listed}{more}. The reference would silently multiply these rows in its joins; keep {keep} in the "
        "source and rewrite the file"
    )


def _time_checks(rows: _Rows) -> list[str]:
    """Key columns of either file: event_time present and equal to open_time_ms, minute boundaries."""
    frame, problems = rows.frame, []
    open_ms = frame["open_time_ms"].to_numpy()
    missing_time = frame["event_time"].isna().to_numpy()
    if missing_time.any():
        problems.append(
            f"column 'event_time' is missing (NaT) in {rows.describe(missing_time)}; every {rows.noun} needs "
            "its time: fill it in the source or remove the row"
        )
    off_minute = open_ms % MINUTE_MS != 0
    if off_minute.any():
        problems.append(
            f"column 'open_time_ms' is not on a minute boundary (a multiple of 60000) in "
            f"{rows.describe(off_minute, ['open_time_ms'])}; 1-minute bars open on the minute: check the "
            "time unit (milliseconds) and the source's bar alignment"
        )
    disagree = ~missing_time & ~_event_time_ms_agrees(frame["event_time"], open_ms)
    if disagree.any():
        problems.append(
            f"column 'event_time' disagrees with 'open_time_ms' in {rows.describe(disagree, ['event_time'])}; "
            "event_time must be the instant open_time_ms names (naive times are UTC): fix whichever is wrong "
            "in the source"
        )
    return problems


def _finite_checks(rows: _Rows, columns: Sequence[str]) -> list[str]:
    problems = []
    for column in columns:
        values = _float(rows.frame[column])
        infinite = np.isinf(values)
        if infinite.any():
            problems.append(
                f"column {column!r} is infinite in {rows.describe(infinite, [column])}; use NaN for a missing "
                "value (the row then gets no label where the reference skips it) or fix the value in the source"
            )
    return problems


def _range_check(
    rows: _Rows, column: str, bad: Callable[[np.ndarray], np.ndarray], rule: str, fix: str
) -> list[str]:
    values = _float(rows.frame[column])
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(values) & bad(values)
    if not mask.any():
        return []
    return [f"column {column!r} {rule} in {rows.describe(mask, [column])}; {fix}"]


# ---------------------------------------------------------------------------------------------
# the two files
# ---------------------------------------------------------------------------------------------


def _raise(where: str, problems: list[str], stage: str) -> None:
    if problems:
        header = f"{where} has {len(problems)} {stage} problem{'s' if len(problems) != 1 else ''}"
        raise InputDataError(
            header
            + " (nothing is stored from this file; the partition's stored labels stay as they were):\n- "
            + "\n- ".join(problems)
        )


def _check_dtypes(frame: pd.DataFrame, kinds: dict[str, str], where: str) -> None:
    problems = [
        p
        for name, kind in kinds.items()
        if name in frame.columns
        if (p := _dtype_problem(name, frame[name], kind))
    ]
    _raise(where, problems, "column type")


def validate_replay_slice(frame: pd.DataFrame, where: str) -> None:
    """Raise ``InputDataError`` unless ``frame`` (one symbol's bars, file order) is labellable.

    ``where`` starts every message, e.g. "run 'r1', symbol 'BTC/USDT': replay file /x/replay_1m.parquet".
    """
    _check_dtypes(frame, REPLAY_KINDS, where)
    frame = frame.reset_index(drop=True)
    rows = _Rows(frame, "open_time_ms", "bar")
    problems = _time_checks(rows)
    if dup := _duplicates(rows, "open_time_ms", "bar times", "one bar per minute"):
        problems.append(dup)
    problems += _finite_checks(rows, [*PRICE_COLUMNS, "spread_bps"])
    for column in PRICE_COLUMNS:
        problems += _range_check(
            rows,
            column,
            lambda v: v <= 0,
            "is zero or negative",
            "prices must be > 0: fix or remove these bars in the source (NaN marks a missing price)",
        )
        problems += _range_check(
            rows,
            column,
            lambda v: (v > 0) & (v < np.finfo(np.float64).tiny),
            "is a subnormal number (> 0 but below 2.2e-308)",
            "such a price has lost its precision and flips barrier hits: it is a corrupt or mis-scaled value; fix "
            "it in the source",
        )
    high, low, close = (_float(frame[c]) for c in ("high", "low", "close"))
    with np.errstate(invalid="ignore"):
        inverted = np.isfinite(high) & np.isfinite(low) & (high < low)
        outside = np.isfinite(high) & np.isfinite(low) & np.isfinite(close) & ~inverted
        outside &= (close < low) | (close > high)
    if inverted.any():
        problems.append(
            f"column 'high' is below column 'low' in {rows.describe(inverted, ['high', 'low'])}; a bar's high "
            "must be >= its low: check for swapped columns and fix the source"
        )
    if outside.any():
        problems.append(
            f"column 'close' is outside [low, high] in {rows.describe(outside, ['low', 'close', 'high'])}; a "
            "bar closes within its range: fix the source's bars"
        )
    problems += _range_check(
        rows,
        "spread_bps",
        lambda v: v < 0,
        "is negative",
        "a bid-ask spread is >= 0: fix the source (NaN marks a missing spread)",
    )
    _raise(where, problems, "row")


def validate_feature_slice(frame: pd.DataFrame, where: str) -> None:
    """Raise ``InputDataError`` unless ``frame`` (one symbol's feature rows, file order) is labellable."""
    _check_dtypes(frame, FEATURE_KINDS, where)
    frame = frame.reset_index(drop=True)
    rows = _Rows(frame, "sample_id", "feature row")
    problems = []
    missing_id = frame["sample_id"].isna().to_numpy()
    if missing_id.any():
        by_time = _Rows(frame, "open_time_ms", "feature row")
        problems.append(
            f"column 'sample_id' is missing in {by_time.describe(missing_id)}; every feature row needs an id: "
            "fill it in the source"
        )
    if dup := _duplicates(rows, "sample_id", "sample ids", "one row per sample id"):
        problems.append(dup)
    problems += _time_checks(rows)
    if dup := _duplicates(rows, "open_time_ms", "bar times", "one feature row per bar time"):
        problems.append(dup)
    numeric = [
        c for c in ("spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps", "ret_15m_bps") if c in frame
    ]
    problems += _finite_checks(rows, numeric)
    problems += _range_check(
        rows, "spread_bps", lambda v: v < 0, "is negative", "a bid-ask spread is >= 0: fix the source"
    )
    problems += _range_check(
        rows,
        "spread_rank_24h_pct",
        lambda v: (v < 0) | (v > 1),
        "is outside [0, 1]",
        "it is a fraction (the liquidity label compares it with 0.90): if the source gives percent (0-100), "
        "divide by 100 there",
    )
    problems += _range_check(
        rows,
        "realized_vol_15m_bps",
        lambda v: v < 0,
        "is negative",
        "a volatility (standard deviation) is >= 0: fix the source",
    )
    _raise(where, problems, "row")


# ---------------------------------------------------------------------------------------------
# the same contract on Arrow tables, without a pandas copy
# ---------------------------------------------------------------------------------------------

BLOCK_ROWS = 1 << 18  # rows per block of the Arrow checks: their temporaries are a block's, not the slice's


def arrow_text_dtype(type_: pa.DataType) -> pd.StringDtype | None:
    """Text stays in Arrow when a slice becomes pandas (no Python string per row): pandas' pyarrow strings."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return pd.StringDtype("pyarrow")
    return None


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """A slice as pandas, as the reader has always handed it to the pandas contract and the tests."""
    return table.to_pandas(types_mapper=arrow_text_dtype)


def check_replay_table(table: pa.Table, where: str) -> None:
    """``validate_replay_slice`` for one symbol's bars as an Arrow table (file order), on the
    table's own buffers in blocks of ``BLOCK_ROWS``: no pandas copy of the slice. When a check
    fails (or a column has a type the Arrow checks do not know) the pandas contract runs on the
    slice and raises, so the messages are exactly its messages."""
    if not _replay_table_ok(table):
        validate_replay_slice(arrow_frame(table), where)


def check_feature_table(table: pa.Table, where: str) -> None:
    """``validate_feature_slice`` for one symbol's feature rows as an Arrow table (file order); as
    ``check_replay_table``, the pandas contract names the problems when there are any."""
    if not _feature_table_ok(table):
        validate_feature_slice(arrow_frame(table), where)


def _dtypes_ok(table: pa.Table, kinds: dict[str, str]) -> bool:
    """The column-type pass on the table's types; a column that pandas would read as an extension
    type (the file's pandas metadata names one, e.g. ``Float64``; text is read as pandas' pyarrow
    strings whatever the metadata says) is left to the pandas contract."""
    restored = _pandas_extension_columns(table.schema)
    return all(
        (name not in restored or arrow_text_dtype(table.schema.field(name).type) is not None)
        and _arrow_dtype_ok(table.column(name), kind)
        for name, kind in kinds.items()
        if name in table.column_names and kind != ANY  # any type passes
    )


def _pandas_extension_columns(schema: pa.Schema) -> set[str]:
    """Columns whose pandas metadata (written by ``DataFrame.to_parquet``) restores a pandas
    extension dtype in ``to_pandas``, or names a type this does not know."""
    import json

    raw = (schema.metadata or {}).get(b"pandas")
    if raw is None:
        return set()
    try:
        columns = json.loads(raw).get("columns", [])
    except (ValueError, AttributeError):
        return set(schema.names)
    out = set()
    for column in columns:
        if not isinstance(column, dict):
            return set(schema.names)
        name = column.get("field_name", column.get("name"))
        try:
            dtype = pd.api.types.pandas_dtype(column.get("numpy_type"))
        except (TypeError, ValueError):
            out.add(name)
            continue
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            out.add(name)
    return out


def _arrow_dtype_ok(column: pa.ChunkedArray, kind: str) -> bool:
    """True only where ``_dtype_problem`` passes the column as pandas would read it (False may
    also mean "not known here": the pandas contract then decides)."""
    type_ = column.type
    if kind == TIME:
        return pa.types.is_timestamp(type_)
    if kind == EPOCH_MS:
        return type_ == pa.int64() and column.null_count == 0  # nulls would read as float64
    if kind == NUMBER:
        return pa.types.is_integer(type_) or pa.types.is_floating(type_)
    if kind == ID:
        integer = pa.types.is_integer(type_) and column.null_count == 0
        return integer or pa.types.is_string(type_) or pa.types.is_large_string(type_)
    return True


def _block_floats(block: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for a missing value, as ``_float`` on its pandas column."""
    values = block.column(name).combine_chunks().to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype="float64")


def _block_ints(block: pa.Table, name: str) -> np.ndarray:
    """An int64 or timestamp column's raw 64-bit values (a timestamp's are UTC in its unit)."""
    array = block.column(name).combine_chunks()
    if pa.types.is_timestamp(array.type):
        array = array.view(pa.int64())
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype="int64")


class _Unique:
    """Whether the keys of a column, fed block by block, are all distinct: true at once while
    they are strictly increasing (file order usually is), else decided on all of them at the end."""

    def __init__(self) -> None:
        self.increasing = True
        self.last: object = None

    def add(self, block: pa.Array) -> None:
        if not self.increasing or not len(block):
            return
        if self.last is not None and not pc.less(self.last, block[0]).as_py():
            self.increasing = False
            return
        if len(block) > 1 and not pc.all(pc.less(block[:-1], block[1:])).as_py():
            self.increasing = False
            return
        self.last = block[len(block) - 1]

    def unique(self, column: pa.ChunkedArray) -> bool:
        if self.increasing:
            return True
        if pa.types.is_integer(column.type):
            keys = np.sort(np.asarray(column.combine_chunks().to_numpy(zero_copy_only=False)))
            return not bool((keys[1:] == keys[:-1]).any())
        return len(pc.unique(column)) == len(column)


def _times_ok(block: pa.Table) -> bool:
    """``_time_checks`` pass: no missing event time, minute-aligned open times that equal it."""
    if block.column("event_time").null_count:
        return False
    open_ms = _block_ints(block, "open_time_ms")
    if (open_ms % MINUTE_MS != 0).any():
        return False
    unit = block.schema.field("event_time").type.unit
    return bool(_instant_agrees(_block_ints(block, "event_time"), unit, open_ms).all())


def _numbers_ok(block: pa.Table, columns: Sequence[str], nonnegative: Sequence[str]) -> bool:
    """No infinite value, and no finite negative one in ``nonnegative``."""
    for column in columns:
        values = _block_floats(block, column)
        if np.isinf(values).any():
            return False
        if column in nonnegative:
            with np.errstate(invalid="ignore"):
                if (values < 0).any():
                    return False
    return True


class ArrowChecks:
    """The Arrow twin of one file's pandas contract, fed block by block (the whole slice, or the
    batches of a streamed read): ``add`` is False as soon as a block fails a check, ``finish``
    whether the slice's keys are unique (settled as they come while they increase, else on the
    ``undecided`` key columns). ``streamable`` stays True while bars come in time order, so a
    streamed slice needs no sort."""

    def __init__(self, kinds: dict[str, str], keys: Sequence[str], ordered: str | None = None):
        self.kinds, self.ordered = kinds, ordered
        self.keys = {k: _Unique() for k in keys}
        self.last_time: int | None = None
        self.in_order = True

    @property
    def streamable(self) -> bool:
        return self.in_order

    @property
    def undecided(self) -> list[str]:
        """The keys whose uniqueness needs all of them (they did not increase)."""
        return [k for k, u in self.keys.items() if not u.increasing]

    def add(self, block: pa.Table) -> bool:
        if not _dtypes_ok(block, self.kinds) or not self._rows_ok(block):
            return False
        for key, unique in self.keys.items():
            unique.add(block.column(key).combine_chunks())
        if self.ordered is not None and self.in_order and block.num_rows and not block.column(self.ordered).null_count:
            times = _block_ints(block, self.ordered)
            first = int(times[0])
            self.in_order = bool((times[1:] >= times[:-1]).all()) and (self.last_time is None or first >= self.last_time)
            self.last_time = int(times[-1])
        return True

    def finish(self, table: pa.Table | None = None) -> bool:
        """Whether the keys are unique: known while they increased, else decided on ``table``'s
        columns of the ``undecided`` keys."""
        if not self.undecided:
            return True
        if table is None:
            raise ValueError("keys that do not increase are checked on all of them")
        return all(self.keys[k].unique(table.column(k)) for k in self.undecided)

    def _rows_ok(self, block: pa.Table) -> bool:
        raise NotImplementedError

    def table_ok(self, table: pa.Table) -> bool:
        """The whole slice, in blocks of ``BLOCK_ROWS``."""
        if not table.num_rows:
            return _dtypes_ok(table, self.kinds)
        for start in range(0, table.num_rows, BLOCK_ROWS):
            if not self.add(table.slice(start, BLOCK_ROWS)):
                return False
        return self.finish(table)


class ReplayChecks(ArrowChecks):
    def __init__(self) -> None:
        super().__init__(REPLAY_KINDS, ["open_time_ms"], ordered="event_time")

    def _rows_ok(self, block: pa.Table) -> bool:
        if not _times_ok(block) or not _numbers_ok(block, [*PRICE_COLUMNS, "spread_bps"], ["spread_bps"]):
            return False
        tiny = np.finfo(np.float64).tiny
        prices = {c: _block_floats(block, c) for c in PRICE_COLUMNS}
        with np.errstate(invalid="ignore"):
            for values in prices.values():
                if ((values <= 0) | (values < tiny)).any():  # NaN compares false: missing prices pass
                    return False
            high, low, close = prices["high"], prices["low"], prices["close"]
            return not ((high < low).any() or (close < low).any() or (close > high).any())


class FeatureChecks(ArrowChecks):
    def __init__(self) -> None:
        super().__init__(FEATURE_KINDS, ["sample_id", "open_time_ms"])

    def _rows_ok(self, block: pa.Table) -> bool:
        if block.column("sample_id").null_count:
            return False
        numeric = [
            c for c in ("spread_bps", "spread_rank_24h_pct", "realized_vol_15m_bps", "ret_15m_bps") if c in block.column_names
        ]
        if not _times_ok(block) or not _numbers_ok(block, numeric, ["spread_bps", "realized_vol_15m_bps"]):
            return False
        rank = _block_floats(block, "spread_rank_24h_pct")
        with np.errstate(invalid="ignore"):
            return not ((rank < 0) | (rank > 1)).any()


def _replay_table_ok(table: pa.Table) -> bool:
    return ReplayChecks().table_ok(table)


def _feature_table_ok(table: pa.Table) -> bool:
    return FeatureChecks().table_ok(table)
