"""Retrieval on the engines' full-text indexes, on SQLite and on Postgres: what reaches the prompt.

The index stays in step with every write; follow-ups search with the thread's recent
turns; multi-hop questions reach facts through their neighbours; the profile is always
offered; near-duplicates take one place; bad input never errors and never returns
another person's fact; a turn reads a bounded number of rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import Embeddings
from langgraph.store.sqlite.base import MIGRATIONS

from bot.fact_index import FactIndex, IndexedFact
from bot.facts import clean_fact_text
from bot.memory import MemoryManager, Provenance
from bot.sqlite_fact_index import _SHARD, SCHEMA, SHARDS, match_expression, shard, table
from bot.storage import Storage, open_storage
from config.settings import parse_database_url

WHERE = Provenance(platform="console", thread_id="console:dm:t", is_direct=True)
ANA, BEN = "console:ana", "console:ben"
BAD_INPUTS = (
    "?!...;;;---!!!",
    "🎉🔥😀👍🏽",
    "東京に住んでいます",
    "أنا أعيش في القاهرة",
    "z" * 500,
    'NEAR(a b) AND "x" OR y* -z : (w) ^q',
    '"',
    "*",
    "-",
    ":",
    "()",
    "AND OR NOT NEAR",
    "owner : o0",
    "",
    "   ",
    "\x00\x01",
    "é́́",
)


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    async with open_storage(parse_database_url(database_url)) as opened:
        yield opened


def manager(storage: Storage, **options: Any) -> MemoryManager:
    return MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts, **options)


async def texts(memories: MemoryManager, user: str, message: str, **options: Any) -> list[str]:
    found = await memories.relevant_facts(
        user, message, limit=options.pop("limit", 40), token_budget=600, **options
    )
    return [fact.text for fact in found]


async def save_all(memories: MemoryManager, user: str, facts: Sequence[str]) -> None:
    for text in facts:
        await memories.save(user, text, "General", WHERE)


FILLER = [f"User bought gadget number {i} on a Monday" for i in range(60)]


async def test_the_index_follows_every_save_update_delete_and_forget(storage: Storage) -> None:
    memories = manager(storage)
    await save_all(memories, ANA, FILLER)
    key, _ = await memories.save(ANA, "User plays the oboe", "Music", WHERE)
    assert "User plays the oboe" in await texts(memories, ANA, "which instrument, the oboe?", limit=1)

    assert await memories.update(ANA, key, "User plays the bassoon", WHERE)
    assert "User plays the bassoon" in await texts(memories, ANA, "the bassoon?", limit=1)
    assert "User plays the oboe" not in await texts(memories, ANA, "oboe")

    assert await memories.delete(ANA, key)
    assert "User plays the bassoon" not in await texts(memories, ANA, "bassoon")

    await memories.save(ANA, "User collects vintage typewriters", "Hobby", WHERE)
    assert await memories.forget(ANA, "typewriters") == 1
    assert "User collects vintage typewriters" not in await texts(memories, ANA, "typewriters")
    assert await memories.forget(ANA) == len(FILLER)
    assert await texts(memories, ANA, "gadget") == []


async def test_stemming_and_related_words_bridge_word_mismatch(storage: Storage) -> None:
    memories = manager(storage)
    await save_all(
        memories, ANA, [*FILLER, "User's grandmother is called Rosa", "User enjoys running marathons"]
    )
    assert "User's grandmother is called Rosa" in await texts(
        memories, ANA, "what's my grandma's name?", limit=3
    )
    assert "User enjoys running marathons" in await texts(
        memories, ANA, "did I ever run a marathon?", limit=3
    )
    # "kids" is related to "child", and the stemmers keep "children" apart from "child".
    await save_all(memories, BEN, ["User's children are Jasper and Ottilie", *FILLER])
    assert "User's children are Jasper and Ottilie" in await texts(
        memories, BEN, "how old are my kids?", limit=3
    )


async def test_multi_hop_questions_reach_facts_through_their_neighbours(storage: Storage) -> None:
    memories = manager(storage)
    await save_all(memories, ANA, ["User's sister is called Maribel", *FILLER, "Maribel lives in Valparaiso"])
    found = await texts(memories, ANA, "where does my sister live?", limit=6)
    assert "User's sister is called Maribel" in found
    assert "Maribel lives in Valparaiso" in found  # shares no word with the question but her name


async def test_a_follow_up_is_searched_with_the_recent_turns(storage: Storage) -> None:
    memories = manager(storage)
    await save_all(memories, ANA, ["Tobias blows glass for a living", *FILLER])
    question = "and what does he do?"
    assert "Tobias blows glass for a living" not in await texts(memories, ANA, question, limit=5)
    context = ["tell me about my brother", "Your brother is Tobias."]
    found = await texts(memories, ANA, question, limit=5, context=context)
    assert "Tobias blows glass for a living" in found


async def test_the_profile_is_always_offered_and_near_duplicates_take_one_place(storage: Storage) -> None:
    memories = manager(storage)
    await save_all(memories, ANA, ["User's name is Ana", "User lives in Porto", *FILLER])
    await save_all(memories, ANA, ["User adores green tea", "User adores green tea!"])
    found = await texts(memories, ANA, "tell me a joke", limit=8)
    assert {"User's name is Ana", "User lives in Porto"} <= set(found)
    tea = await texts(memories, ANA, "green tea", limit=8)
    assert len([text for text in tea if "green tea" in text]) == 1


async def test_bad_input_never_errors_and_never_returns_another_persons_fact(storage: Storage) -> None:
    memories = manager(storage)
    storable = [text for text in BAD_INPUTS if clean_fact_text(text)]  # the rest is refused as empty
    await save_all(memories, BEN, ["User is Ben and likes owner tokens", *storable])
    for text in BAD_INPUTS:
        if text.strip():
            await memories.save(ANA, f"{text} (ana)", "General", WHERE)
    bens = {fact.id for fact in await memories.list_facts(BEN)}
    anas = {fact.id for fact in await memories.list_facts(ANA)}
    for message in [*BAD_INPUTS, "Ben", "ben's owner tokens", "tokens"]:
        found = await memories.relevant_facts(ANA, message, limit=40, token_budget=600, context=[message])
        assert found and {fact.id for fact in found} <= anas, message
        assert not {fact.id for fact in found} & bens
    # The same fact twice is still refused, whatever its script.
    for text in BAD_INPUTS:
        if text.strip():
            assert (await memories.save(ANA, f"{text} (ana)", "General", WHERE))[1] is False


class CountingIndex:
    """Counts the rows the index hands back: what a turn reads."""

    def __init__(self, inner: FactIndex) -> None:
        self.inner, self.rows = inner, 0

    async def search(self, prefix: str, terms: Sequence[str], **options: Any) -> list[IndexedFact]:
        found = await self.inner.search(prefix, terms, **options)
        self.rows += len(found)
        return found

    async def recent(self, prefix: str, *, limit: int, shared_only: bool = False) -> list[IndexedFact]:
        found = await self.inner.recent(prefix, limit=limit, shared_only=shared_only)
        self.rows += len(found)
        return found

    async def has_private(self, prefix: str) -> bool:
        return await self.inner.has_private(prefix)

    async def same_text(self, prefix: str, text: str) -> list[IndexedFact]:
        return await self.inner.same_text(prefix, text)

    async def after_erase(self) -> None:
        await self.inner.after_erase()


async def test_a_turn_reads_a_bounded_number_of_rows_however_many_facts(storage: Storage) -> None:
    counting = CountingIndex(storage.facts)
    memories = MemoryManager(storage.store, storage.checkpointer, facts_index=counting)
    reads = []
    for size in (100, 400):
        user = f"console:size{size}"
        ops_facts = [f"User bought gadget number {i} for work on a Monday" for i in range(size)]
        await save_all(memories, user, ops_facts)

        async def no_scans(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("retrieval read the store directly")

        original = storage.store.asearch
        storage.store.asearch = no_scans  # type: ignore[method-assign]
        try:
            counting.rows = 0
            await memories.relevant_facts(
                user, "which gadget for work on Monday?", limit=40, token_budget=600
            )
        finally:
            storage.store.asearch = original  # type: ignore[method-assign]
        reads.append(counting.rows)
    assert reads[0] == reads[1] <= 250


class WordVectors(Embeddings):
    """Embeddings where 'canine' and 'dog' mean the same, offline."""

    def _vector(self, text: str) -> list[float]:
        lowered = text.lower()
        return [float("dog" in lowered or "canine" in lowered), float("tea" in lowered), 0.1]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


async def test_with_embeddings_similarity_ranks_the_candidates(storage: Storage) -> None:
    memories = manager(storage, embeddings=WordVectors())
    await save_all(
        memories, ANA, ["User drinks tea daily", "User has a dog named Rex", "User likes tea cakes"]
    )
    found = await texts(memories, ANA, "my canine companion?", limit=3)
    assert found[0] == "User has a dog named Rex"


async def test_existing_facts_are_indexed_when_the_index_is_first_created(tmp_path: Path) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/old.db")
    async with open_storage(url) as storage:
        await save_all(manager(storage), ANA, ["User keeps bees on the roof", *FILLER[:5]])
    with sqlite3.connect(tmp_path / "old.db") as conn:  # a database from before the index
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for number in range(SHARDS):
            conn.execute(f"DROP TABLE {table(number)}")
    async with open_storage(url) as storage:
        assert "User keeps bees on the roof" in await texts(manager(storage), ANA, "bees", limit=1)


def _fts_database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for statement in MIGRATIONS:
        conn.execute(statement)
    for statement in SCHEMA:
        conn.execute(statement)
    # Someone in Ana's shard: the owner token, not the shard, keeps them apart.
    people = [("memories.ana", "Ana likes quoted words"), ("memories.ben", "Ben's secret is here")]
    same_shard = next(
        f"memories.x{i}" for i in range(1000) if shard(f"memories.x{i}") == shard("memories.ana")
    )
    people.append((same_shard, "A neighbour's secret is here too"))
    for user, text in people:
        conn.execute(
            "INSERT INTO store (prefix, key, value) VALUES (?, ?, ?)",
            (user, text[:3], f'{{"fact": "{text}"}}'),
        )
    return conn


_CONN = _fts_database()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(), min_size=1, max_size=6))
def test_any_terms_are_plain_words_in_the_fts_query(terms: list[str]) -> None:
    expression = match_expression("memories.ana", terms, match_all=False)
    fts = table(shard("memories.ana"))
    rows = _CONN.execute(
        f"SELECT s.prefix FROM {fts} f JOIN store s ON s.rowid = f.rowid WHERE {fts} MATCH ?", (expression,)
    ).fetchall()
    assert all(prefix == "memories.ana" for (prefix,) in rows)


def test_python_and_sql_agree_on_the_shard() -> None:
    conn = sqlite3.connect(":memory:")
    for prefix in (
        "memories.console:ana",
        "memories.slack:T1:U0456",
        "memories.discord:1234",
        "memories.東京%2Eé",
    ):
        expression = "SELECT " + _SHARD.format(row="t") + " FROM (SELECT ? AS prefix) AS t"
        assert conn.execute(expression, (prefix,)).fetchone()[0] == shard(prefix), prefix
