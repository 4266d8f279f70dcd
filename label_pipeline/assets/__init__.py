"""Dagster assets: thin wiring around the pure input readers and label builders."""
