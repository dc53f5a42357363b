"""Whose facts an identity reads and writes: `People.resolve`, the one place that turns a user
id into a facts namespace.

Unlinked, an identity is a person of its own: its facts live under `("memories", user_id)`.
Linked (`bot.linking`), its facts live under the person's id, shared with its other
identities. Linking and unlinking move facts between those namespaces here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import BaseStore

from bot.fact_index import FactIndex
from bot.fact_moves import move_facts
from bot.facts import memories_namespace
from bot.identities import Identity, LinkStore


@dataclass(frozen=True, kw_only=True)
class Person:
    """Whose facts an identity reads and writes: itself, or the person it is linked to."""

    id: str
    namespace: tuple[str, str]
    user_id: str  # the identity that was resolved

    @property
    def linked(self) -> bool:
        return self.id != self.user_id


def _learned_on(platform: str) -> Callable[[dict[str, Any]], bool]:
    return lambda value: str((value.get("source") or {}).get("platform", "")) == platform


class People:
    """Resolves identities to people, and moves facts when they are linked or unlinked."""

    def __init__(
        self,
        store: BaseStore,
        index: FactIndex,
        links: LinkStore | None,
        *,
        after_move: Callable[[], Awaitable[None]],
    ) -> None:
        """`links` None: nobody is linked. `after_move` purges what a move deleted (on disk)."""
        self.store = store
        self.index = index
        self.links = links
        self._after_move = after_move

    async def resolve(self, user_id: str) -> Person:
        """The person whose facts `user_id` reads and writes. Every read, write and erase of
        facts goes through here; nothing else turns a user id into a namespace."""
        if not user_id:
            raise ValueError("a user id is required")
        person_id = (await self.links.person_of(user_id) if self.links is not None else None) or user_id
        return Person(id=person_id, namespace=memories_namespace(person_id), user_id=user_id)

    async def members(self, person: Person) -> list[Identity]:
        """The identities of a linked person; [] for a person of one."""
        if not person.linked or self.links is None:
            return []
        return await self.links.members(person.id)

    async def identity_ids(self, person: Person) -> list[str]:
        """Every identity whose DMs and facts are the person's (just itself when unlinked)."""
        return [member.user_id for member in await self.members(person)] or [person.user_id]

    async def settle(self, person: Person) -> int:
        """Bring facts still under a linked person's identities (theirs before the link, or
        written by a turn that raced it) into the person's namespace; how many moved."""
        if not person.linked:
            return 0
        moved = 0
        for user_id in await self.identity_ids(person):
            moved += await move_facts(self.store, self.index, memories_namespace(user_id), person.namespace)
        if moved:
            await self._after_move()
        return moved

    async def split(self, leaving: Identity, staying: Sequence[Identity]) -> None:
        """Before `leaving` is unlinked: it takes the facts learned on its platform; when only
        one identity stays, that one takes the rest (a person of one is no person).

        Run before the mapping changes: a crash half-way leaves the identities linked and
        the moved facts under their own ids, where `settle` brings them back.
        """
        person = memories_namespace(leaving.person_id)
        own = memories_namespace(leaving.user_id)
        moved = await move_facts(self.store, self.index, person, own, keep=_learned_on(leaving.platform))
        if len(staying) == 1:
            moved += await move_facts(self.store, self.index, person, memories_namespace(staying[0].user_id))
        if moved:
            await self._after_move()
