"""Loading what a process keeps (modules, the code location, a Dagster instance) without paying
Python's cyclic garbage collector for it.

Each full collection traverses every tracked object the process holds. Once Dagster, pandas,
pyarrow and the code location are imported that is most of the heap, and none of it is garbage: it
lives as long as the process. In the cold ``label-pipeline rerun`` of a symbol-year the collector
took ~1 s of CPU (five full collections, ~0.15 s each; BENCHMARKS.md, "Seventh round") and found
nothing worth it. So the collector is held off while loading, and what was loaded is then frozen
(``gc.freeze``: moved where later collections do not look); the collector runs as usual on
everything made afterwards, so a long command (a backfill of many partitions) still frees its
cycles. The cost: cyclic garbage made while loading is never freed (the loaders make little).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0  # loading() blocks open: only the outermost freezes and turns the collector back on


@contextmanager
def loading() -> Iterator[None]:
    """Hold off the collector inside the block; freeze what exists when the outermost block ends."""
    global _depth
    was_enabled = gc.isenabled()
    gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.freeze()
        if was_enabled:
            gc.enable()


def loaded() -> None:
    """Freeze what the process holds now (a module that is the last thing a process loads, such as
    the code location, calls this at its end); inside a ``loading`` block the block does it."""
    if _depth == 0:
        gc.freeze()
