"""A person's facts: read, ranked for a prompt, written, with where each may be used.

Facts live in the LangGraph Store under `("memories", person_id)` (`bot.facts`); which of
them reach a prompt is `bot.retrieval`'s job, on the database's own full-text index.
Every method takes the user id from its caller (the graph's config or an adapter's
verified identity), never from model output, and turns it into a namespace only through
`People.resolve`, so one person's data cannot reach another's namespace and a linked
person's identities share one set of facts. Where the caller says private facts are out
of bounds (a shared thread), the queries themselves leave them out.
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
from langgraph.store.base import BaseStore, Item

from bot.broader_terms import TERMS, broader_terms
from bot.fact_index import FactIndex, IndexedFact
from bot.fact_moves import all_items, prefix_of
from bot.facts import Fact, Provenance, clean_fact_text, fact_from_indexed, fact_from_item, fact_line
from bot.identities import Identity, LinkStore
from bot.people import People, Person
from bot.ranking import approx_tokens
from bot.retrieval import Query, Retriever
from bot.scan_fact_index import ScanFactIndex
from bot.visibility import KEY, PRIVATE, SHARED, Visibility, default_visibility, merged, usable, visibility_of

log = logging.getLogger(__name__)


class PersonFacts:
    """Read, rank and write one store's facts, always for an explicit user id."""

    def __init__(
        self,
        store: BaseStore,
        checkpointer: BaseCheckpointSaver,
        *,
        embeddings: Embeddings | None = None,
        after_erase: Callable[[], Awaitable[None]] | None = None,
        facts_index: FactIndex | None = None,
        links: LinkStore | None = None,
        dm_visibility: Visibility = SHARED,
    ) -> None:
        """`facts_index` is the store's full-text index (`Storage.facts`); without one,
        facts are matched by reading all of a person's (fine for small in-memory stores).
        `links` maps linked identities to one person (`Storage.links`; without it nobody is
        linked). `dm_visibility` is what a fact learned in a DM is (`MEMORY_DM_VISIBILITY`)."""
        self.store = store
        self.checkpointer = checkpointer
        self.embeddings = embeddings
        self.facts_index = facts_index if facts_index is not None else ScanFactIndex(store)
        self.links = links
        self.dm_visibility = dm_visibility
        self.people = People(store, self.facts_index, links, after_move=self._erased)
        self._retriever = Retriever(self.facts_index, embeddings=embeddings)
        self._after_erase = after_erase

    async def resolve(self, user_id: str) -> Person:
        """The person whose facts `user_id` reads and writes (`People.resolve`)."""
        return await self.people.resolve(user_id)

    async def identities(self, user_id: str) -> list[Identity]:
        """The identities linked with `user_id` (itself included); [] when it is not linked."""
        return await self.people.members(await self.resolve(user_id))

    # ------------------------------------------------------------------ read

    async def _items(self, person: Person) -> list[Item]:
        return await all_items(self.store, person.namespace)

    async def list_facts(self, user_id: str) -> list[Fact]:
        """All of a person's facts, newest first."""
        person = await self.resolve(user_id)
        await self.people.settle(person)
        facts = [fact_from_item(item) for item in await self._items(person)]
        return sorted(facts, key=lambda fact: fact.updated_at, reverse=True)

    async def relevant_facts(
        self,
        user_id: str,
        message: str,
        *,
        limit: int,
        token_budget: int,
        context: Sequence[str] = (),
        include_private: bool = False,
    ) -> list[Fact]:
        """The facts worth showing the model for `message`, bounded in count and prompt tokens.

        `context` is the thread's recent turns (oldest first): a follow-up such as "and
        her sister?" is searched with them. Private facts only with `include_private` (a
        direct conversation): otherwise the index queries leave them out. Reads a bounded
        number of rows from the index.
        """

        def cost(hit: IndexedFact) -> int:
            # What the fact costs as the prompt shows it: id, text, topic and visibility.
            value = hit.value
            private = visibility_of(value) == PRIVATE
            text, topic = str(value.get("fact", "")), str(value.get("topic", ""))
            return approx_tokens(fact_line(hit.key, text, topic, private=private))

        person = await self.resolve(user_id)
        hits = await self._retriever.relevant(
            prefix_of(person.namespace),
            Query(message=message, context=tuple(context)),
            limit=limit,
            token_budget=token_budget,
            cost=cost,
            shared_only=not include_private,
        )
        return [
            fact_from_indexed(hit)
            for hit in hits
            if usable(visibility_of(hit.value), include_private=include_private)
        ]

    async def has_private(self, user_id: str) -> bool:
        """Whether the person has facts kept for their direct conversations."""
        person = await self.resolve(user_id)
        return await self.facts_index.has_private(prefix_of(person.namespace))

    async def _usable_item(self, person: Person, fact_id: str, *, include_private: bool) -> Item | None:
        item = await self.store.aget(person.namespace, fact_id)
        if item is None or not usable(visibility_of(item.value), include_private=include_private):
            return None
        return item

    # ------------------------------------------------------------------ write

    async def _embed(self, text: str) -> list[float] | None:
        if self.embeddings is None:
            return None
        try:
            return list(await self.embeddings.aembed_query(text))
        except Exception:
            log.warning("embedding a fact failed; it will rank lexically", exc_info=True)
            return None

    async def _value(
        self, text: str, topic: str, source: Provenance, visibility: Visibility
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "fact": text,
            "topic": topic[:60],
            TERMS: broader_terms(text),
            "source": asdict(source),
            "saved_at": datetime.now(UTC).isoformat(),
            KEY: visibility,
        }
        embedding = await self._embed(text)
        if embedding is not None:
            value["embedding"] = embedding
        return value

    async def save(
        self,
        user_id: str,
        text: str,
        topic: str,
        source: Provenance,
        *,
        sensitive: bool = False,
        visibility: Visibility | None = None,
    ) -> tuple[str, bool]:
        """Store a new fact under its own key; the same fact said twice is stored once.

        Its visibility is `visibility` if given, else the default for where it was learned
        (`bot.visibility.default_visibility`: `sensitive` in a DM makes it private). Saying
        again a known fact that would now be private makes it private; never the reverse.
        Returns the fact's id and whether anything changed.
        """
        text = clean_fact_text(text)
        if not text:
            raise ValueError("a fact needs some text")
        if visibility is None:
            visibility = default_visibility(
                is_direct=source.is_direct, sensitive=sensitive, dm_default=self.dm_visibility
            )
        value = await self._value(text, topic, source, visibility)
        person = await self.resolve(user_id)  # after the embedding call: resolve right before writing
        existing = await self._same_text(person, text)
        if existing is not None:
            known = visibility_of(existing.value)
            if merged(known, visibility) == known:
                return existing.key, False
            await self.store.aput(
                person.namespace, existing.key, {**existing.value, KEY: PRIVATE}, index=False
            )
            return existing.key, True
        key = uuid.uuid4().hex[:12]
        await self.store.aput(person.namespace, key, value, index=False)
        return key, True

    async def _same_text(self, person: Person, text: str) -> IndexedFact | None:
        """The fact of this person with exactly this text (ignoring case), if any."""
        normalized = text.casefold()
        for candidate in await self.facts_index.same_text(prefix_of(person.namespace), text):
            if str(candidate.value.get("fact", "")).casefold() == normalized:
                return candidate
        return None

    async def update(
        self,
        user_id: str,
        fact_id: str,
        text: str | None,
        source: Provenance,
        *,
        visibility: Visibility | None = None,
        include_private: bool = True,
    ) -> bool:
        """Replace a fact's text (a correction or a change, e.g. a move) and/or its visibility;
        the visibility is kept unless given. False if unknown, or private and not
        `include_private` (a shared thread cannot touch what it cannot see)."""
        cleaned = clean_fact_text(text) if text is not None else None
        if text is not None and not cleaned:
            raise ValueError("a fact needs some text")
        person = await self.resolve(user_id)
        item = await self._usable_item(person, fact_id, include_private=include_private)
        if item is None:
            return False
        if cleaned is None:
            return (
                await self.set_visibility(user_id, fact_id, visibility or visibility_of(item.value))
                is not None
            )
        topic = str(item.value.get("topic", ""))
        value = await self._value(cleaned, topic, source, visibility or visibility_of(item.value))
        await self.store.aput(person.namespace, fact_id, value, index=False)
        return True

    async def set_visibility(self, user_id: str, fact_id: str, visibility: Visibility) -> Fact | None:
        """Make one fact private or shared (nothing else about it changes); None if unknown."""
        person = await self.resolve(user_id)
        item = await self.store.aget(person.namespace, fact_id)
        if item is None:
            return None
        if visibility_of(item.value) != visibility:
            await self.store.aput(person.namespace, fact_id, {**item.value, KEY: visibility}, index=False)
            item = await self.store.aget(person.namespace, fact_id) or item
        return fact_from_item(item)

    async def delete(self, user_id: str, fact_id: str, *, include_private: bool = True) -> bool:
        """Delete one fact; False if the person has no such fact (or it is private and not
        `include_private`)."""
        person = await self.resolve(user_id)
        if await self._usable_item(person, fact_id, include_private=include_private) is None:
            return False
        await self.store.adelete(person.namespace, fact_id)
        self.facts_index.erased(prefix_of(person.namespace))
        await self._erased()
        return True

    async def _erased(self) -> None:
        if self._after_erase is not None:
            await self._after_erase()
