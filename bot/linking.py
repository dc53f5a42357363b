"""Joining a person's accounts on two platforms, only ever by a one-time code.

`/link` on one platform issues a code; `/link CODE` on another joins the two identities
into one person (`bot.people`): facts already known on either side are merged (exact
duplicates once) and from then on both read and write the same facts. `/unlink`
separates them again. Nothing else ever links two identities: not names, not e-mail
addresses, not the model.

Codes: 8 characters from `ALPHABET` (A-Z and 2-9 without the look-alikes 0/O, 1/I/L:
31 symbols, about 8.5e11 codes), valid `CODE_TTL` seconds, single use. The database holds
only their HMAC-SHA256 under a server-side key; a code is never logged. Five wrong codes
from one identity within ten minutes lock it out of `/link CODE` for ten minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.identities import Identity, LinkStore, RedeemStatus, platform_of
from bot.memory import MemoryManager

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_TTL = 600.0
MAX_FAILURES = 5
FAILURE_WINDOW = 600.0
LOCKOUT = 600.0
_SEPARATORS = str.maketrans("", "", " -_.\t")

LinkStatus = RedeemStatus | Literal["malformed", "locked", "unavailable"]
# Refusals that say the code itself was wrong; these count towards a lockout.
WRONG_CODE: frozenset[str] = frozenset({"unknown", "expired", "used"})


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(text: str) -> str | None:
    """The code a person typed, as issued (case, spaces and dashes ignored); None if it cannot
    be one."""
    code = text.translate(_SEPARATORS).upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def code_hash(key: bytes, code: str) -> str:
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class IssuedCode:
    code: str
    expires_at: float


@dataclass(frozen=True, kw_only=True)
class LinkOutcome:
    """What `/link CODE` did. `other` is the account it was joined with; `locked_until` is set
    when the identity is (now) locked out."""

    status: LinkStatus
    other: Identity | None = None
    locked_until: float | None = None
    merged: int = 0  # facts moved into the person's namespace


@dataclass(frozen=True, kw_only=True)
class UnlinkOutcome:
    """What `/unlink` did: the identities it was separated from ([] when it was not linked)."""

    others: tuple[Identity, ...]


class Linker:
    """Issues and redeems link codes and unlinks identities, for the core's commands."""

    def __init__(self, memories: MemoryManager, *, clock: Callable[[], float] = time.time) -> None:
        self._memories = memories
        self._clock = clock

    @property
    def available(self) -> bool:
        return self._memories.links is not None

    def _links(self) -> LinkStore:
        links = self._memories.links
        if links is None:
            raise RuntimeError("this storage keeps no identity links")
        return links

    async def issue(self, user_id: str, display_name: str) -> IssuedCode:
        """A new code for `user_id` (any earlier unused one of theirs stops working)."""
        links = self._links()
        key = await links.key()
        now = self._clock()
        while True:
            code = new_code()
            try:
                await links.issue(
                    code_hash=code_hash(key, code),
                    issuer=user_id,
                    issuer_name=display_name,
                    expires_at=now + CODE_TTL,
                    now=now,
                )
            except ValueError:  # a live code with the same hash: draw again
                continue
            return IssuedCode(code=code, expires_at=now + CODE_TTL)

    async def redeem(self, user_id: str, display_name: str, typed: str) -> LinkOutcome:
        """Join `user_id` with the account that issued `typed`, or say why not (nothing changes)."""
        links = self._links()
        now = self._clock()
        locked = await links.locked_until(user_id, now)
        if locked is not None:
            return LinkOutcome(status="locked", locked_until=locked)
        code = normalize(typed)
        if code is None:
            return LinkOutcome(status="malformed")
        redeemed = await links.redeem(
            code_hash=code_hash(await links.key(), code),
            redeemer=user_id,
            redeemer_name=display_name,
            now=now,
        )
        if redeemed.status in WRONG_CODE:
            until = await links.failed(
                user_id, now, window=FAILURE_WINDOW, limit=MAX_FAILURES, lockout=LOCKOUT
            )
            if until is not None:
                log.warning(
                    "an identity on %s is locked out of /link after wrong codes", platform_of(user_id)
                )
            return LinkOutcome(status=redeemed.status, locked_until=until)
        if redeemed.status != "linked":
            return LinkOutcome(status=redeemed.status)
        log.info(
            "linked an identity on %s with one on %s",
            platform_of(user_id),
            redeemed.issuer and redeemed.issuer.platform,
        )
        merged = await self._memories.people.settle(await self._memories.resolve(user_id))
        return LinkOutcome(status="linked", other=redeemed.issuer, merged=merged)

    async def unlink(self, user_id: str) -> UnlinkOutcome:
        """Separate `user_id` from the person it is linked to: it takes the facts learned on its
        platform, the others keep the rest."""
        links = self._links()
        person = await self._memories.resolve(user_id)
        members = await self._memories.people.members(person)
        leaving = next((member for member in members if member.user_id == user_id), None)
        if leaving is None:
            return UnlinkOutcome(others=())
        staying = [member for member in members if member.user_id != user_id]
        await self._memories.people.split(leaving, staying)
        removed = await links.leave(user_id)
        # Facts a turn wrote to the person between the split and the mapping change.
        await self._memories.people.split(leaving, staying)
        if len(removed) < len(members):  # others are still one person
            await self._memories.people.settle(await self._memories.resolve(staying[0].user_id))
        log.info("unlinked an identity on %s", leaving.platform)
        return UnlinkOutcome(others=tuple(staying))

    async def identities(self, user_id: str) -> list[Identity]:
        return await self._memories.identities(user_id)
