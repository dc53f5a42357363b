"""Oversized and malformed inputs through the real platform clients: huge text, broken UTF-16
(lone surrogates), deeply nested blocks, junk slash-command text. Each gets a clear reply,
nothing wrong is stored, and the bot keeps answering."""

from __future__ import annotations

import json
import threading

import pytest
from discord.gateway import KeepAliveHandler

from bot.service import EMPTY_TEXT_REPLY
from tests.fakes.openai_server import message_text
from tests.fakes.slack_server import PLACEHOLDER
from tests.reliability.conftest import DiscordWorld, SlackWorld, Tally, eventually, quiet

HUGE = "pizza " * 40_000  # 240,000 characters
SURROGATES = "caf\ud800e au lait \udfff\ud83d please"
ONLY_BROKEN = "\udfff\ud800\x00\x1b"  # low before high: two lone halves, not a pair
CONTROL = "\x00\x07\x1b\u200e\ue000"
JUNK = "  \u2603 ))) <!channel> @everyone \x00\ud800 ' OR 1=1 -- {{7*7}} ${jndi:x} " * 80
# Discord's client cannot even decode a lone surrogate (it reconnects: see below); junk without one.
DISCORD_JUNK = JUNK.replace("\ud800", "\u0301")


def nested_blocks(depth: int) -> list[dict]:
    element: dict = {"type": "text", "text": "deep"}
    for _ in range(depth):
        element = {"type": "rich_text_section", "elements": [element]}
    return [{"type": "rich_text", "block_id": "b1", "elements": [element]}]


def no_surrogates(text: str) -> bool:
    return not any(0xD800 <= ord(char) <= 0xDFFF for char in text)


async def test_slack_oversized_and_malformed_messages(slack_world: SlackWorld, tally: Tally) -> None:
    slack, openai, runtime = slack_world.slack, slack_world.openai, slack_world.runtime
    limit = runtime.settings.max_input_chars
    cases = {  # one DM channel per case, so each case's replies are easy to tell apart
        "D1": slack.message_event("D1", HUGE, user="U1"),
        "D2": slack.message_event("D2", SURROGATES, user="U1"),
        "D3": slack.message_event("D3", ONLY_BROKEN, user="U1"),
        "D4": slack.message_event("D4", "hi from blocks", user="U1", blocks=nested_blocks(200)),
        "D5": slack.message_event("D5", JUNK, user="U1"),
    }
    for event in cases.values():
        await slack.send_event(event)
        tally.inputs_tried += 1
    for channel in cases:
        await slack.wait_for_messages(channel=channel)
    await slack.send_message("D1", "still fine?", user="U1")
    await eventually(lambda: "still fine?" in slack.posted[-1].text, what="the last reply")
    await quiet()

    replies = {channel: [m.text for m in slack.messages_in(channel)] for channel in cases}
    assert not [text for texts in replies.values() for text in texts if text == PLACEHOLDER]
    assert replies["D1"][0].startswith("You said: pizza") and len(replies["D1"]) > 1  # split, not cut
    assert replies["D1"][-1].startswith("You said: still fine?")
    assert replies["D2"] == ["You said: cafe au lait  please. I know: nothing about you yet"]
    assert replies["D3"] == [EMPTY_TEXT_REPLY]
    assert replies["D4"] == ["You said: hi from blocks. I know: nothing about you yet"]
    assert replies["D5"] and not [text for text in replies["D5"] if "<!channel>" in text]
    sent = [
        message_text(m["content"])
        for request in openai.requests
        for m in request["messages"]
        if m["role"] == "user"
    ]
    assert all(len(text) < limit + 200 for text in sent)  # the huge one was stored truncated
    assert all(no_surrogates(text) for text in sent)
    assert await runtime.memories.list_facts("slack:T1:U1") == []


@pytest.mark.parametrize("command", ["/forget", "/memories"])
async def test_slack_junk_slash_command_text(slack_world: SlackWorld, command: str, tally: Tally) -> None:
    slack, runtime = slack_world.slack, slack_world.runtime
    await slack.send_message("D1", "I like green tea", user="U1")
    await slack.wait_for_messages(channel="D1")
    for text in (JUNK, HUGE[:20_000], SURROGATES, "\n\t "):
        [reply] = await slack.wait_for_responses(await slack.send_slash_command(command, text, user="U1"))
        tally.inputs_tried += 1
        shown = json.dumps(reply.body)
        assert "<!channel>" not in shown and len(shown) < 45_000
    assert [f.text for f in await runtime.memories.list_facts("slack:T1:U1")] == ["User likes green tea"]


async def test_discord_oversized_and_malformed_messages(discord_world: DiscordWorld, tally: Tally) -> None:
    discord, openai, runtime = discord_world.discord, discord_world.openai, discord_world.runtime
    people = {
        text: discord.make_user(f"user{index}") for index, text in enumerate([HUGE, CONTROL, DISCORD_JUNK])
    }
    for text, person in people.items():
        await discord.push_dm(person, text)
        tally.inputs_tried += 1
    for person in people.values():
        await discord.wait_for_messages(discord.dm_channel_id(person), 1)
    await quiet()  # the rest of a split reply
    replies = {
        text: [m.content for m in discord.messages if m.channel_id == discord.dm_channel_id(person)]
        for text, person in people.items()
    }

    assert replies[HUGE][0].startswith("You said: pizza") and len(replies[HUGE]) > 1
    assert replies[CONTROL] == [EMPTY_TEXT_REPLY]
    assert replies[DISCORD_JUNK][0].startswith("You said:")
    assert all(len(m.content) <= 2000 for m in discord.messages)
    sent = [
        message_text(m["content"])
        for request in openai.requests
        for m in request["messages"]
        if m["role"] == "user"
    ]
    assert all(len(text) < runtime.settings.max_input_chars + 200 for text in sent)
    for person in people.values():
        assert await runtime.memories.list_facts(f"discord:{person.id}") == []


async def test_discord_survives_a_frame_with_a_lone_surrogate(
    discord_world: DiscordWorld, tally: Tally
) -> None:
    discord, ana = discord_world.discord, discord_world.ana
    identified = discord.identify_count
    heartbeats = _heartbeat_threads()
    await discord.push_dm(discord_world.bo, SURROGATES)
    tally.inputs_tried += 1
    # discord.py cannot decode the frame and its connect() ends; the adapter connects again.
    await discord.wait_for_identify(identified + 1)
    await discord.push_dm(ana, "anyone there?")
    [reply] = await discord.wait_for_messages(discord.dm_channel_id(ana), 1, timeout=5)
    assert reply.content.startswith("You said: anyone there?")
    # The socket given up on stopped its heartbeat thread: one per socket, not one more per error.
    assert _heartbeat_threads() == heartbeats == 1


def _heartbeat_threads() -> int:
    return sum(isinstance(thread, KeepAliveHandler) for thread in threading.enumerate())


async def test_discord_junk_forget_phrase(discord_world: DiscordWorld, tally: Tally) -> None:
    discord, ana, runtime = discord_world.discord, discord_world.ana, discord_world.runtime
    await discord.push_dm(ana, "I like green tea")
    await discord.wait_for_messages(discord.dm_channel_id(ana), 1)
    for phrase in (DISCORD_JUNK[:900], "%", "*", "\u2603" * 1000, "'; DROP TABLE store; --"):
        command = await discord.push_slash_command(ana, "forget", {"phrase": phrase})
        _, answer = await discord.wait_for_interaction_responses(command, 2)
        tally.inputs_tried += 1
        assert "nothing to forget" in (answer.content or "") and len(answer.content or "") <= 2000
    assert [f.text for f in await runtime.memories.list_facts(f"discord:{ana.id}")] == [
        "User likes green tea"
    ]


async def test_discord_very_long_forget_phrase_gets_a_reply_discord_accepts(
    discord_world: DiscordWorld, tally: Tally
) -> None:
    command = await discord_world.discord.push_slash_command(
        discord_world.ana, "forget", {"phrase": "x" * 6000}
    )
    _, answer = await discord_world.discord.wait_for_interaction_responses(command, 2)
    tally.inputs_tried += 1
    assert len(answer.content or "") <= 2000
