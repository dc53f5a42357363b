"""What a fact is: its record, where it was learned, who may see it, its namespace, and
phrase matching.

Facts live in the LangGraph Store under `("memories", person_id)`: an identity's own id
until it is linked to another (`bot.identities`), the linked person's id after. Only
`MemoryManager.resolve` turns an identity into a namespace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import Item

from bot.fact_index import IndexedFact
from bot.ranking import tokens
from bot.visibility import PRIVATE, SHARED, Visibility, describe, visibility_of

MEMORIES = "memories"
DIRECT_THREADS = "direct_threads"
MAX_FACT_CHARS = 500


def _label(user_id: str) -> str:
    """A namespace label for `user_id`: the store joins labels with '.', so escape it."""
    return user_id.replace("%", "%25").replace(".", "%2E")


def memories_namespace(person_id: str) -> tuple[str, str]:
    """The store namespace of a person's facts (see `MemoryManager.resolve`)."""
    return (MEMORIES, _label(person_id))


def direct_threads_namespace(user_id: str) -> tuple[str, str]:
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
    visibility: Visibility = SHARED

    @property
    def private(self) -> bool:
        return self.visibility == PRIVATE

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
    return saved_at(item.value, item.updated_at)


def fact_from_item(item: Item) -> Fact:
    return fact_from_value(item.key, item.value, created_at=item.created_at, updated_at=_saved_at(item))


def fact_from_indexed(hit: IndexedFact) -> Fact:
    """A `Fact` from an index hit."""
    return fact_from_value(
        hit.key, hit.value, created_at=hit.created_at, updated_at=saved_at(hit.value, hit.updated_at)
    )


CREATED_AT = "created_at"


def saved_at(value: dict[str, Any], fallback: datetime, *, field: str = "saved_at") -> datetime:
    """When a fact was last written, to the microsecond (the store's own stamp is per second)."""
    stamp = value.get(field)
    if isinstance(stamp, str):
        try:
            return _utc(datetime.fromisoformat(stamp))
        except ValueError:
            pass
    return _utc(fallback)


def fact_from_value(key: str, value: dict[str, Any], *, created_at: datetime, updated_at: datetime) -> Fact:
    source = value.get("source") or {}
    return Fact(
        id=key,
        text=str(value.get("fact", "")),
        topic=str(value.get("topic", "")),
        # A fact moved to another namespace (linking) keeps when it was first learned.
        created_at=saved_at(value, created_at, field=CREATED_AT),
        updated_at=_utc(updated_at),
        visibility=visibility_of(value),
        source=Provenance(
            platform=str(source.get("platform", "unknown")),
            thread_id=str(source.get("thread_id", "")),
            is_direct=bool(source.get("is_direct", False)),
            channel_label=source.get("channel_label"),
        ),
    )


# Control characters carry no meaning in a fact, and Postgres' jsonb cannot hold NUL at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_fact_text(text: object) -> str:
    cleaned = " ".join(_CONTROL.sub(" ", str(text)).split())
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


def fact_line(key: str, text: str, topic: str, *, private: bool = False) -> str:
    """How a fact appears in the prompt: `- [id] text (topic)`, `(topic; private)` for a private
    one (only ever shown in a direct conversation); the id lets the model change it."""
    note = "; ".join(part for part in (topic, "private" if private else "") if part)
    return f"- [{key}] {text}" + (f" ({note})" if note else "")


def describe_facts(facts: Sequence[Fact]) -> list[str]:
    """One line per fact, for listings."""
    return [
        f"{fact.text} (learned in {fact.where()}, {fact.updated_at:%Y-%m-%d}; {describe(fact.visibility)})"
        for fact in facts
    ]
