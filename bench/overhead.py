"""Figure 1: what a turn costs beyond the model call, p50 / p99, on SQLite.

Same workload for every row: `threads` DM conversations, `turns` plain text turns each,
round-robin, one at a time. Per turn: wall time minus the fake model's own handling time.

The platform rows run `python -m bot` as a child process, as it is deployed, against the
fake Slack or Discord and the fake model in this process: a real platform and model are
remote, so their servers' work does not land on the bot's process. The `ChatService` row
runs the core in this process with the collector tuned as `python -m bot` tunes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.measure import Figures, TimedFakeOpenAI, bot_settings, ratio, sqlite_url, summary_ms
from bench.platforms import discord_bot_process, slack_bot_process
from bench.seed_baseline import SeedBot
from bench.workload import chat_line, direct_message
from bot.gc_tuning import serving_gc
from bot.runtime import open_runtime

TARGET_P50_MS = 10.0
TARGET_P99_MS = 40.0
TARGET_SEED_RATIO = 2.0
WARMUP_TURNS = 5


async def _timed_turns(
    model: TimedFakeOpenAI, threads: int, turns: int, one_turn: Callable[[int, str], Awaitable[float]]
) -> dict[str, Any]:
    """Run the workload with `one_turn(person, text) -> seconds`; summarize wall and overhead."""
    for index in range(WARMUP_TURNS):
        await one_turn(threads + index, chat_line(index))
    wall: list[float] = []
    overhead: list[float] = []
    for turn in range(turns):
        for person in range(threads):
            mark = len(model.handling)
            seconds = await one_turn(person, chat_line(turn * threads + person))
            wall.append(seconds)
            overhead.append(seconds - model.model_time_since(mark))
    model.forget_history()
    figures = summary_ms(overhead)
    figures["wall_p50_ms"] = summary_ms(wall)["p50_ms"]
    figures["model_p50_ms"] = round(figures["wall_p50_ms"] - figures["p50_ms"], 3)
    return figures


async def _seed_row(model: TimedFakeOpenAI, threads: int, turns: int) -> dict[str, Any]:
    seed = SeedBot(model.base_url)

    async def one_turn(person: int, text: str) -> float:
        return await asyncio.to_thread(seed.turn, f"person{person}", f"dm:person{person}", text)

    return await _timed_turns(model, threads, turns, one_turn)


async def _service_row(model: TimedFakeOpenAI, workdir: Path, threads: int, turns: int) -> dict[str, Any]:
    async with open_runtime(
        bot_settings(model.base_url, sqlite_url(workdir, "overhead_service.db"))
    ) as runtime:

        async def one_turn(person: int, text: str) -> float:
            started = time.perf_counter()
            reply = await runtime.service.handle(direct_message(person, text))
            if reply.failed:
                raise RuntimeError(f"turn failed: {reply.text}")
            return time.perf_counter() - started

        with serving_gc():
            return await _timed_turns(model, threads, turns, one_turn)


async def _platform_row(
    model: TimedFakeOpenAI, workdir: Path, platform: str, threads: int, turns: int
) -> dict[str, Any]:
    people = threads + WARMUP_TURNS
    url = sqlite_url(workdir, f"overhead_{platform}.db")
    try:
        opener = slack_bot_process if platform == "slack" else discord_bot_process
        async with opener(model.base_url, url, people, workdir) as (driver, _child):
            return await _timed_turns(model, threads, turns, driver.dm)
    except Exception as exc:  # a platform row must not sink the others
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _judge(row: dict[str, Any], seed_p50: float) -> None:
    if "p50_ms" not in row:
        return
    row["vs_seed_p50"] = ratio(row["p50_ms"], seed_p50)
    row["meets_p50"] = row["p50_ms"] <= TARGET_P50_MS
    row["meets_p99"] = row["p99_ms"] <= TARGET_P99_MS
    row["meets_seed_ratio"] = row["vs_seed_p50"] <= TARGET_SEED_RATIO


async def run(*, quick: bool, workdir: Path) -> Figures:
    threads, turns = (2, 3) if quick else (20, 15)
    async with TimedFakeOpenAI() as model:
        rows: dict[str, Any] = {"seed": await _seed_row(model, threads, turns)}
        rows["service"] = await _service_row(model, workdir, threads, turns)
        rows["slack"] = await _platform_row(model, workdir, "slack", threads, turns)
        rows["discord"] = await _platform_row(model, workdir, "discord", threads, turns)
    for name in ("service", "slack", "discord"):
        _judge(rows[name], rows["seed"]["p50_ms"])
    return {
        "threads": threads,
        "turns_per_thread": turns,
        "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS, "vs_seed_p50": TARGET_SEED_RATIO},
        "rows": rows,
    }
