"""The path-statistics kernel: pure numpy/numba, no Dagster or pandas, so it can be tested and
benchmarked alone."""

from label_pipeline.kernel.path_stats import PathStats, SideStats, compute_path_stats, warm_up

__all__ = ["PathStats", "SideStats", "compute_path_stats", "warm_up"]
