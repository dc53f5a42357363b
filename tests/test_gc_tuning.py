"""The serving process's collector settings, and that the benchmark's use of them is undone."""

from __future__ import annotations

import gc

from bot.gc_tuning import YOUNG_GENERATION_THRESHOLD, serving_gc


def test_serving_gc_freezes_start_up_objects_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with serving_gc():
        assert gc.get_freeze_count() > 10_000  # every module, class and function loaded so far
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, before[1], before[2])
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cycles are still collected
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
