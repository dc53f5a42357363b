"""One small SQL interface over both engines, for the core's own tables (`bot.link_store`).

Statements are written once, with `?` placeholders, in the SQL both SQLite (3.35+) and
Postgres accept (`ON CONFLICT`, `RETURNING`); `PostgresSql` turns `?` into psycopg's `%s`.
A transaction on SQLite takes the write lock when it begins (`BEGIN IMMEDIATE`, waiting up
to the busy timeout for another process's writer); on Postgres it is a READ COMMITTED
transaction on one pooled connection, where a conditional UPDATE waits for a racing one and
then re-checks its condition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import aiosqlite

Row = tuple[Any, ...]


class Sql(Protocol):
    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows. Outside `transaction` only reads: writes go
        in a transaction (on SQLite, reads may run on a connection shared with others)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Sql]:
        """A `Sql` whose statements run in one transaction, committed when the block ends
        without an exception and rolled back when it raises."""
        ...


class _SqliteStatements:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(row) for row in await self.conn.execute_fetchall(sql, tuple(params))]

    def transaction(self) -> AbstractAsyncContextManager[Sql]:
        raise RuntimeError("already in a transaction")


class SqliteSql:
    """`Sql` on two autocommit connections: transactions, one at a time, on `writer` (ours
    alone); reads on `reader`, without waiting for them, as the fact index reads (a read
    every turn must not queue behind a transaction waiting for another process's writer)."""

    def __init__(self, *, reader: aiosqlite.Connection, writer: aiosqlite.Connection) -> None:
        self._reads = _SqliteStatements(reader)
        self._statements = _SqliteStatements(writer)
        self._lock = asyncio.Lock()

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._reads.rows(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        async with self._lock:
            conn = self._statements.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._statements
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")


async def _postgres_rows(conn: Any, sql: str, params: Sequence[Any]) -> list[Row]:
    cursor = await conn.execute(sql.replace("?", "%s"), tuple(params))
    if cursor.description is None:
        return []
    # The pool's connections return dicts (dict_row), in column order.
    return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in await cursor.fetchall()]


class _PostgresStatements:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await _postgres_rows(self.conn, sql, params)

    def transaction(self) -> AbstractAsyncContextManager[Sql]:
        raise RuntimeError("already in a transaction")


def postgres_statements(conn: Any) -> Sql:
    """`Sql` on one psycopg connection the caller holds (e.g. under a setup lock)."""
    return _PostgresStatements(conn)


class PostgresSql:
    """`Sql` over a psycopg connection pool (autocommit connections)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.pool.connection() as conn:
            return await _postgres_rows(conn, sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        async with self.pool.connection() as conn, conn.transaction():
            yield _PostgresStatements(conn)
