"""Resources: how the assets reach the kernel, the configs and the input runs."""

from __future__ import annotations

import os
import threading
from typing import Literal

import pyarrow as pa
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
        description="Draw the per-partition charts (entry-label quality, the sweep's heat map; SVG, a few "
        "milliseconds a partition; env LABEL_PIPELINE_CHARTS=0 turns them off).",
    )

    arrow_allocator: Literal["jemalloc", "mimalloc", "system", "default"] = Field(
        default="jemalloc",
        description="The Arrow memory pool the label steps' processes allocate from. jemalloc keeps a "
        "partition's peak ~50 MB under Arrow's default (mimalloc) at the same speed (BENCHMARKS.md); "
        "'default' leaves Arrow's choice, as does setting ARROW_DEFAULT_MEMORY_POOL.",
    )

    @property
    def chunk_rows(self) -> int:
        return self.chunk_days * 1440

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.warm_up:
            # on a thread: importing numba and loading its cache (~0.5 s in a fresh process, the
            # LLVM part releasing the GIL) overlaps the step's input reads; a kernel called before
            # it is done waits on numba's compiler lock, then runs. The target is a function, not
            # ``kernel.warm_up``, whose attribute access would do the import on this thread.
            threading.Thread(target=_warm_up_kernel, name="kernel-warm-up", daemon=True).start()
        use_arrow_allocator(self.arrow_allocator)

    @property
    def compute(self) -> KernelFn:
        """The kernel function (``label_pipeline.kernel.compute_path_stats``)."""
        return kernel.compute_path_stats


def _warm_up_kernel() -> None:
    from label_pipeline.kernel import buckets  # the quality figures' counting loop

    kernel.warm_up()
    buckets.warm_up()


def use_arrow_allocator(name: str) -> None:
    """Make ``name`` Arrow's default pool in this process (a step's run worker allocates for the
    step alone); buffers already allocated keep their pool. A pool this pyarrow was built without
    (jemalloc on Windows) leaves the default as it is."""
    if name == "default" or os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    pools = {"jemalloc": pa.jemalloc_memory_pool, "mimalloc": pa.mimalloc_memory_pool, "system": pa.system_memory_pool}
    try:
        pool = pools[name]()
    except NotImplementedError:
        return
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)


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
