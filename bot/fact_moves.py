"""Moving facts between namespaces when identities are linked or unlinked.

A moved fact keeps its value (text, topic, where it was learned, visibility, vector) and
when it was first learned. Moving into a namespace that already holds the same text (two
platforms knew the same thing) keeps one copy, private if either copy was. Each fact is
written to its target before it is deleted from its source, so a crash half-way leaves a
duplicate at worst, which the next move merges, never a lost fact.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langgraph.store.base import BaseStore, Item

from bot.fact_index import FactIndex
from bot.facts import CREATED_AT
from bot.visibility import KEY, merged, visibility_of

_PAGE = 500


async def all_items(store: BaseStore, namespace: tuple[str, ...]) -> list[Item]:
    """Every item in `namespace` (the store pages results; read all pages)."""
    items: list[Item] = []
    while True:
        page = await store.asearch(namespace, limit=_PAGE, offset=len(items))
        items.extend(page)
        if len(page) < _PAGE:
            # Labels are escaped, so no deeper namespace exists; keep only exact ones anyway.
            return [item for item in items if item.namespace == namespace]


def prefix_of(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


async def move_facts(
    store: BaseStore,
    index: FactIndex,
    source: tuple[str, str],
    target: tuple[str, str],
    *,
    keep: Callable[[dict[str, Any]], bool] = lambda value: True,
) -> int:
    """Move the facts of `source` for which `keep(value)` holds into `target`; how many moved."""
    if source == target:
        return 0
    moved = 0
    for item in await all_items(store, source):
        if not keep(item.value):
            continue
        await _put_merged(store, index, target, item)
        await store.adelete(source, item.key)
        moved += 1
    if moved:
        index.erased(prefix_of(source))
    return moved


async def _put_merged(store: BaseStore, index: FactIndex, target: tuple[str, str], item: Item) -> None:
    text = str(item.value.get("fact", "")).casefold()
    for twin in await index.same_text(prefix_of(target), str(item.value.get("fact", ""))):
        if str(twin.value.get("fact", "")).casefold() != text:
            continue
        visibility = merged(visibility_of(twin.value), visibility_of(item.value))
        if visibility != visibility_of(twin.value):
            await store.aput(target, twin.key, {**twin.value, KEY: visibility}, index=False)
        return
    value = dict(item.value)
    value.setdefault(CREATED_AT, item.created_at.isoformat())
    key = item.key
    if await store.aget(target, key) is not None:  # ids are random; never overwrite another fact
        key = uuid.uuid4().hex[:12]
    await store.aput(target, key, value, index=False)
