"""The bar unit every module shares: one minute in epoch milliseconds (the input files' open_time_ms step)."""

MINUTE_MS = 60_000
