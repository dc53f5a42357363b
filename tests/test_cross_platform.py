"""One person on Slack and Discord: ONE bot process (one runtime, both adapters) connected to
the fake Slack and the fake Discord, the real clients on both, the fake model recording what
reached each prompt. A fact told in a Slack DM, /link on Slack, /link CODE on Discord, the fact
recalled in a Discord DM; /forget on Discord erases it for Slack too, bytes on disk included;
/unlink splits what each platform taught."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from bot.linking import ALPHABET, CODE_LENGTH
from bot.runtime import Runtime, open_runtime
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_fixtures import slack_settings

CODE = re.compile(rf"\b[{ALPHABET}]{{{CODE_LENGTH}}}\b")
SLACK_ANA = "slack:T1:U1"


@dataclass
class Both:
    slack: FakeSlack
    discord: FakeDiscord
    openai: FakeOpenAI
    runtime: Runtime
    ana: FakeUser  # Ana on Discord; on Slack she is U1
    db: Path

    def discord_ana(self) -> str:
        return f"discord:{self.ana.id}"

    def disk(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.db.parent.glob(self.db.name + "*") if p.is_file())


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[Both]:
    async with FakeOpenAI() as openai, FakeSlack() as slack, FakeDiscord() as discord:
        slack.add_user("U1", "Ana")
        slack.add_channel("C1", "general")
        settings = slack_settings(
            tmp_path,
            openai,
            slack,
            discord_token=discord.token,
            discord_api_url=discord.api_url,
            discord_gateway_url=discord.gateway_url,
        )
        async with open_runtime(settings) as runtime:
            on_slack = SlackAdapter(runtime.service, settings)
            on_discord = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
            await on_slack.start()
            await on_discord.start()
            try:
                ana = discord.make_user("ana", global_name="Ana")
                yield Both(slack, discord, openai, runtime, ana, tmp_path / "bot.db")
            finally:
                await on_discord.stop()
                await on_slack.stop()


async def slack_dm(both: Both, text: str) -> None:
    before = len(both.slack.messages_in("D1"))
    await both.slack.send_message("D1", text, user="U1")
    await both.slack.wait_for_messages(channel="D1", count=before + 1)


async def discord_dm(both: Both, text: str) -> str:
    channel = both.discord.dm_channel_id(both.ana)
    before = len([m for m in both.discord.messages if m.channel_id == channel])
    await both.discord.push_dm(both.ana, text)
    replies = await both.discord.wait_for_messages(channel, before + 1)
    return replies[-1].content


async def discord_command(both: Both, name: str, **options: str) -> str:
    interaction = await both.discord.push_slash_command(both.ana, name, options or None, in_guild=False)
    _, answer = await both.discord.wait_for_interaction_responses(interaction, 2)
    assert answer.ephemeral
    return answer.content or ""


async def link_from_slack(both: Both) -> str:
    response_id = await both.slack.send_slash_command("/link", user="U1")
    [issued] = await both.slack.wait_for_responses(response_id)
    [code] = set(CODE.findall(issued.text))
    return await discord_command(both, "link", code=code)


def last_prompt_for(openai: FakeOpenAI, text: str) -> str:
    for body, system in zip(reversed(openai.requests), reversed(openai.system_prompts()), strict=True):
        if any(text in str(m.get("content")) for m in body["messages"] if m.get("role") == "user"):
            return system
    raise AssertionError(f"no chat request carried {text!r}")


async def test_a_fact_told_on_slack_is_recalled_on_discord_after_linking(both: Both) -> None:
    await slack_dm(both, "I live in Lisbon")
    await discord_dm(both, "where do I live, before linking?")
    assert "Lisbon" not in last_prompt_for(both.openai, "before linking")  # two people so far

    linked = await link_from_slack(both)
    assert "Linked" in linked and "Slack" in linked and "Ana" in linked

    reply = await discord_dm(both, "where do I live now?")
    assert "Lisbon" in last_prompt_for(both.openai, "where do I live now")
    assert "Lisbon" in reply  # the fake model answers with what it was told
    listing = await discord_command(both, "memories")
    assert "Lisbon" in listing and "Slack DM" in listing  # where it was learned


async def test_forget_on_discord_erases_it_for_slack_and_from_disk(both: Both) -> None:
    await slack_dm(both, "I live in Lisbon")
    await link_from_slack(both)
    interaction = await both.discord.push_slash_command(both.ana, "forget", in_guild=False)
    _, preview = await both.discord.wait_for_interaction_responses(interaction, 2)
    assert "Lisbon" in (preview.content or "")
    click = await both.discord.click_button(both.ana, preview, "Erase them")
    _, done = await both.discord.wait_for_interaction_responses(click, 2)
    assert "erased 1 memory" in (done.content or "")

    assert await both.runtime.memories.list_facts(SLACK_ANA) == []
    response_id = await both.slack.send_slash_command("/memories", user="U1")
    [shown] = await both.slack.wait_for_responses(response_id)
    assert "don't remember anything" in shown.text
    assert b"Lisbon" not in both.disk()  # the fact, its index entry and both DM histories


async def test_unlink_gives_each_platform_back_what_it_taught(both: Both) -> None:
    await slack_dm(both, "I live in Lisbon")
    await link_from_slack(both)
    await discord_dm(both, "I like pepperoni pizza")  # learned on Discord, after linking
    assert {f.text for f in await both.runtime.memories.list_facts(SLACK_ANA)} == {
        "User lives in Lisbon",
        "User likes pepperoni pizza",
    }
    unlinked = await discord_command(both, "unlink")
    assert "Slack" in unlinked
    assert [f.text for f in await both.runtime.memories.list_facts(SLACK_ANA)] == ["User lives in Lisbon"]
    assert [f.text for f in await both.runtime.memories.list_facts(both.discord_ana())] == [
        "User likes pepperoni pizza"
    ]
    await discord_dm(both, "what do I like, after unlinking?")
    prompt = last_prompt_for(both.openai, "after unlinking")
    assert "pepperoni" in prompt and "Lisbon" not in prompt


async def test_a_code_used_on_the_platform_that_issued_it_is_refused(both: Both) -> None:
    response_id = await both.slack.send_slash_command("/link", user="U1")
    [issued] = await both.slack.wait_for_responses(response_id)
    [code] = set(CODE.findall(issued.text))
    response_id = await both.slack.send_slash_command("/link", code, user="U1")
    [refused] = await both.slack.wait_for_responses(response_id)
    assert "Linked" not in refused.text and refused.body["response_type"] == "ephemeral"
    assert await both.runtime.memories.identities(SLACK_ANA) == []
    # The code is still good for the other platform.
    assert "Linked" in await discord_command(both, "link", code=code)
