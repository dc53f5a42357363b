"""End to end: the real discord.py client against the fake Discord, the real core and the fake OpenAI."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord.utils as discord_utils
import pytest
from discord import LoginFailure
from discord.http import Route

from adapters.discord import TEXT_ONLY, DiscordAdapter
from bot.commands import Commands
from bot.commands.core import EXPIRED, FORGOT, KEPT, NOT_YOURS
from bot.memory import Provenance
from bot.runtime import Runtime, open_runtime
from config.settings import ConfigError, Settings
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.fakes.openai_server import FakeOpenAI, Hang, Text, message_text
from tests.helpers import chat_messages


@dataclass
class World:
    discord: FakeDiscord
    openai: FakeOpenAI
    adapter: DiscordAdapter
    ana: FakeUser
    bo: FakeUser
    runtime: Runtime


def discord_settings(tmp_path: Path, openai: FakeOpenAI, discord: FakeDiscord, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "openai_api_key": "sk-test",
        "openai_base_url": openai.base_url,
        "database_url": f"sqlite:///{tmp_path}/bot.db",
        "discord_token": discord.token,
        "discord_api_url": discord.api_url,
        "discord_gateway_url": discord.gateway_url,
        "model_max_retries": 0,
        "bot_streaming": False,  # these tests pin one-shot delivery; tests/test_discord_streaming.py streams
    }
    return Settings(**{**fields, **overrides})


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeOpenAI]]:
    async with FakeDiscord() as discord, FakeOpenAI() as openai:
        yield discord, openai


@pytest.fixture
async def world(tmp_path: Path, fakes: tuple[FakeDiscord, FakeOpenAI]) -> AsyncIterator[World]:
    discord, openai = fakes
    settings = discord_settings(tmp_path, openai, discord)
    async with open_runtime(settings) as runtime:
        adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
        await adapter.start()
        try:
            ana = discord.make_user("ana", global_name="Ana")
            bo = discord.make_user("bo", global_name="Bo")
            yield World(discord, openai, adapter, ana, bo, runtime)
        finally:
            await adapter.stop()


async def test_dm_conversation(world: World) -> None:
    discord = world.discord
    await discord.push_dm(world.ana, "hello there")
    [reply] = await discord.wait_for_messages(discord.dm_channel_id(world.ana), 1)
    assert reply.content.startswith("You said: hello there")
    assert discord.dm_channel_id(world.ana) in discord.typing_calls
    assert discord.identify_payloads[0]["intents"] & (1 << 15)  # MESSAGE_CONTENT
    # discord.py asks for zstd-stream when zstandard is importable, else zlib-stream; the fake speaks both.
    assert discord.gateway_compressions == [discord_utils._ActiveDecompressionContext.COMPRESSION_TYPE]
    assert discord.unhandled_requests == []


async def test_the_reply_never_waits_for_the_typing_indicator(world: World) -> None:
    # discord.py's typing() waits for its request before its block runs; the turn must not.
    discord = world.discord
    channel = discord.dm_channel_id(world.ana)
    discord.typing_gate = asyncio.Event()  # typing requests get no answer until the end
    await discord.push_dm(world.ana, "hello there")
    [reply] = await discord.wait_for_messages(channel, 1)
    assert reply.content.startswith("You said: hello there")
    assert discord.typing_calls == [channel]
    discord.typing_gate.set()


async def test_a_failing_typing_indicator_still_gets_the_reply_posted(world: World) -> None:
    discord = world.discord
    discord.typing_status = 400
    await discord.push_dm(world.ana, "hello there")
    [reply] = await discord.wait_for_messages(discord.dm_channel_id(world.ana), 1)
    assert reply.content.startswith("You said: hello there")


async def test_fake_gateway_speaks_zlib_stream(fakes: tuple[FakeDiscord, FakeOpenAI]) -> None:
    discord = fakes[0]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(discord.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws,
    ):
        inflate = zlib.decompressobj()
        hello = await ws.receive_bytes()
        assert hello.endswith(b"\x00\x00\xff\xff")  # each payload ends with a Z_SYNC_FLUSH
        assert json.loads(inflate.decompress(hello))["op"] == 10
        await ws.send_json({"op": 1, "d": None})
        ack = await ws.receive_bytes()
        assert json.loads(inflate.decompress(ack)) == {"op": 11, "d": None}


def thread_replies(discord: FakeDiscord, message: dict[str, Any]) -> int:
    """The thread a mention started (Discord gives it the message's id)."""
    return int(message["id"])


async def settle(world: World, user: FakeUser) -> list[str]:
    """A DM round trip: everything pushed before it has been answered by then.

    Returns the texts sent to that DM before the round trip's own reply.
    """
    discord = world.discord
    channel = discord.dm_channel_id(user)
    token = f"ping-{discord.snowflake()}"
    await discord.push_dm(user, token)
    for count in itertools.count(1):
        sent = await discord.wait_for_messages(channel, count)
        texts = [m.content for m in sent]
        if any(token in text for text in texts):
            return [text for text in texts if token not in text]
    raise AssertionError("unreachable")


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")


async def test_dm_fact_is_used_in_a_server_and_stays_private(world: World) -> None:
    discord = world.discord
    await discord.push_dm(world.ana, "I like pepperoni pizza")
    await discord.wait_for_messages(discord.dm_channel_id(world.ana), 1)

    mention = await discord.push_guild_message(world.ana, "what should I eat?", mention_bot=True)
    [reply] = await discord.wait_for_messages(thread_replies(discord, mention), 1)
    assert "I know: User likes pepperoni pizza" in reply.content
    assert "<@" not in reply.content  # the bot's mention was stripped before the core saw it

    other = await discord.push_guild_message(world.bo, "what do you know about me?", mention_bot=True)
    [reply] = await discord.wait_for_messages(thread_replies(discord, other), 1)
    assert "pepperoni" not in reply.content


async def test_mention_starts_a_thread_and_follow_ups_need_no_mention(world: World) -> None:
    discord = world.discord
    mention = await discord.push_guild_message(world.ana, "hello bot", mention_bot=True)
    thread_id = thread_replies(discord, mention)
    [first] = await discord.wait_for_messages(thread_id, 1)
    assert first.content.startswith("You said: hello bot")
    [thread] = discord.threads
    assert int(thread["parent_id"]) == discord.channel_id and int(thread["id"]) == thread_id

    await discord.push_guild_message(world.bo, "and another thing", channel_id=thread_id)
    replies = await discord.wait_for_messages(thread_id, 2)
    assert replies[1].content.startswith("You said: and another thing")
    assert len(discord.threads) == 1
    assert [m for m in discord.messages if m.channel_id == discord.channel_id] == []


def sent_texts(body: dict[str, Any]) -> list[str]:
    """The text of each non-system message of a chat request, in order."""
    return [message_text(m["content"]) for m in chat_messages(body)]


async def test_first_mention_in_an_existing_thread_passes_the_earlier_messages(world: World) -> None:
    discord = world.discord
    thread = await discord.add_thread(world.bo, "we should order food for the offsite", name="offsite")
    await discord.push_guild_message(world.ana, "agreed, something everyone likes", channel_id=thread)
    await discord.push_guild_message(discord.make_user("pollbot", bot=True), "VOTE NOW", channel_id=thread)
    await discord.push_guild_message(world.ana, "any ideas?", channel_id=thread, mention_bot=True)
    [reply] = await discord.wait_for_messages(thread, 1)
    assert reply.content.startswith("You said: any ideas?")
    *_, earlier, asked = sent_texts(world.openai.last_request())
    assert earlier.startswith("Earlier in this thread, before I was mentioned:")
    # The thread's starter message (said in the channel) comes first, with its author's name.
    assert earlier.index("[Bo] we should order food for the offsite") < earlier.index(
        "[Ana] agreed, something everyone likes"
    )
    # Another bot's message is context too, under its own name, not as the bot's own words.
    assert earlier.index("[Ana] agreed") < earlier.index("[pollbot] VOTE NOW")
    assert "you (the bot)" not in earlier and "any ideas?" not in earlier
    assert asked.endswith("any ideas?")
    assert discord.history_reads == [thread]

    # The thread is the bot's now: follow-ups need no mention, and the history is not read again.
    await discord.push_guild_message(world.bo, "pizza?", channel_id=thread)
    replies = await discord.wait_for_messages(thread, 2)
    assert replies[1].content.startswith("You said: pizza?")
    assert discord.history_reads == [thread]
    # The earlier messages stay in the thread's history, once.
    assert [t for t in sent_texts(world.openai.last_request()) if "Earlier in this thread" in t] == [earlier]


async def test_an_unreadable_thread_history_still_gets_an_answer(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    discord = world.discord
    thread = await discord.add_thread(world.bo, "we should order food", name="offsite")
    discord.forbid_reading(thread)
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await discord.push_guild_message(world.ana, "any ideas?", channel_id=thread, mention_bot=True)
        [reply] = await discord.wait_for_messages(thread, 1)
    assert reply.content.startswith("You said: any ideas?")
    assert discord.history_reads == [thread]
    assert "could not read earlier messages" in caplog.text
    assert "order food" not in json.dumps(world.openai.last_request())


async def test_quiet_where_it_should_be(world: World) -> None:
    discord = world.discord
    await discord.push_guild_message(world.ana, "just chatting, no bot here")
    await discord.push_guild_message(discord.make_user("otherbot", bot=True), "hi", mention_bot=True)
    await discord.push_guild_message(world.ana, "pinned a message", mention_bot=True, message_type=6)
    await discord.push_dm(discord.bot_user, "my own message")
    await settle(world, world.bo)
    assert discord.threads == []
    assert {m.channel_id for m in discord.messages} == {discord.dm_channel_id(world.bo)}


async def test_attachment_only_message_gets_a_kind_text_only_reply(world: World) -> None:
    discord = world.discord
    attachment = {"id": "1", "filename": "cat.png", "size": 10, "url": "https://x/cat.png", "proxy_url": "x"}
    await discord.push_dm(world.ana, "", attachments=[attachment])
    [reply] = await discord.wait_for_messages(discord.dm_channel_id(world.ana), 1)
    assert reply.content == TEXT_ONLY
    assert world.openai.requests == []


async def remember_pizza(world: World) -> None:
    await world.discord.push_dm(world.ana, "I like pepperoni pizza")
    await world.discord.wait_for_messages(world.discord.dm_channel_id(world.ana), 1)


async def test_forget_confirm_erases_and_memories_lists_nothing(world: World) -> None:
    discord = world.discord
    await remember_pizza(world)
    command = await discord.push_slash_command(world.ana, "forget")
    deferred, preview = await discord.wait_for_interaction_responses(command, 2)
    assert deferred.type == 5 and deferred.ephemeral
    assert "pepperoni pizza" in (preview.content or "") and preview.ephemeral
    assert set(preview.button_ids()) == {"Erase them", "Cancel"}

    click = await discord.click_button(world.ana, preview, "Erase them")
    ack, done = await discord.wait_for_interaction_responses(click, 2)
    assert ack.type == 6
    assert done.kind == "edit_original" and done.components == []
    assert done.content == FORGOT.format(count="1 memory") == "Done. I erased 1 memory about you."

    listing = await discord.push_slash_command(world.ana, "memories")
    _, answer = await discord.wait_for_interaction_responses(listing, 2)
    assert "don't remember anything" in (answer.content or "")
    await discord.push_dm(world.ana, "what do you know?")
    replies = await discord.wait_for_messages(discord.dm_channel_id(world.ana), 2)
    assert "pepperoni" not in replies[-1].content


async def test_forget_cancel_keeps_everything_and_memories_lists_it(world: World) -> None:
    discord = world.discord
    await remember_pizza(world)
    command = await discord.push_slash_command(world.ana, "forget", {"phrase": "pizza"})
    _, preview = await discord.wait_for_interaction_responses(command, 2)
    click = await discord.click_button(world.ana, preview, "Cancel")
    # Acknowledged at once (deferred update), then the preview itself says so, buttons gone.
    ack, update = await discord.wait_for_interaction_responses(click, 2)
    assert ack.type == 6
    assert update.kind == "edit_original" and update.content == KEPT == "Okay, I kept everything."
    assert update.components == [] and update.message is preview.message

    listing = await discord.push_slash_command(world.ana, "memories", in_guild=False)
    deferred, answer = await discord.wait_for_interaction_responses(listing, 2)
    assert deferred.ephemeral
    assert "User likes pepperoni pizza — learned in a Discord DM" in (answer.content or "")


async def test_a_failed_erase_apologises_privately_and_the_buttons_still_work(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    discord, memories = world.discord, world.runtime.memories
    await remember_pizza(world)
    command = await discord.push_slash_command(world.ana, "forget")
    _, preview = await discord.wait_for_interaction_responses(command, 2)
    erase = memories.forget

    async def fails_once(*args: Any) -> int:
        monkeypatch.setattr(memories, "forget", erase)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(memories, "forget", fails_once)
    click = await discord.click_button(world.ana, preview, "Erase them")
    ack, apology = await discord.wait_for_interaction_responses(click, 2)
    assert ack.type == 6
    assert (
        apology.kind == "followup" and apology.ephemeral and "something went wrong" in (apology.content or "")
    )

    again = await discord.click_button(world.ana, preview, "Erase them")
    _, done = await discord.wait_for_interaction_responses(again, 2)
    assert done.content == "Done. I erased 1 memory about you." and done.components == []
    assert await memories.list_facts(f"discord:{world.ana.id}") == []


async def test_a_long_memories_listing_shows_every_fact_over_several_private_messages(world: World) -> None:
    discord, user = world.discord, f"discord:{world.ana.id}"
    dm = Provenance(platform="discord", thread_id=f"discord:dm:{world.ana.id}", is_direct=True)
    for index in range(40):
        await world.runtime.memories.save(user, f"User fact number {index:02d} " + "lorem " * 15, "misc", dm)
    expected = await world.runtime.service.commands.memories(user)
    assert len(expected.facts) == 40

    listing = await discord.push_slash_command(world.ana, "memories")

    def numbered() -> list[str]:
        texts = [r.content or "" for r in discord.interaction_responses if r.interaction_id == listing]
        return [line for text in texts for line in text.splitlines() if line[:1].isdigit()]

    await eventually(lambda: len(numbered()) >= len(expected.facts))
    deferred, first, *rest = await discord.wait_for_interaction_responses(listing)
    assert deferred.type == 5 and deferred.ephemeral
    assert first.kind == "edit_original" and (first.content or "").startswith(expected.text)
    assert len(rest) >= 2 and all(r.kind == "followup" and r.ephemeral for r in rest)
    assert all(len(r.content or "") <= 2000 for r in [first, *rest])
    # The same facts, in the same order as the core (and so the console and Slack) lists them,
    # numbered so that each button on the first message says which fact it is for.
    assert numbered() == [f"{n}. {f.text} — {f.source}" for n, f in enumerate(expected.facts, start=1)]
    shown = len((first.content or "").splitlines()) - 1
    assert 0 < shown <= 25 and list(first.button_ids()) == [
        f"{n} · Make private" for n in range(1, shown + 1)
    ]
    assert all(r.components == [] for r in rest)


async def test_unpressed_forget_buttons_expire_and_say_so(
    tmp_path: Path, fakes: tuple[FakeDiscord, FakeOpenAI]
) -> None:
    discord, openai = fakes
    settings = discord_settings(tmp_path, openai, discord)
    async with open_runtime(settings) as runtime:
        commands = Commands(runtime.memories, forget_timeout=0.3)
        adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05, commands=commands)
        await adapter.start()
        try:
            ana = discord.make_user("ana", global_name="Ana")
            world = World(discord, openai, adapter, ana, discord.make_user("bo"), runtime)
            await remember_pizza(world)
            command = await discord.push_slash_command(ana, "forget")
            _, preview, expired = await discord.wait_for_interaction_responses(command, 3)
        finally:
            await adapter.stop()
    assert set(preview.button_ids()) == {"Erase them", "Cancel"}
    assert expired.kind == "edit_original" and expired.content == EXPIRED
    assert expired.components == []  # the buttons are gone, not left to fail when pressed
    assert [fact.text for fact in await _facts_of(settings, ana)] == ["User likes pepperoni pizza"]


async def _facts_of(settings: Settings, user: FakeUser) -> list[Any]:
    async with open_runtime(settings) as runtime:
        return await runtime.memories.list_facts(f"discord:{user.id}")


async def test_forget_with_nothing_to_forget_is_kind(world: World) -> None:
    command = await world.discord.push_slash_command(world.bo, "forget")
    _, answer = await world.discord.wait_for_interaction_responses(command, 2)
    assert "nothing to forget" in (answer.content or "")


async def test_someone_else_cannot_confirm_a_forget(world: World) -> None:
    discord = world.discord
    await remember_pizza(world)
    command = await discord.push_slash_command(world.ana, "forget")
    _, preview = await discord.wait_for_interaction_responses(command, 2)
    click = await discord.click_button(world.bo, preview, "Erase them")
    [refusal] = await discord.wait_for_interaction_responses(click, 1)
    assert refusal.type == 4 and refusal.ephemeral and refusal.content == NOT_YOURS

    listing = await discord.push_slash_command(world.ana, "memories")
    _, answer = await discord.wait_for_interaction_responses(listing, 2)
    assert "pepperoni pizza" in (answer.content or "")


async def test_long_reply_is_split_under_the_limit(world: World) -> None:
    sentence = "This sentence is part of a very long answer from the model. "
    world.openai.script(Text(sentence * 84))  # about 5,000 characters
    await world.discord.push_dm(world.ana, "tell me everything")
    parts = await settle(world, world.ana)
    assert len(parts) == 3 and all(len(part) <= 2000 for part in parts)
    assert " ".join(parts).split() == (sentence * 84).split()


async def test_model_output_pings_nobody(world: World) -> None:
    world.openai.script(Text("Hey @everyone and @here, ask <@&42> or <@7>!"))
    mention = await world.discord.push_guild_message(world.ana, "announce it", mention_bot=True)
    [reply] = await world.discord.wait_for_messages(thread_replies(world.discord, mention), 1)
    assert "@everyone" in reply.content
    assert reply.allowed_mentions == {"parse": []}


async def test_reconnect_request_loses_and_repeats_nothing(world: World) -> None:
    discord = world.discord
    discord.duplicate_on_resume = 1
    channel = discord.dm_channel_id(world.ana)
    await discord.push_dm(world.ana, "before the reconnect")
    await discord.wait_for_messages(channel, 1)
    await discord.request_reconnect()
    await discord.push_dm(world.ana, "during the reconnect")
    await discord.wait_for_resume()
    await discord.push_dm(world.ana, "after the reconnect")
    texts = await settle(world, world.ana)
    assert len(texts) == 3, texts
    assert discord.identify_count == 1 and discord.resume_count == 1


async def test_dropped_socket_mid_conversation_loses_and_repeats_nothing(world: World) -> None:
    discord = world.discord
    discord.duplicate_on_resume = 3  # also re-deliver events the client already saw
    channel = discord.dm_channel_id(world.ana)
    world.openai.script(Hang(0.5))
    await discord.push_dm(world.ana, "first")
    await discord.wait_for_typing(channel)  # the client has the message; the model is thinking
    await discord.drop_connection()
    await discord.push_dm(world.ana, "second, while the socket is down")
    await discord.wait_for_resume()
    texts = await settle(world, world.ana)
    assert len(texts) == 2, texts
    assert any("first" in t for t in texts) and any("second" in t for t in texts)
    assert discord.identify_count == 1


async def test_forbidden_channel_is_logged_not_fatal(world: World, caplog: pytest.LogCaptureFixture) -> None:
    discord = world.discord
    locked = discord.add_text_channel("announcements")
    discord.forbid_channel(locked)
    await discord.push_guild_message(world.ana, "hello?", channel_id=locked, mention_bot=True)
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await eventually(lambda: "no permission to write" in caplog.text)
        await settle(world, world.ana)  # and the bot still answers elsewhere
    assert "no permission to write" in caplog.text
    assert all(m.channel_id != locked for m in discord.messages)


async def test_a_missing_token_is_named(tmp_path: Path, fakes: tuple[FakeDiscord, FakeOpenAI]) -> None:
    discord, openai = fakes
    settings = discord_settings(tmp_path, openai, discord).model_copy(update={"discord_token": None})
    async with open_runtime(settings) as runtime:
        with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
            DiscordAdapter(runtime.service, settings)


async def test_a_wrong_token_fails_start_cleanly(
    tmp_path: Path, fakes: tuple[FakeDiscord, FakeOpenAI]
) -> None:
    discord, openai = fakes
    settings = discord_settings(tmp_path, openai, discord, discord_token="not-the-token")
    async with open_runtime(settings) as runtime:
        adapter = DiscordAdapter(runtime.service, settings)
        with pytest.raises(LoginFailure):
            await adapter.start()
    assert discord.identify_count == 0
    assert Route.BASE == "https://discord.com/api/v10"  # restored for whoever runs next


async def test_commands_sync_globally_by_default(world: World) -> None:
    [sync] = world.discord.command_syncs
    assert sync.guild_id is None
    link = next(c for c in sync.commands if c["name"] == "link")
    assert [(o["name"], o["type"], o.get("required", False)) for o in link["options"]] == [("code", 3, False)]
    assert {c["name"] for c in sync.commands} == {"forget", "memories", "link", "unlink", "Remember this"}


async def test_commands_sync_to_the_guild_when_configured(
    tmp_path: Path, fakes: tuple[FakeDiscord, FakeOpenAI]
) -> None:
    discord, openai = fakes
    settings = discord_settings(tmp_path, openai, discord, discord_guild_id=discord.guild_id)
    async with open_runtime(settings) as runtime:
        adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
        await adapter.start()
        await adapter.stop()
        await adapter.stop()  # idempotent
    [sync] = discord.command_syncs
    assert sync.guild_id == discord.guild_id
    assert {c["name"] for c in sync.commands} == {"forget", "memories", "link", "unlink", "Remember this"}
