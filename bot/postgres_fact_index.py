"""Postgres full-text index of the facts: generated tsvector columns on the store's table.

The columns are computed by Postgres from the row itself (`to_tsvector('english', ...)`), so
they are written, replaced and deleted with the fact, whoever writes it, and GIN indexes
serve queries: `fact_terms` holds the fact's words and topic, `fact_broader` its broader
terms (`bot.broader_terms`), apart so that a search of the words alone never touches rows
only the terms match. Every lexeme carries its person's key in front (`bot_person_key`: 12 hex
digits of the namespace's md5): "boston" in Ana's facts is another index entry than
"boston" in Ben's. A query for one person reads only that person's posting lists, as long
as their own matches, not the whole database's: in a database of a million facts a common
word's list would otherwise cost every turn a long walk. The namespace is still compared on
every row, so two people whose keys collide never see each other's facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.broader_terms import TERMS, with_terms
from bot.fact_index import BOTH, BROADER, WORDS, IndexedFact, clean_terms, parse_stamp, parse_value

SCHEMA = [
    """CREATE OR REPLACE FUNCTION bot_person_key(prefix text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT left(md5(prefix), 12) $$""",
    # The key goes after each lexeme's opening quote in the vector's (and the query's) text
    # form: lexemes hold no space, so a quote after the start, a space, "(" or "!" opens one.
    r"""CREATE OR REPLACE FUNCTION bot_person_tsvector(person text, doc tsvector) RETURNS tsvector
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
      $$ SELECT regexp_replace(doc::text, '(^| )''', '\1''' || person, 'g')::tsvector $$""",
    r"""CREATE OR REPLACE FUNCTION bot_person_tsquery(person text, query tsquery) RETURNS tsquery
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
      $$ SELECT regexp_replace(query::text, '(^|[ (!])''', '\1''' || person, 'g')::tsquery $$""",
    # Earlier versions kept one lexicon for everyone (fact_tsv). Dropped before the columns
    # below are added, whose table rewrite then leaves none of its bytes behind.
    "ALTER TABLE store DROP COLUMN IF EXISTS fact_tsv",
    # The fact's own words (A) and topic (C)...
    """ALTER TABLE store ADD COLUMN IF NOT EXISTS fact_terms tsvector GENERATED ALWAYS AS (
      CASE WHEN starts_with(prefix, 'memories.') THEN bot_person_tsvector(bot_person_key(prefix),
        setweight(to_tsvector('english'::regconfig, coalesce(value->>'fact', '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(value->>'topic', '')), 'C'))
      END) STORED""",
    # ...and apart, its broader terms (D, bot.broader_terms): a search of the words alone never
    # walks, nor rechecks, the rows that only the terms match.
    """ALTER TABLE store ADD COLUMN IF NOT EXISTS fact_broader tsvector GENERATED ALWAYS AS (
      CASE WHEN starts_with(prefix, 'memories.') THEN bot_person_tsvector(bot_person_key(prefix),
        setweight(to_tsvector('english'::regconfig, coalesce(value->>'terms', '')), 'D'))
      END) STORED""",
    "CREATE INDEX IF NOT EXISTS store_fact_terms_idx ON store USING gin (fact_terms)",
    "CREATE INDEX IF NOT EXISTS store_fact_broader_idx ON store USING gin (fact_broader)",
    "CREATE INDEX IF NOT EXISTS store_prefix_updated_idx ON store (prefix, updated_at DESC)",
    # "Is this fact already known?" on every save, whatever words the parser sees in it.
    "CREATE INDEX IF NOT EXISTS store_fact_text_idx ON store (prefix, lower(value->>'fact'))",
    # "Does this person have private facts?" in every shared thread, without reading them all.
    "CREATE INDEX IF NOT EXISTS store_private_fact_idx ON store (prefix) WHERE value->>'visibility' = 'private'",
]
# In a shared thread the query itself leaves private facts out, before ranking and limit.
_SHARED = "(NOT %(shared_only)s OR value->>'visibility' IS DISTINCT FROM 'private')"
# websearch_to_tsquery never fails on any input; the terms are words joined by "or". Both
# queries in the person's own lexicon (see above).
_QUERIES = """bot_person_tsquery(bot_person_key(%(prefix)s),
    websearch_to_tsquery('english'::regconfig, %(terms)s)) AS q,
  bot_person_tsquery(bot_person_key(%(prefix)s),
    websearch_to_tsquery('english'::regconfig, %(required)s)) AS r"""
_WEIGHTS = "'{0.3, 0.3, 0.6, 1.0}'"  # D (broader terms), C (topic), B, A (the fact's words)
_RANK = {
    WORDS: f"ts_rank({_WEIGHTS}, fact_terms, q)",
    BROADER: f"ts_rank({_WEIGHTS}, fact_broader, q)",
    BOTH: f"ts_rank({_WEIGHTS}, fact_terms, q) + ts_rank({_WEIGHTS}, fact_broader, q)",
}


def _match(fields: str, required: bool) -> str:
    """The rows matching q in `fields`, and the required word r (always a word) if any."""
    words = "fact_terms @@ (q && r)" if required else "fact_terms @@ q"
    broader = "fact_broader @@ q" + (" AND fact_terms @@ r" if required else "")
    return {WORDS: words, BROADER: broader, BOTH: f"({words} OR {broader})"}[fields]


def _search(fields: str, required: bool) -> str:
    return f"""
SELECT key, value, created_at, updated_at, {_RANK[fields]} AS score
FROM store, {_QUERIES}
WHERE numnode(q) > 0 AND prefix = %(prefix)s AND {_match(fields, required)} AND {_SHARED}
ORDER BY score DESC, updated_at DESC LIMIT %(limit)s
"""


# Newest first: walk the person's facts from the newest (the (prefix, updated_at) index) and stop
# at `limit` matches, within the newest NEWEST_WINDOW; no ranking, and no fetching of every
# match to sort it (a word like "user" matches nearly every fact).
NEWEST_WINDOW = 2000


def _newest(fields: str, required: bool) -> str:
    return f"""
SELECT key, value, created_at, updated_at, 0.0 AS score
FROM (SELECT key, value, created_at, updated_at, fact_terms, fact_broader FROM store
      WHERE prefix = %(prefix)s AND {_SHARED} ORDER BY updated_at DESC LIMIT %(window)s) AS recent,
  {_QUERIES}
WHERE numnode(q) > 0 AND {_match(fields, required)}
ORDER BY updated_at DESC LIMIT %(limit)s
"""


_SQL = {
    (newest, fields, required): (_newest if newest else _search)(fields, required)
    for newest in (False, True)
    for fields in (WORDS, BROADER, BOTH)
    for required in (False, True)
}
_SAME_TEXT = (
    "SELECT key, value, created_at, updated_at, 0.0 AS score FROM store "
    "WHERE prefix = %(prefix)s AND lower(value->>'fact') = lower(%(text)s) LIMIT 20"
)
_RECENT = (
    "SELECT key, value, created_at, updated_at, 0.0 AS score FROM store WHERE prefix = %(prefix)s "
    f"AND {_SHARED} ORDER BY updated_at DESC LIMIT %(limit)s"
)
_HAS_CURRENT_COLUMN = (
    "SELECT 1 AS found FROM pg_attribute WHERE attrelid = 'store'::regclass "
    "AND attname = 'fact_broader' AND NOT attisdropped"
)
# Keyset pages over the store's primary key (prefix, key): facts without broader terms.
_WITHOUT_TERMS = """
SELECT prefix, key, value FROM store WHERE starts_with(prefix, 'memories.') AND NOT value ? 'terms'
  AND (prefix, key) > (%(prefix)s, %(key)s)
ORDER BY prefix, key LIMIT %(limit)s
"""
_SET_TERMS = """
UPDATE store SET value = jsonb_set(value, '{terms}', to_jsonb(t.terms))
FROM unnest(%(prefixes)s::text[], %(keys)s::text[], %(terms)s::text[]) AS t(prefix, key, terms)
WHERE store.prefix = t.prefix AND store.key = t.key
"""
_BATCH = 2000
_HAS_PRIVATE = (
    "SELECT 1 AS found FROM store WHERE prefix = %(prefix)s AND value->>'visibility' = 'private' LIMIT 1"
)


def websearch_text(terms: Sequence[str], *, match_all: bool) -> str:
    """`terms` as `websearch_to_tsquery` input: each quoted, so "or", "-" or other syntax
    inside a term stays a word; joined by "or" (or, `match_all`, by "and")."""
    quoted = ['"' + term.replace('"', " ").replace("\x00", " ") + '"' for term in terms]
    return (" " if match_all else " or ").join(quoted)


class PostgresFactIndex:
    """`FactIndex` over a psycopg connection pool whose connections use `dict_row`."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def setup(self, conn: Any) -> None:
        """Add the columns and indexes (call under the setup advisory lock). On the first start
        after an upgrade, facts written before broader terms get theirs, in place, before the
        columns are added (so the broader terms' index is built once, from them)."""
        cursor = await conn.execute(_HAS_CURRENT_COLUMN)
        upgrade = await cursor.fetchone() is None
        for statement in SCHEMA:
            if upgrade and statement.startswith("ALTER TABLE store ADD COLUMN"):
                await self._add_terms(conn)
                upgrade = False
            await conn.execute(statement)

    async def _add_terms(self, conn: Any) -> None:
        last = ("", "")
        while True:
            cursor = await conn.execute(_WITHOUT_TERMS, {"prefix": last[0], "key": last[1], "limit": _BATCH})
            rows = await cursor.fetchall()
            if not rows:
                return
            last = (str(rows[-1]["prefix"]), str(rows[-1]["key"]))
            await conn.execute(
                _SET_TERMS,
                {
                    "prefixes": [row["prefix"] for row in rows],
                    "keys": [row["key"] for row in rows],
                    "terms": [with_terms(parse_value(row["value"]))[TERMS] for row in rows],
                },
            )

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
        params = {
            "terms": websearch_text(terms, match_all=match_all),
            "required": websearch_text([required] if required else [], match_all=True),
            "prefix": prefix,
            "limit": limit,
            "window": NEWEST_WINDOW,
            "shared_only": shared_only,
        }
        return await self._rows(_SQL[(newest_first, fields, bool(required))], params)

    async def recent(self, prefix: str, *, limit: int, shared_only: bool = False) -> list[IndexedFact]:
        return await self._rows(_RECENT, {"prefix": prefix, "limit": limit, "shared_only": shared_only})

    async def has_private(self, prefix: str) -> bool:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_HAS_PRIVATE, {"prefix": prefix})
            return await cursor.fetchone() is not None

    async def same_text(self, prefix: str, text: str) -> list[IndexedFact]:
        return await self._rows(_SAME_TEXT, {"prefix": prefix, "text": text})

    def erased(self, prefix: str) -> None:
        """Nothing to note."""

    async def after_erase(self) -> None:
        """Nothing: the column goes with its row, and the store's purge vacuums the table."""

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[IndexedFact]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall()
        return [
            IndexedFact(
                key=str(row["key"]),
                value=parse_value(row["value"]),
                created_at=parse_stamp(row["created_at"]),
                updated_at=parse_stamp(row["updated_at"]),
                score=float(row["score"]),
            )
            for row in rows
        ]
