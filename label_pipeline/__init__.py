"""Training labels of a trading-ML system, built from 1-minute bars as Dagster assets."""

__version__ = "0.1.0"
