"""The path-statistics kernel: pure numpy/numba, no Dagster or pandas, so it can be tested and
benchmarked alone.

Its names are loaded on first use (PEP 562): importing a light submodule (``kernel.units``) or the
code location does not import numba; the kernel modules themselves import it when a step runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from label_pipeline.kernel.path_stats import PathStats, SideStats, compute_path_stats, warm_up

__all__ = ["PathStats", "SideStats", "compute_path_stats", "warm_up"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from label_pipeline.kernel import path_stats

        return getattr(path_stats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
