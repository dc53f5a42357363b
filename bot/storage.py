"""Durable state: a checkpointer (per-thread history), a store (per-user facts) and its index.

SQLite (one file, WAL) by default (`bot.sqlite_storage`); Postgres when `DATABASE_URL` says
so (`bot.postgres_storage`), so several bot processes can share state. `purge` makes
erasure real on disk after a `/forget`; `facts` is the full-text index retrieval reads;
`links` maps linked identities to one person.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from bot.fact_index import FactIndex
from bot.identities import LinkStore
from config.settings import DatabaseTarget

SQLITE_BUSY_TIMEOUT_MS = 15_000
POSTGRES_SETUP_LOCK = 0x6D656D6F  # any constant shared by every bot process ("memo")


@dataclass(frozen=True, kw_only=True)
class Storage:
    checkpointer: BaseCheckpointSaver
    store: BaseStore
    purge: Callable[[], Awaitable[None]]
    prune_thread: Callable[[str], Awaitable[None]]
    kind: str
    facts: FactIndex
    links: LinkStore | None = None  # identity links and link codes (`bot.link_store`)


async def stop_batching(store: BaseStore) -> None:
    """Stop the store's background batching task, which it never stops by itself."""
    task = getattr(store, "_task", None)
    if isinstance(task, asyncio.Task) and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def open_storage(target: DatabaseTarget) -> AsyncIterator[Storage]:
    """Open (and create on first run) the checkpointer, store and fact index for `target`."""
    if target.kind == "postgres":
        from bot.postgres_storage import open_postgres

        assert target.postgres_dsn is not None
        async with open_postgres(target.postgres_dsn) as storage:
            yield storage
    else:
        from bot.sqlite_storage import open_sqlite

        assert target.sqlite_path is not None
        async with open_sqlite(target.sqlite_path) as storage:
            yield storage
