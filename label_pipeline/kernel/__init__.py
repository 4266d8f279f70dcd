"""The path-statistics kernel: pure numpy/numba, no Dagster or pandas, so it can be tested and
benchmarked alone."""
