"""The inbox in SQLite: a `bot_inbox` table in the bot's database file, on a connection of its own.

One process (or several on one machine) on one file: a process that restarts finds what it
had recorded and not answered, and takes it over once the lease has run out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.inbox import Arrival, Entry

BUSY_TIMEOUT_MS = 15_000
CHUNK = 500  # keys per statement (SQLite's variable limit is far higher; keep statements small)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS bot_inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_key TEXT NOT NULL UNIQUE,
        event_id TEXT UNIQUE,
        platform TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'claimed',
        owner TEXT,
        lease_until REAL NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 1,
        posted TEXT NOT NULL DEFAULT '[]',
        received_at REAL NOT NULL,
        done_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS bot_inbox_thread ON bot_inbox (thread_id, seq)",
    "CREATE INDEX IF NOT EXISTS bot_inbox_lease ON bot_inbox (lease_until) WHERE status = 'claimed'",
    "CREATE INDEX IF NOT EXISTS bot_inbox_done ON bot_inbox (done_at) WHERE status = 'done'",
]


def _entry(row: Any, previous_owner: str | None) -> Entry:
    return Entry(
        seq=int(row["seq"]),
        key=str(row["message_key"]),
        platform=str(row["platform"]),
        thread_id=str(row["thread_id"]),
        payload=json.loads(row["payload"]),
        posted=tuple(json.loads(row["posted"])),
        attempts=int(row["attempts"]),
        previous_owner=previous_owner,
    )


class SqliteInboxStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()  # transactions must not interleave on the one connection

    @classmethod
    async def open(cls, path: Path) -> SqliteInboxStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA secure_delete=ON")  # a done row's text is zeroed on disk
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return cls(conn)

    async def setup(self) -> None:
        async with self._lock:
            for statement in SCHEMA:
                await self._conn.execute(statement)

    async def _write(self, sql: str, args: Sequence[Any]) -> int:
        async with self._lock:
            cursor = await self._conn.execute(sql, args)
            return cursor.rowcount

    async def insert(self, arrival: Arrival, owner: str, now: float, until: float) -> tuple[int, int] | None:
        async with self._lock:
            cursor = await self._conn.execute(
                "INSERT OR IGNORE INTO bot_inbox (message_key, event_id, platform, thread_id, payload,"
                " owner, lease_until, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                (
                    arrival.key,
                    arrival.event_id,
                    arrival.platform,
                    arrival.thread_id,
                    json.dumps(arrival.payload),
                    owner,
                    until,
                    now,
                ),
            )
            row = await cursor.fetchone()
            await cursor.close()
            if row is None:
                return None
            seq = int(row[0])
            return seq, await self._ahead(arrival.thread_id, seq)

    async def _ahead(self, thread_id: str, seq: int) -> int:
        cursor = await self._conn.execute(
            "SELECT count(*) FROM bot_inbox WHERE thread_id = ? AND status = 'claimed' AND seq < ?",
            (thread_id, seq),
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def ahead(self, thread_id: str, seq: int) -> int:
        async with self._lock:
            return await self._ahead(thread_id, seq)

    async def knows_thread(self, thread_id: str) -> bool:
        async with self._lock:
            cursor = await self._conn.execute(
                "SELECT 1 FROM bot_inbox WHERE thread_id = ? LIMIT 1", (thread_id,)
            )
            return await cursor.fetchone() is not None

    async def renew(self, owner: str, keys: Sequence[str], until: float) -> None:
        for start in range(0, len(keys), CHUNK):
            part = list(keys[start : start + CHUNK])
            marks = ",".join("?" * len(part))
            await self._write(
                f"UPDATE bot_inbox SET lease_until = ? WHERE owner = ? AND status = 'claimed'"
                f" AND message_key IN ({marks})",
                [until, owner, *part],
            )

    async def take_expired(
        self, owner: str, now: float, until: float, platforms: Sequence[str], limit: int, *, far: float
    ) -> list[Entry]:
        marks = ",".join("?" * len(platforms))
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self._conn.execute(
                    "SELECT * FROM bot_inbox WHERE status = 'claimed' AND (lease_until < ? OR lease_until > ?)"
                    f" AND platform IN ({marks}) ORDER BY seq LIMIT ?",
                    (now, far, *platforms, limit),
                )
                rows = list(await cursor.fetchall())
                taken = []
                for row in rows:
                    await self._conn.execute(
                        "UPDATE bot_inbox SET owner = ?, lease_until = ?, attempts = attempts + 1"
                        " WHERE seq = ?",
                        (owner, until, row["seq"]),
                    )
                    moved = dict(row)
                    moved["attempts"] = int(row["attempts"]) + 1
                    taken.append(_entry(moved, row["owner"]))
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
        return taken

    async def hold(self, key: str, owner: str, until: float) -> bool:
        return (
            await self._write(
                "UPDATE bot_inbox SET lease_until = ? WHERE message_key = ? AND owner = ? AND status = 'claimed'",
                (until, key, owner),
            )
            == 1
        )

    async def set_posted(self, key: str, owner: str, posted: Sequence[str]) -> bool:
        return (
            await self._write(
                "UPDATE bot_inbox SET posted = ? WHERE message_key = ? AND owner = ? AND status = 'claimed'",
                (json.dumps(list(posted)), key, owner),
            )
            == 1
        )

    async def finish(self, key: str, owner: str, now: float) -> bool:
        return (
            await self._write(
                "UPDATE bot_inbox SET status = 'done', done_at = ?, owner = NULL, payload = '{}'"
                " WHERE message_key = ? AND owner = ? AND status = 'claimed'",
                (now, key, owner),
            )
            == 1
        )

    async def release(self, key: str, owner: str) -> None:
        await self._write(
            "UPDATE bot_inbox SET owner = NULL, lease_until = 0 WHERE message_key = ? AND owner = ?"
            " AND status = 'claimed'",
            (key, owner),
        )

    async def prune(self, before: float) -> int:
        return await self._write("DELETE FROM bot_inbox WHERE status = 'done' AND done_at < ?", (before,))

    async def depth(self) -> int:
        async with self._lock:
            cursor = await self._conn.execute("SELECT count(*) FROM bot_inbox WHERE status = 'claimed'")
            row = await cursor.fetchone()
            return int(row[0]) if row else 0

    async def ping(self) -> bool:
        async with self._lock:
            await self._conn.execute("SELECT 1")
        return True

    async def close(self) -> None:
        await self._conn.close()
