"""SQLite full-text index of the facts: FTS5 tables fed by triggers on the store's table.

The tables are contentless (`content=''`): it holds the index only, never a second copy of
the text. Triggers on LangGraph's `store` table keep it in step with every write, delete
and `/forget`, whoever makes them. Each row also carries owner tokens (the hex of its
namespace): one for every fact and one for its visibility, so a query is answered for one
person, and in a shared thread for their shared facts only, by the index itself. Beside the
fact's words, its topic and broader terms (`bot.broader_terms`) are indexed, weighted lower.

SQLite 3.40 has no FTS5 `secure-delete`: deleting an entry only adds a tombstone, and the
old segment keeps the words. `after_erase` runs FTS5 `optimize`, which rewrites the index
into one segment without them; `secure_delete` zeroes the freed pages and the store's
purge then checkpoints the WAL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aiosqlite
import orjson

from bot.broader_terms import with_terms
from bot.fact_index import BOTH, BROADER, WORDS, IndexedFact, clean_terms, parse_stamp, parse_value

FTS = "store_fact_fts"
# The index is split by person into this many FTS5 tables. FTS5's bm25() counts, for every
# query term, its rows in the whole table: on one table of a million facts a common word
# cost a turn tens of milliseconds. A shard holds 1/SHARDS of the people, and `optimize`
# after an erasure rewrites only the erased person's shard.
SHARDS = 32
# Owner tokens end in a digit, so the porter stemmer leaves them alone: `o<hex>0` on every fact
# of the namespace, then `o<hex>1` on its private facts or `o<hex>2` on its shared ones.
_OWNER = (
    "'o' || lower(hex({row}.prefix)) || '0 o' || lower(hex({row}.prefix)) || "
    "CASE WHEN json_extract(CAST({row}.value AS TEXT), '$.visibility') = 'private' THEN '1' ELSE '2' END"
)
ALL, PRIVATE_ONLY, SHARED_ONLY = "0", "1", "2"
_FACT = "json_extract(CAST({row}.value AS TEXT), '$.fact')"
_TOPIC = "json_extract(CAST({row}.value AS TEXT), '$.topic')"
_TERMS = "json_extract(CAST({row}.value AS TEXT), '$.terms')"  # bot.broader_terms
# Written the same in the index and the query, or SQLite does not use the index.
_LOWER_FACT = "lower(json_extract(CAST(value AS TEXT), '$.fact'))"
_IS_FACT = "substr({row}.prefix, 1, 9) = 'memories.'"
_SHARD = (
    "((unicode(substr({row}.prefix, -1)) + 7 * unicode(substr({row}.prefix, -2, 1))"
    " + 49 * unicode(substr({row}.prefix, -3, 1)) + length({row}.prefix)) % " + str(SHARDS) + ")"
)
COLUMNS = "owner, fact, topic, terms"
# bm25() column weights: the fact's own words count most; its topic and broader terms
# (bot.broader_terms) help a match but never outrank the words themselves.
WEIGHTS = "0.0, 1.0, 0.3, 0.3"


def shard(prefix: str) -> int:
    """Which FTS table holds `prefix`'s facts: `_SHARD`, computed the same way in Python."""
    return (ord(prefix[-1]) + 7 * ord(prefix[-2]) + 49 * ord(prefix[-3]) + len(prefix)) % SHARDS


def table(number: int) -> str:
    return f"{FTS}_{number:02d}"


def _columns(row: str) -> str:
    return ", ".join(part.format(row=row) for part in (_OWNER, _FACT, _TOPIC, _TERMS))


def _when(row: str, number: int) -> str:
    return f"{_IS_FACT.format(row=row)} AND {_SHARD.format(row=row)} = {number}"


def _shard_schema(number: int) -> list[str]:
    fts = table(number)
    delete = f"INSERT INTO {fts}({fts}, rowid, {COLUMNS}) VALUES ('delete', {{0}}.rowid, {{1}});"
    insert = f"INSERT INTO {fts}(rowid, {COLUMNS}) VALUES ({{0}}.rowid, {{1}});"
    old, new = delete.format("old", _columns("old")), insert.format("new", _columns("new"))
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5("
        f"{COLUMNS}, content='', tokenize='porter unicode61 remove_diacritics 2')",
        # The store writes with INSERT OR REPLACE, whose implicit delete fires no delete
        # trigger (recursive_triggers is off): the entry of a row being replaced goes first.
        f"""CREATE TRIGGER IF NOT EXISTS {fts}_replace BEFORE INSERT ON store WHEN {_when("new", number)} BEGIN
          INSERT INTO {fts}({fts}, rowid, {COLUMNS})
            SELECT 'delete', old.rowid, {_columns("old")} FROM store AS old
            WHERE old.prefix = new.prefix AND old.key = new.key;
        END""",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON store WHEN {_when('new', number)} BEGIN {new} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON store WHEN {_when('old', number)} BEGIN {old} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update_old AFTER UPDATE OF prefix, value ON store "
        f"WHEN {_when('old', number)} BEGIN {old} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update_new AFTER UPDATE OF prefix, value ON store "
        f"WHEN {_when('new', number)} BEGIN {new} END",
    ]


SCHEMA = [
    *(statement for number in range(SHARDS) for statement in _shard_schema(number)),
    # Recency without sorting all of a person's rows.
    "CREATE INDEX IF NOT EXISTS store_prefix_updated_idx ON store (prefix, updated_at)",
    # "Is this fact already known?" on every save, whatever words the tokenizer sees in it.
    f"CREATE INDEX IF NOT EXISTS store_fact_text_idx ON store (prefix, {_LOWER_FACT})",
]


def _backfill(number: int) -> str:
    return (
        f"INSERT INTO {table(number)}(rowid, {COLUMNS}) SELECT rowid, {_columns('store')} "
        f"FROM store WHERE {_when('store', number)}"
    )


_TRIGGERS = ("replace", "insert", "delete", "update_old", "update_new")


def _drop(fts: str) -> list[str]:
    return [*(f"DROP TRIGGER IF EXISTS {fts}_{name}" for name in _TRIGGERS), f"DROP TABLE IF EXISTS {fts}"]


# Earlier versions: one table; shards without visibility tokens; without broader terms. A
# contentless table drops an entry only given the values it was indexed with, so an outdated
# index is dropped and built again, never fed by new triggers.
_OUTDATED = [*_drop(FTS), *(statement for number in range(SHARDS) for statement in _drop(table(number)))]
_VERSION_MARK = "'$.terms'"  # in the current triggers' SQL


def owner_token(prefix: str, which: str = ALL) -> str:
    return "o" + prefix.encode().hex() + which


def quote(term: str) -> str:
    """An FTS5 string: whatever the term holds, it is matched as words, never as syntax."""
    # A NUL would end the query string early for SQLite's C code: it is no word anyway.
    return '"' + term.replace("\x00", " ").replace('"', '""') + '"'


def match_expression(
    prefix: str,
    terms: Sequence[str],
    *,
    match_all: bool,
    required: str | None = None,
    shared_only: bool = False,
    fields: str = BOTH,
) -> str:
    joiner = " AND " if match_all else " OR "
    owner = owner_token(prefix, SHARED_ONLY if shared_only else ALL)
    columns = {WORDS: "fact topic", BROADER: "terms", BOTH: "fact topic terms"}[fields]
    expression = f"owner : {quote(owner)} AND {{{columns}}} : ({joiner.join(map(quote, terms))})"
    return expression + (f" AND fact : {quote(required)}" if required else "")


def search_sql(number: int, *, newest_first: bool = False) -> str:
    fts = table(number)
    # newest_first: no bm25 at all, and FTS5 stops after `limit` matches.
    score, order = ("0.0", "rowid DESC") if newest_first else (f"bm25({fts}, {WEIGHTS})", "score")
    return f"""
SELECT s.key, s.value, s.created_at, s.updated_at, hit.score FROM (
  SELECT rowid, {score} AS score FROM {fts} WHERE {fts} MATCH ? ORDER BY {order} LIMIT ?
) AS hit JOIN store AS s ON s.rowid = hit.rowid
WHERE s.prefix = ? ORDER BY hit.score, s.rowid DESC
"""


_SAME_TEXT = (
    "SELECT key, value, created_at, updated_at, 0.0 FROM store "
    f"WHERE prefix = ? AND {_LOWER_FACT} = lower(?) LIMIT 20"
)
_RECENT = (
    "SELECT key, value, created_at, updated_at, 0.0 FROM store WHERE prefix = ? {shared} "
    "ORDER BY updated_at DESC, rowid DESC LIMIT ?"
)
_WITHOUT_TERMS = (
    f"SELECT rowid, value FROM store WHERE rowid > ? AND {_IS_FACT.format(row='store')} "
    f"AND {_TERMS.format(row='store')} IS NULL ORDER BY rowid LIMIT ?"
)
_BATCH = 2000
_SHARED_ROW = "AND json_extract(CAST(value AS TEXT), '$.visibility') IS NOT 'private'"


def has_private_sql(number: int) -> str:
    fts = table(number)
    return (
        f"SELECT 1 FROM {fts} JOIN store AS s ON s.rowid = {fts}.rowid "
        f"WHERE {fts} MATCH ? AND s.prefix = ? LIMIT 1"
    )


class SqliteFactIndex:
    """`FactIndex` on the store's own connection; reads never wait for the store's lock.

    Writes (setup, optimize) take `lock`, the store's, so they never start a transaction
    inside one of the store's on the shared connection.
    """

    def __init__(self, conn: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        self.conn = conn
        self.lock = lock
        self._erased: set[int] = set()

    async def setup(self) -> None:
        """Create the index and its triggers; index existing facts the first time."""
        async with self.lock:
            await self._in_transaction(self._create)

    async def _create(self) -> None:
        rows = list(
            await self.conn.execute_fetchall(
                "SELECT sql FROM sqlite_master WHERE name = ?", (f"{table(0)}_insert",)
            )
        )
        existed = bool(rows) and _VERSION_MARK in str(rows[0][0])
        if not existed:
            for statement in _OUTDATED:
                await self.conn.execute(statement)
            await self._add_terms()  # before the triggers exist: no index entry churns
        for statement in SCHEMA:
            await self.conn.execute(statement)
        if not existed:
            for number in range(SHARDS):
                await self.conn.execute(_backfill(number))

    async def _add_terms(self) -> None:
        """Give facts written before broader terms existed their terms, in place: the row's
        `updated_at` stays, so recency is unchanged."""
        last = -1
        while rows := list(await self.conn.execute_fetchall(_WITHOUT_TERMS, (last, _BATCH))):
            last = int(rows[-1][0])
            changed = [(orjson.dumps(with_terms(parse_value(raw))), rowid) for rowid, raw in rows]
            await self.conn.executemany("UPDATE store SET value = ? WHERE rowid = ?", changed)

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
        newest_first: bool = False,
        shared_only: bool = False,
        fields: str = BOTH,
    ) -> list[IndexedFact]:
        terms = clean_terms(terms)
        if not terms or limit <= 0:
            return []
        expression = match_expression(
            prefix, terms, match_all=match_all, required=required, shared_only=shared_only, fields=fields
        )
        sql = search_sql(shard(prefix), newest_first=newest_first)
        rows = await self.conn.execute_fetchall(sql, (expression, limit, prefix))
        return [_indexed(row, score=-float(row[4])) for row in rows]

    async def recent(self, prefix: str, *, limit: int, shared_only: bool = False) -> list[IndexedFact]:
        sql = _RECENT.format(shared=_SHARED_ROW if shared_only else "")
        rows = await self.conn.execute_fetchall(sql, (prefix, limit))
        return [_indexed(row, score=0.0) for row in rows]

    async def has_private(self, prefix: str) -> bool:
        expression = f"owner : {quote(owner_token(prefix, PRIVATE_ONLY))}"
        rows = await self.conn.execute_fetchall(has_private_sql(shard(prefix)), (expression, prefix))
        return bool(list(rows))

    async def same_text(self, prefix: str, text: str) -> list[IndexedFact]:
        rows = await self.conn.execute_fetchall(_SAME_TEXT, (prefix, text))
        return [_indexed(row, score=0.0) for row in rows]

    def erased(self, prefix: str) -> None:
        self._erased.add(shard(prefix))

    async def after_erase(self) -> None:
        """`optimize` the shards that lost facts (all of them if none was noted)."""
        numbers, self._erased = sorted(self._erased) or list(range(SHARDS)), set()

        async def optimize() -> None:
            for number in numbers:
                await self.conn.execute(f"INSERT INTO {table(number)}({table(number)}) VALUES ('optimize')")

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
