"""The one place that silences Dagster's Beta and Preview warnings.

The APIs behind them are what this project relies on on purpose: partitioned asset check specs
(preview in 1.13), ``MultiToSingleDimensionPartitionMapping``, observable sources and data
versions (beta in name; staleness is built on them), and dagster-pandas (beta as a whole). The
warnings say nothing actionable at each definition, so the definitions are built inside
``accepted_preview_apis()``; any other warning still shows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import BetaWarning, PreviewWarning


@contextmanager
def accepted_preview_apis() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        yield
