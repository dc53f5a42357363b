"""Discord with the durable inbox: a message delivered again to a restarted (or another)
process is not answered twice, and a message a dead process left is answered by editing
what it had sent (in a DM, and in the server thread it had started)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from bot import metrics
from bot.inbox import Arrival
from bot.runtime import open_runtime
from config.settings import Settings
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.test_discord_adapter import discord_settings


@pytest.fixture
async def fakes() -> Any:
    async with FakeDiscord() as discord, FakeOpenAI() as openai:
        yield discord, openai


@pytest.fixture
def make(tmp_path: Path, fakes: tuple[FakeDiscord, FakeOpenAI]) -> Callable[..., Settings]:
    discord, openai = fakes

    def settings(**overrides: Any) -> Settings:
        # Streaming on, as deployed (discord_settings pins it off for the one-shot tests).
        return discord_settings(tmp_path, openai, discord, **{"bot_streaming": True, **overrides})

    return settings


async def test_a_message_delivered_again_to_another_process_is_answered_once(
    make: Callable[..., Settings], fakes: tuple[FakeDiscord, FakeOpenAI], database_url: str
) -> None:
    discord, _ = fakes
    ana = discord.make_user("ana", global_name="Ana")
    settings = make(database_url=database_url)
    duplicates = metrics.sample("bot_inbox_duplicates_total", {"platform": "discord"})
    async with open_runtime(settings) as runtime:
        first = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
        await first.start()
        data = await discord.push_dm(ana, "hello there")
        await discord.wait_for_messages(discord.dm_channel_id(ana), 1)
        await first.stop()
    async with open_runtime(settings) as runtime:  # another process (nothing in memory)
        second = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
        await second.start()
        try:
            await discord.dispatch("MESSAGE_CREATE", data)  # the same message, again
            await discord.push_dm(ana, "and now?")
            replies = await discord.wait_for_messages(discord.dm_channel_id(ana), 2)
            await asyncio.sleep(0.3)
        finally:
            await second.stop()
    assert [reply.content.split(".")[0] for reply in replies] == [
        "You said: hello there",
        "You said: and now?",
    ]
    assert len([m for m in discord.messages if m.channel_id == discord.dm_channel_id(ana)]) == 2
    assert metrics.sample("bot_inbox_duplicates_total", {"platform": "discord"}) == duplicates + 1


async def test_a_message_left_by_a_dead_process_is_answered_once_editing_what_it_sent(
    make: Callable[..., Settings], fakes: tuple[FakeDiscord, FakeOpenAI], database_url: str
) -> None:
    discord, _ = fakes
    ana = discord.make_user("ana", global_name="Ana")
    settings = make(database_url=database_url, turn_lease_seconds=0.6)
    dm = discord.dm_channel_id(ana)
    # Process X was answering a DM (its first piece sent) and a server mention (its thread
    # started, nothing sent yet in it) when it died.
    asked = discord.message_payload(ana, "are you there?", channel_id=dm, guild=False)
    discord._remember(asked)
    partial = discord._record_message(dm, {"content": "Let me th"})
    mention = discord.message_payload(
        ana, f"{discord.bot_user.mention} what now?", channel_id=discord.channel_id, guild=True
    )
    discord._remember(mention)
    thread = await discord._create_thread(discord.channel_id, int(mention["id"]), {"name": "what now?"})
    async with open_runtime(settings) as runtime:
        assert runtime.inbox is not None
        past = time.time() - 60
        for data, thread_id, posted in (
            (asked, f"discord:dm:{ana.id}", [partial["id"]]),
            (mention, f"discord:{discord.guild_id}:{thread['id']}", []),
        ):
            arrival = Arrival(
                key=f"discord:{data['id']}",
                platform="discord",
                thread_id=thread_id,
                payload={"channel_id": data["channel_id"], "message_id": data["id"]},
            )
            assert await runtime.inbox.store.insert(arrival, "X", past, past + 1) is not None
            await runtime.inbox.store.set_posted(arrival.key, "X", posted)
        adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
        await adapter.start()
        try:
            await discord.wait_for_messages(int(thread["id"]), 1)
            await asyncio.sleep(0.3)
        finally:  # stop() lets the answers on their way land
            await adapter.stop()
    [in_dm] = [m for m in discord.messages if m.channel_id == dm]
    assert in_dm.id == int(partial["id"]) and in_dm.content.startswith("You said: are you there?")
    [in_thread] = [m for m in discord.messages if m.channel_id == int(thread["id"])]
    assert in_thread.content.startswith("You said: what now?")
    assert len(discord.threads) == 1  # the thread X started, not a second one
