"""SQLite full-text index of the facts: an FTS5 table fed by triggers on the store's table.

The table is contentless (`content=''`): it holds the index only, never a second copy of
the text. Triggers on LangGraph's `store` table keep it in step with every write, delete
and `/forget`, whoever makes them. Each row also carries an owner token (the hex of its
namespace), so a query is answered for one person by the index itself.

SQLite 3.40 has no FTS5 `secure-delete`: deleting an entry only adds a tombstone, and the
old segment keeps the words. `after_erase` runs FTS5 `optimize`, which rewrites the index
into one segment without them; `secure_delete` zeroes the freed pages and the store's
purge then checkpoints the WAL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aiosqlite

from bot.fact_index import IndexedFact, clean_terms, parse_stamp, parse_value

FTS = "store_fact_fts"
_OWNER = "'o' || lower(hex({row}.prefix)) || '0'"  # ends in a digit: the porter stemmer leaves it alone
_FACT = "json_extract(CAST({row}.value AS TEXT), '$.fact')"
_TOPIC = "json_extract(CAST({row}.value AS TEXT), '$.topic')"
# Written the same in the index and the query, or SQLite does not use the index.
_LOWER_FACT = "lower(json_extract(CAST(value AS TEXT), '$.fact'))"
_IS_FACT = "substr({row}.prefix, 1, 9) = 'memories.'"


def _columns(row: str) -> str:
    return ", ".join(part.format(row=row) for part in (_OWNER, _FACT, _TOPIC))


def _delete_entry(row: str) -> str:
    return f"INSERT INTO {FTS}({FTS}, rowid, owner, fact, topic) VALUES ('delete', {row}.rowid, {_columns(row)});"


def _insert_entry(row: str) -> str:
    return f"INSERT INTO {FTS}(rowid, owner, fact, topic) VALUES ({row}.rowid, {_columns(row)});"


# The store writes with INSERT OR REPLACE, whose implicit delete fires no delete trigger
# (recursive_triggers is off), so the entry of a row about to be replaced goes first.
SCHEMA = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
    "owner, fact, topic, content='', tokenize='porter unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS}_replace BEFORE INSERT ON store
    WHEN {_IS_FACT.format(row="new")} BEGIN
      INSERT INTO {FTS}({FTS}, rowid, owner, fact, topic)
        SELECT 'delete', old.rowid, {_columns("old")} FROM store AS old
        WHERE old.prefix = new.prefix AND old.key = new.key;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS}_insert AFTER INSERT ON store
    WHEN {_IS_FACT.format(row="new")} BEGIN {_insert_entry("new")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS}_delete AFTER DELETE ON store
    WHEN {_IS_FACT.format(row="old")} BEGIN {_delete_entry("old")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS}_update_old AFTER UPDATE OF prefix, value ON store
    WHEN {_IS_FACT.format(row="old")} BEGIN {_delete_entry("old")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS}_update_new AFTER UPDATE OF prefix, value ON store
    WHEN {_IS_FACT.format(row="new")} BEGIN {_insert_entry("new")} END""",
    # Recency without sorting all of a person's rows.
    "CREATE INDEX IF NOT EXISTS store_prefix_updated_idx ON store (prefix, updated_at)",
    # "Is this fact already known?" on every save, whatever words the tokenizer sees in it.
    f"CREATE INDEX IF NOT EXISTS store_fact_text_idx ON store (prefix, {_LOWER_FACT})",
]
_BACKFILL = f"INSERT INTO {FTS}(rowid, owner, fact, topic) SELECT rowid, {_columns('store')} FROM store WHERE {_IS_FACT.format(row='store')}"


def owner_token(prefix: str) -> str:
    return "o" + prefix.encode().hex() + "0"


def quote(term: str) -> str:
    """An FTS5 string: whatever the term holds, it is matched as words, never as syntax."""
    # A NUL would end the query string early for SQLite's C code: it is no word anyway.
    return '"' + term.replace("\x00", " ").replace('"', '""') + '"'


def match_expression(
    prefix: str, terms: Sequence[str], *, match_all: bool, required: str | None = None
) -> str:
    joiner = " AND " if match_all else " OR "
    expression = (
        f"owner : {quote(owner_token(prefix))} AND {{fact topic}} : ({joiner.join(map(quote, terms))})"
    )
    return expression + (f" AND fact : {quote(required)}" if required else "")


_SEARCH = f"""
SELECT s.key, s.value, s.created_at, s.updated_at, hit.score FROM (
  SELECT rowid, bm25({FTS}, 0.0, 1.0, 0.3) AS score FROM {FTS}
  WHERE {FTS} MATCH ? ORDER BY score LIMIT ?
) AS hit JOIN store AS s ON s.rowid = hit.rowid
WHERE s.prefix = ? ORDER BY hit.score
"""
_SAME_TEXT = (
    "SELECT key, value, created_at, updated_at, 0.0 FROM store "
    f"WHERE prefix = ? AND {_LOWER_FACT} = lower(?) LIMIT 20"
)
_RECENT = (
    "SELECT key, value, created_at, updated_at, 0.0 FROM store WHERE prefix = ? "
    "ORDER BY updated_at DESC, rowid DESC LIMIT ?"
)


class SqliteFactIndex:
    """`FactIndex` on the store's own connection; reads never wait for the store's lock.

    Writes (setup, optimize) take `lock`, the store's, so they never start a transaction
    inside one of the store's on the shared connection.
    """

    def __init__(self, conn: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        self.conn = conn
        self.lock = lock

    async def setup(self) -> None:
        """Create the index and its triggers; index existing facts the first time."""
        async with self.lock:
            await self._in_transaction(self._create)

    async def _create(self) -> None:
        rows = await self.conn.execute_fetchall("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS,))
        existed = bool(list(rows))
        for statement in SCHEMA:
            await self.conn.execute(statement)
        if not existed:
            await self.conn.execute(_BACKFILL)

    async def _in_transaction(self, work: Callable[[], Awaitable[None]]) -> None:
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            await work()
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        await self.conn.execute("COMMIT")

    async def search(
        self,
        prefix: str,
        terms: Sequence[str],
        *,
        limit: int,
        match_all: bool = False,
        required: str | None = None,
    ) -> list[IndexedFact]:
        terms = clean_terms(terms)
        if not terms or limit <= 0:
            return []
        expression = match_expression(prefix, terms, match_all=match_all, required=required)
        rows = await self.conn.execute_fetchall(_SEARCH, (expression, limit, prefix))
        return [_indexed(row, score=-float(row[4])) for row in rows]

    async def recent(self, prefix: str, *, limit: int) -> list[IndexedFact]:
        rows = await self.conn.execute_fetchall(_RECENT, (prefix, limit))
        return [_indexed(row, score=0.0) for row in rows]

    async def same_text(self, prefix: str, text: str) -> list[IndexedFact]:
        rows = await self.conn.execute_fetchall(_SAME_TEXT, (prefix, text))
        return [_indexed(row, score=0.0) for row in rows]

    async def after_erase(self) -> None:
        async def optimize() -> None:
            await self.conn.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('optimize')")

        async with self.lock:
            await self._in_transaction(optimize)


def _indexed(row: Sequence[object], *, score: float) -> IndexedFact:
    return IndexedFact(
        key=str(row[0]),
        value=parse_value(row[1]),
        created_at=parse_stamp(row[2]),
        updated_at=parse_stamp(row[3]),
        score=score,
    )
