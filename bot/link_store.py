"""The identity mapping, link codes and lockouts in the database: one implementation, both engines.

Tables (created on start-up, the same DDL on SQLite and Postgres):

- `bot_identities`: identity -> person, one identity per platform per person (a unique
  constraint, so two links racing for one person's Discord slot cannot both win);
- `bot_link_codes`: a code's HMAC-SHA256 (never the code), who issued it, until when;
  used codes stay (marked) for a day so "already used" can be told from "wrong";
- `bot_link_failures` and `bot_link_lockouts`: wrong codes per identity, and lockouts;
- `bot_secrets`: the server-side key codes are hashed with, made once.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from bot.identities import PERSON_PREFIX, Identity, Redeemed, RedeemStatus, platform_of
from bot.sql import Sql

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS bot_identities (user_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, "
    "platform TEXT NOT NULL, display_name TEXT NOT NULL, linked_at DOUBLE PRECISION NOT NULL, "
    "UNIQUE (person_id, platform))",
    "CREATE TABLE IF NOT EXISTS bot_link_codes (code_hash TEXT PRIMARY KEY, issuer TEXT NOT NULL, "
    "issuer_name TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL, used_at DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS bot_link_codes_issuer_idx ON bot_link_codes (issuer)",
    "CREATE TABLE IF NOT EXISTS bot_link_failures (user_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS bot_link_failures_idx ON bot_link_failures (user_id, at)",
    "CREATE TABLE IF NOT EXISTS bot_link_lockouts (user_id TEXT PRIMARY KEY, "
    "locked_until DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bot_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
]
KEEP_USED_CODES_SECONDS = 86_400.0
_KEY_NAME = "link_code_key"
_MEMBERS = (
    "SELECT user_id, person_id, display_name, linked_at FROM bot_identities "
    "WHERE person_id = ? ORDER BY linked_at, user_id"
)
_ADD = (
    "INSERT INTO bot_identities (user_id, person_id, platform, display_name, linked_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING user_id"
)
# The one statement that decides a race for a code: only an unused, unexpired row is claimed.
_CLAIM = (
    "UPDATE bot_link_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ? "
    "RETURNING issuer"
)


class _Refused(Exception):
    """Roll the transaction back: a race was lost after the code was claimed."""

    def __init__(self, status: RedeemStatus) -> None:
        super().__init__(status)
        self.status: RedeemStatus = status


def new_person_id() -> str:
    return PERSON_PREFIX + uuid.uuid4().hex


def _identity(row: Sequence[object]) -> Identity:
    return Identity(
        user_id=str(row[0]), person_id=str(row[1]), display_name=str(row[2]), linked_at=float(str(row[3]))
    )


async def _person(sql: Sql, user_id: str) -> str | None:
    rows = await sql.rows("SELECT person_id FROM bot_identities WHERE user_id = ?", (user_id,))
    return str(rows[0][0]) if rows else None


class SqlLinkStore:
    """`LinkStore` on an `Sql` (SQLite or Postgres)."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self._key: bytes | None = None

    async def setup(self, on: Sql | None = None) -> None:
        """Create the tables (`on`: a connection the caller holds, e.g. under a setup lock)."""
        if on is not None:
            for statement in SCHEMA:
                await on.rows(statement)
            return
        async with self.sql.transaction() as tx:
            for statement in SCHEMA:
                await tx.rows(statement)

    async def person_of(self, user_id: str) -> str | None:
        return await _person(self.sql, user_id)

    async def members(self, person_id: str) -> list[Identity]:
        return [_identity(row) for row in await self.sql.rows(_MEMBERS, (person_id,))]

    async def key(self) -> bytes:
        if self._key is None:
            async with self.sql.transaction() as tx:
                await tx.rows(
                    "INSERT INTO bot_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    (_KEY_NAME, secrets.token_hex(32)),
                )
                rows = await tx.rows("SELECT value FROM bot_secrets WHERE name = ?", (_KEY_NAME,))
            self._key = bytes.fromhex(str(rows[0][0]))
        return self._key

    async def issue(
        self, *, code_hash: str, issuer: str, issuer_name: str, expires_at: float, now: float
    ) -> None:
        async with self.sql.transaction() as tx:
            await tx.rows("DELETE FROM bot_link_codes WHERE issuer = ? AND used_at IS NULL", (issuer,))
            await tx.rows("DELETE FROM bot_link_codes WHERE expires_at < ?", (now - KEEP_USED_CODES_SECONDS,))
            added = await tx.rows(
                "INSERT INTO bot_link_codes (code_hash, issuer, issuer_name, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING code_hash",
                (code_hash, issuer, issuer_name, expires_at),
            )
            if not added:  # another live code has this hash: the caller draws a new code
                raise ValueError("code collision")

    async def redeem(self, *, code_hash: str, redeemer: str, redeemer_name: str, now: float) -> Redeemed:
        platform = platform_of(redeemer)
        try:
            async with self.sql.transaction() as tx:
                rows = await tx.rows(
                    "SELECT issuer, issuer_name, expires_at, used_at FROM bot_link_codes WHERE code_hash = ?",
                    (code_hash,),
                )
                if not rows:
                    return Redeemed(status="unknown")
                issuer, issuer_name, expires_at, used_at = (
                    str(rows[0][0]),
                    str(rows[0][1]),
                    rows[0][2],
                    rows[0][3],
                )
                if used_at is not None:
                    return Redeemed(status="used")
                if float(expires_at) <= now:
                    return Redeemed(status="expired")
                if platform_of(issuer) == platform:
                    return Redeemed(status="same_platform")
                mine, theirs = await _person(tx, redeemer), await _person(tx, issuer)
                if mine is not None:
                    return Redeemed(status="already_linked" if mine == theirs else "linked_elsewhere")
                members = [_identity(row) for row in await tx.rows(_MEMBERS, (theirs,))] if theirs else []
                if platform in {member.platform for member in members}:
                    return Redeemed(status="platform_taken")
                if not await tx.rows(_CLAIM, (now, code_hash, now)):
                    return Redeemed(status="used")  # someone else was faster
                person = theirs or new_person_id()
                if theirs is None:
                    if not await tx.rows(_ADD, (issuer, person, platform_of(issuer), issuer_name, now)):
                        raise _Refused("used")  # the issuer was linked meanwhile, by another code
                    members = [
                        Identity(user_id=issuer, person_id=person, display_name=issuer_name, linked_at=now)
                    ]
                if not await tx.rows(_ADD, (redeemer, person, platform, redeemer_name, now)):
                    raise _Refused("linked_elsewhere")  # the redeemer was linked meanwhile
                issuer_identity = next(member for member in members if member.user_id == issuer)
                return Redeemed(status="linked", issuer=issuer_identity, person_id=person)
        except _Refused as refused:
            return Redeemed(status=refused.status)

    async def locked_until(self, user_id: str, now: float) -> float | None:
        rows = await self.sql.rows(
            "SELECT locked_until FROM bot_link_lockouts WHERE user_id = ? AND locked_until > ?",
            (user_id, now),
        )
        return float(rows[0][0]) if rows else None

    async def failed(
        self, user_id: str, now: float, *, window: float, limit: int, lockout: float
    ) -> float | None:
        async with self.sql.transaction() as tx:
            await tx.rows(
                "DELETE FROM bot_link_failures WHERE user_id = ? AND at <= ?", (user_id, now - window)
            )
            await tx.rows("INSERT INTO bot_link_failures (user_id, at) VALUES (?, ?)", (user_id, now))
            rows = await tx.rows("SELECT count(*) FROM bot_link_failures WHERE user_id = ?", (user_id,))
            if int(rows[0][0]) < limit:
                return None
            until = now + lockout
            await tx.rows(
                "INSERT INTO bot_link_lockouts (user_id, locked_until) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET locked_until = excluded.locked_until",
                (user_id, until),
            )
            await tx.rows("DELETE FROM bot_link_failures WHERE user_id = ?", (user_id,))
            return until

    async def leave(self, user_id: str) -> list[Identity]:
        async with self.sql.transaction() as tx:
            person = await _person(tx, user_id)
            if person is None:
                return []
            members = [_identity(row) for row in await tx.rows(_MEMBERS, (person,))]
            leaving = members if len(members) <= 2 else [m for m in members if m.user_id == user_id]
            for member in leaving:
                await tx.rows("DELETE FROM bot_identities WHERE user_id = ?", (member.user_id,))
                # Codes carry the issuer's display name: they go with the link.
                await tx.rows("DELETE FROM bot_link_codes WHERE issuer = ?", (member.user_id,))
            return leaving
