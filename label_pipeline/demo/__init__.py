"""The demo and the ``label-pipeline`` command: sample data and whole-run materialization on one machine."""
