"""Streamed answers, the user install and "Remember this" on Discord: the real discord.py
client against the fake Discord, the real core against the fake model streaming over SSE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.render import MESSAGE_LIMIT
from adapters.discord.streaming import EDIT_SECONDS, AnswerStream
from adapters.text_split import split_message
from bot.commands.core import NOT_YOUR_MESSAGE, REMEMBERED
from bot.runtime import Runtime, open_runtime
from bot.streaming import CUT_OFF_NOTE
from tests.fakes.discord_server import FakeDiscord, FakeUser, SentMessage
from tests.fakes.openai_server import Cut, FakeOpenAI, Text
from tests.test_discord_adapter import discord_settings, eventually

LONG = ("Pizza in North Beach is a fine idea tonight, and the slices there are famous. " * 3).rstrip()
NO_PINGS = {"parse": []}  # what AllowedMentions.none() is on the wire


@dataclass
class World:
    discord: FakeDiscord
    openai: FakeOpenAI
    runtime: Runtime
    adapter: DiscordAdapter
    ana: FakeUser
    bo: FakeUser

    @property
    def ana_dm(self) -> int:
        return self.discord.dm_channel_id(self.ana)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeDiscord() as discord, FakeOpenAI() as openai:
        settings = discord_settings(tmp_path, openai, discord, bot_streaming=True)
        async with open_runtime(settings) as runtime:
            assert runtime.service.streams
            adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
            await adapter.start()
            try:
                ana = discord.make_user("ana", global_name="Ana")
                bo = discord.make_user("bo", global_name="Bo")
                yield World(discord, openai, runtime, adapter, ana, bo)
            finally:
                await adapter.stop()


async def shows(world: World, channel: int, text: str, timeout: float = 15.0) -> list[SentMessage]:
    """Wait until the bot's messages in `channel` show exactly `text`, split as Discord needs."""
    expected = split_message(text, MESSAGE_LIMIT)
    await world.discord.wait_until(
        lambda: world.discord.shown_in(channel) == expected, timeout, what=f"{expected!r} in {channel}"
    )
    return [m for m in world.discord.messages if m.channel_id == channel and not m.deleted]


def updates_of(world: World, message: SentMessage) -> list[float]:
    """When the message was sent and each time an edit of it was applied."""
    return [message.at, *(edit.at for edit in world.discord.edits_of(message.id))]


async def test_first_text_shows_while_the_model_is_still_writing(world: World) -> None:
    discord, openai = world.discord, world.openai
    openai.stream_gate = asyncio.Event()  # the model sends its first piece, then waits
    openai.script(Text(LONG))
    await discord.push_dm(world.ana, "where should I eat?")
    [first] = await discord.wait_for_messages(world.ana_dm, 1)
    assert first.content == LONG[:12]  # the fake model's first piece
    assert openai.in_flight == 1  # the model has not finished its answer
    await discord.wait_for_typing(world.ana_dm)  # typing was shown for the wait before it
    openai.stream_gate.set()
    [reply] = await shows(world, world.ana_dm, LONG)
    assert reply.id == first.id and reply.edit_count >= 1  # the same message, edited
    assert all(LONG.startswith(edit.content or "") for edit in discord.edits_of(reply.id))  # in order


async def test_a_long_answer_is_edited_at_most_once_a_second(world: World) -> None:
    discord, openai = world.discord, world.openai
    text = " ".join(f"w{i:03d}" for i in range(300))  # 1,500 characters in 125 pieces
    openai.chunk_delay = 0.02  # written over 2.5 seconds or more
    openai.script(Text(text))
    await discord.push_dm(world.ana, "count for me")
    [reply] = await shows(world, world.ana_dm, text)
    times = updates_of(world, reply)
    # The next edit waits a second after the previous one *finished*, so arrivals are at
    # least that far apart however slow the machine is: these bounds only get looser.
    assert all(later - earlier >= EDIT_SECONDS * 0.9 for earlier, later in pairwise(times))
    assert len(times) - 1 <= (times[-1] - times[0]) / EDIT_SECONDS + 1
    assert 2 <= reply.edit_count < 125  # edited as it grew, far fewer times than there were pieces
    assert all(text.startswith(edit.content or "") for edit in discord.edits_of(reply.id))


async def test_past_2000_characters_the_answer_goes_on_in_a_new_message(world: World) -> None:
    discord, openai = world.discord, world.openai
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 80 for i in range(12)).rstrip()  # ~5,000
    openai.chunk_delay = 0.002
    openai.script(Text(text))
    await discord.push_dm(world.ana, "tell me everything")
    replies = await shows(world, world.ana_dm, text)
    assert len(replies) == 3 and all(len(m.content) <= MESSAGE_LIMIT for m in replies)
    assert all(m.content.startswith("Paragraph") for m in replies)  # cut where a paragraph ends
    assert discord.deletions == []
    for message in replies:
        times = updates_of(world, message)
        assert all(later - earlier >= EDIT_SECONDS * 0.9 for earlier, later in pairwise(times))


async def test_no_send_or_edit_pings_anyone(world: World) -> None:
    discord, openai = world.discord, world.openai
    text = "Hey @everyone and @here, ask <@&42> or <@7>! " * 60  # ~2,700 characters: two messages
    openai.chunk_delay = 0.005
    openai.script(Text(text))
    mention = await discord.push_guild_message(world.ana, "announce it", mention_bot=True)
    thread = int(mention["id"])
    replies = await shows(world, thread, text)
    assert len(replies) == 2
    edits = [e for e in discord.edits if e.channel_id == thread]
    assert edits and all(edit.allowed_mentions == NO_PINGS for edit in edits)
    assert all(message.allowed_mentions == NO_PINGS for message in replies)


async def test_rate_limited_edits_slow_down_and_lose_nothing(world: World) -> None:
    discord, openai = world.discord, world.openai
    discord.rate_limit_edits(2, retry_after=0.4)
    text = " ".join(f"w{i:03d}" for i in range(150))
    openai.chunk_delay = 0.02
    openai.script(Text(text))
    await discord.push_dm(world.ana, "count for me")
    [reply] = await shows(world, world.ana_dm, text)
    attempts = discord.edits_of(reply.id, applied=False)
    refused = [e for e in attempts if e.status == 429]
    assert len(refused) == 2
    # discord.py waited the 429's retry_after before trying the same edit again.
    first_refused = attempts.index(refused[0])
    assert attempts[first_refused + 1].at - refused[0].at >= 0.4 * 0.9
    assert attempts[-1].applied and attempts[-1].content == text


async def test_a_model_failing_mid_answer_keeps_the_text_with_a_note_in_one_message(world: World) -> None:
    discord, openai = world.discord, world.openai
    openai.script(Cut(LONG, after=40))
    await discord.push_dm(world.ana, "where to eat?")
    [reply] = await shows(world, world.ana_dm, LONG[:40].rstrip() + CUT_OFF_NOTE)
    await asyncio.sleep(0.3)  # room for a (wrong) second message to show up
    assert [m.id for m in discord.messages if m.channel_id == world.ana_dm] == [reply.id]
    # The thread's state is still good: the next message there gets a whole answer.
    openai.script(Text("Try the pizza place on Columbus."))
    await discord.push_dm(world.ana, "and now?")
    await discord.wait_until(lambda: discord.shown_in(world.ana_dm)[-1] == "Try the pizza place on Columbus.")


async def test_a_final_answer_shorter_than_what_was_shown_ends_as_exactly_that(world: World) -> None:
    # The core's reply is the model's last message; text streamed before a tool round can
    # be longer than it. The messages end showing the reply, and nothing else.
    client = world.adapter.client
    assert client is not None
    stream = AnswerStream(client.get_partial_messageable(world.ana_dm), edit_seconds=0.05)
    stream.start()
    stream.sink("Let me check. " * 200)  # 2,800 characters: two messages
    await world.discord.wait_for_messages(world.ana_dm, 1)
    await stream.finish("Here it is.")
    assert world.discord.shown_in(world.ana_dm) == ["Here it is."]
    assert len(world.discord.deletions) == len(world.discord.messages) - 1


async def test_a_channel_the_bot_may_not_write_in_is_logged_not_fatal(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    discord = world.discord
    locked = discord.add_text_channel("announcements")
    discord.forbid_channel(locked)
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await discord.push_guild_message(world.ana, "hello?", channel_id=locked, mention_bot=True)
        await eventually(lambda: "no permission to write" in caplog.text)
    assert all(m.channel_id != locked for m in discord.messages) and discord.edits == []
    world.openai.script(Text("Still here."))
    await discord.push_dm(world.ana, "and here?")
    await shows(world, world.ana_dm, "Still here.")


async def test_stopping_lets_an_answer_on_its_way_land_whole(world: World) -> None:
    discord, openai = world.discord, world.openai
    text = " ".join(f"w{i:03d}" for i in range(100))
    openai.chunk_delay = 0.01
    openai.script(Text(text))
    await discord.push_dm(world.ana, "count for me")
    await discord.wait_for_messages(world.ana_dm, 1)
    await world.adapter.stop()  # mid-answer: the turn ends, then its last edit, then the close
    assert discord.shown_in(world.ana_dm) == [text]


async def test_streaming_off_posts_the_answer_once_unedited(tmp_path: Path) -> None:
    async with FakeDiscord() as discord, FakeOpenAI() as openai:
        settings = discord_settings(tmp_path, openai, discord, bot_streaming=False)
        async with open_runtime(settings) as runtime:
            adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
            await adapter.start()
            try:
                ana = discord.make_user("ana")
                openai.script(Text(LONG))
                await discord.push_dm(ana, "where to eat?")
                [reply] = await discord.wait_for_messages(discord.dm_channel_id(ana), 1)
                assert reply.content == LONG and discord.edits == []
            finally:
                await adapter.stop()


async def test_commands_are_installable_by_people_and_usable_anywhere(world: World) -> None:
    [sync] = world.discord.command_syncs
    commands = {command["name"]: command for command in sync.commands}
    assert set(commands) == {"memories", "forget", "link", "unlink", "Remember this"}
    assert commands["Remember this"]["type"] == 3  # a message context-menu command
    for command in commands.values():
        assert sorted(command["integration_types"]) == [0, 1]  # guild install, user install
        assert sorted(command["contexts"]) == [0, 1, 2]  # servers, bot DMs, private channels


async def test_remember_this_keeps_the_persons_own_message(world: World) -> None:
    discord = world.discord
    said = await discord.push_guild_message(world.ana, "my sister <@7> is called Lea")
    command = await discord.push_message_command(world.ana, said, installed_by_user=True)
    deferred, answer = await discord.wait_for_interaction_responses(command, 2)
    assert deferred.type == 5 and deferred.ephemeral and answer.ephemeral
    assert answer.content == REMEMBERED.format(text="my sister <@7> is called Lea")
    facts = await world.runtime.memories.list_facts(f"discord:{world.ana.id}")
    assert [fact.text for fact in facts] == ["User said: “my sister <@7> is called Lea”"]
    assert facts[0].where() == "Discord #general"
    assert world.openai.requests == []  # the core kept it; no model was asked


async def test_remember_this_works_in_the_bots_dm(world: World) -> None:
    discord = world.discord
    said = await discord.push_dm(world.ana, "I am vegetarian")
    await discord.wait_for_messages(world.ana_dm, 1)  # the bot answered the DM itself
    command = await discord.push_message_command(world.ana, said)
    _, answer = await discord.wait_for_interaction_responses(command, 2)
    assert answer.ephemeral and (answer.content or "").startswith("Got it.")
    facts = await world.runtime.memories.list_facts(f"discord:{world.ana.id}")
    assert any(f.text == "User said: “I am vegetarian”" and f.where() == "a Discord DM" for f in facts)


async def test_remember_this_on_someone_elses_message_refuses_kindly(world: World) -> None:
    discord = world.discord
    said = await discord.push_guild_message(world.bo, "I love anchovies")
    command = await discord.push_message_command(world.ana, said)
    _, answer = await discord.wait_for_interaction_responses(command, 2)
    assert answer.ephemeral and answer.content == NOT_YOUR_MESSAGE
    assert await world.runtime.memories.list_facts(f"discord:{world.ana.id}") == []
    assert await world.runtime.memories.list_facts(f"discord:{world.bo.id}") == []
