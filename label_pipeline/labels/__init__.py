"""Pure label builders: frames in, frames out, one module per artifact. No Dagster here."""
