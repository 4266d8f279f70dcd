"""The path_stats resource chooses the Arrow pool of the step's process, unless the user did."""

from __future__ import annotations

import pyarrow as pa
import pytest

from label_pipeline.resources import use_arrow_allocator


@pytest.fixture
def restore_pool():
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _available(name: str) -> bool:
    try:
        getattr(pa, f"{name}_memory_pool")()
    except NotImplementedError:
        return False
    return True


@pytest.mark.parametrize("name", ["jemalloc", "mimalloc", "system"])
def test_the_configured_pool_becomes_the_default(restore_pool, monkeypatch, name) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool().backend_name
    use_arrow_allocator(name)
    assert pa.default_memory_pool().backend_name == (name if _available(name) else before)


def test_the_users_choice_and_default_are_left_alone(restore_pool, monkeypatch) -> None:
    before = pa.default_memory_pool().backend_name
    other = "system" if before != "system" else "mimalloc"
    use_arrow_allocator("default")
    assert pa.default_memory_pool().backend_name == before
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", before)
    use_arrow_allocator(other)
    assert pa.default_memory_pool().backend_name == before
