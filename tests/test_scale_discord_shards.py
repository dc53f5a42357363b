"""Discord sharding: two real `python -m bot` processes on shards 0 and 1 of 2, one Postgres,
the fake Discord routing each event to the shard Discord would (guild events by
`(guild_id >> 22) % 2`, DMs to shard 0). Each message is answered once, by its shard's
process; a guild message that reaches the other shard too (as after a shard moved) is
not answered twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.scale_world import Bot, bots_on

pytestmark = pytest.mark.timeout(120)

# A server id on shard 1 of 2 ((id >> 22) % 2 == 1): DMs (shard 0) and the server go to
# different processes.
GUILD_ON_SHARD_1 = (1 << 22) * 1_000_001


async def test_two_processes_on_two_shards(postgres_url: str, tmp_path: Path) -> None:
    async with FakeDiscord(guild_id=GUILD_ON_SHARD_1) as discord, FakeOpenAI() as model:
        env = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": model.base_url,
            "MODEL_MAX_RETRIES": "0",
            "DATABASE_URL": postgres_url,
            "DISCORD_TOKEN": discord.token,
            "DISCORD_API_URL": discord.api_url,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DISCORD_SHARD_COUNT": "2",
            "BOT_STREAMING": "false",
            "LOG_LEVEL": "INFO",
        }
        shard_envs = [{**env, "DISCORD_SHARD_IDS": str(shard)} for shard in (0, 1)]
        async with bots_on(shard_envs, tmp_path) as (zero, one):
            assert sorted(discord.shard_sessions) == [0, 1]
            assert [p["shard"] for p in discord.identify_payloads] == [[0, 2], [1, 2]]
            for bot in (zero, one):
                assert (await bot.get("/readyz"))[0] == 200
            ana = discord.make_user("ana", global_name="Ana")
            people = [discord.make_user(f"p{i}", global_name=f"P{i}") for i in range(4)]
            for person in people:
                await discord.push_dm(person, f"hello from {person.username}")
            mention = await discord.push_guild_message(ana, "what is up?", mention_bot=True)
            for person in people:
                await discord.wait_for_messages(discord.dm_channel_id(person), 1, timeout=20)
            [thread] = await _wait_threads(discord)
            [reply] = await discord.wait_for_messages(int(thread["id"]), 1, timeout=20)
            assert reply.content.startswith("You said: what is up?")
            # The same server message reaching shard 0 as well: the inbox has it already.
            await discord.dispatch("MESSAGE_CREATE", mention, shard=0)
            await asyncio.sleep(0.5)
            assert len([m for m in discord.messages if m.channel_id == int(thread["id"])]) == 1
            assert await _answered(zero) == 4  # the DMs, on shard 0
            assert await _answered(one) == 1  # the server, on shard 1
            assert await zero.metric("bot_inbox_duplicates_total", platform="discord") == 1


async def _answered(bot: Bot) -> float:
    return await bot.metric("bot_turns_total", platform="discord", outcome="answered")


async def _wait_threads(discord: FakeDiscord) -> list[dict[str, object]]:
    for _ in range(200):
        if discord.threads:
            return discord.threads
        await asyncio.sleep(0.05)
    raise AssertionError("no thread was started")


async def test_unset_shards_follow_discords_recommendation(tmp_path: Path) -> None:
    """DISCORD_SHARD_COUNT unset: one connection, unless /gateway/bot recommends more (a bot in
    over ~2,500 servers), when this process runs every recommended shard."""
    from adapters.discord import DiscordAdapter
    from bot.runtime import open_runtime
    from tests.test_discord_adapter import discord_settings

    async with FakeDiscord(guild_id=GUILD_ON_SHARD_1) as discord, FakeOpenAI() as model:
        discord.recommended_shards = 2
        settings = discord_settings(tmp_path, model, discord)
        async with open_runtime(settings) as runtime:
            adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
            await adapter.start()
            try:
                assert sorted(p["shard"] for p in discord.identify_payloads) == [[0, 2], [1, 2]]
                ana = discord.make_user("ana", global_name="Ana")
                await discord.push_dm(ana, "hello on shard zero")
                [reply] = await discord.wait_for_messages(discord.dm_channel_id(ana), 1)
                assert reply.content.startswith("You said: hello on shard zero")
                await discord.push_guild_message(ana, "and in the server?", mention_bot=True)
                [thread] = await _wait_threads(discord)
                [answer] = await discord.wait_for_messages(int(thread["id"]), 1)
                assert answer.content.startswith("You said: and in the server?")
            finally:
                await adapter.stop()
