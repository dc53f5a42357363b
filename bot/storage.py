"""Durable state: a checkpointer (per-thread history) and a store (per-user facts).

SQLite (one file, WAL) by default; Postgres when `DATABASE_URL` says so, so several bot
processes can share state. `purge` makes erasure real on disk after a `/forget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.checkpoint.sqlite.utils import load_pending_writes, pending_writes_sql
from langgraph.store.base import BaseStore, Op, PutOp, Result
from langgraph.store.sqlite.aio import AsyncSqliteStore

from config.settings import ConfigError, DatabaseTarget

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
POSTGRES_SETUP_LOCK = 0x6D656D6F  # any constant shared by every bot process ("memo")


@dataclass(frozen=True, kw_only=True)
class Storage:
    checkpointer: BaseCheckpointSaver
    store: BaseStore
    purge: Callable[[], Awaitable[None]]
    prune_thread: Callable[[str], Awaitable[None]]
    kind: str


async def _sqlite_connection(path: Path, *, autocommit: bool) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None if autocommit else "")
    # WAL lets readers and the writer overlap; secure_delete zeroes erased content on
    # disk; the busy timeout makes a turn wait for another writer instead of failing.
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA secure_delete=ON")
    await conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return conn


# Whether the store batch running in this task writes (set per call by `abatch`).
_BATCH_WRITES: ContextVar[bool] = ContextVar("batch_writes", default=True)


class _ImmediateSqliteStore(AsyncSqliteStore):
    """`AsyncSqliteStore` whose writing transactions take the write lock when they begin.

    The stock store opens a deferred transaction, reads (to dedupe), then writes. If the
    checkpointer's connection commits in between, SQLite cannot upgrade the stale read
    snapshot and fails at once with "database is locked", ignoring the busy timeout; under
    concurrent turns that lost replies. `BEGIN IMMEDIATE` waits (busy timeout) instead.

    Batches that only read (the facts for a prompt, on every turn) stay deferred: in WAL mode
    they never wait for a writer, and they must not hold the write lock either, or worker
    processes sharing the file (`BOT_WORKERS`) queue behind each other's reads.
    """

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        token = _BATCH_WRITES.set(any(isinstance(op, PutOp) for op in ops))
        try:
            return await super().abatch(ops)
        finally:
            _BATCH_WRITES.reset(token)

    @asynccontextmanager
    async def _cursor(self, *, transaction: bool = True) -> AsyncIterator[aiosqlite.Cursor]:
        if not self.is_setup:
            await self.setup()
        async with self.lock:
            if transaction:
                await self.conn.execute("BEGIN IMMEDIATE" if _BATCH_WRITES.get() else "BEGIN")
            async with self.conn.cursor() as cur:
                try:
                    yield cur
                except BaseException:
                    if transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
                if transaction:
                    await self.conn.execute("COMMIT")


_SAVE_CHECKPOINT = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
    "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_LATEST_CHECKPOINT = (
    "SELECT thread_id, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata "
    "FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? ORDER BY checkpoint_id DESC LIMIT 1"
)


class _LeanSqliteSaver(AsyncSqliteSaver):
    """`AsyncSqliteSaver` with fewer trips to aiosqlite's thread, and reads that never queue.

    Every turn loads its thread's latest checkpoint and saves one. The stock load takes the
    saver's lock (so every concurrent turn's load queues behind every other's, and behind
    writes) and makes six trips to aiosqlite's thread (cursor, execute, fetch, execute,
    fetch, close); here it is two, without the lock. Reads need no lock: aiosqlite runs one
    statement at a time, and a turn never reads a checkpoint that another turn is writing
    (`ChatService` orders each thread's turns). A save keeps the lock (the connection's
    transaction is shared) but makes two trips instead of three. The stock `setup()` takes
    the lock on every call, even when done; it is skipped once done. Loading a specific
    checkpoint id (history browsing, rare) goes through the stock code.
    """

    async def _ready(self) -> None:
        if not self.is_setup:
            await self.setup()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        if get_checkpoint_id(config):
            return await super().aget_tuple(config)
        await self._ready()
        thread_id = str(config["configurable"]["thread_id"])
        checkpoint_ns = config["configurable"].get("checkpoint_ns", "")
        rows = list(await self.conn.execute_fetchall(_LATEST_CHECKPOINT, (thread_id, checkpoint_ns)))
        if not rows:
            return None
        _, checkpoint_id, parent_id, type_, checkpoint, metadata = rows[0]
        writes = await self.conn.execute_fetchall(
            pending_writes_sql(self._has_task_path), (thread_id, checkpoint_ns, checkpoint_id)
        )

        def at(checkpoint: str) -> RunnableConfig:
            return {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": checkpoint,
                }
            }

        return CheckpointTuple(
            at(checkpoint_id),
            self.serde.loads_typed((type_, checkpoint)),
            json.loads(metadata) if metadata is not None else {},
            at(parent_id) if parent_id else None,
            load_pending_writes(list(writes), self.serde),
        )

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        await self._ready()
        thread_id = str(config["configurable"]["thread_id"])
        checkpoint_ns = config["configurable"]["checkpoint_ns"]
        type_, serialized = self.serde.dumps_typed(checkpoint)
        serialized_metadata = json.dumps(
            get_checkpoint_metadata(config, metadata), ensure_ascii=False
        ).encode("utf-8", "ignore")
        row = (
            thread_id,
            checkpoint_ns,
            checkpoint["id"],
            config["configurable"].get("checkpoint_id"),
            type_,
            serialized,
            serialized_metadata,
        )
        async with self.lock:
            await self.conn.execute_fetchall(_SAVE_CHECKPOINT, row)
            await self.conn.commit()
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }


async def _stop_batching(store: BaseStore) -> None:
    """Stop the store's background batching task, which it never stops by itself."""
    task = getattr(store, "_task", None)
    if isinstance(task, asyncio.Task) and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def _open_sqlite(path: Path) -> AsyncIterator[Storage]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"DATABASE_URL: cannot create the folder for {path} ({exc.strerror})") from None
    async with AsyncExitStack() as stack:
        try:
            saver_conn = await _sqlite_connection(path, autocommit=False)
            stack.push_async_callback(saver_conn.close)
            store_conn = await _sqlite_connection(path, autocommit=True)
            stack.push_async_callback(store_conn.close)
        except Exception as exc:  # noqa: BLE001 - reported as a configuration problem
            raise ConfigError(f"DATABASE_URL: cannot open the SQLite file {path} ({exc})") from None
        checkpointer = _LeanSqliteSaver(saver_conn)
        store = _ImmediateSqliteStore(store_conn)
        stack.push_async_callback(_stop_batching, store)
        await checkpointer.setup()
        await store.setup()

        async def purge() -> None:
            # Copy the WAL back into the (secure-deleted) main file and truncate it, so
            # erased text no longer exists in either file.
            for _ in range(50):
                async with store.lock, store_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                    row = await cursor.fetchone()
                if row is None or row[0] == 0:
                    return
                await asyncio.sleep(0.1)
            log.warning("could not fully checkpoint the SQLite WAL after an erase; will retry on next erase")

        async def prune_thread(thread_id: str) -> None:
            # Every checkpoint holds the whole history: keep only the newest, so a thread
            # costs its history once on disk instead of once per turn.
            async with checkpointer.lock:
                for table in ("checkpoints", "writes"):
                    await saver_conn.execute(
                        f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id < "
                        "(SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
                        (thread_id, thread_id),
                    )
                await saver_conn.commit()

        yield Storage(
            checkpointer=checkpointer, store=store, purge=purge, prune_thread=prune_thread, kind="sqlite"
        )


@asynccontextmanager
async def _open_postgres(dsn: str) -> AsyncIterator[Storage]:
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
    )
    try:
        await pool.open(wait=True, timeout=10)
    except Exception:  # noqa: BLE001 - never echo the DSN: it may hold a password
        await pool.close()
        raise ConfigError("DATABASE_URL: cannot connect to the Postgres server it names") from None
    try:
        checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
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
            )
        finally:
            await _stop_batching(store)
    finally:
        await pool.close()


@asynccontextmanager
async def open_storage(target: DatabaseTarget) -> AsyncIterator[Storage]:
    """Open (and create on first run) the checkpointer and store for `target`."""
    if target.kind == "postgres":
        assert target.postgres_dsn is not None
        async with _open_postgres(target.postgres_dsn) as storage:
            yield storage
    else:
        assert target.sqlite_path is not None
        async with _open_sqlite(target.sqlite_path) as storage:
            yield storage
