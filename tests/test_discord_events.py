"""`adapters.discord.events.to_incoming` on recorded Discord gateway payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.events import (
    ChannelContext,
    has_attachments,
    prior_from_history,
    to_incoming,
    user_key,
)
from bot.messages import PriorMessage
from tests.fakes.discord_server import FakeDiscord

PAYLOADS = Path(__file__).parent / "payloads" / "discord"
BOT_ID = 1187654321098765432
GUILD_ID = "1090000000000000001"
ANA = "301111111111111111"


def load(name: str) -> dict[str, Any]:
    frame = json.loads((PAYLOADS / f"{name}.json").read_text())
    return frame["d"]


def context(**overrides: Any) -> ChannelContext:
    return ChannelContext(**{"bot_user_id": BOT_ID, "channel_name": "general", **overrides})


def test_every_dm_is_answered_in_its_own_conversation() -> None:
    incoming = to_incoming(load("message_create_dm"), context(channel_name=None))
    assert incoming is not None
    assert incoming.thread_id == "discord:dm:1372000000000000042"
    assert incoming.user_id == f"discord:{ANA}" and incoming.user_name == "Ana"
    assert incoming.is_direct and incoming.channel_label == "DM"
    assert incoming.text == "I like pepperoni pizza"
    assert incoming.message_id == "1372145940000000001" and incoming.platform == "discord"


def test_a_mention_in_a_channel_starts_a_thread_on_that_message() -> None:
    incoming = to_incoming(load("message_create_guild_mention"), context())
    assert incoming is not None
    assert incoming.thread_id == f"discord:{GUILD_ID}:1372145940000000002"
    assert incoming.text == "what should I eat tonight? ask @Bo"  # our mention gone, others readable
    assert incoming.user_name == "Ana (mod)"  # the server nickname wins
    assert not incoming.is_direct and incoming.channel_label == "#general"


def test_the_same_person_is_the_same_user_in_dms_and_servers() -> None:
    dm = to_incoming(load("message_create_dm"), context())
    guild = to_incoming(load("message_create_guild_mention"), context())
    assert dm is not None and guild is not None
    assert dm.user_id == guild.user_id == user_key(ANA)


def test_unmentioned_channel_message_is_ignored() -> None:
    assert to_incoming(load("message_create_guild_no_mention"), context()) is None


def test_thread_messages_continue_only_the_bots_own_threads() -> None:
    payload = load("message_create_thread")
    assert to_incoming(payload, context(in_thread=True)) is None
    incoming = to_incoming(payload, context(in_thread=True, thread_is_ours=True))
    assert incoming is not None
    assert incoming.thread_id == f"discord:{GUILD_ID}:1372145940000000002"
    assert incoming.text == "and something vegetarian?"


def test_a_reply_with_a_nickname_mention_in_a_foreign_thread_is_answered() -> None:
    incoming = to_incoming(load("message_create_reply_nick_mention"), context(in_thread=True))
    assert incoming is not None
    assert incoming.text == "thanks!"
    assert incoming.thread_id == f"discord:{GUILD_ID}:1372145940000000002"


@pytest.mark.parametrize(
    "name", ["message_create_from_bot", "message_create_webhook", "message_create_system"]
)
def test_bots_webhooks_and_system_messages_are_ignored(name: str) -> None:
    assert to_incoming(load(name), context()) is None
    assert to_incoming(load(name), context(in_thread=True, thread_is_ours=True)) is None


def test_our_own_message_is_ignored_even_without_the_bot_flag() -> None:
    payload = load("message_create_dm")
    payload["author"]["id"] = str(BOT_ID)
    assert to_incoming(payload, context()) is None


@pytest.mark.parametrize("name", ["message_create_attachment_only", "message_create_sticker_only"])
def test_attachment_or_sticker_only_messages_arrive_empty(name: str) -> None:
    payload = load(name)
    incoming = to_incoming(payload, context())
    assert incoming is not None and incoming.text == ""
    assert has_attachments(payload)


def test_long_messages_pass_through_untouched() -> None:
    payload = load("message_create_dm")
    payload["content"] = "x" * 4000
    incoming = to_incoming(payload, context())
    assert incoming is not None and len(incoming.text) == 4000  # the core truncates, not the adapter


def test_interaction_payloads_name_the_invoking_person() -> None:
    in_guild = load("interaction_create_forget")
    in_dm = load("interaction_create_memories_dm")
    click = load("interaction_create_button")
    assert user_key(in_guild["member"]["user"]["id"]) == user_key(in_dm["user"]["id"]) == user_key(ANA)
    assert in_guild["data"]["options"] == [{"name": "phrase", "type": 3, "value": "pizza"}]
    assert click["data"]["custom_id"] in {
        button["custom_id"] for row in click["message"]["components"] for button in row["components"]
    }


def test_the_fake_builds_the_recorded_shapes() -> None:
    """The fake Discord must send what Discord sends, or the end-to-end tests prove little."""
    fake = FakeDiscord()
    ana = fake.make_user("ana", global_name="Ana")
    guild_message = fake.message_payload(ana, "hi", channel_id=fake.channel_id, guild=True)
    recorded = load("message_create_guild_no_mention")
    assert set(recorded) - {"nonce"} <= set(guild_message)
    slash = fake.interaction_payload(ana, interaction_type=2, data={"name": "forget"})
    recorded = load("interaction_create_forget")
    assert set(recorded) - {"guild", "entitlement_sku_ids"} <= set(slash)
    dm_slash = fake.interaction_payload(ana, interaction_type=2, data={"name": "memories"}, in_guild=False)
    assert set(load("interaction_create_memories_dm")) - {"entitlement_sku_ids"} <= set(dm_slash)


def _said(author_id: int, content: str, *, name: str, bot: bool = False, **extra: Any) -> dict[str, Any]:
    author = {"id": str(author_id), "username": name.lower(), "global_name": name, "bot": bot}
    return {"id": "1", "type": 0, "content": content, "author": author, "mentions": [], **extra}


def test_earlier_thread_messages_become_context_with_who_said_them() -> None:
    starter = _said(7, "we should order food", name="Bo")
    history = [
        {"type": 21, "content": "", "author": starter["author"], "referenced_message": starter},
        _said(8, f"<@{BOT_ID}> was here before", name="Ana"),
        _said(BOT_ID, "I was asked before", name="memory-bot", bot=True),
        _said(9, "VOTE NOW", name="Pollbot", bot=True),
        _said(8, "", name="Ana", attachments=[{"id": "1", "filename": "menu.pdf"}]),
        _said(8, "pinned a message", name="Ana", type=6),
        {"type": 21, "content": "", "author": starter["author"], "referenced_message": None},
    ]
    assert prior_from_history(history, BOT_ID) == [
        PriorMessage(user_id=user_key(7), user_name="Bo", text="we should order food"),
        PriorMessage(user_id=user_key(8), user_name="Ana", text="was here before"),
        PriorMessage(
            user_id=user_key(BOT_ID), user_name="memory-bot", text="I was asked before", from_bot=True
        ),
        PriorMessage(user_id=user_key(9), user_name="Pollbot", text="VOTE NOW"),  # another bot: context
    ]
