"""A person's long-term facts: the privacy API and the facts for a prompt.

Facts live in the LangGraph Store under `("memories", user_id)` (`bot.facts`); which of
them reach a prompt is `bot.retrieval`'s job, on the database's own full-text index.
Every function here takes the user id from its caller (the graph's config or an
adapter's verified identity), never from model output, so one person's data cannot
reach another's namespace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore, Item, PutOp

from bot.fact_index import FactIndex, IndexedFact
from bot.facts import (
    DIRECT_THREADS,
    MAX_FACT_CHARS,
    MEMORIES,
    Fact,
    Provenance,
    clean_fact_text,
    describe_facts,
    direct_threads_namespace,
    fact_from_indexed,
    fact_from_item,
    fact_line,
    matches_phrase,
    memories_namespace,
    text_matches,
)
from bot.ranking import approx_tokens
from bot.retrieval import Query, Retriever
from bot.scan_fact_index import ScanFactIndex

__all__ = [
    "DIRECT_THREADS",
    "MAX_FACT_CHARS",
    "MEMORIES",
    "Fact",
    "HistoryRedactor",
    "MemoryManager",
    "Provenance",
    "describe_facts",
    "matches_phrase",
    "memories_namespace",
    "text_matches",
]

log = logging.getLogger(__name__)
_PAGE = 500


# Rewrites one thread's history without the messages that mention a phrase.
HistoryRedactor = Callable[[str, str], Awaitable[None]]


class MemoryManager:
    """Read, write, rank and erase one store's facts, always for an explicit user id."""

    def __init__(
        self,
        store: BaseStore,
        checkpointer: BaseCheckpointSaver,
        *,
        embeddings: Embeddings | None = None,
        after_erase: Callable[[], Awaitable[None]] | None = None,
        facts_index: FactIndex | None = None,
    ) -> None:
        """`facts_index` is the store's full-text index (`Storage.facts`); without one,
        facts are matched by reading all of a person's (fine for small in-memory stores)."""
        self.store = store
        self.checkpointer = checkpointer
        self.embeddings = embeddings
        self.facts_index = facts_index if facts_index is not None else ScanFactIndex(store)
        self._retriever = Retriever(self.facts_index, embeddings=embeddings)
        self._after_erase = after_erase
        self._redact_history: HistoryRedactor | None = None

    def use_history_redactor(self, redactor: HistoryRedactor) -> None:
        """How to remove a phrase from a thread's history (needs the graph, built later)."""
        self._redact_history = redactor

    async def _all(self, namespace: tuple[str, str]) -> list[Item]:
        """Every item in `namespace` (the store pages results; read all pages)."""
        items: list[Item] = []
        while True:
            page = await self.store.asearch(namespace, limit=_PAGE, offset=len(items))
            items.extend(page)
            if len(page) < _PAGE:
                # Labels are escaped, so no deeper namespace exists; keep only exact ones anyway.
                return [item for item in items if item.namespace == namespace]

    async def _items(self, user_id: str) -> list[Item]:
        """Every fact item of a person."""
        return await self._all(memories_namespace(user_id))

    async def list_facts(self, user_id: str) -> list[Fact]:
        """All of a person's facts, newest first."""
        facts = [fact_from_item(item) for item in await self._items(user_id)]
        return sorted(facts, key=lambda fact: fact.updated_at, reverse=True)

    async def relevant_facts(
        self,
        user_id: str,
        message: str,
        *,
        limit: int,
        token_budget: int,
        context: Sequence[str] = (),
    ) -> list[Fact]:
        """The facts worth showing the model for `message`, bounded in count and prompt tokens.

        `context` is the thread's recent turns (oldest first): a follow-up such as "and
        her sister?" is searched with them. Reads a bounded number of rows from the index.
        """

        def cost(hit: IndexedFact) -> int:
            # What the fact costs as the prompt shows it: id, text and topic.
            value = hit.value
            return approx_tokens(fact_line(hit.key, str(value.get("fact", "")), str(value.get("topic", ""))))

        prefix = ".".join(memories_namespace(user_id))
        hits = await self._retriever.relevant(
            prefix,
            Query(message=message, context=tuple(context)),
            limit=limit,
            token_budget=token_budget,
            cost=cost,
        )
        return [fact_from_indexed(hit) for hit in hits]

    async def _embed(self, text: str) -> list[float] | None:
        if self.embeddings is None:
            return None
        try:
            return list(await self.embeddings.aembed_query(text))
        except Exception:
            log.warning("embedding a fact failed; it will rank lexically", exc_info=True)
            return None

    async def _value(self, text: str, topic: str, source: Provenance) -> dict[str, Any]:
        value: dict[str, Any] = {
            "fact": text,
            "topic": topic[:60],
            "source": asdict(source),
            "saved_at": datetime.now(UTC).isoformat(),
        }
        embedding = await self._embed(text)
        if embedding is not None:
            value["embedding"] = embedding
        return value

    async def save(self, user_id: str, text: str, topic: str, source: Provenance) -> tuple[str, bool]:
        """Store a new fact under its own key; the same fact said twice is stored once.

        Returns the fact's id and whether anything changed.
        """
        text = clean_fact_text(text)
        if not text:
            raise ValueError("a fact needs some text")
        existing = await self._same_text(user_id, text)
        if existing is not None:
            return existing, False
        key = uuid.uuid4().hex[:12]
        await self.store.aput(
            memories_namespace(user_id), key, await self._value(text, topic, source), index=False
        )
        return key, True

    async def _same_text(self, user_id: str, text: str) -> str | None:
        """The id of a fact of this person with exactly this text (ignoring case), if any."""
        normalized = text.casefold()
        prefix = ".".join(memories_namespace(user_id))
        for candidate in await self.facts_index.same_text(prefix, text):
            if str(candidate.value.get("fact", "")).casefold() == normalized:
                return candidate.key
        return None

    async def update(self, user_id: str, fact_id: str, text: str, source: Provenance) -> bool:
        """Replace a fact's text (a correction or a change, e.g. a move). False if unknown."""
        text = clean_fact_text(text)
        if not text:
            raise ValueError("a fact needs some text")
        namespace = memories_namespace(user_id)
        item = await self.store.aget(namespace, fact_id)
        if item is None:
            return False
        topic = str(item.value.get("topic", ""))
        await self.store.aput(namespace, fact_id, await self._value(text, topic, source), index=False)
        return True

    async def delete(self, user_id: str, fact_id: str) -> bool:
        """Delete one fact; False if the person has no fact with that id."""
        namespace = memories_namespace(user_id)
        if await self.store.aget(namespace, fact_id) is None:
            return False
        await self.store.adelete(namespace, fact_id)
        self.facts_index.erased(".".join(namespace))
        await self._erased()
        return True

    async def preview_forget(self, user_id: str, phrase: str | None = None) -> list[Fact]:
        """What `forget(user_id, phrase)` would erase right now."""
        facts = await self.list_facts(user_id)
        if phrase and phrase.strip():
            return [fact for fact in facts if matches_phrase(fact, phrase)]
        return facts

    async def forget(self, user_id: str, phrase: str | None = None) -> int:
        """Erase a person's facts (all, or those matching `phrase`); returns how many.

        Forgetting everything also clears the history of the person's direct
        conversations with the bot, so a DM cannot recall what was forgotten.
        Shared threads keep their history: it is other people's context too.
        """
        doomed = await self.preview_forget(user_id, phrase)
        namespace = memories_namespace(user_id)
        if doomed:
            await self.store.abatch([PutOp(namespace, fact.id, None) for fact in doomed])
            self.facts_index.erased(".".join(namespace))
        if phrase and phrase.strip():
            if doomed:
                await self._redact_direct_threads(user_id, phrase)
        else:
            await self._forget_direct_threads(user_id)
        await self._erased()
        return len(doomed)

    async def _redact_direct_threads(self, user_id: str, phrase: str) -> None:
        """A private conversation must not recall a forgotten fact: drop what mentions it."""
        if self._redact_history is None:
            return
        for item in await self._all(direct_threads_namespace(user_id)):
            await self._redact_history(str(item.value.get("thread_id", "")), phrase)

    async def _forget_direct_threads(self, user_id: str) -> None:
        namespace = direct_threads_namespace(user_id)
        threads = await self._all(namespace)
        for item in threads:
            await self.checkpointer.adelete_thread(str(item.value.get("thread_id", "")))
        if threads:
            await self.store.abatch([PutOp(namespace, item.key, None) for item in threads])

    async def note_direct_thread(self, user_id: str, thread_id: str) -> None:
        """Remember that `thread_id` is a private conversation with this person."""
        namespace = direct_threads_namespace(user_id)
        key = uuid.uuid5(uuid.NAMESPACE_URL, thread_id).hex
        if await self.store.aget(namespace, key) is None:
            await self.store.aput(namespace, key, {"thread_id": thread_id}, index=False)

    async def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about a person, as JSON-ready data (no embeddings)."""
        facts = await self.list_facts(user_id)
        return {
            "user_id": user_id,
            "exported_at": datetime.now(UTC).isoformat(),
            "facts": [
                {
                    "id": fact.id,
                    "fact": fact.text,
                    "topic": fact.topic,
                    "created_at": fact.created_at.isoformat(),
                    "updated_at": fact.updated_at.isoformat(),
                    "learned_in": fact.where(),
                    "source": asdict(fact.source),
                }
                for fact in facts
            ],
        }

    async def _erased(self) -> None:
        if self._after_erase is not None:
            await self._after_erase()
