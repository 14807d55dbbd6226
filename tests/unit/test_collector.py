"""The freeze policy: objects of joined connections leave the collector's passes, and frozen
garbage (closed connections) is collected once as many have closed as are open."""

from __future__ import annotations

import asyncio
import gc
import weakref

from coordinator.realtime.collector import Collector
from tests.support.harness import run_async


class Cyclic:
    """Garbage only the cycle collector can free, as a closed connection is."""

    def __init__(self) -> None:
        self.me = self


def test_a_batch_of_joins_freezes_at_once_and_a_single_join_soon() -> None:
    async def scenario() -> None:
        collector = Collector(freeze_delay_s=0.05, freeze_batch=3)
        try:
            kept = [Cyclic() for _ in range(10)]
            for _ in range(3):
                collector.joined()
            assert collector.freezes == 1
            assert gc.get_freeze_count() >= len(kept)
            collector.joined()
            assert collector.freezes == 1
            await asyncio.sleep(0.2)
            assert collector.freezes == 2
        finally:
            collector.close()
        assert gc.get_freeze_count() == 0

    run_async(scenario(), timeout_s=30)


def test_frozen_garbage_is_collected_once_as_many_closed_as_are_open() -> None:
    async def scenario() -> None:
        collector = Collector(freeze_batch=1, min_recycle_closes=5)
        try:
            garbage = Cyclic()
            alive = weakref.ref(garbage)
            collector.joined()  # frozen with everything else
            del garbage
            gc.collect()
            assert alive() is not None  # a full pass does not see the frozen cycle
            for _ in range(4):
                collector.left(still_open=2)
            await asyncio.sleep(0.05)
            assert alive() is not None  # 4 closes: below the minimum of 5
            collector.left(still_open=2)
            await asyncio.sleep(0.05)
            assert alive() is None  # recycled: unfrozen, collected, survivors frozen again
            assert gc.get_freeze_count() > 0
            for _ in range(5):
                collector.left(still_open=100)
            assert collector.closes_since_recycle == 5  # 100 open: not yet due
        finally:
            collector.close()

    run_async(scenario(), timeout_s=30)
