"""The event loop every process of the bot runs on: uvloop where it is installed, else asyncio's.

uvloop is a dependency on every platform but Windows. A turn's CPU is a few milliseconds of
many small steps (socket reads, callbacks, futures), and the event loop's own share of that
is smaller on uvloop (`bench/README.md`, figure 2). Nothing in the bot depends on which loop
runs it: both implement the same `asyncio` API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop where it is installed."""
    try:
        import uvloop
    except ImportError:  # Windows: the standard loop
        return asyncio.run(main)
    return uvloop.run(main)


def running_loop_name() -> str:
    """Which implementation runs the current event loop: "uvloop" or "asyncio"."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
