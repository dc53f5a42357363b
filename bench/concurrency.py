"""Figure 2: N people talking at once while every model call takes `latency` seconds.

N distinct people each hold a DM conversation at the same time, sending their next message
as soon as the reply arrives (`rounds` messages each). Person i sends their first message at
i/N of a model latency, as N people who are not synchronised would; after one latency every
conversation is under way. Throughput is the turns completed in the steady-state window (from
one latency after the start until the first conversation finishes) per second, against the
ideal N / latency: a bot that added nothing would complete exactly that.

The same run also starts all N at the same instant ("lockstep"): then every reply of a round
arrives in one burst and the whole burst's CPU work queues up behind itself, so that row shows
the worst case of a synchronised crowd rather than N people chatting.

Rows: `ChatService.handle` in this process with turns in-process (`BOT_WORKERS=1`) and in one
worker process per core (`BOT_WORKERS=nproc`); `python -m bot` as a child process in Slack
Socket Mode with `BOT_WORKERS=nproc`; the seed's sync graph in the default thread pool.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.measure import Figures, bot_settings, sqlite_url
from bench.platforms import slack_bot_process
from bench.processes import model_process
from bench.seed_baseline import SeedBot
from bench.workload import chat_line, direct_message
from bot.gc_tuning import serving_gc
from bot.runtime import open_runtime

TARGET_FRACTION = 0.9
CORES = os.cpu_count() or 1

Turn = Callable[[int, str], Awaitable[object]]


async def _rounds(
    n: int, rounds: int, latency: float, one_turn: Turn, *, lockstep: bool = False
) -> dict[str, Any]:
    """N conversations at once; each sends its next message as soon as it has the reply."""
    completed: list[float] = []
    started = time.perf_counter()

    async def conversation(person: int) -> float:
        if not lockstep:
            await asyncio.sleep(person * latency / n)
        for round_index in range(rounds):
            await one_turn(person, chat_line(round_index * n + person))
            completed.append(time.perf_counter())
        return time.perf_counter()

    finished = await asyncio.gather(*(conversation(person) for person in range(n)))
    elapsed = time.perf_counter() - started
    ideal = n / latency
    window_start, window_end = started + latency, min(finished)
    if lockstep or window_end - window_start < 2 * latency:
        # Too short for a steady state (or none, in lockstep): count the whole run, against
        # what a bot adding nothing would do on the same schedule (staggered starts included).
        window_start, window_end = started, started + elapsed
        stagger = 0.0 if lockstep else (n - 1) / n
        ideal = n * rounds / (latency * (rounds + stagger))
    in_window = sum(window_start <= moment <= window_end for moment in completed)
    turns_per_s = in_window / (window_end - window_start)
    return {
        "n": n,
        "rounds": rounds,
        "start": "lockstep" if lockstep else "staggered over one latency",
        "seconds": round(elapsed, 3),
        "window_seconds": round(window_end - window_start, 3),
        "turns_per_s": round(turns_per_s, 2),
        "ideal_turns_per_s": round(ideal, 2),
        "fraction_of_ideal": round(turns_per_s / ideal, 3),
    }


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


async def _service(
    model_url: str,
    latency: float,
    workdir: Path,
    n: int,
    rounds: int,
    *,
    workers: int,
    lockstep: bool = False,
) -> dict[str, Any]:
    name = f"concurrency_w{workers}_{n}{'_lockstep' if lockstep else ''}.db"
    settings = bot_settings(model_url, sqlite_url(workdir, name), bot_workers=workers)
    # The collector tuned as `python -m bot` tunes it once ready; restored for the next row.
    with serving_gc():
        async with open_runtime(settings) as runtime:

            async def one_turn(person: int, text: str) -> None:
                reply = await runtime.service.handle(direct_message(person, text))
                if reply.failed:
                    raise RuntimeError(f"turn failed: {reply.text}")

            # The bot's CPU per turn (this process and its workers), which the machine's speed
            # and the other processes on it move far less than throughput.
            pids = runtime.workers.pids() if runtime.workers is not None else []
            cpu = time.process_time() + sum(_process_cpu_seconds(pid) for pid in pids)
            row = await _rounds(n, rounds, latency, one_turn, lockstep=lockstep)
            cpu = time.process_time() + sum(_process_cpu_seconds(pid) for pid in pids) - cpu
    return {**row, "workers": workers, "cpu_ms_per_turn": round(cpu / (n * rounds) * 1000, 2)}


async def _slack(model_url: str, latency: float, workdir: Path, n: int, rounds: int) -> dict[str, Any]:
    url = sqlite_url(workdir, f"concurrency_slack_{n}.db")
    try:
        async with slack_bot_process(model_url, url, n, workdir, workers=CORES) as (driver, _):
            return {**await _rounds(n, rounds, latency, driver.dm), "workers": CORES}
    except Exception as exc:
        return {"n": n, "error": f"{type(exc).__name__}: {exc}"[:300]}


async def _seed(model_url: str, latency: float, n: int) -> dict[str, Any]:
    # The notebook's graph is synchronous: served from an async bot, it runs in the default
    # thread pool (min(32, cpus + 4) workers), as `asyncio.to_thread` does. One round each:
    # at about 6 turns/s more would take minutes and say nothing new.
    seed = SeedBot(model_url)

    async def one_turn(person: int, text: str) -> None:
        await asyncio.to_thread(seed.turn, f"person{person}", f"dm:person{person}", text)

    return await _rounds(n, 1, latency, one_turn)


async def run(*, quick: bool, workdir: Path) -> Figures:
    """The fake model runs in its own process, as a real one would; so does the Slack bot."""
    sizes, latency, rounds = ((2, 5), 0.2, 2) if quick else ((10, 100, 200), 1.0, 8)
    rows: dict[str, list[dict[str, Any]]] = {
        "seed": [],
        "service": [],
        "workers": [],
        "slack": [],
        "lockstep": [],
    }
    async with model_process(latency, workdir) as model_url:
        for n in sizes:
            rows["seed"].append(await _seed(model_url, latency, n))
            rows["service"].append(await _service(model_url, latency, workdir, n, rounds, workers=1))
            rows["workers"].append(await _service(model_url, latency, workdir, n, rounds, workers=CORES))
            rows["slack"].append(await _slack(model_url, latency, workdir, n, rounds))
        largest = sizes[-1]
        rows["lockstep"].append(
            await _service(model_url, latency, workdir, largest, rounds, workers=1, lockstep=True)
        )
        rows["lockstep"].append(
            await _service(model_url, latency, workdir, largest, rounds, workers=CORES, lockstep=True)
        )
    return {
        "latency_s": latency,
        "cores": CORES,
        "target_fraction": TARGET_FRACTION,
        "rows": rows,
        "meets_target": rows["workers"][-1]["fraction_of_ideal"] >= TARGET_FRACTION,
        "in_process_meets_target": rows["service"][-1]["fraction_of_ideal"] >= TARGET_FRACTION,
        "slack_meets_target": rows["slack"][-1].get("fraction_of_ideal", 0) >= TARGET_FRACTION,
    }
