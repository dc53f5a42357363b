"""The Postgres index's per-person lexicon: every lexeme carries its person's key.

What it must keep: matching and ranking exactly as the plain English vector and query
give them, for any text and any terms; facts saved by older releases (the shared `fact_tsv`
column; then `fact_terms` alone, without broader terms) are found after an upgrade, by their
words and by their broader terms, and the shared column is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fact_index import BROADER, WORDS
from bot.memory import MemoryManager, Provenance
from bot.postgres_fact_index import _SQL, websearch_text
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
# per person (today's fact_terms), without broader terms (no fact_broader).
_OLD_RELEASES = {
    "fact_tsv": [
        "ALTER TABLE store DROP COLUMN fact_broader",
        "ALTER TABLE store DROP COLUMN fact_terms",
        """ALTER TABLE store ADD COLUMN fact_tsv tsvector GENERATED ALWAYS AS (
  CASE WHEN starts_with(prefix, 'memories.') THEN to_tsvector('simple'::regconfig, md5(prefix))
    || setweight(to_tsvector('english'::regconfig, coalesce(value->>'fact', '')), 'A') END) STORED""",
    ],
    "fact_terms": ["ALTER TABLE store DROP COLUMN fact_broader"],
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


@pytest.mark.parametrize("old_release", sorted(_OLD_RELEASES))
async def test_facts_saved_by_older_releases_are_found_after_the_upgrade(
    postgres_url: str, old_release: str
) -> None:
    import psycopg

    url = parse_database_url(postgres_url)
    async with open_storage(url):
        pass  # today's tables
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        for statement in _OLD_RELEASES[old_release]:  # back to an old release...
            await conn.execute(statement)
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
        assert sorted(row[0] for row in await cursor.fetchall()) == ["fact_broader", "fact_terms"]


async def test_every_pooled_connection_reads_ahead_for_bitmap_scans(postgres_url: str) -> None:
    async with open_storage(parse_database_url(postgres_url)) as storage:
        pool = storage.facts.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn:
            cursor = await conn.execute("SHOW effective_io_concurrency")
            row = await cursor.fetchone()
        assert int(row["effective_io_concurrency"]) == IO_CONCURRENCY > 1


async def test_a_search_of_the_words_alone_never_reads_the_broader_terms(postgres_url: str) -> None:
    import psycopg

    # "device" is a broader term of "gadget": found through the terms, not as a word; and the
    # words-only plan reads no row the terms alone match.
    async with open_storage(parse_database_url(postgres_url)) as storage:
        memories = MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)
        for i in range(30):
            await memories.save("console:ana", f"User bought gadget number {i}", "General", WHERE)
        await memories.save("console:ana", "User fixed the old device", "General", WHERE)
        prefix = "memories.console:ana"
        both = await storage.facts.search(prefix, ["device"], limit=50)
        words_only = await storage.facts.search(prefix, ["device"], limit=50, fields=WORDS)
        broader = await storage.facts.search(prefix, ["device"], limit=50, fields=BROADER)
        assert len(both) == 31 and both[0].value["fact"] == "User fixed the old device"
        assert [hit.value["fact"] for hit in words_only] == ["User fixed the old device"]
        assert len(broader) == 30
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute("SET enable_seqscan = off")
        sql = _SQL[(False, WORDS, False)].replace("%(shared_only)s", "false")
        params = {"terms": '"device"', "required": "", "prefix": prefix, "limit": 50}
        cursor = await conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plan = "\n".join(row[0] for row in await cursor.fetchall())
    assert "store_fact_broader_idx" not in plan and "Rows Removed by Index Recheck" not in plan
