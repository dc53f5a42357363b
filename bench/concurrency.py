"""Figure 2: N people talking at once while every model call takes `latency` seconds.

N distinct people each hold a DM conversation at the same time, sending their next message
as soon as the reply arrives (`rounds` messages each). Throughput is turns/s against the
ideal N / latency (every turn costing exactly one model latency).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.measure import Figures, bot_settings, sqlite_url
from bench.platforms import slack_bot_process
from bench.processes import model_process
from bench.seed_baseline import SeedBot
from bench.workload import chat_line, direct_message
from bot.runtime import open_runtime

TARGET_FRACTION = 0.9


async def _rounds(
    n: int, rounds: int, latency: float, one_turn: Callable[[int, str], Awaitable[object]]
) -> dict[str, Any]:
    """N conversations at once, each sending its next message as soon as it has the reply."""

    async def conversation(person: int) -> None:
        for round_index in range(rounds):
            await one_turn(person, chat_line(round_index * n + person))

    started = time.perf_counter()
    await asyncio.gather(*(conversation(person) for person in range(n)))
    elapsed = time.perf_counter() - started
    turns_per_s = n * rounds / elapsed
    ideal = n / latency
    return {
        "n": n,
        "rounds": rounds,
        "seconds": round(elapsed, 3),
        "turns_per_s": round(turns_per_s, 2),
        "ideal_turns_per_s": round(ideal, 2),
        "fraction_of_ideal": round(turns_per_s / ideal, 3),
    }


async def _service(model_url: str, latency: float, workdir: Path, n: int, rounds: int) -> dict[str, Any]:
    async with open_runtime(bot_settings(model_url, sqlite_url(workdir, f"concurrency_{n}.db"))) as runtime:

        async def one_turn(person: int, text: str) -> None:
            reply = await runtime.service.handle(direct_message(person, text))
            if reply.failed:
                raise RuntimeError(f"turn failed: {reply.text}")

        return await _rounds(n, rounds, latency, one_turn)


async def _slack(model_url: str, latency: float, workdir: Path, n: int, rounds: int) -> dict[str, Any]:
    url = sqlite_url(workdir, f"concurrency_slack_{n}.db")
    try:
        async with slack_bot_process(model_url, url, n, workdir) as (driver, _):
            return await _rounds(n, rounds, latency, driver.dm)
    except Exception as exc:
        return {"n": n, "error": f"{type(exc).__name__}: {exc}"[:300]}


async def _seed(model_url: str, latency: float, n: int) -> dict[str, Any]:
    # The notebook's graph is synchronous: served from an async bot, it runs in the default
    # thread pool (min(32, cpus + 4) workers), as `asyncio.to_thread` does.
    seed = SeedBot(model_url)

    async def one_turn(person: int, text: str) -> None:
        await asyncio.to_thread(seed.turn, f"person{person}", f"dm:person{person}", text)

    return await _rounds(n, 1, latency, one_turn)


async def run(*, quick: bool, workdir: Path) -> Figures:
    """The fake model runs in its own process, as a real one would; so does the Slack bot."""
    sizes, latency, rounds = ((2, 5), 0.2, 1) if quick else ((10, 100, 200), 1.0, 3)
    rows: dict[str, list[dict[str, Any]]] = {"seed": [], "service": [], "slack": []}
    async with model_process(latency, workdir) as model_url:
        for n in sizes:
            rows["seed"].append(await _seed(model_url, latency, n))
            rows["service"].append(await _service(model_url, latency, workdir, n, rounds))
            rows["slack"].append(await _slack(model_url, latency, workdir, n, rounds))
    largest = rows["service"][-1]
    return {
        "latency_s": latency,
        "target_fraction": TARGET_FRACTION,
        "rows": rows,
        "meets_target": largest["fraction_of_ideal"] >= TARGET_FRACTION,
        "slack_meets_target": rows["slack"][-1].get("fraction_of_ideal", 0) >= TARGET_FRACTION,
    }
