"""The database misbehaves: SQLite locked by another process, many writers at once, Postgres
connections killed. Turns wait and succeed (or fail politely); nothing is lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bot.messages import Reply
from bot.runtime import open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import dm
from tests.reliability.conftest import Tally, eventually

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process takes SQLite's write lock and keeps it for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def record(tally: Tally, replies: list[Reply]) -> None:
    tally.turns_run += len(replies)
    tally.replies_lost += sum(reply.failed for reply in replies)


async def test_turns_wait_for_another_process_holding_the_write_lock(
    make_settings: Callable[..., Settings], tmp_path: Path, tally: Tally
) -> None:
    async with open_runtime(make_settings()) as runtime:
        await runtime.service.handle(dm("ana", "I like green tea"))  # creates the tables
        holder = await asyncio.to_thread(hold_write_lock, tmp_path / "bot.db", 2.0)
        tally.faults_injected += 1
        try:
            replies = await asyncio.gather(
                runtime.service.handle(dm("ana", "I live in Porto")),
                runtime.service.handle(dm("ben", "I like chess")),
                runtime.service.handle(dm("cy", "what do you know?")),
            )
        finally:
            await asyncio.to_thread(holder.wait)
        record(tally, list(replies))
        assert not any(reply.failed for reply in replies), replies
        assert len(await runtime.memories.list_facts("console:ana")) == 2
        assert [f.text for f in await runtime.memories.list_facts("console:ben")] == ["User likes chess"]


HOLD_LOCK_UNTIL_TOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def hold_write_lock_until_told(db: Path) -> subprocess.Popen[str]:
    """Another process takes SQLite's write lock and keeps it until it reads a line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_UNTIL_TOLD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


async def test_reading_facts_never_waits_for_the_write_lock(
    make_settings: Callable[..., Settings], tmp_path: Path, tally: Tally
) -> None:
    # Worker processes (BOT_WORKERS) share the file: a read that took the write lock would
    # queue every turn behind the other processes' writes.
    async with open_runtime(make_settings()) as runtime:
        await runtime.service.handle(dm("ana", "I like green tea"))
        holder = await asyncio.to_thread(hold_write_lock_until_told, tmp_path / "bot.db")
        assert holder.stdin is not None
        tally.faults_injected += 1
        try:
            listed = await runtime.memories.list_facts("console:ana")
            relevant = await runtime.memories.relevant_facts("console:ana", "tea?", limit=5, token_budget=500)
            assert holder.poll() is None, "the lock holder must still hold the lock"
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
            await asyncio.to_thread(holder.wait)
        assert [f.text for f in listed] == [f.text for f in relevant] == ["User likes green tea"]


async def test_forget_waits_for_the_lock_and_still_erases(
    make_settings: Callable[..., Settings], tmp_path: Path, tally: Tally
) -> None:
    async with open_runtime(make_settings()) as runtime:
        await runtime.service.handle(dm("ana", "remember that quetzalpumpkin is my word"))
        holder = await asyncio.to_thread(hold_write_lock, tmp_path / "bot.db", 2.0)
        tally.faults_injected += 1
        try:
            removed = await runtime.memories.forget("console:ana")
        finally:
            await asyncio.to_thread(holder.wait)
        assert removed == 1
        assert await runtime.memories.list_facts("console:ana") == []


async def test_many_concurrent_writers_never_fail_a_turn(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI, tally: Tally
) -> None:
    # Regression: the store's deferred transactions (read, then write) failed at once with
    # "database is locked" whenever the checkpointer committed in between.
    fake_model.latency = 0.01
    async with open_runtime(make_settings()) as runtime:

        async def person(index: int) -> list[Reply]:
            return [
                await runtime.service.handle(dm(f"p{index}", f"remember that p{index} owns item{n}"))
                for n in range(3)
            ]

        replies = [
            reply for batch in await asyncio.gather(*(person(i) for i in range(40))) for reply in batch
        ]
        tally.faults_injected += 1
        record(tally, replies)
        assert not [reply.text for reply in replies if reply.failed]
        for index in (0, 17, 39):
            assert len(await runtime.memories.list_facts(f"console:p{index}")) == 3


async def test_postgres_connections_killed_the_pool_recovers(
    make_settings: Callable[..., Settings], postgres_url: str, fake_model: FakeOpenAI, tally: Tally
) -> None:
    import psycopg

    def terminate_bot_connections() -> int:
        database = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
        return len(rows)

    async with open_runtime(make_settings(database_url=postgres_url)) as runtime:
        first = await runtime.service.handle(dm("ana", "I like green tea"))
        assert await asyncio.to_thread(terminate_bot_connections) >= 1
        tally.faults_injected += 1
        after = await runtime.service.handle(dm("ana", "what do you know?"))

        # And mid-turn: the connections die while the model is thinking.
        fake_model.latency = 0.5
        in_flight = asyncio.create_task(runtime.service.handle(dm("ana", "I live in Porto")))
        await eventually(lambda: fake_model.in_flight == 1, what="the model call")
        await asyncio.to_thread(terminate_bot_connections)
        tally.faults_injected += 1
        mid_turn = await in_flight
        fake_model.latency = 0
        last = await runtime.service.handle(dm("ana", "and now?"))

        replies = [first, after, mid_turn, last]
        record(tally, replies)
        assert not [reply.text for reply in replies if reply.failed]
        assert "User likes green tea" in after.text
        assert "User lives in Porto" in last.text
