"""The serving process's collector settings, and that the benchmark's use of them is undone."""

from __future__ import annotations

import gc
import weakref

from bot.gc_tuning import YOUNG_GENERATION_THRESHOLD, freeze_what_exists, paused_for_imports, serving_gc


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


def test_imports_run_without_collections_and_the_collector_comes_back() -> None:
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with paused_for_imports():
            assert not gc.isenabled()
            garbage = [[] for _ in range(50_000)]  # far past the young generation's threshold
            del garbage
        assert collections == []
        assert gc.isenabled()
        gc.disable()
        with paused_for_imports():
            pass
        assert not gc.isenabled()  # a collector someone else turned off stays off
    finally:
        gc.enable()
        gc.callbacks.remove(count)


def test_freezing_after_the_imports_collects_their_garbage_first() -> None:
    class Node:
        pass

    garbage = Node()
    garbage.self = garbage  # a cycle: only the collector frees it
    alive = weakref.ref(garbage)
    del garbage
    try:
        with paused_for_imports():
            freeze_what_exists()
            assert alive() is None  # collected, not frozen for the life of the process
            assert gc.get_freeze_count() > 10_000
            assert gc.get_count()[0] < 100  # nothing left for the collector to walk on resuming
    finally:
        gc.unfreeze()
