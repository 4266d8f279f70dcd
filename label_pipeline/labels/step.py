"""What a label step hands its builders: the partition's inputs, the config, the stored plan, the
upstream artifacts it reads, and path statistics computed once per (horizon, target, stop).

Every builder named in the artifact registry is ``step(inputs: StepInputs) -> {artifact: frame}``.
Pure: no Dagster here; the assets fill a ``StepInputs`` and the tests and benchmarks can too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from label_pipeline import kernel as kernel_package
from label_pipeline.config import EffectiveConfig
from label_pipeline.labels.path_stats_frame import KernelFn, compute_for_replay

if TYPE_CHECKING:
    from label_pipeline.kernel.path_stats import PathStats


@dataclass
class StepInputs:
    config: EffectiveConfig
    features: pd.DataFrame | None = None
    replay: pd.DataFrame | None = None
    plan: dict[str, Any] | None = None  # the stored price plan, in its JSON keys (plan_from_frame)
    upstream: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    # the package's names load the numba kernel on first use (label_pipeline.kernel), not on import
    kernel: KernelFn = field(default_factory=lambda: kernel_package.compute_path_stats)
    _stats: dict[tuple[int, float, float], PathStats] = field(default_factory=dict, repr=False)

    def path_stats(self, horizon: int, target_bps: float, stop_bps: float) -> PathStats:
        """The replay's path stats at one horizon and pair of barriers, computed once per step."""
        key = (int(horizon), float(target_bps), float(stop_bps))
        if key not in self._stats:
            if self.replay is None:
                raise ValueError("path stats need the replay bars")
            self._stats[key] = compute_for_replay(self.kernel, self.replay, *key)
        return self._stats[key]

    def require(self, name: str) -> Any:
        """One of the step's inputs, with a clear error when the step was not given it."""
        value = {"features": self.features, "replay": self.replay, "plan": self.plan}.get(name)
        if value is None:
            value = self.upstream.get(name)
        if value is None:
            raise ValueError(f"this label step needs {name!r}, which it was not given")
        return value
