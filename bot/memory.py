"""A person's long-term facts: store access, ranking for the prompt, and the privacy API.

Facts live in the LangGraph Store under `("memories", user_id)`. Every function here
takes the user id from its caller (the graph's config or an adapter's verified identity),
never from model output, so one person's data cannot reach another's namespace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore, Item, PutOp

from bot.ranking import Candidate, rank, tokens

log = logging.getLogger(__name__)

MEMORIES = "memories"
DIRECT_THREADS = "direct_threads"
MAX_FACT_CHARS = 500
_PAGE = 500


def _label(user_id: str) -> str:
    """A namespace label for `user_id`: the store joins labels with '.', so escape it."""
    return user_id.replace("%", "%25").replace(".", "%2E")


def memories_namespace(user_id: str) -> tuple[str, str]:
    return (MEMORIES, _label(user_id))


def _direct_threads_namespace(user_id: str) -> tuple[str, str]:
    return (DIRECT_THREADS, _label(user_id))


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a fact was learned."""

    platform: str
    thread_id: str
    is_direct: bool
    channel_label: str | None = None


_PLATFORM_NAMES = {"slack": "Slack", "discord": "Discord", "console": "the console"}


@dataclass(frozen=True, kw_only=True)
class Fact:
    """One thing the bot knows about a person."""

    id: str
    text: str
    topic: str
    created_at: datetime
    updated_at: datetime
    source: Provenance

    def where(self) -> str:
        """A short human description of where the fact was learned."""
        platform = _PLATFORM_NAMES.get(self.source.platform, self.source.platform)
        if self.source.platform == "console":
            return "the console chat"
        if self.source.is_direct:
            return f"a {platform} DM"
        if self.source.channel_label:
            return f"{platform} {self.source.channel_label}"
        return f"a {platform} channel"


def _utc(moment: datetime) -> datetime:
    """Stores disagree on time zones (SQLite: naive UTC); make every timestamp aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _saved_at(item: Item) -> datetime:
    """When a fact was last written, to the microsecond (the store's own stamp is per second)."""
    stamp = item.value.get("saved_at")
    if isinstance(stamp, str):
        try:
            return _utc(datetime.fromisoformat(stamp))
        except ValueError:
            pass
    return _utc(item.updated_at)


def _fact_from_item(item: Item) -> Fact:
    value = item.value
    source = value.get("source") or {}
    return Fact(
        id=item.key,
        text=str(value.get("fact", "")),
        topic=str(value.get("topic", "")),
        created_at=_utc(item.created_at),
        updated_at=_saved_at(item),
        source=Provenance(
            platform=str(source.get("platform", "unknown")),
            thread_id=str(source.get("thread_id", "")),
            is_direct=bool(source.get("is_direct", False)),
            channel_label=source.get("channel_label"),
        ),
    )


def _clean_fact_text(text: object) -> str:
    cleaned = " ".join(str(text).split())
    return cleaned[:MAX_FACT_CHARS]


def text_matches(text: str, phrase: str) -> bool:
    """Whether `phrase` appears in `text`, or all of its words do."""
    needle = " ".join(phrase.lower().split())
    if not needle:
        return False
    haystack = " ".join(text.lower().split())
    if needle in haystack:
        return True
    wanted = tokens(needle)
    return bool(wanted) and wanted <= tokens(haystack)


def matches_phrase(fact: Fact, phrase: str) -> bool:
    """Whether `/forget <phrase>` means this fact."""
    return text_matches(f"{fact.text} {fact.topic}", phrase)


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
    ) -> None:
        self.store = store
        self.checkpointer = checkpointer
        self.embeddings = embeddings
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
        facts = [_fact_from_item(item) for item in await self._items(user_id)]
        return sorted(facts, key=lambda fact: fact.updated_at, reverse=True)

    async def relevant_facts(
        self, user_id: str, message: str, *, limit: int, token_budget: int
    ) -> list[Fact]:
        """The facts worth showing the model for `message`, bounded in count and size."""
        items = await self._items(user_id)
        if not items:
            return []
        query_embedding = None
        if self.embeddings is not None and message.strip():
            try:
                query_embedding = await self.embeddings.aembed_query(message)
            except Exception:
                log.warning("embedding the message failed; ranking facts lexically", exc_info=True)
        by_key = {item.key: item for item in items}
        chosen = rank(
            message,
            [
                Candidate(
                    key=item.key,
                    text=str(item.value.get("fact", "")),
                    updated_at=_saved_at(item),
                    embedding=item.value.get("embedding"),
                )
                for item in items
            ],
            limit=limit,
            token_budget=token_budget,
            query_embedding=query_embedding,
        )
        return [_fact_from_item(by_key[candidate.key]) for candidate in chosen]

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
        text = _clean_fact_text(text)
        if not text:
            raise ValueError("a fact needs some text")
        normalized = text.casefold()
        for item in await self._items(user_id):
            if str(item.value.get("fact", "")).casefold() == normalized:
                return item.key, False
        key = uuid.uuid4().hex[:12]
        await self.store.aput(
            memories_namespace(user_id), key, await self._value(text, topic, source), index=False
        )
        return key, True

    async def update(self, user_id: str, fact_id: str, text: str, source: Provenance) -> bool:
        """Replace a fact's text (a correction or a change, e.g. a move). False if unknown."""
        text = _clean_fact_text(text)
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
        for item in await self._all(_direct_threads_namespace(user_id)):
            await self._redact_history(str(item.value.get("thread_id", "")), phrase)

    async def _forget_direct_threads(self, user_id: str) -> None:
        namespace = _direct_threads_namespace(user_id)
        threads = await self._all(namespace)
        for item in threads:
            await self.checkpointer.adelete_thread(str(item.value.get("thread_id", "")))
        if threads:
            await self.store.abatch([PutOp(namespace, item.key, None) for item in threads])

    async def note_direct_thread(self, user_id: str, thread_id: str) -> None:
        """Remember that `thread_id` is a private conversation with this person."""
        namespace = _direct_threads_namespace(user_id)
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


def describe_facts(facts: Sequence[Fact]) -> list[str]:
    """One line per fact, for listings."""
    return [f"{fact.text} (learned in {fact.where()}, {fact.updated_at:%Y-%m-%d})" for fact in facts]
