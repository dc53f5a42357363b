"""Postgres storage: a connection pool shared by the checkpointer, the store and the fact index."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.link_store import SqlLinkStore
from bot.postgres_fact_index import PostgresFactIndex
from bot.sql import PostgresSql, postgres_statements
from bot.storage import POSTGRES_SETUP_LOCK, Storage, stop_batching
from config.settings import ConfigError

log = logging.getLogger(__name__)

# Pages a bitmap heap scan asks the kernel to read ahead (posix_fadvise). Postgres's default,
# 1, reads a fact search's heap pages one at a time when they are not cached: a person with
# 10,000 facts then waits tens of milliseconds on a cold disk. Servers without posix_fadvise
# refuse any value but 0: the connection keeps the server's default (see `_configure`).
IO_CONCURRENCY = 64


async def _configure(conn: Any) -> None:
    """Each pooled connection, once, before first use."""
    try:
        await conn.execute(f"SET effective_io_concurrency = {IO_CONCURRENCY}")
    except Exception:  # noqa: BLE001 - a server that cannot prefetch still answers
        log.info("the Postgres server refused effective_io_concurrency; reading without prefetch")


@asynccontextmanager
async def open_postgres(dsn: str) -> AsyncIterator[Storage]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from langgraph.store.postgres.aio import AsyncPostgresStore
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        raise ConfigError(
            "DATABASE_URL is postgresql:// but the Postgres extra is not installed: pip install '.[postgres]'"
        ) from None
    pool: AsyncConnectionPool = AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=10,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        check=AsyncConnectionPool.check_connection,
        configure=_configure,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except Exception:  # noqa: BLE001 - never echo the DSN: it may hold a password
        await pool.close()
        raise ConfigError("DATABASE_URL: cannot connect to the Postgres server it names") from None
    try:
        checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
        facts = PostgresFactIndex(pool)
        links = SqlLinkStore(PostgresSql(pool))
        # CREATE TABLE IF NOT EXISTS races when several processes start on a fresh database:
        # one at a time creates or migrates the tables.
        async with pool.connection() as conn:
            # Poll rather than block: a blocked pg_advisory_lock() is an open transaction, and
            # the setup's CREATE INDEX CONCURRENTLY waits for every open transaction: deadlock.
            while True:
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(%s) AS locked", (POSTGRES_SETUP_LOCK,)
                )
                row: Any = await cursor.fetchone()  # a dict: the pool's connections use dict_row
                if row and row["locked"]:
                    break
                await asyncio.sleep(0.1)
            try:
                await checkpointer.setup()
                await store.setup()
                await facts.setup(conn)
                await links.setup(postgres_statements(conn))
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (POSTGRES_SETUP_LOCK,))

        async def purge() -> None:
            # Deleted rows stay in the heap until vacuumed; reclaim them now.
            try:
                async with pool.connection() as conn:
                    await conn.execute("VACUUM store")
            except Exception:  # noqa: BLE001 - autovacuum will still get there
                log.warning("VACUUM after an erase failed; autovacuum will reclaim the rows later")

        async def prune_thread(thread_id: str) -> None:
            try:
                await checkpointer.aprune([thread_id], strategy="keep_latest")
            except Exception:  # noqa: BLE001 - a concurrent prune did it; the next turn retries
                log.debug("pruning thread %s failed; will retry after its next turn", thread_id)

        try:
            yield Storage(
                checkpointer=checkpointer,
                store=store,
                purge=purge,
                prune_thread=prune_thread,
                kind="postgres",
                facts=facts,
                links=links,
            )
        finally:
            await stop_batching(store)
    finally:
        await pool.close()
