"""Pure translation of Slack payloads into the core's messages (no I/O, unit-tested).

`parse_event` decides what an event is (or drops it: bots, edits, deletions, unknown
types); `to_incoming` builds the core's `IncomingMessage`; `prior_from_replies` turns a
`conversations.replies` page into context for a first mention mid-thread.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.messages import IncomingMessage, PriorMessage

PLATFORM = "slack"
# Subtypes that still carry a person's new words; every other subtype is an edit, a
# deletion, a join notice, a bot post and so on.
HUMAN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
MAX_PHRASE_CHARS = 200

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_REF = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(?:subteam\^[A-Z0-9]+\|)?([^>|]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")


@dataclass(frozen=True, kw_only=True)
class SlackEvent:
    """A human message event, reduced to what routing needs."""

    kind: str  # "message" or "app_mention"
    channel: str
    ts: str
    thread_ts: str | None  # the thread it was posted in; None at top level
    user: str
    text: str  # as Slack sent it (mrkdwn, escaped)
    channel_type: str  # "channel", "group", "im", "mpim"
    mentions_bot: bool
    has_files: bool

    @property
    def is_direct(self) -> bool:
        return self.channel_type == "im"

    @property
    def reply_thread_ts(self) -> str | None:
        """Where the bot answers: the DM's top level stays top level, everything else threads."""
        if self.is_direct and self.thread_ts is None:
            return None
        return self.thread_ts or self.ts

    @property
    def mid_thread(self) -> bool:
        """Posted as a reply inside an existing thread (so earlier messages may give context)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


def _channel_type(event: Mapping[str, Any]) -> str:
    kind = event.get("channel_type")
    if isinstance(kind, str) and kind:
        return kind
    channel = str(event.get("channel", ""))
    # app_mention carries no channel_type; D… ids are DMs, G… private channels or group DMs.
    return "im" if channel.startswith("D") else "channel"


def parse_event(event: Mapping[str, Any], *, bot_user_id: str) -> SlackEvent | None:
    """A `message`/`app_mention` event from a person, or None for anything to ignore."""
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return None
    if event.get("subtype") not in HUMAN_SUBTYPES:
        return None
    user = event.get("user")
    if not isinstance(user, str) or not user or user == bot_user_id or event.get("bot_id"):
        return None
    channel, ts = event.get("channel"), event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
        return None
    text = event.get("text")
    text = text if isinstance(text, str) else ""
    thread_ts = event.get("thread_ts")
    return SlackEvent(
        kind=str(kind),
        channel=channel,
        ts=ts,
        thread_ts=thread_ts if isinstance(thread_ts, str) and thread_ts else None,
        user=user,
        text=text,
        channel_type=_channel_type(event),
        mentions_bot=kind == "app_mention" or bot_user_id in mentioned_users(text),
        has_files=bool(event.get("files")),
    )


def thread_id(team_id: str, event: SlackEvent) -> str:
    """`slack:{team}:{channel}:{thread_ts}`, or `slack:{team}:{channel}` for a DM's top level."""
    where = event.reply_thread_ts
    if where is None:
        return f"{PLATFORM}:{team_id}:{event.channel}"
    return f"{PLATFORM}:{team_id}:{event.channel}:{where}"


def user_id(team_id: str, user: str) -> str:
    return f"{PLATFORM}:{team_id}:{user}"


def mentioned_users(text: str) -> list[str]:
    """User ids mentioned in a Slack-formatted text, in order of appearance."""
    return _USER_MENTION.findall(text)


def display_name(user: Mapping[str, Any]) -> str:
    """A `users.info` user's name: profile display name, then real name, then handle."""
    profile = user.get("profile") or {}
    for candidate in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return str(user.get("id") or "someone")


def channel_label(event: SlackEvent, channel_name: str | None = None) -> str:
    """A short human label for provenance: "DM", "group DM", "#general"."""
    if event.is_direct:
        return "DM"
    if event.channel_type == "mpim":
        return "group DM"
    return f"#{channel_name or event.channel}"


def plain_text(text: str, *, bot_user_id: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn as a person reads it: our own mention removed, others as `@Name`, links spelled out."""
    names = names or {}

    def user(match: re.Match[str]) -> str:
        uid = match.group(1)
        return "" if uid == bot_user_id else "@" + names.get(uid, uid)

    text = _USER_MENTION.sub(user, text)
    text = _CHANNEL_REF.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1).lstrip("@"), text)
    text = _LINK.sub(lambda m: m.group(2) + " (" + m.group(1) + ")" if m.group(2) else m.group(1), text)
    text = html.unescape(text) if "&" in text else text
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def to_incoming(
    event: Mapping[str, Any],
    *,
    team_id: str,
    bot_user_id: str,
    user_name: str | None = None,
    names: Mapping[str, str] | None = None,
    channel_name: str | None = None,
) -> IncomingMessage | None:
    """The core's message for a person's Slack message event, or None when it is not one."""
    parsed = parse_event(event, bot_user_id=bot_user_id)
    if parsed is None:
        return None
    return incoming_from(
        parsed,
        event,
        team_id=team_id,
        bot_user_id=bot_user_id,
        user_name=user_name,
        names=names,
        channel_name=channel_name,
    )


def incoming_from(
    parsed: SlackEvent,
    raw: Any,
    *,
    team_id: str,
    bot_user_id: str,
    user_name: str | None = None,
    names: Mapping[str, str] | None = None,
    channel_name: str | None = None,
) -> IncomingMessage:
    """`to_incoming` for an event already parsed."""
    return IncomingMessage(
        platform=PLATFORM,
        user_id=user_id(team_id, parsed.user),
        user_name=user_name or (names or {}).get(parsed.user) or parsed.user,
        thread_id=thread_id(team_id, parsed),
        text=plain_text(parsed.text, bot_user_id=bot_user_id, names=names),
        is_direct=parsed.is_direct,
        channel_label=channel_label(parsed, channel_name),
        message_id=parsed.ts,
        raw=raw,
    )


def prior_from_replies(
    messages: Sequence[Mapping[str, Any]],
    *,
    team_id: str,
    bot_user_id: str,
    before_ts: str,
    names: Mapping[str, str] | None = None,
) -> list[PriorMessage]:
    """Earlier messages of a thread (from `conversations.replies`) as context for the core."""
    names = names or {}
    prior = []
    for message in messages:
        ts = str(message.get("ts", ""))
        if not ts or float(ts) >= float(before_ts):
            continue
        if message.get("subtype") not in HUMAN_SUBTYPES and not message.get("bot_id"):
            continue
        text = plain_text(str(message.get("text") or ""), bot_user_id=bot_user_id, names=names)
        if not text:
            continue
        user = str(message.get("user") or message.get("bot_id") or "unknown")
        # Another app's message is context said by that app, not something this bot said.
        name = names.get(user) or message.get("username") or (message.get("bot_profile") or {}).get("name")
        prior.append(
            PriorMessage(
                user_id=user_id(team_id, user),
                user_name=str(name or user),
                text=text,
                from_bot=user == bot_user_id,
            )
        )
    return prior


def forget_phrase(text: str | None) -> str | None:
    """The `/forget` argument: None means everything; long junk is cut to a sane length."""
    phrase = " ".join((text or "").split())
    phrase = phrase.strip("\"'“”‘’")
    return phrase[:MAX_PHRASE_CHARS] or None
