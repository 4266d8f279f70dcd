"""What every module shares: the bar unit, one minute in epoch milliseconds (the input files'
open_time_ms step), and the two sides in the kernel's order (side 0 and 1 of its arrays; entry
labels give each feature row's LONG row, then its SHORT row)."""

MINUTE_MS = 60_000
SIDES = ("LONG", "SHORT")
