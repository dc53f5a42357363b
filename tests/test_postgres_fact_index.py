"""The Postgres index's per-person lexicon: every lexeme carries its person's key.

What it must keep: matching and ranking exactly as the plain English vector and query
give them, for any text and any terms; facts saved by older releases (the shared
`fact_tsv` column, then `fact_terms` without broader terms) are found after an upgrade, by
their words and by their broader terms, and the old column is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.memory import MemoryManager, Provenance
from bot.postgres_fact_index import websearch_text
from bot.postgres_storage import IO_CONCURRENCY
from bot.storage import open_storage
from config.settings import parse_database_url

WHERE = Provenance(platform="console", thread_id="console:dm:t", is_direct=True)
KEY = "0123456789ab"
# The vector and query of one fact, plain and in a person's lexicon; match and rank of each.
_COMPARE = """
WITH v AS (SELECT setweight(to_tsvector('english', %(fact)s), 'A') AS plain),
     q AS (SELECT websearch_to_tsquery('english', %(terms)s) AS plain)
SELECT v.plain AS vector, bot_person_tsvector(%(key)s, v.plain) AS owned_vector,
       numnode(q.plain) AS nodes,
       v.plain @@ q.plain AS matched, bot_person_tsvector(%(key)s, v.plain)
         @@ bot_person_tsquery(%(key)s, q.plain) AS owned_matched,
       ts_rank(v.plain, q.plain) AS rank, ts_rank(bot_person_tsvector(%(key)s, v.plain),
         bot_person_tsquery(%(key)s, q.plain)) AS owned_rank,
       bot_person_tsvector('ffffffffffff', v.plain) @@ bot_person_tsquery(%(key)s, q.plain) AS other
FROM v, q
"""
# Old releases: one lexicon for everyone, the namespace's md5 as the first lexeme; then one
# per person, without broader terms.
_OLD_COLUMNS = {
    "fact_tsv": """ALTER TABLE store ADD COLUMN fact_tsv tsvector GENERATED ALWAYS AS (
  CASE WHEN starts_with(prefix, 'memories.') THEN to_tsvector('simple'::regconfig, md5(prefix))
    || setweight(to_tsvector('english'::regconfig, coalesce(value->>'fact', '')), 'A') END) STORED""",
    "fact_terms": """ALTER TABLE store ADD COLUMN fact_terms tsvector GENERATED ALWAYS AS (
  CASE WHEN starts_with(prefix, 'memories.') THEN bot_person_tsvector(bot_person_key(prefix),
    setweight(to_tsvector('english'::regconfig, coalesce(value->>'fact', '')), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(value->>'topic', '')), 'C'))
  END) STORED""",
}


@pytest.fixture
def lexicon_db(postgres_url: str) -> Iterator[Any]:
    """A connection to a database holding the lexicon's functions (the bot's own setup)."""
    import asyncio

    import psycopg

    async def setup() -> None:
        async with open_storage(parse_database_url(postgres_url)):
            pass

    asyncio.run(setup())
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


def _lexemes(vector: str) -> list[str]:
    return [part for part in vector.split(" ") if part]


words = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fact=words, terms=st.lists(words, min_size=1, max_size=5), match_all=st.booleans())
def test_the_persons_lexicon_matches_and_ranks_as_plain_english(
    lexicon_db: Any, fact: str, terms: list[str], match_all: bool
) -> None:
    sentence = " ".join(["Ana's", *terms, fact])  # sometimes a match, sometimes not
    query = websearch_text(terms, match_all=match_all)
    row = lexicon_db.execute(_COMPARE, {"fact": sentence, "terms": query, "key": KEY}).fetchone()
    vector, owned, nodes, matched, owned_matched, rank, owned_rank, other = row
    # The same lexemes, positions and weights, each with the key in front.
    plain_lexemes = _lexemes(str(vector))
    assert _lexemes(str(owned)) == [f"'{KEY}{part[1:]}" for part in plain_lexemes]
    assert owned_matched == matched
    assert owned_rank == pytest.approx(rank)
    if nodes:  # a query in Ana's lexicon never matches anyone else's vector
        assert other is False


@pytest.mark.parametrize("old_column", sorted(_OLD_COLUMNS))
async def test_facts_saved_by_older_releases_are_found_after_the_upgrade(
    postgres_url: str, old_column: str
) -> None:
    import psycopg

    url = parse_database_url(postgres_url)
    async with open_storage(url):
        pass  # today's tables
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute("ALTER TABLE store DROP COLUMN fact_lexemes")  # back to an old release...
        await conn.execute(_OLD_COLUMNS[old_column])
        await conn.execute(  # ...which saved a fact, without broader terms
            "INSERT INTO store (prefix, key, value) VALUES ('memories.console:ana', 'k1', %s)",
            ('{"fact": "User keeps bees on the roof", "topic": "Hobbies"}',),
        )
    async with open_storage(url) as storage:  # the upgrade
        [hit] = await storage.facts.search("memories.console:ana", ["bee", "hives"], limit=5)
        assert hit.value["fact"] == "User keeps bees on the roof"
        assert "insect" in hit.value["terms"].split()  # given its broader terms in place...
        [hit] = await storage.facts.search("memories.console:ana", ["insects"], limit=5)
        assert hit.key == "k1"  # ...and found by them
        assert await storage.facts.search("memories.console:ben", ["bees"], limit=5) == []
        memories = MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)
        await memories.save("console:ana", "User's hives are painted blue", "Hobbies", WHERE)
        found = await storage.facts.search("memories.console:ana", ["hive"], limit=5)
        assert [hit.value["fact"] for hit in found] == ["User's hives are painted blue"]
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'store' "
            "AND column_name LIKE 'fact%%'"
        )
        assert [row[0] for row in await cursor.fetchall()] == ["fact_lexemes"]


async def test_every_pooled_connection_reads_ahead_for_bitmap_scans(postgres_url: str) -> None:
    async with open_storage(parse_database_url(postgres_url)) as storage:
        pool = storage.facts.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn:
            cursor = await conn.execute("SHOW effective_io_concurrency")
            row = await cursor.fetchone()
        assert int(row["effective_io_concurrency"]) == IO_CONCURRENCY > 1


_WEIGHTED = """
WITH q AS (SELECT websearch_to_tsquery('english', %(terms)s) AS plain)
SELECT numnode(q.plain) AS nodes,
       setweight(to_tsvector('english', %(fact)s), 'A') @@ q.plain AS matched,
       setweight(to_tsvector('english', %(fact)s), 'A') @@ bot_tsquery_weights(q.plain, 'AC') AS as_words,
       setweight(to_tsvector('english', %(fact)s), 'D') @@ bot_tsquery_weights(q.plain, 'AC') AS as_terms
FROM q
"""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fact=words, terms=st.lists(words, min_size=1, max_size=5), match_all=st.booleans())
def test_a_query_kept_to_the_facts_own_words_never_matches_broader_terms(
    lexicon_db: Any, fact: str, terms: list[str], match_all: bool
) -> None:
    # Any terms (quotes, syntax, other scripts) give a valid query: the same matches on the
    # fact's words (weight A), none on its broader terms (weight D).
    query = websearch_text(terms, match_all=match_all)
    sentence = " ".join([*terms, fact])
    row = lexicon_db.execute(_WEIGHTED, {"fact": sentence, "terms": query}).fetchone()
    nodes, matched, as_words, as_terms = row
    assert as_words == matched
    assert as_terms is False or not nodes
