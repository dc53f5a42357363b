"""What retrieval asks of the database: a person's facts by text match or by recency.

Both engines answer from their own indexes (SQLite FTS5, Postgres full-text search), so a
turn reads a bounded number of rows however many facts a person has. Implementations:
`bot.sqlite_fact_index.SqliteFactIndex`, `bot.postgres_fact_index.PostgresFactIndex`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

# Terms per query: a long message does not make an unbounded query.
MAX_TERMS = 48
# What of a fact a search matches: its words (text and topic), its broader terms
# (`bot.broader_terms`), or both.
WORDS, BROADER, BOTH = "words", "broader", "both"


@dataclass(frozen=True, kw_only=True)
class IndexedFact:
    """One stored fact as an index returns it, with the engine's score (higher is better)."""

    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    score: float = 0.0


class FactIndex(Protocol):
    async def search(
        self,
        prefix: str,
        terms: Sequence[str],
        *,
        limit: int,
        match_all: bool = False,
        required: str | None = None,
        newest_first: bool = False,
        shared_only: bool = False,
        fields: str = BOTH,
    ) -> list[IndexedFact]:
        """Facts under `prefix` matching any (or all) of `terms`, and `required` if given, best
        (or, cheaper, newest) first. Terms are plain words: query syntax in them is text.
        `shared_only`: private facts are left out by the query itself (a shared thread).
        `fields`: `WORDS`, `BROADER` or `BOTH` (see above); `required` is always a word."""
        ...

    async def recent(self, prefix: str, *, limit: int, shared_only: bool = False) -> list[IndexedFact]:
        """The facts under `prefix` written last, newest first (`shared_only`: no private ones)."""
        ...

    async def has_private(self, prefix: str) -> bool:
        """Whether any fact under `prefix` is private (a shared thread says some are kept back)."""
        ...

    async def same_text(self, prefix: str, text: str) -> list[IndexedFact]:
        """The facts under `prefix` whose text equals `text` ignoring case (the engine's `lower`)."""
        ...

    def erased(self, prefix: str) -> None:
        """Note that facts under `prefix` were erased (before the store's purge runs)."""
        ...

    async def after_erase(self) -> None:
        """Rewrite the index so erased facts leave nothing behind in it."""
        ...


def clean_terms(terms: Sequence[str]) -> list[str]:
    """Distinct, non-empty terms, at most `MAX_TERMS`, in order."""
    return [term for term in dict.fromkeys(t.strip() for t in terms) if term][:MAX_TERMS]


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_stamp(value: Any) -> datetime:
    """A timestamp as a row holds it (SQLite: text, Postgres: datetime), made aware."""
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(str(value)))


def parse_value(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    loaded = orjson.loads(raw)
    return loaded if isinstance(loaded, dict) else {}
