"""The inbox in Postgres: a `bot_inbox` table shared by every bot process, on a small pool of its own.

Claims are single statements (`INSERT ... ON CONFLICT DO NOTHING`, `UPDATE ... WHERE owner`),
take-overs lock the rows they pick (`FOR UPDATE SKIP LOCKED`), so two sweepers never take
the same message. The pool waits only briefly for a connection: when the database is gone,
the adapter says so at once instead of leaving the person waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from bot.inbox import Arrival, Entry
from bot.storage import POSTGRES_SETUP_LOCK
from config.settings import ConfigError

APPLICATION_NAME = "memory-bot inbox"
POOL_TIMEOUT_SECONDS = 1.5
CHECK_AFTER_IDLE_SECONDS = 5.0  # under Slack's 3 s to acknowledge: admission runs before the ack

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS bot_inbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_key TEXT NOT NULL UNIQUE,
        event_id TEXT UNIQUE,
        platform TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        payload JSONB NOT NULL,
        status TEXT NOT NULL DEFAULT 'claimed',
        owner TEXT,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 1,
        posted JSONB NOT NULL DEFAULT '[]',
        received_at DOUBLE PRECISION NOT NULL,
        done_at DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS bot_inbox_thread ON bot_inbox (thread_id, seq)",
    "CREATE INDEX IF NOT EXISTS bot_inbox_lease ON bot_inbox (lease_until) WHERE status = 'claimed'",
    "CREATE INDEX IF NOT EXISTS bot_inbox_done ON bot_inbox (done_at) WHERE status = 'done'",
]

INSERT = """
INSERT INTO bot_inbox (message_key, event_id, platform, thread_id, payload, owner, lease_until, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
RETURNING seq, (
    SELECT count(*) FROM bot_inbox AS earlier
    WHERE earlier.thread_id = bot_inbox.thread_id AND earlier.status = 'claimed' AND earlier.seq < bot_inbox.seq
) AS ahead
"""

TAKE = """
WITH picked AS (
    SELECT seq, owner AS previous FROM bot_inbox
    WHERE status = 'claimed' AND (lease_until < %s OR lease_until > %s) AND platform = ANY(%s)
    ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE bot_inbox SET owner = %s, lease_until = %s, attempts = bot_inbox.attempts + 1
FROM picked WHERE bot_inbox.seq = picked.seq
RETURNING bot_inbox.*, picked.previous
"""


async def _stamp(conn: Any) -> None:
    conn.info_memory_bot_used = time.monotonic()


async def _check_if_idle(conn: Any) -> None:
    """The pool's check before lending a connection, only for one idle a while: a check is a
    round trip, and checking every time made three of each statement's round trips."""
    if time.monotonic() - getattr(conn, "info_memory_bot_used", 0.0) > CHECK_AFTER_IDLE_SECONDS:
        await conn.execute("")


class PostgresInboxStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresInboxStore:
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool: AsyncConnectionPool = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=4,
            open=False,
            timeout=POOL_TIMEOUT_SECONDS,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "application_name": APPLICATION_NAME,  # tells its connections apart in pg_stat_activity
            },
            check=_check_if_idle,
            reset=_stamp,
        )
        try:
            await pool.open(wait=True, timeout=10)
        except Exception:  # noqa: BLE001 - never echo the DSN: it may hold a password
            await pool.close()
            raise ConfigError("DATABASE_URL: cannot connect to the Postgres server it names") from None
        return cls(pool)

    async def setup(self) -> None:
        async with self._pool.connection() as conn:
            # The storage's setup lock: one process at a time creates tables. Polled, as there:
            # a blocked pg_advisory_lock() would hold up another's CREATE INDEX CONCURRENTLY.
            while True:
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(%s) AS locked", (POSTGRES_SETUP_LOCK,)
                )
                row = await cursor.fetchone()
                if row and row["locked"]:
                    break
                await asyncio.sleep(0.1)
            try:
                for statement in SCHEMA:
                    await conn.execute(statement)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (POSTGRES_SETUP_LOCK,))

    async def _rows(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, args)
            return list(await cursor.fetchall())

    async def _count(self, sql: str, args: Sequence[Any]) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, args)
            return int(cursor.rowcount)

    async def insert(self, arrival: Arrival, owner: str, now: float, until: float) -> tuple[int, int] | None:
        from psycopg.types.json import Jsonb

        rows = await self._rows(
            INSERT,
            (
                arrival.key,
                arrival.event_id,
                arrival.platform,
                arrival.thread_id,
                Jsonb(arrival.payload),
                owner,
                until,
                now,
            ),
        )
        return (int(rows[0]["seq"]), int(rows[0]["ahead"])) if rows else None

    async def ahead(self, thread_id: str, seq: int) -> int:
        rows = await self._rows(
            "SELECT count(*) AS n FROM bot_inbox WHERE thread_id = %s AND status = 'claimed' AND seq < %s",
            (thread_id, seq),
        )
        return int(rows[0]["n"])

    async def knows_thread(self, thread_id: str) -> bool:
        return bool(
            await self._rows("SELECT 1 AS known FROM bot_inbox WHERE thread_id = %s LIMIT 1", (thread_id,))
        )

    async def renew(self, owner: str, keys: Sequence[str], until: float) -> None:
        await self._count(
            "UPDATE bot_inbox SET lease_until = %s WHERE owner = %s AND status = 'claimed'"
            " AND message_key = ANY(%s)",
            (until, owner, list(keys)),
        )

    async def take_expired(
        self, owner: str, now: float, until: float, platforms: Sequence[str], limit: int, *, far: float
    ) -> list[Entry]:
        rows = await self._rows(TAKE, (now, far, list(platforms), limit, owner, until))
        return [
            Entry(
                seq=int(row["seq"]),
                key=str(row["message_key"]),
                platform=str(row["platform"]),
                thread_id=str(row["thread_id"]),
                payload=dict(row["payload"]),
                posted=tuple(row["posted"]),
                attempts=int(row["attempts"]),
                previous_owner=row["previous"],
            )
            for row in sorted(rows, key=lambda row: int(row["seq"]))
        ]

    async def hold(self, key: str, owner: str, until: float) -> bool:
        return (
            await self._count(
                "UPDATE bot_inbox SET lease_until = %s WHERE message_key = %s AND owner = %s"
                " AND status = 'claimed'",
                (until, key, owner),
            )
            == 1
        )

    async def set_posted(self, key: str, owner: str, posted: Sequence[str]) -> bool:
        from psycopg.types.json import Jsonb

        return (
            await self._count(
                "UPDATE bot_inbox SET posted = %s WHERE message_key = %s AND owner = %s AND status = 'claimed'",
                (Jsonb(list(posted)), key, owner),
            )
            == 1
        )

    async def finish(self, key: str, owner: str, now: float) -> bool:
        return (
            await self._count(
                "UPDATE bot_inbox SET status = 'done', done_at = %s, owner = NULL, payload = '{}'"
                " WHERE message_key = %s AND owner = %s AND status = 'claimed'",
                (now, key, owner),
            )
            == 1
        )

    async def release(self, key: str, owner: str) -> None:
        await self._count(
            "UPDATE bot_inbox SET owner = NULL, lease_until = 0 WHERE message_key = %s AND owner = %s"
            " AND status = 'claimed'",
            (key, owner),
        )

    async def prune(self, before: float) -> int:
        return await self._count("DELETE FROM bot_inbox WHERE status = 'done' AND done_at < %s", (before,))

    async def depth(self) -> int:
        rows = await self._rows("SELECT count(*) AS n FROM bot_inbox WHERE status = 'claimed'", ())
        return int(rows[0]["n"])

    async def ping(self) -> bool:
        await self._rows("SELECT 1 AS ok", ())
        return True

    async def close(self) -> None:
        await self._pool.close()
