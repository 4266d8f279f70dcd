"""What runs the pipeline on its own: the run sensor, the backfill schedules, and the work finder."""
