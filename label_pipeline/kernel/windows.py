"""Label windows of one partition (one symbol of one run): label ends, split / fold leakage flags
and the average uniqueness of overlapping labels (Lopez de Prado, AFML ch. 4), plus the purge /
embargo / boundary counts a caller checks a walk-forward layout with.

Inputs (one entry per feature row, in the feature rows' order, which need not be time order):

* ``event_time_ms``: int64 epoch milliseconds, whole minutes, distinct within the partition
  (checked: anything else raises ``ValueError``). Gaps of any length are fine.
* ``split_codes`` / ``fold_codes``: int64 codes (the caller factorizes the strings; a missing value
  is just one more code).
* ``labelled``: 0/1 (or bool) per row for one label family; ``horizon`` H >= 1 whole minutes.

Outputs, one per row, in the order of ``rows`` (default: every row, in input order):

* ``labelled`` (int8): the input flags.
* ``label_end_ms`` (int64 epoch ms): ``event_time + (H + 1) minutes`` where labelled, else
  ``NO_LABEL_END`` (= int64 min, which is exactly NaT once viewed as ``datetime64[ms]``).
* ``crosses_split`` / ``crosses_fold`` (int8, every row, labelled or not): 1 iff some row of the
  partition has an event time in ``(t, t + H]`` and a different split / fold code.
* ``avg_uniqueness`` (float64, NaN where not labelled): a labelled row's span is the minutes
  ``t + 1 .. t + H``; c(m) is the number of labelled rows of the family whose span holds minute m;
  the value is the mean of 1 / c(m) over the row's H span minutes.

API:

* ``label_windows(event_time_ms, split_codes, fold_codes, labelled, horizon, rows=None)`` returns
  a ``LabelWindows`` (one family); ``LabelWindows.columns(family)`` names the arrays
  ``{family}_labelled``, ``{family}_label_end``, ``{family}_crosses_split``,
  ``{family}_crosses_fold``, ``{family}_avg_uniqueness``.
* ``label_windows_families(event_time_ms, split_codes, fold_codes, {family: (labelled, H)},
  rows=None)`` returns those columns for several families, sharing the sort and the split / fold
  passes (same values as one ``label_windows`` call per family).
* ``rows`` selects the rows to output: ``None`` (all, in input order), a boolean mask, or
  non-negative integer positions (output in that order). All rows given still count as context.

Chunking: the outputs of the rows with event time in ``[t0, t1)`` depend only on the rows with
event time in ``[t0 - H, t1 + H]`` (minutes; H the largest horizon of the call). Pass exactly
those (or any superset, e.g. the whole partition) as the arrays and select the chunk's rows with
``rows``; ``chunk_selection`` computes both. The results are then identical to the whole-
partition call, bit for bit, whatever the chunk boundaries: the flags and ends are exact, the
counts c(m) are exact integers, and each row's float sum is a fixed function of c on its own span
(see below), never a difference of running sums whose rounding depends on where the data starts.

Algorithm (O(N) time and memory after one sort, whatever H and however long the gaps; the sort
is skipped when the rows are already in time order):

* crossing flags: in time order, ``nxt[p]`` = the first later position whose code differs from
  position p's (one right-to-left pass, shared by all families); row p crosses iff
  ``time[nxt[p]] - time[p] <= H``.
* uniqueness: c(m) is piecewise constant between the breakpoints "span start" (t + 1), "span
  end" (t + H + 1) and "block cut" (the one multiple of H inside each span, blocks being the
  absolute minute ranges ``[kH, kH + H)``). A span of H minutes is the suffix of one block plus the
  prefix of the next (or exactly one block). A forward sweep over the breakpoints keeps each
  block's running prefix sum of ``len / c`` over constant segments and a backward sweep its
  suffix sum; a row's sum is ``suffix(its start) + prefix(its end)``. Both pieces add only
  segments inside the row's span, in an order fixed by absolute block boundaries, so chunking
  cannot change a bit. Memory is O(number of labelled rows), never O(minutes spanned).

Purge / embargo / boundaries (whole partition, plain dicts of arrays):

* ``purge_embargo_counts(event_time_ms, fold_codes, labelled, horizon, embargo_minutes)``: for
  each fold g as the test fold, with ``first`` / ``last`` its rows' earliest / latest event time:
  a labelled row i of another fold is purged iff its span ``t_i + 1 .. t_i + H`` (minutes)
  intersects ``[first, last]``, i.e. ``first - H <= t_i <= last - 1``; it is embargoed iff it is
  not purged and ``last < t_i <= last + E``. (Unlabelled rows are not counted.)
* ``boundary_crossings(event_time_ms, codes, labelled, horizon)``: in time order, a boundary is a
  row p whose code differs from the previous row's; it counts the labelled rows whose window
  ``(t_i, t_i + H]`` holds ``t_p`` (they straddle the boundary; each has crosses = 1, and a row can
  straddle several boundaries). ``boundary_pair_counts`` sums those per ``(from_code, to_code)``.

Numba functions only fill arrays the wrapper allocated with numpy (tracemalloc sees all memory);
compilation is lazy and ``warm_up`` compiles (or loads from the on-disk cache) all of them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numba import njit

from label_pipeline.kernel.units import MINUTE_MS

__all__ = [
    "NO_LABEL_END",
    "LabelWindows",
    "boundary_crossings",
    "boundary_pair_counts",
    "chunk_selection",
    "label_windows",
    "label_windows_families",
    "purge_embargo_counts",
    "warm_up",
]

NO_LABEL_END = int(np.iinfo(np.int64).min)  # int64 NaT: view("datetime64[ms]") gives NaT

# Same settings as path_stats: numpy semantics for float errors, no GIL so partitions can run in
# threads, on-disk cache.
_jit = njit(cache=True, error_model="numpy", nogil=True)


@dataclass(frozen=True)
class LabelWindows:
    """One family's columns for the selected rows, in the order of ``rows``."""

    row_index: np.ndarray  # int64: input position of each output row
    labelled: np.ndarray  # int8
    label_end_ms: np.ndarray  # int64 epoch ms, NO_LABEL_END where not labelled
    crosses_split: np.ndarray  # int8
    crosses_fold: np.ndarray  # int8
    avg_uniqueness: np.ndarray  # float64, NaN where not labelled

    def __len__(self) -> int:
        return int(self.row_index.shape[0])

    def columns(self, family: str) -> dict[str, np.ndarray]:
        return {
            f"{family}_labelled": self.labelled,
            f"{family}_label_end": self.label_end_ms,
            f"{family}_crosses_split": self.crosses_split,
            f"{family}_crosses_fold": self.crosses_fold,
            f"{family}_avg_uniqueness": self.avg_uniqueness,
        }


# --------------------------------------------------------------------------------------------
# compiled passes (each fills preallocated arrays; none allocates)
# --------------------------------------------------------------------------------------------


@_jit
def _next_different(codes, order, nxt):
    # nxt[p]: first time-ordered position q > p with a different code, n if none.
    n = order.shape[0]
    if n == 0:
        return
    nxt[n - 1] = n
    for p in range(n - 2, -1, -1):
        if codes[order[p + 1]] != codes[order[p]]:
            nxt[p] = p + 1
        else:
            nxt[p] = nxt[p + 1]


@_jit
def _fill_crosses(minutes, nxt, horizon, order, out):
    # minutes in time order; out is in input order (order[p] = input position of position p).
    n = minutes.shape[0]
    for p in range(n):
        q = nxt[p]
        if q < n and minutes[q] - minutes[p] <= horizon:
            out[order[p]] = 1
        else:
            out[order[p]] = 0


@_jit
def _block_cut(minute, horizon):
    # The one multiple of H among minute + 1 .. minute + H (numba's // floors like Python's).
    return ((minute + horizon) // horizon) * horizon


@_jit
def _fill_uniqueness(lab, horizon, dest, out, pre_end):
    # lab: the labelled rows' minutes, increasing; row k's span is [lab[k] + 1, lab[k] + h + 1).
    # Breakpoints: starts lab + 1, ends lab + h + 1 and block cuts (all three sequences are
    # non-decreasing, so a three-way merge visits them in order, O(n)). Between breakpoints c is
    # constant; c > 0 segments never straddle a block cut (every covered minute lies in some span,
    # whose block cut is a breakpoint), so each belongs to one block.
    n = lab.shape[0]
    if n == 0:
        return
    h = horizon

    # Forward: pre = sum of len / c over the current block's segments so far, left to right.
    # pre_end[k] = that sum at row k's end, i.e. over [block cut of k, end of k).
    i_s = 0
    i_e = 0
    i_c = 0
    c = 0
    prev = lab[0] + 1
    block = (lab[0] + 1) // h - 1  # differs from the first segment's block
    pre = 0.0
    while i_e < n:
        q = lab[i_e] + h + 1
        if i_s < n and lab[i_s] + 1 < q:
            q = lab[i_s] + 1
        if i_c < n:
            cut = _block_cut(lab[i_c], h)
            if cut < q:
                q = cut
        if c > 0:  # segment [prev, q)
            b = prev // h
            if b != block:
                pre = 0.0
                block = b
            pre = pre + float(q - prev) / float(c)
        if lab[i_e] + h + 1 == q:
            pre_end[i_e] = pre
            i_e += 1
            c -= 1
        if i_s < n and lab[i_s] + 1 == q:
            i_s += 1
            c += 1
        while i_c < n and _block_cut(lab[i_c], h) == q:
            i_c += 1
        prev = q

    # Backward: suf = sum over the current block's segments from here to the block's end, added
    # right to left. At row k's start it is the sum over [start of k, block cut of k) (or over the
    # whole span when the start is itself the cut); add pre_end[k] for the rest of the span.
    i_s = n - 1
    i_e = n - 1
    i_c = n - 1
    c = 0
    nxt = lab[n - 1] + h + 1
    block = (lab[n - 1] + h) // h + 1  # beyond every segment's block
    suf = 0.0
    while i_s >= 0:
        x = lab[i_s] + 1
        if i_e >= 0 and lab[i_e] + h + 1 > x:
            x = lab[i_e] + h + 1
        if i_c >= 0:
            cut = _block_cut(lab[i_c], h)
            if cut > x:
                x = cut
        if c > 0:  # segment [x, nxt)
            b = x // h
            if b != block:
                suf = 0.0
                block = b
            suf = float(nxt - x) / float(c) + suf
        if lab[i_s] + 1 == x:
            total = suf
            if _block_cut(lab[i_s], h) != x:
                total = suf + pre_end[i_s]
            out[dest[i_s]] = total / h
            i_s -= 1
            c -= 1  # left of a start, one span fewer
        if i_e >= 0 and lab[i_e] + h + 1 == x:
            i_e -= 1
            c += 1  # left of an end, one span more
        while i_c >= 0 and _block_cut(lab[i_c], h) == x:
            i_c -= 1
        nxt = x


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _int_array(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    # A read-only array is a distinct numba type: it would trigger (and cache) a second compile.
    if not out.flags.writeable:
        out = out.copy()
    return out


def _flags(name: str, values: object, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "biu":
        raise ValueError(f"{name} must hold 0/1 flags, got dtype {arr.dtype}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries for {n} rows")
    if arr.dtype.kind != "b" and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold only 0 and 1")
    return np.ascontiguousarray(arr, dtype=np.int8)


def _check_minutes(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer number of minutes, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum} minute(s), got {int(value)}")
    return int(value)


def _check_horizon(value: object) -> int:
    return _check_minutes("horizon", value, 1)


class _Timeline:
    """The rows in time order: ``order[p]`` is the input position of time-ordered position p."""

    def __init__(self, event_time_ms: object) -> None:
        t = _int_array("event_time_ms", event_time_ms)
        if np.any(t % MINUTE_MS != 0):
            raise ValueError("event_time_ms must be whole minutes (multiples of 60000 ms)")
        n = t.shape[0]
        if n < 2 or bool(np.all(t[1:] > t[:-1])):
            order = np.arange(n, dtype=np.int64)
            minutes = t // MINUTE_MS
        else:
            order = np.argsort(t, kind="stable").astype(np.int64, copy=False)
            minutes = t[order]
            if np.any(minutes[1:] == minutes[:-1]):
                raise ValueError("event_time_ms must be distinct within a partition")
            minutes //= MINUTE_MS
        self.time_ms = t
        self.order = order
        self.minutes = minutes

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    def next_different(self, name: str, codes: object) -> np.ndarray:
        c = _int_array(name, codes)
        if c.shape[0] != len(self):
            raise ValueError(f"{name} has {c.shape[0]} entries for {len(self)} rows")
        nxt = np.empty(len(self), np.int64)
        _next_different(c, self.order, nxt)
        return nxt


def _row_selection(rows: object, n: int) -> np.ndarray | None:
    if rows is None:
        return None
    arr = np.asarray(rows)
    if arr.ndim != 1:
        raise ValueError(f"rows must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        if arr.shape[0] != n:
            raise ValueError(f"a boolean rows mask must have {n} entries, got {arr.shape[0]}")
        return np.flatnonzero(arr).astype(np.int64, copy=False)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"rows must be a boolean mask or integer positions, got dtype {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if out.size and (int(out.min()) < 0 or int(out.max()) >= n):
        raise ValueError(f"rows must be positions in 0..{n - 1}")
    return out


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _family(
    line: _Timeline,
    nxt_split: np.ndarray,
    nxt_fold: np.ndarray,
    name: str,
    labelled: object,
    horizon: object,
    rows: np.ndarray | None,
) -> LabelWindows:
    h = _check_horizon(horizon)
    n = len(line)
    lab = _flags(name, labelled, n)
    is_lab = lab == 1

    crosses_split = np.empty(n, np.int8)
    _fill_crosses(line.minutes, nxt_split, h, line.order, crosses_split)
    crosses_fold = np.empty(n, np.int8)
    _fill_crosses(line.minutes, nxt_fold, h, line.order, crosses_fold)

    label_end = np.full(n, NO_LABEL_END, np.int64)
    label_end[is_lab] = line.time_ms[is_lab] + (h + 1) * MINUTE_MS

    uniqueness = np.full(n, np.nan)
    in_time = is_lab[line.order]
    lab_minutes = line.minutes[in_time]
    dest = line.order[in_time]
    del in_time
    _fill_uniqueness(lab_minutes, h, dest, uniqueness, np.empty(lab_minutes.shape[0], np.float64))
    del lab_minutes, dest

    if rows is None:
        return LabelWindows(
            np.arange(n, dtype=np.int64), lab, label_end, crosses_split, crosses_fold, uniqueness
        )
    return LabelWindows(
        rows, lab[rows], label_end[rows], crosses_split[rows], crosses_fold[rows], uniqueness[rows]
    )


def label_windows(
    event_time_ms: np.ndarray,
    split_codes: np.ndarray,
    fold_codes: np.ndarray,
    labelled: np.ndarray,
    horizon: int,
    rows: np.ndarray | None = None,
) -> LabelWindows:
    """One label family's window columns for the selected ``rows`` (see the module docstring for
    the definitions and the chunking contract). O(N) after one sort, skipped if already sorted."""
    line = _Timeline(event_time_ms)
    sel = _row_selection(rows, len(line))
    nxt_split = line.next_different("split_codes", split_codes)
    nxt_fold = line.next_different("fold_codes", fold_codes)
    return _family(line, nxt_split, nxt_fold, "labelled", labelled, horizon, sel)


def label_windows_families(
    event_time_ms: np.ndarray,
    split_codes: np.ndarray,
    fold_codes: np.ndarray,
    families: Mapping[str, tuple[np.ndarray, int]],
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Columns ``{f}_labelled``, ``{f}_label_end`` (int64 epoch ms, ``NO_LABEL_END`` for NaT),
    ``{f}_crosses_split``, ``{f}_crosses_fold``, ``{f}_avg_uniqueness`` for every family
    ``f -> (labelled, horizon)``, in family order; the sort and the split / fold passes are
    shared. For a chunk, pass the rows with event time in ``[t0 - H, t1 + H]`` with H the
    largest horizon (``chunk_selection``)."""
    line = _Timeline(event_time_ms)
    sel = _row_selection(rows, len(line))
    nxt_split = line.next_different("split_codes", split_codes)
    nxt_fold = line.next_different("fold_codes", fold_codes)
    out: dict[str, np.ndarray] = {}
    for family, (labelled, horizon) in families.items():
        result = _family(line, nxt_split, nxt_fold, f"{family} labelled", labelled, horizon, sel)
        out.update(result.columns(family))
    return out


def chunk_selection(
    event_time_ms: np.ndarray, t0_ms: int, t1_ms: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(context, rows)`` for the chunk ``[t0_ms, t1_ms)``: ``context`` are the input positions
    with event time in ``[t0 - H, t1 + H]`` (H in minutes, the largest horizon), ``rows`` the
    positions within ``context`` of the chunk's own rows. Then
    ``label_windows(t[context], split[context], fold[context], lab[context], H, rows)`` equals the
    whole-partition result at ``context[rows]``, bit for bit."""
    h = _check_horizon(horizon)
    t = _int_array("event_time_ms", event_time_ms)
    span = h * MINUTE_MS
    context = np.flatnonzero((t >= t0_ms - span) & (t <= t1_ms + span)).astype(np.int64, copy=False)
    tc = t[context]
    rows = np.flatnonzero((tc >= t0_ms) & (tc < t1_ms)).astype(np.int64, copy=False)
    return context, rows


def _labelled_in_time(line: _Timeline, labelled: object) -> tuple[np.ndarray, np.ndarray]:
    lab = _flags("labelled", labelled, len(line))[line.order]
    count = np.zeros(len(line) + 1, np.int64)
    np.cumsum(lab, out=count[1:])
    return lab, count


def _count_between(minutes: np.ndarray, count: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # Labelled rows with minute in [lo, hi] (0 when hi < lo).
    a = np.searchsorted(minutes, lo, side="left")
    b = np.searchsorted(minutes, hi, side="right")
    return np.maximum(count[b] - count[a], 0)


def purge_embargo_counts(
    event_time_ms: np.ndarray,
    fold_codes: np.ndarray,
    labelled: np.ndarray,
    horizon: int,
    embargo_minutes: int,
) -> dict[str, np.ndarray]:
    """Per fold code (ascending), that fold taken as the test fold: ``fold_code``, ``first_ms`` /
    ``last_ms`` (its rows' earliest / latest event time), ``n_rows``, ``n_labelled`` (its own),
    ``n_purged`` (labelled rows of other folds with ``first - H <= t <= last - 1`` minutes: their
    span ``t + 1 .. t + H`` meets ``[first, last]``) and ``n_embargoed`` (labelled rows of other
    folds with ``last < t <= last + E``; none of them can be purged). O(N + G log N)."""
    h = _check_horizon(horizon)
    e = _check_minutes("embargo_minutes", embargo_minutes, 0)
    line = _Timeline(event_time_ms)
    folds = _int_array("fold_codes", fold_codes)
    if folds.shape[0] != len(line):
        raise ValueError(f"fold_codes has {folds.shape[0]} entries for {len(line)} rows")
    lab, count = _labelled_in_time(line, labelled)
    folds = folds[line.order]
    codes, first, inverse, n_rows = np.unique(
        folds, return_index=True, return_inverse=True, return_counts=True
    )
    last = np.zeros(codes.shape[0], np.int64)
    last[inverse] = np.arange(len(line), dtype=np.int64)  # the later position wins
    n_lab = np.bincount(inverse, weights=lab, minlength=codes.shape[0]).astype(np.int64)
    m = line.minutes
    first_m = m[first]
    last_m = m[last]
    # Labelled rows of the test fold in [first - H, last - 1] are all but its last row.
    own = n_lab - lab[last].astype(np.int64)
    n_purged = _count_between(m, count, first_m - h, last_m - 1) - own
    n_embargoed = _count_between(m, count, last_m + 1, last_m + e)
    return {
        "fold_code": codes.astype(np.int64, copy=False),
        "first_ms": first_m * MINUTE_MS,
        "last_ms": last_m * MINUTE_MS,
        "n_rows": n_rows.astype(np.int64, copy=False),
        "n_labelled": n_lab,
        "n_purged": n_purged.astype(np.int64, copy=False),
        "n_embargoed": n_embargoed.astype(np.int64, copy=False),
    }


def boundary_crossings(
    event_time_ms: np.ndarray, codes: np.ndarray, labelled: np.ndarray, horizon: int
) -> dict[str, np.ndarray]:
    """Every boundary in time order (a row whose split or fold code differs from the previous
    row's): ``boundary_ms`` (that row's event time), ``from_code``, ``to_code`` and ``n_crossing``,
    the labelled rows whose window ``(t, t + H]`` holds ``boundary_ms`` (they leak across it)."""
    h = _check_horizon(horizon)
    line = _Timeline(event_time_ms)
    c = _int_array("codes", codes)
    if c.shape[0] != len(line):
        raise ValueError(f"codes has {c.shape[0]} entries for {len(line)} rows")
    _, count = _labelled_in_time(line, labelled)
    c = c[line.order]
    at = np.flatnonzero(c[1:] != c[:-1]) + 1
    m = line.minutes
    bm = m[at]
    return {
        "boundary_ms": bm * MINUTE_MS,
        "from_code": c[at - 1],
        "to_code": c[at],
        "n_crossing": _count_between(m, count, bm - h, bm - 1).astype(np.int64, copy=False),
    }


def boundary_pair_counts(
    event_time_ms: np.ndarray, codes: np.ndarray, labelled: np.ndarray, horizon: int
) -> dict[tuple[int, int], int]:
    """``boundary_crossings`` summed per ``(from_code, to_code)`` (pairs with 0 included)."""
    b = boundary_crossings(event_time_ms, codes, labelled, horizon)
    out: dict[tuple[int, int], int] = {}
    for f, t, k in zip(b["from_code"].tolist(), b["to_code"].tolist(), b["n_crossing"].tolist(), strict=True):
        out[(f, t)] = out.get((f, t), 0) + k
    return out


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every compiled function once."""
    t = np.array([3, 0, 1, 5], np.int64) * MINUTE_MS
    codes = np.array([1, 0, 0, 1], np.int64)
    label_windows_families(t, codes, codes, {"w": (np.array([1, 1, 0, 1], np.int8), 2)})
