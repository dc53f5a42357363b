"""Discord gateway message payloads -> the core's `IncomingMessage` (pure, no I/O).

discord.py hands the adapter `discord.Message` objects; `message_payload` turns one back
into the gateway-shaped fields these rules read, so the rules are tested on recorded payloads.

Rules: every DM is answered (one conversation per DM channel); in a server, a mention
starts a conversation in a thread created on that message (a thread started from a
message takes the message's id), and messages in a thread the bot already talks in
continue it without a mention. Bots, webhooks and system messages are ignored.
When the bot is first mentioned inside an existing thread, what was said there before
(`prior_from_history`) comes with that first turn as context, other bots' messages included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import discord

from bot.messages import IncomingMessage, PriorMessage

PLATFORM = "discord"
# DEFAULT and REPLY are people talking; every other type is a system notice (pins, joins, boosts...).
HUMAN_MESSAGE_TYPES = frozenset({0, 19})
THREAD_STARTER_MESSAGE = 21  # a thread's first message; it refers to the channel message it began on
_USER_MENTION = re.compile(r"<@!?(\d+)>")


@dataclass(frozen=True, kw_only=True)
class ChannelContext:
    """What the adapter knows about where a message was posted."""

    bot_user_id: int
    in_thread: bool = False  # the channel is a thread
    thread_is_ours: bool = False  # the bot already has a conversation in this thread
    channel_name: str | None = None  # the text channel (a thread's parent), for provenance labels


def user_key(user_id: int | str) -> str:
    """The core's user id: the same person shares memory across DMs and every server."""
    return f"{PLATFORM}:{user_id}"


def dm_thread_id(channel_id: int | str) -> str:
    return f"{PLATFORM}:dm:{channel_id}"


def guild_thread_id(guild_id: int | str, channel_id: int | str) -> str:
    return f"{PLATFORM}:{guild_id}:{channel_id}"


def message_payload(message: discord.Message) -> dict[str, Any]:
    """The gateway-shaped fields `to_incoming` reads, taken from a discord.py message."""
    author = message.author
    payload: dict[str, Any] = {
        "id": str(message.id),
        "channel_id": str(message.channel.id),
        "type": message.type.value,
        "content": message.content,
        "webhook_id": str(message.webhook_id) if message.webhook_id else None,
        "author": {
            "id": str(author.id),
            "username": author.name,
            "global_name": author.global_name,
            "bot": author.bot,
            "system": author.system,
        },
        "mentions": [
            {
                "id": str(user.id),
                "username": user.name,
                "global_name": user.global_name,
                "member": {"nick": getattr(user, "nick", None)},
            }
            for user in message.mentions
        ],
        "attachments": [{"id": str(a.id), "filename": a.filename} for a in message.attachments],
        "sticker_items": [{"id": str(s.id), "name": s.name} for s in message.stickers],
    }
    if message.guild is not None:
        payload["guild_id"] = str(message.guild.id)
        payload["member"] = {"nick": getattr(author, "nick", None)}
    return payload


def payload_with_starter(message: discord.Message) -> dict[str, Any]:
    """`message_payload`, with a thread starter's channel message as `referenced_message`."""
    payload = message_payload(message)
    resolved = message.reference.resolved if message.reference else None
    if isinstance(resolved, discord.Message):
        payload["referenced_message"] = message_payload(resolved)
    return payload


def is_human_message(payload: Mapping[str, Any]) -> bool:
    """A person's own message: not a bot, webhook or system notice."""
    author = payload.get("author") or {}
    if author.get("bot") or author.get("system") or payload.get("webhook_id"):
        return False
    return int(payload.get("type", 0)) in HUMAN_MESSAGE_TYPES


def mentions_user(payload: Mapping[str, Any], user_id: int) -> bool:
    """Whether the message mentions `user_id` (a reply ping counts, like in the client)."""
    if any(int(user["id"]) == user_id for user in payload.get("mentions") or []):
        return True
    return any(int(found) == user_id for found in _USER_MENTION.findall(payload.get("content") or ""))


def display_name(payload: Mapping[str, Any]) -> str:
    """Server nickname, else global display name, else username."""
    author = payload.get("author") or {}
    member = payload.get("member") or {}
    return str(member.get("nick") or author.get("global_name") or author.get("username") or "someone")


def clean_content(payload: Mapping[str, Any], bot_user_id: int) -> str:
    """The text without the bot's mention; other user mentions become `@Name`."""
    names = {
        int(user["id"]): (user.get("member") or {}).get("nick") or user.get("global_name") or user["username"]
        for user in payload.get("mentions") or []
    }

    def replace(match: re.Match[str]) -> str:
        user_id = int(match.group(1))
        if user_id == bot_user_id:
            return ""
        return f"@{names[user_id]}" if user_id in names else match.group(0)

    text = _USER_MENTION.sub(replace, payload.get("content") or "")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def has_attachments(payload: Mapping[str, Any]) -> bool:
    """Files or stickers, which the bot cannot read."""
    return bool(payload.get("attachments") or payload.get("sticker_items") or payload.get("stickers"))


def to_incoming(payload: Mapping[str, Any], context: ChannelContext) -> IncomingMessage | None:
    """Translate a MESSAGE_CREATE payload, or None when the bot should stay quiet.

    The text may be empty (attachment or sticker only); the adapter answers that itself.
    """
    if not is_human_message(payload):
        return None
    author_id = int(payload["author"]["id"])
    if author_id == context.bot_user_id:
        return None
    guild_id = payload.get("guild_id")
    channel_id = payload["channel_id"]
    label: str | None = "DM"
    if guild_id is None:
        thread_id, is_direct = dm_thread_id(channel_id), True
    else:
        mentioned = mentions_user(payload, context.bot_user_id)
        if context.in_thread:
            if not (mentioned or context.thread_is_ours):
                return None
            thread_id = guild_thread_id(guild_id, channel_id)
        elif mentioned:
            thread_id = guild_thread_id(guild_id, payload["id"])  # the thread we will start on it
        else:
            return None
        label = f"#{context.channel_name}" if context.channel_name else None
        is_direct = False
    return IncomingMessage(
        platform=PLATFORM,
        user_id=user_key(author_id),
        user_name=display_name(payload),
        thread_id=thread_id,
        text=clean_content(payload, context.bot_user_id),
        is_direct=is_direct,
        channel_label=label,
        message_id=str(payload["id"]),
        raw=payload,
    )


def prior_from_history(payloads: Iterable[Mapping[str, Any]], bot_user_id: int) -> list[PriorMessage]:
    """Earlier messages of a thread, oldest first, as context for the core.

    What people, the bot and other bots or webhooks said counts (a CI bot's error may be
    what someone asks about), each under its author's name; system notices do not. A
    thread's starter message stands for the channel message the thread began on. Messages
    with no text (files only) are left out.
    """
    prior = []
    for payload in payloads:
        if int(payload.get("type", 0)) == THREAD_STARTER_MESSAGE:
            payload = payload.get("referenced_message") or {}
        author = payload.get("author") or {}
        if not author or author.get("system") or int(payload.get("type", 0)) not in HUMAN_MESSAGE_TYPES:
            continue
        text = clean_content(payload, bot_user_id)
        if text:
            prior.append(
                PriorMessage(
                    user_id=user_key(author["id"]),
                    user_name=display_name(payload),
                    text=text,
                    from_bot=int(author["id"]) == bot_user_id,
                )
            )
    return prior
