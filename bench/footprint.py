"""Figure 6: `python -m bot` start-up time to ready, and its RSS idle and after many turns.

The bot runs as a child process in Slack Socket Mode against the fake Slack (and a fake
model in a third process); turns are DMs from `people` people, `people` at a time. The seed
runs the same number of turns in a child process of its own, for its RSS growth.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bench.measure import Figures, rss_mb
from bench.platforms import slack_bot_process
from bench.processes import REPO, child_env, model_process
from bench.workload import chat_line

TARGET_READY_S = 3.0
TARGET_GROWTH_MB = 50.0
IDLE_SETTLE_S = 1.0


async def _bot(model_url: str, workdir: Path, people: int, rounds: int) -> dict[str, Any]:
    url = f"sqlite:///{workdir / 'footprint.db'}"
    async with slack_bot_process(model_url, url, people, workdir) as (driver, child):
        await asyncio.sleep(IDLE_SETTLE_S)
        idle = rss_mb(child.pid)
        peak = idle
        for round_index in range(rounds):
            await asyncio.gather(
                *(driver.dm(person, chat_line(round_index * people + person)) for person in range(people))
            )
            driver.forget_history()
            peak = max(peak, rss_mb(child.pid))
        await asyncio.sleep(IDLE_SETTLE_S)
        after = rss_mb(child.pid)
        return {
            "ready_s": round(child.ready_seconds, 3),
            "rss_idle_mb": idle,
            "rss_after_mb": after,
            "rss_peak_mb": peak,
            "rss_growth_mb": round(after - idle, 1),
            "turns": people * rounds,
        }


async def _seed(model_url: str, people: int, rounds: int) -> dict[str, Any]:
    args = [
        "-m",
        "bench.seed_baseline",
        "--base-url",
        model_url,
        "--people",
        str(people),
        "--turns",
        str(rounds),
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=REPO, env=child_env({}), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        return {"error": f"seed child exited with {process.returncode}"}
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    figures["rss_growth_mb"] = round(figures["rss_after_mb"] - figures["rss_idle_mb"], 1)
    return figures


async def run(*, quick: bool, workdir: Path) -> Figures:
    people, rounds = (5, 10) if quick else (100, 100)
    async with model_process(0.0, workdir) as model_url:
        bot = await _bot(model_url, workdir, people, rounds)
        seed = await _seed(model_url, people, rounds)
    return {
        "target_ready_s": TARGET_READY_S,
        "target_growth_mb": TARGET_GROWTH_MB,
        "rows": {"bot": bot, "seed": seed},
        "meets_ready_target": bot["ready_s"] <= TARGET_READY_S,
        "meets_growth_target": bot["rss_growth_mb"] <= TARGET_GROWTH_MB,
    }
