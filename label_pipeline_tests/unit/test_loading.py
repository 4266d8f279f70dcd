"""``label_pipeline.loading``: the collector is off inside a block, back as it was after it, and what
the outermost block loaded is frozen (nested blocks and ``loaded`` inside a block freeze nothing)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from label_pipeline.loading import loaded, loading


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_block_holds_the_collector_off_and_freezes_what_it_loaded() -> None:
    gc.enable()
    gc.unfreeze()
    with loading():
        assert not gc.isenabled()
        kept = Cycle()
        assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    # frozen: a full collection no longer sees it
    assert not any(o is kept for o in gc.get_objects())
    # what is made afterwards is collected as usual
    after = Cycle()
    assert any(o is after for o in gc.get_objects())


def test_only_the_outermost_block_freezes_and_re_enables() -> None:
    gc.enable()
    gc.unfreeze()
    with loading():
        with loading():
            Cycle()
        assert not gc.isenabled()
        assert gc.get_freeze_count() == 0
        loaded()  # inside a block: the block freezes
        assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with loading():
        pass
    assert not gc.isenabled()


def test_loaded_outside_a_block_freezes_now() -> None:
    gc.unfreeze()
    loaded()
    assert gc.get_freeze_count() > 0
