"""Who is one person: platform identities joined by a link code (`bot.linking`).

An identity is a platform user id with its platform prefix (`slack:T1:U1`, `discord:42`,
`console:ana`). Unlinked, an identity is a person of its own and its facts live under its
own id. Linked, identities map to one person id (`person:<hex>`) and share its facts; a
person has at most one identity per platform. The mapping lives in the database
(`bot.link_store`), so every bot process and worker sees the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

PERSON_PREFIX = "person:"

RedeemStatus = Literal[
    "linked",  # the two identities are now one person
    "unknown",  # no such code
    "expired",
    "used",  # already used (or someone else was faster)
    "same_platform",  # used on the platform it was issued on
    "already_linked",  # the two are already one person
    "linked_elsewhere",  # the redeemer is linked to someone else
    "platform_taken",  # the issuer already has an identity on the redeemer's platform
]


def platform_of(user_id: str) -> str:
    """The platform of an identity: its id's prefix (`slack`, `discord`, `console`)."""
    return user_id.split(":", 1)[0]


@dataclass(frozen=True, kw_only=True)
class Identity:
    """One platform account of a linked person."""

    user_id: str
    person_id: str
    display_name: str
    linked_at: float

    @property
    def platform(self) -> str:
        return platform_of(self.user_id)


@dataclass(frozen=True, kw_only=True)
class Redeemed:
    """What redeeming a link code did. `issuer` and `person_id` are set when it linked."""

    status: RedeemStatus
    issuer: Identity | None = None
    person_id: str | None = None


class LinkStore(Protocol):
    """The identity mapping, the link codes (hashed) and wrong-code lockouts, in the database."""

    async def person_of(self, user_id: str) -> str | None:
        """The person an identity is linked to, or None when it is a person of its own."""
        ...

    async def members(self, person_id: str) -> list[Identity]:
        """The identities of a linked person, oldest link first."""
        ...

    async def key(self) -> bytes:
        """The server-side secret link codes are hashed with (made once, kept in the database)."""
        ...

    async def issue(
        self, *, code_hash: str, issuer: str, issuer_name: str, expires_at: float, now: float
    ) -> None:
        """Store a new code for `issuer`, replacing any earlier unused one of theirs."""
        ...

    async def redeem(self, *, code_hash: str, redeemer: str, redeemer_name: str, now: float) -> Redeemed:
        """Use a code, in one transaction: checks, then a conditional UPDATE ... RETURNING that
        exactly one of several racing redeemers wins, then the mapping. A refusal changes nothing."""
        ...

    async def locked_until(self, user_id: str, now: float) -> float | None:
        """When the identity's lockout from `/link CODE` ends, if it is locked out now."""
        ...

    async def failed(
        self, user_id: str, now: float, *, window: float, limit: int, lockout: float
    ) -> float | None:
        """Count a wrong code; `limit` of them within `window` seconds lock the identity out for
        `lockout` seconds. Returns when the lockout ends, if this one started it."""
        ...

    async def leave(self, user_id: str) -> list[Identity]:
        """Take an identity out of its person (and the last one with it: a person of one is no
        person); returns the identities that were removed."""
        ...
