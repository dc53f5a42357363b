"""A `FactIndex` for stores without a full-text index (e.g. LangGraph's `InMemoryStore`).

It reads every fact of the person and matches stems in Python: fine for tests and small
stores, but each query costs all of a person's facts. The SQLite and Postgres storages
never use it; they bring their engines' own indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.store.base import BaseStore, Item

from bot.broader_terms import TERMS
from bot.fact_index import BOTH, BROADER, WORDS, IndexedFact, clean_terms, utc
from bot.lexicon import stem, stems
from bot.visibility import PRIVATE, visibility_of

_PAGE = 500


class ScanFactIndex:
    def __init__(self, store: BaseStore) -> None:
        self.store = store

    async def _all(self, prefix: str, *, shared_only: bool = False) -> list[Item]:
        namespace = tuple(prefix.split("."))
        items: list[Item] = []
        while True:
            page = await self.store.asearch(namespace, limit=_PAGE, offset=len(items))
            items.extend(page)
            if len(page) < _PAGE:
                return [
                    item
                    for item in items
                    if item.namespace == namespace
                    and not (shared_only and visibility_of(item.value) == PRIVATE)
                ]

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
        wanted = {stem(term.lower()) for term in clean_terms(terms)}
        if not wanted or limit <= 0:
            return []
        must = stems(required) if required else set()
        scored = []
        for item in await self._all(prefix, shared_only=shared_only):
            value = item.value
            own = stems(f"{value.get('fact', '')} {value.get('topic', '')}")
            broader = stems(value.get(TERMS, "")) if fields != WORDS else set()
            have = {WORDS: own, BROADER: broader, BOTH: own | broader}[fields]
            common = len(wanted & have)
            if common and (not match_all or common == len(wanted)) and must <= own:
                scored.append((common / (1 + len(have)) ** 0.5, item))
        scored.sort(key=lambda pair: pair[1].updated_at if newest_first else pair[0], reverse=True)
        return [_indexed(item, score) for score, item in scored[:limit]]

    async def recent(self, prefix: str, *, limit: int, shared_only: bool = False) -> list[IndexedFact]:
        items = sorted(
            await self._all(prefix, shared_only=shared_only), key=lambda item: item.updated_at, reverse=True
        )
        return [_indexed(item, 0.0) for item in items[:limit]]

    async def has_private(self, prefix: str) -> bool:
        return any(visibility_of(item.value) == PRIVATE for item in await self._all(prefix))

    async def same_text(self, prefix: str, text: str) -> list[IndexedFact]:
        wanted = text.casefold()
        items = await self._all(prefix)
        return [_indexed(item, 0.0) for item in items if str(item.value.get("fact", "")).casefold() == wanted]

    def erased(self, prefix: str) -> None:
        """Nothing to note."""

    async def after_erase(self) -> None:
        """Nothing: there is no index."""


def _indexed(item: Item, score: float) -> IndexedFact:
    return IndexedFact(
        key=item.key,
        value=dict(item.value),
        created_at=utc(item.created_at),
        updated_at=utc(item.updated_at),
        score=score,
    )
