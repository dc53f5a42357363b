"""A person's long-term facts: the privacy API (list, export, forget) on top of `PersonFacts`.

Facts live in the LangGraph Store under `("memories", person_id)` (`bot.facts`, resolved
by `bot.people`); which of them reach a prompt is `bot.retrieval`'s job. Every function
here takes the user id from its caller (the graph's config or an adapter's verified
identity), never from model output. For a linked person, `/forget` on any identity erases
the person's facts and every identity's direct conversations.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import PutOp

from bot.fact_moves import all_items, prefix_of
from bot.facts import (
    DIRECT_THREADS,
    MAX_FACT_CHARS,
    MEMORIES,
    Fact,
    Provenance,
    describe_facts,
    direct_threads_namespace,
    matches_phrase,
    memories_namespace,
    text_matches,
)
from bot.identities import platform_of
from bot.people import Person
from bot.person_facts import PersonFacts

__all__ = [
    "DIRECT_THREADS",
    "MAX_FACT_CHARS",
    "MEMORIES",
    "Fact",
    "HistoryRedactor",
    "MemoryManager",
    "Person",
    "Provenance",
    "describe_facts",
    "matches_phrase",
    "memories_namespace",
    "text_matches",
]

# Rewrites one thread's history without the messages that mention a phrase.
HistoryRedactor = Callable[[str, str], Awaitable[None]]


class MemoryManager(PersonFacts):
    """Read, write, rank, export and erase one store's facts, always for an explicit user id."""

    _redact_history: HistoryRedactor | None = None

    def use_history_redactor(self, redactor: HistoryRedactor) -> None:
        """How to remove a phrase from a thread's history (needs the graph, built later)."""
        self._redact_history = redactor

    async def preview_forget(self, user_id: str, phrase: str | None = None) -> list[Fact]:
        """What `forget(user_id, phrase)` would erase right now."""
        facts = await self.list_facts(user_id)
        if phrase and phrase.strip():
            return [fact for fact in facts if matches_phrase(fact, phrase)]
        return facts

    async def forget(self, user_id: str, phrase: str | None = None) -> int:
        """Erase a person's facts (all, or those matching `phrase`); returns how many.

        Forgetting everything also clears the history of the person's direct
        conversations with the bot (on every linked identity), so a DM cannot recall what
        was forgotten. Shared threads keep their history: it is other people's context too.
        """
        doomed = await self.preview_forget(user_id, phrase)  # settles a linked person first
        person = await self.resolve(user_id)
        if doomed:
            await self.store.abatch([PutOp(person.namespace, fact.id, None) for fact in doomed])
            self.facts_index.erased(prefix_of(person.namespace))
        for identity in await self.people.identity_ids(person):
            if phrase and phrase.strip():
                if doomed:
                    await self._redact_direct_threads(identity, phrase)
            else:
                await self._forget_direct_threads(identity)
        await self._erased()
        return len(doomed)

    async def _redact_direct_threads(self, user_id: str, phrase: str) -> None:
        """A private conversation must not recall a forgotten fact: drop what mentions it."""
        if self._redact_history is None:
            return
        for item in await all_items(self.store, direct_threads_namespace(user_id)):
            await self._redact_history(str(item.value.get("thread_id", "")), phrase)

    async def _forget_direct_threads(self, user_id: str) -> None:
        namespace = direct_threads_namespace(user_id)
        threads = await all_items(self.store, namespace)
        for item in threads:
            await self.checkpointer.adelete_thread(str(item.value.get("thread_id", "")))
        if threads:
            await self.store.abatch([PutOp(namespace, item.key, None) for item in threads])

    async def note_direct_thread(self, user_id: str, thread_id: str) -> None:
        """Remember that `thread_id` is a private conversation with this identity."""
        namespace = direct_threads_namespace(user_id)
        key = uuid.uuid5(uuid.NAMESPACE_URL, thread_id).hex
        if await self.store.aget(namespace, key) is None:
            await self.store.aput(namespace, key, {"thread_id": thread_id}, index=False)

    async def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about a person, as JSON-ready data (no embeddings): their linked
        identities and every fact with where it was learned and who may see it."""
        facts = await self.list_facts(user_id)
        person = await self.resolve(user_id)
        identities = await self.people.members(person)
        return {
            "user_id": user_id,
            "person_id": person.id,
            "exported_at": datetime.now(UTC).isoformat(),
            "identities": [
                {
                    "user_id": identity.user_id,
                    "platform": identity.platform,
                    "display_name": identity.display_name,
                    "linked_at": datetime.fromtimestamp(identity.linked_at, UTC).isoformat(),
                }
                for identity in identities
            ]
            or [{"user_id": user_id, "platform": platform_of(user_id)}],
            "facts": [
                {
                    "id": fact.id,
                    "fact": fact.text,
                    "topic": fact.topic,
                    "visibility": fact.visibility,
                    "created_at": fact.created_at.isoformat(),
                    "updated_at": fact.updated_at.isoformat(),
                    "learned_in": fact.where(),
                    "source": asdict(fact.source),
                }
                for fact in facts
            ],
        }
