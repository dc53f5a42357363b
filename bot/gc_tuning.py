"""Garbage-collector settings for a long-running bot process.

A turn allocates thousands of short-lived objects (messages, pydantic models, request
dicts). With CPython's default young-generation threshold (700 allocations) the collector
runs several times per turn, and every few runs it walks the roughly 190,000 objects that
the libraries created at import time. Measured at 100 conversations, that was 12-14% of a
turn's CPU (`bench/README.md`, figure 2, step 10).

Freezing what exists once the process is up takes those objects out of every later
collection, and a larger young generation makes collections rarer. Reference cycles are
still collected, only a little later.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_GENERATION_THRESHOLD = 20_000


def freeze_what_exists() -> None:
    """Collect once, then keep every object that exists out of all later collections.

    For objects that live as long as the process: right after the imports (the collector
    would otherwise walk those ~180,000 objects two more times before the bot is ready), and
    again once it is ready.
    """
    gc.collect()
    gc.freeze()


def tune_for_serving() -> None:
    """Call once a serving process is ready (imports done, graph compiled, clients open)."""
    freeze_what_exists()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


@contextmanager
def paused_for_imports() -> Iterator[None]:
    """No garbage collection while the block runs: for importing the libraries at start-up.

    Importing langchain, openai, langgraph and a platform SDK creates about 180,000 objects
    that live as long as the process, and the collector walks them again and again while
    they are being made: 3 full and 34 middle collections, 0.47 s of a 3.2 s import. Cycles
    made meanwhile are collected afterwards (entry points end the block with
    `freeze_what_exists`, which collects them first).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def serving_gc() -> Iterator[None]:
    """`tune_for_serving` for the block; then unfreeze everything and restore the thresholds.

    For benchmarks and tests that share a process with code which never froze anything.
    """
    thresholds = gc.get_threshold()
    tune_for_serving()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
