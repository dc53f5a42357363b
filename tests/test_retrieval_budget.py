"""What fills the facts section: evidence first; facts only recency found take few places.

On SQLite and on Postgres: a question that matches nothing still sees the newest facts, but
facts that no query found never fill the rest of the token budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.memory import MemoryManager, Provenance
from bot.retrieval import ONLY_RECENT
from bot.storage import Storage, open_storage
from config.settings import parse_database_url

WHERE = Provenance(platform="console", thread_id="console:dm:t", is_direct=True)
ANA = "console:ana"
NOTES = [f"User noted item {i} in the ledger" for i in range(40)]


@pytest.fixture
async def memories(database_url: str) -> AsyncIterator[MemoryManager]:
    async with open_storage(parse_database_url(database_url)) as storage:
        yield _manager(storage)


def _manager(storage: Storage) -> MemoryManager:
    return MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)


async def _texts(memories: MemoryManager, message: str) -> list[str]:
    found = await memories.relevant_facts(ANA, message, limit=100, token_budget=600)
    return [fact.text for fact in found]


async def test_a_question_that_matches_nothing_sees_only_the_newest_few(memories: MemoryManager) -> None:
    for text in NOTES:
        await memories.save(ANA, text, "General", WHERE)
    found = await _texts(memories, "zzz qqq?")
    assert found == [f"User noted item {i} in the ledger" for i in range(39, 39 - ONLY_RECENT, -1)]


async def test_facts_only_recency_found_do_not_fill_the_budget(memories: MemoryManager) -> None:
    wanted = ["User's violin teacher is Ottavia", "Ottavia lives above the bakery"]
    for text in [*wanted, *NOTES]:
        await memories.save(ANA, text, "General", WHERE)
    found = await _texts(memories, "who teaches me the violin?")
    assert set(wanted) <= set(found)  # the evidence, and the neighbour through her name
    assert len([text for text in found if text not in wanted]) <= ONLY_RECENT
