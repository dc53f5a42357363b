"""SQLite storage: one file in WAL mode for the checkpointer, the store and the fact index."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.checkpoint.sqlite.utils import load_pending_writes, pending_writes_sql
from langgraph.store.base import Op, PutOp, Result
from langgraph.store.sqlite.aio import AsyncSqliteStore

from bot.link_store import SqlLinkStore
from bot.sql import SqliteSql
from bot.sqlite_fact_index import SqliteFactIndex
from bot.storage import SQLITE_BUSY_TIMEOUT_MS, Storage, stop_batching
from config.settings import ConfigError

log = logging.getLogger(__name__)


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


@asynccontextmanager
async def open_sqlite(path: Path) -> AsyncIterator[Storage]:
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
            # Links write in transactions of their own: on a connection of their own, never in the store's.
            links_conn = await _sqlite_connection(path, autocommit=True)
            stack.push_async_callback(links_conn.close)
        except Exception as exc:  # noqa: BLE001 - reported as a configuration problem
            raise ConfigError(f"DATABASE_URL: cannot open the SQLite file {path} ({exc})") from None
        checkpointer = _LeanSqliteSaver(saver_conn)
        store = _ImmediateSqliteStore(store_conn)
        stack.push_async_callback(stop_batching, store)
        await checkpointer.setup()
        await store.setup()
        facts = SqliteFactIndex(store_conn, store.lock)
        await facts.setup()
        links = SqlLinkStore(SqliteSql(reader=store_conn, writer=links_conn))
        await links.setup()

        async def purge() -> None:
            # Rewrite the full-text index without the erased entries (SQLite 3.40 has no
            # FTS5 secure-delete), then copy the WAL back into the (secure-deleted) main file and truncate it, so
            # erased text no longer exists in either file.
            await facts.after_erase()
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
            checkpointer=checkpointer,
            store=store,
            purge=purge,
            prune_thread=prune_thread,
            kind="sqlite",
            facts=facts,
            links=links,
        )
