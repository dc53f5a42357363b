"""Scale out: 1, 2 and 3 `python -m bot` processes on one Postgres, many people at once.

N people each hold a Slack DM conversation (the next message as soon as the reply is
there, starts staggered over one model latency: `bench.concurrency`), against one fake Slack
that spreads the events over the processes' Socket Mode connections, and a fake model in
its own process answering after `latency` seconds. Each bot process runs `BOT_WORKERS=1`
and posts whole answers (`BOT_STREAMING=false`: a placeholder, then one edit).

Per row: throughput against the ideal N / latency, reply latency, and per turn: the bots'
CPU (all processes, and per process), the Postgres server's CPU (its backends for this
database, when /proc shows them), and database transactions (pg_stat_database). A second,
lighter pass goes through a counting proxy (`bench.pg_counter`) to count database round
trips per turn, split into the inbox's and the rest (checkpointer, store, fact index).

`python -m bench.scale_out [--quick]` prints the figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.concurrency import _process_cpu_seconds, _rounds
from bench.measure import Figures, percentile
from bench.pg_counter import counting_proxy
from bench.processes import Child, bot_process, model_process
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
JsonDict = dict[str, Any]


class CountingSlack(FakeSlack):
    """The fake Slack, telling each DM's waiter when a final answer lands (no list scans)."""

    def __init__(self) -> None:
        super().__init__()
        self.spread = True
        self.answers: dict[str, int] = defaultdict(int)
        self._waiting: dict[str, tuple[int, asyncio.Future[None]]] = {}
        self._placeholders: set[str] = set()

    async def __aenter__(self) -> CountingSlack:
        await self.start()
        return self

    def _answered(self, channel: str) -> None:
        self.answers[channel] += 1
        waiting = self._waiting.get(channel)
        if waiting and self.answers[channel] >= waiting[0] and not waiting[1].done():
            waiting[1].set_result(None)

    async def _m_chat_postMessage(self, args: JsonDict) -> JsonDict:
        result = await super()._m_chat_postMessage(args)
        if result.get("ok"):
            if args.get("text") == PLACEHOLDER:
                self._placeholders.add(str(result["ts"]))
            else:
                self._answered(str(args["channel"]))
        self.posted.clear()  # nothing reads them; chat.update below finds its own
        return result

    async def _m_chat_update(self, args: JsonDict) -> JsonDict:
        ts = str(args.get("ts"))
        if ts in self._placeholders:
            self._placeholders.discard(ts)
            self._answered(str(args["channel"]))
        return {"ok": True, "channel": args.get("channel"), "ts": ts, "text": args.get("text", "")}

    async def dm(self, person: int, text: str) -> None:
        channel = f"D{person}"
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[channel] = (self.answers[channel] + 1, done)
        await self.send_event(self.message_event(channel, text, user=f"U{person}"), wait_ack=False)
        await asyncio.wait_for(done, 120)
        self.envelopes.clear()
        self._by_envelope_id.clear()


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


@asynccontextmanager
async def _fresh_database() -> AsyncIterator[str]:
    import psycopg

    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _server_side(name: str) -> tuple[int, list[int]]:
    """(transactions committed + rolled back so far, backend pids) for database `name`."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
        )
        row = await cursor.fetchone()
        cursor = await admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        pids = [int(pid) for (pid,) in await cursor.fetchall()]
    return (int(row[0]) if row else 0), pids


def _env(slack: FakeSlack, model_url: str, database_url: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": model_url,
        "MODEL_MAX_RETRIES": "0",
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "BOT_WORKERS": "1",
        "BOT_STREAMING": "false",
        "LOG_LEVEL": "INFO",  # the spawner waits for the ready line
    }


@asynccontextmanager
async def _bots(
    count: int, env: dict[str, str], workdir: Path, slack: FakeSlack
) -> AsyncIterator[list[Child]]:
    async with AsyncExitStack() as stack:
        children = [await stack.enter_async_context(bot_process(env, workdir)) for _ in range(count)]
        await slack.wait_open(count, timeout=60)
        yield children


async def _row(
    processes: int, people: int, rounds: int, latency: float, model_url: str, workdir: Path
) -> JsonDict:
    async with _fresh_database() as name, CountingSlack() as slack:
        for person in range(people):
            slack.add_user(f"U{person}", f"Person {person}")
        async with _bots(processes, _env(slack, model_url, _database_url(name)), workdir, slack) as children:
            await _rounds(people, 1, latency, slack.dm)  # warm-up: every DM's first turn
            xacts, backends = await _server_side(name)
            pids = [child.pid for child in children]
            cpu = [_process_cpu_seconds(pid) for pid in pids]
            server_cpu = sum(_process_cpu_seconds(pid) for pid in backends)
            timings: list[float] = []

            async def timed(person: int, text: str) -> None:
                started = time.perf_counter()
                await slack.dm(person, text)
                timings.append(time.perf_counter() - started)

            row = await _rounds(people, rounds, latency, timed)
            cpu = [_process_cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
            server_cpu = sum(_process_cpu_seconds(pid) for pid in backends) - server_cpu
            xacts = (await _server_side(name))[0] - xacts
    turns = people * rounds
    return {
        **row,
        "processes": processes,
        "reply_p50_s": round(percentile(timings, 50), 3),
        "reply_p99_s": round(percentile(timings, 99), 3),
        "bot_cpu_ms_per_turn": round(sum(cpu) / turns * 1000, 2),
        "bot_cpu_ms_per_turn_by_process": [round(c / turns * 1000, 2) for c in cpu],
        "postgres_cpu_ms_per_turn": round(server_cpu / turns * 1000, 2) if backends else None,
        "db_transactions_per_turn": round(xacts / turns, 1),
    }


async def _round_trips(
    processes: int, people: int, rounds: int, latency: float, model_url: str, workdir: Path, *, idle: float
) -> JsonDict:
    async with (
        _fresh_database() as name,
        counting_proxy(_database_url(name)) as (proxied, counts),
        CountingSlack() as slack,
    ):
        for person in range(people):
            slack.add_user(f"U{person}", f"Person {person}")
        async with _bots(processes, _env(slack, model_url, proxied), workdir, slack):
            await _rounds(people, 1, latency, slack.dm)
            before = counts.snapshot()
            await _rounds(people, rounds, latency, slack.dm)
            after = counts.snapshot()
            # Idle for one sweep (a third of the lease): what the sweepers cost doing nothing.
            await asyncio.sleep(idle)
            quiet = counts.snapshot()
    turns = people * rounds
    inbox = after.get("memory-bot inbox", 0) - before.get("memory-bot inbox", 0)
    total = sum(after.values()) - sum(before.values())
    return {
        "processes": processes,
        "turns": turns,
        "round_trips_per_turn": round(total / turns, 2),
        "inbox_round_trips_per_turn": round(inbox / turns, 2),
        "other_round_trips_per_turn": round((total - inbox) / turns, 2),
        "idle_seconds": idle,
        "idle_round_trips": sum(quiet.values()) - sum(after.values()),
    }


async def run(*, quick: bool, workdir: Path) -> Figures:
    """Throughput rows for 1, 2, 3 processes; round trips per turn for 1 and 3."""
    try:
        import psycopg

        async with await psycopg.AsyncConnection.connect(ADMIN_URL, connect_timeout=3):
            pass
    except Exception as exc:
        return {"skipped": f"no PostgreSQL at TEST_DATABASE_URL ({type(exc).__name__})"}
    people, rounds, latency = (20, 2, 0.2) if quick else (300, 8, 1.0)
    counts = (1, 2) if quick else (1, 2, 3)
    rows, trips = [], []
    async with model_process(latency, workdir) as model_url:
        for processes in counts:
            rows.append(await _row(processes, people, rounds, latency, model_url, workdir))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        light = (10, 2) if quick else (60, 4)
        for processes in (1, counts[-1]):
            trips.append(
                await _round_trips(processes, *light, latency, model_url, workdir, idle=0 if quick else 10.5)
            )
            print(json.dumps(trips[-1]), file=sys.stderr, flush=True)
    return {
        "people": people,
        "rounds": rounds,
        "latency_s": latency,
        "cores": os.cpu_count(),
        "rows": rows,
        "round_trips": trips,
    }


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(run(quick=quick, workdir=Path(folder))), indent=2))
