"""What `/link`, `/link CODE` and `/unlink` answer, once for every platform.

Every answer is private to the person who asked. The code is in the view's text and
nowhere else: it is never logged, and the database holds only its hash (`bot.linking`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from bot.commands.views import CommandView
from bot.commands.wording import FAILED
from bot.identities import Identity, platform_of
from bot.linking import CODE_TTL, Linker, LinkOutcome

log = logging.getLogger(__name__)

PLATFORMS = {"slack": "Slack", "discord": "Discord", "console": "console"}

ISSUED = (
    "Your link code is {code}. Within {minutes} minutes, run /link {code} where you use me on your "
    "other platform, and I'll know both accounts are you. It works once."
)
ISSUED_FOOTER = (
    "Keep it to yourself: whoever uses it is linked with you and sees what I remember about you, "
    "private memories included. Only you can see this message."
)
ALREADY_LINKED_WITH = "This account is already linked with {accounts}."
LINKED = (
    "Linked: this {platform} account and {other} are now one person to me, so I remember the "
    "same things about you on both. Run /unlink to separate them again."
)
LINKED_MERGED = " I merged what I knew on each side ({count})."
UNKNOWN_CODE = "I don't know that code. Check it, or run /link on your other account for a new one."
EXPIRED_CODE = (
    "That code has expired (codes last {minutes} minutes). Run /link on your other account for a new one."
)
USED_CODE = "That code has already been used. Run /link on your other account for a new one."
MALFORMED_CODE = (
    "That doesn't look like a link code: codes are 8 letters and digits, like K7MQ2XRT. "
    "Run /link on your other account to get one."
)
SAME_PLATFORM = (
    "That code was made on {platform}: use it on your other platform instead. It still works there."
)
ALREADY_LINKED = "This account is already linked with that one. Nothing changed."
LINKED_ELSEWHERE = (
    "This account is already linked with {accounts}. Run /unlink here first to link it with a different one."
)
PLATFORM_TAKEN = (
    "The account that made this code is already linked with a {platform} account, and it can have one "
    "per platform. Run /unlink on that account first."
)
LOCKED = "Too many wrong codes. You can try /link with a code again in {minutes}."
NOW_LOCKED = " That was too many wrong codes: try again in {minutes}."
UNAVAILABLE = "Linking accounts isn't available on this bot."
NOT_LINKED = "This account isn't linked with any other, so there's nothing to unlink."
UNLINKED = (
    "Unlinked: this {platform} account and {accounts} are separate again. Each keeps what it learned "
    "on its own platform."
)


def platform_name(platform: str) -> str:
    return PLATFORMS.get(platform, platform)


def account(identity: Identity) -> str:
    """Which account, as a person recognises it: `your Slack account Ana`."""
    name = " ".join(identity.display_name.split())[:80] or identity.user_id
    return f"your {platform_name(identity.platform)} account {name}"


def accounts(identities: Sequence[Identity]) -> str:
    named = [account(identity) for identity in identities]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def minutes(seconds: float) -> str:
    count = max(1, math.ceil(seconds / 60))
    return f"{count} minute{'' if count == 1 else 's'}"


def _memories_noun(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


async def link_view(
    linker: Linker, user_id: str, display_name: str, code: str | None, now: float
) -> CommandView:
    """`/link` (no code: issue one) or `/link CODE` (join this account with the code's)."""
    if not linker.available:
        return CommandView(text=UNAVAILABLE)
    try:
        if code is None or not code.strip():
            return await _issue(linker, user_id, display_name)
        outcome = await linker.redeem(user_id, display_name, code)
        others = await linker.identities(user_id) if outcome.status == "linked_elsewhere" else []
    except Exception:
        log.exception("/link failed")  # never with the code: it is not in the message
        return CommandView(text=FAILED, failed=True, replace=False)
    return CommandView(text=_redeemed_text(outcome, user_id, others, now))


async def _issue(linker: Linker, user_id: str, display_name: str) -> CommandView:
    issued = await linker.issue(user_id, display_name)
    linked = [identity for identity in await linker.identities(user_id) if identity.user_id != user_id]
    footer = ISSUED_FOOTER
    if linked:
        footer = ALREADY_LINKED_WITH.format(accounts=accounts(linked)) + " " + footer
    return CommandView(
        text=ISSUED.format(code=issued.code, minutes=int(CODE_TTL // 60)),
        footer=footer,
        expires_in=CODE_TTL,
        expired_text="This link code has expired. Run /link again for a new one.",
    )


def _redeemed_text(outcome: LinkOutcome, user_id: str, others: Sequence[Identity], now: float) -> str:
    status = outcome.status
    here = platform_name(platform_of(user_id))
    if status == "linked" and outcome.other is not None:
        text = LINKED.format(platform=here, other=account(outcome.other))
        return text + (LINKED_MERGED.format(count=_memories_noun(outcome.merged)) if outcome.merged else "")
    if status == "locked":
        return LOCKED.format(minutes=minutes((outcome.locked_until or now) - now))
    wrong = {
        "unknown": UNKNOWN_CODE,
        "expired": EXPIRED_CODE.format(minutes=int(CODE_TTL // 60)),
        "used": USED_CODE,
    }
    if status in wrong:
        locked = (
            NOW_LOCKED.format(minutes=minutes(outcome.locked_until - now)) if outcome.locked_until else ""
        )
        return wrong[status] + locked
    if status == "malformed":
        return MALFORMED_CODE
    if status == "same_platform":
        return SAME_PLATFORM.format(platform=here)
    if status == "already_linked":
        return ALREADY_LINKED
    if status == "linked_elsewhere":
        mine = [identity for identity in others if identity.user_id != user_id]
        return LINKED_ELSEWHERE.format(accounts=accounts(mine) if mine else "another account")
    if status == "platform_taken":
        return PLATFORM_TAKEN.format(platform=here)
    return FAILED


async def unlink_view(linker: Linker, user_id: str) -> CommandView:
    """`/unlink`: separate this account from the ones it is linked with."""
    if not linker.available:
        return CommandView(text=UNAVAILABLE)
    try:
        outcome = await linker.unlink(user_id)
    except Exception:
        log.exception("/unlink failed")
        return CommandView(text=FAILED, failed=True, replace=False)
    if not outcome.others:
        return CommandView(text=NOT_LINKED)
    here = platform_name(platform_of(user_id))
    return CommandView(text=UNLINKED.format(platform=here, accounts=accounts(outcome.others)))
