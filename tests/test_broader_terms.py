"""Broader terms: a fact is indexed with its words' broader terms, so general questions find it.

The table's lookups (case, inflections, pairs), then on SQLite and on Postgres: a question
in general words finds the specific fact, the related-words list does not drift through
them, facts saved before terms existed get theirs on upgrade, bad input never errors, and a
forgotten fact's terms leave no bytes on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from bot.broader_terms import MAX_TERMS, TERMS, broader_terms
from bot.fact_index import WORDS
from bot.memory import MemoryManager, Provenance
from bot.storage import Storage, open_storage
from config.settings import parse_database_url
from tests.reliability.conftest import sqlite_bytes

WHERE = Provenance(platform="console", thread_id="console:dm:t", is_direct=True)
ANA = "console:ana"
FILLER = [f"User bought gadget number {i} on a Monday" for i in range(60)]


def terms(text: str) -> list[str]:
    return broader_terms(text).split()


@pytest.mark.parametrize(
    ("fact", "broader"),
    [
        ("User has a Korean lesson every Wednesday", "language"),
        ("User sprained an ankle playing frisbee", "injure"),
        ("User sprained an ankle playing frisbee", "joint"),
        ("User has had Juno, a border collie, since 2018", "dog"),  # a two-word lemma
        ("Pepper is terrified of thunderstorms", "afraid"),
        ("User's partner is called Marit", "spouse"),
        ("User has mild asthma", "disease"),
        ("User grew up on a farm", "mature"),  # an irregular form of a two-word lemma
        ("User works as a sommelier", "waiter"),
    ],
)
def test_a_facts_words_bring_their_broader_terms(fact: str, broader: str) -> None:
    assert broader in terms(fact)


def test_case_chooses_the_sense_and_inflections_their_word() -> None:
    assert "spice" in terms("User puts pepper on everything")
    assert "spice" not in terms("Pepper is a three-legged cat")  # a name, not the spice
    assert "plant" not in terms("User works at a bakery")  # "works" is work, not a factory
    assert "cat" in terms("User has two tabbies")  # plural of "tabby"


def test_terms_leave_out_the_facts_own_words_and_stay_bounded() -> None:
    found = terms("User's dog is a greyhound")
    assert "dog" not in found and "greyhound" not in found and "hound" in found
    long_fact = (
        "cat horse laptop piano cello violin ankle wrist knee bakery wine oboe asthma lorry "
        "sommelier collie tabby parrot trumpet drums bicycle kettle camera sofa jacket lamp"
    )
    assert len(terms(long_fact)) == MAX_TERMS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "?!...;;;",
        "🎉🔥😀",
        "東京に住んでいます",
        "أنا أعيش في القاهرة",
        "z" * 500,
        '"*:-()NEAR AND',
    ],
)
def test_bad_input_has_no_terms_and_never_errors(text: str) -> None:
    assert broader_terms(text) == ""


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    async with open_storage(parse_database_url(database_url)) as opened:
        yield opened


def manager(storage: Storage) -> MemoryManager:
    return MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)


async def texts(memories: MemoryManager, message: str, *, limit: int) -> list[str]:
    found = await memories.relevant_facts(ANA, message, limit=limit, token_budget=600)
    return [fact.text for fact in found]


async def test_a_general_question_finds_the_specific_fact(storage: Storage) -> None:
    memories = manager(storage)
    facts = ["User has a Korean lesson every Wednesday evening", "User sprained an ankle playing frisbee"]
    for text in [*FILLER, *facts]:
        await memories.save(ANA, text, "General", WHERE)
    assert facts[0] in await texts(memories, "which language am I studying?", limit=3)
    assert facts[1] in await texts(memories, "did I ever injure a joint?", limit=3)
    # Updated text, updated terms: the old ones no longer find it.
    [hit] = await storage.facts.search("memories.console:ana", ["language"], limit=5)
    await memories.update(ANA, hit.key, "User has a pottery class every Wednesday evening", WHERE)
    assert await storage.facts.search("memories.console:ana", ["language"], limit=5) == []
    [hit] = await storage.facts.search("memories.console:ana", ["ceramics"], limit=5)
    assert hit.value["fact"] == "User has a pottery class every Wednesday evening"


async def test_related_words_of_the_message_are_not_matched_to_broader_terms(storage: Storage) -> None:
    # "instrument" is related to "device", a broader term of every "gadget": two steps from
    # the message, they must not outrank the fact that says "oboe".
    memories = manager(storage)
    for text in [*FILLER, "User plays the oboe"]:
        await memories.save(ANA, text, "General", WHERE)
    found = await storage.facts.search("memories.console:ana", ["device"], limit=5, fields=WORDS)
    assert found == []
    assert len(await storage.facts.search("memories.console:ana", ["device"], limit=5)) == 5
    assert await texts(memories, "which instrument, the oboe?", limit=1) == ["User plays the oboe"]


async def test_facts_saved_before_broader_terms_get_them_on_upgrade(tmp_path: Path) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/old.db")
    fact = "User has a Korean lesson every Wednesday evening"
    async with open_storage(url) as storage:
        for text in [*FILLER[:20], fact]:
            await manager(storage).save(ANA, text, "General", WHERE)
    with sqlite3.connect(tmp_path / "old.db") as conn:  # back to a release without terms
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("UPDATE store SET value = json_remove(CAST(value AS TEXT), '$.terms')")
        before = dict(conn.execute("SELECT key, updated_at FROM store").fetchall())
    async with open_storage(url) as storage:  # the upgrade
        memories = manager(storage)
        assert fact in await texts(memories, "which language am I studying?", limit=3)
        await memories.save(ANA, "User's cello needs new strings", "Music", WHERE)  # triggers work
        assert "User's cello needs new strings" in await texts(memories, "my instrument", limit=3)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        rows = conn.execute("SELECT key, updated_at, value FROM store").fetchall()
    rows = [row for row in rows if row[0] in before]
    assert all(TERMS in orjson.loads(value) for _, _, value in rows)
    assert {key: updated for key, updated, _ in rows} == before  # recency untouched


async def test_a_forgotten_facts_broader_terms_leave_no_bytes_behind(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with open_storage(parse_database_url(f"sqlite:///{db}")) as storage:
        memories = MemoryManager(
            storage.store, storage.checkpointer, facts_index=storage.facts, after_erase=storage.purge
        )
        await memories.save(ANA, "User keeps an axolotl in the kitchen", "Pets", WHERE)
        await memories.save("console:ben", "User drinks green tea", "Food", WHERE)
        assert b"salamander" in sqlite_bytes(db)  # in the value and in the index: the check can fail
        assert await memories.forget(ANA) == 1
        assert b"salamander" not in sqlite_bytes(db)
        assert await storage.facts.search("memories.console:ana", ["salamander"], limit=5) == []
