"""Resources: how the assets reach the kernel, the configs and the input runs."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from label_pipeline import kernel  # its names load the numba kernel on first use, not here
from label_pipeline.config import CHUNK_DAYS, EffectiveConfig, load_effective_config
from label_pipeline.inputs import RunFiles, run_files
from label_pipeline.labels.path_stats_frame import KernelFn


class PathStatsKernel(ConfigurableResource):
    """The one path-statistics implementation, shared by entry and continue/exit/risk labels."""

    warm_up: bool = Field(
        default=True, description="Load the compiled kernel when a step starts, not on its first call."
    )
    chunk_days: int = Field(
        default=CHUNK_DAYS,
        gt=0,
        description="Feature rows per chunk of a partition's single pass, in days of 1-minute rows: peak "
        "memory follows the chunk, not the span (label_pipeline.engine).",
    )

    charts: bool = Field(
        default=True,
        description="Draw the per-partition charts (entry-label quality, the sweep's heat map); about half "
        "a second a partition (env LABEL_PIPELINE_CHARTS=0 turns them off).",
    )

    @property
    def chunk_rows(self) -> int:
        return self.chunk_days * 1440

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.warm_up:
            kernel.warm_up()

    @property
    def compute(self) -> KernelFn:
        """The kernel function (``label_pipeline.kernel.compute_path_stats``)."""
        return kernel.compute_path_stats


class LabelConfig(ConfigurableResource):
    """Label and cost overrides (partial JSON files merged into the reference defaults) and the plan id."""

    label_config_path: str | None = Field(
        default=None, description="Partial JSON override of the label config."
    )
    cost_config_path: str | None = Field(
        default=None, description="Partial JSON override of the cost config."
    )
    price_plan_id: str = Field(
        default="default", description="Identifier of the price plan written into entry labels."
    )

    def effective(self) -> EffectiveConfig:
        return load_effective_config(self.label_config_path, self.cost_config_path, self.price_plan_id)


class RunsRoot(ConfigurableResource):
    """The folder of input runs, ``{root}/{run_id}/feature|replay/...`` as the reference lays them out."""

    root: str = Field(description="Runs root (env LABEL_PIPELINE_RUNS_ROOT).")

    def files(self, run_id: str) -> RunFiles:
        return run_files(self.root, run_id)
