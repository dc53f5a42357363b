"""`/link`, `/unlink` and the `/memories` visibility buttons on Discord: the real discord.py
client against the fake Discord and the real core (one platform; the Slack side of a link is
the core called directly, as the Slack adapter would)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import adapters.discord.render as render
import bot.commands.link as link_words
from adapters.discord import DiscordAdapter
from bot.commands.core import NOT_YOUR_MEMORY
from bot.commands.link import UNKNOWN_CODE
from bot.linking import ALPHABET
from bot.memory import Provenance
from bot.runtime import Runtime, open_runtime
from tests.fakes.discord_server import FakeDiscord, FakeUser, InteractionResponse
from tests.fakes.openai_server import FakeOpenAI
from tests.test_discord_adapter import discord_settings, eventually

SLACK_ANA = "slack:T1:U1"
CODE = re.compile(rf"link code is ([{ALPHABET}]{{8}})\b")


@dataclass
class World:
    discord: FakeDiscord
    runtime: Runtime
    ana: FakeUser
    bo: FakeUser

    @property
    def ana_key(self) -> str:
        return f"discord:{self.ana.id}"

    async def command(
        self, user: FakeUser, name: str, options: dict[str, str] | None = None, *, count: int = 2
    ) -> list[InteractionResponse]:
        interaction = await self.discord.push_slash_command(user, name, options)
        return await self.discord.wait_for_interaction_responses(interaction, count)

    async def save(self, user_id: str, text: str, platform: str = "discord") -> None:
        dm = Provenance(platform=platform, thread_id=f"{platform}:dm:{user_id}", is_direct=True)
        await self.runtime.memories.save(user_id, text, "misc", dm)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeDiscord() as discord, FakeOpenAI() as openai:
        settings = discord_settings(tmp_path, openai, discord)
        async with open_runtime(settings) as runtime:
            adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
            await adapter.start()
            try:
                ana = discord.make_user("ana", global_name="Ana", nick="Ana (ops)")
                yield World(discord, runtime, ana, discord.make_user("bo", global_name="Bo"))
            finally:
                await adapter.stop()


def buttons_of(response: InteractionResponse) -> list[str]:
    return [item["label"] for row in response.components for item in row["components"] if item["type"] == 2]


async def test_link_shows_a_one_time_code_privately(world: World) -> None:
    deferred, answer = await world.command(world.ana, "link")
    assert deferred.type == 5 and deferred.ephemeral and answer.ephemeral
    match = CODE.search(answer.content or "")
    assert match and len(match.group(1)) == 8 and set(match.group(1)) <= set(ALPHABET)
    assert "Only you can see this message" in (answer.content or "") and answer.components == []


async def test_link_with_a_slack_code_joins_the_accounts_and_unlink_splits_them(world: World) -> None:
    commands = world.runtime.service.commands
    await world.save(world.ana_key, "User likes pepperoni pizza")
    await world.save(SLACK_ANA, "User works on the billing team", platform="slack")
    issued = await commands.link(SLACK_ANA, "Ana")
    match = CODE.search(issued.text)
    assert match

    _, linked = await world.command(world.ana, "link", {"code": match.group(1).lower()})
    assert linked.ephemeral
    assert (linked.content or "").startswith(
        "Linked: this Discord account and your Slack account Ana are now one person to me"
    )
    both = {"User likes pepperoni pizza", "User works on the billing team"}
    for user in (SLACK_ANA, world.ana_key):
        assert {fact.text for fact in await world.runtime.memories.list_facts(user)} == both
    # The Slack side names this account by its Discord display name (the server nickname here).
    again = await commands.link(SLACK_ANA, "Ana")
    assert "already linked with your Discord account Ana (ops)" in again.footer

    _, unlinked = await world.command(world.ana, "unlink")
    assert unlinked.ephemeral
    assert (unlinked.content or "").startswith(
        "Unlinked: this Discord account and your Slack account Ana are separate again"
    )
    discord_facts = await world.runtime.memories.list_facts(world.ana_key)
    slack_facts = await world.runtime.memories.list_facts(SLACK_ANA)
    assert [fact.text for fact in discord_facts] == ["User likes pepperoni pizza"]
    assert [fact.text for fact in slack_facts] == ["User works on the billing team"]

    _, not_linked = await world.command(world.ana, "unlink")
    assert "isn't linked with any other" in (not_linked.content or "")


async def test_a_wrong_code_gets_the_cores_private_reply_and_links_nothing(world: World) -> None:
    await world.runtime.service.commands.link(SLACK_ANA, "Ana")
    _, answer = await world.command(world.ana, "link", {"code": "ABCD2345"})
    assert answer.ephemeral and answer.content == UNKNOWN_CODE
    _, malformed = await world.command(world.ana, "link", {"code": "hello"})
    assert "doesn't look like a link code" in (malformed.content or "")
    _, unlinked = await world.command(world.ana, "unlink")
    assert "isn't linked with any other" in (unlinked.content or "")


async def test_the_code_message_says_when_the_code_expired(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_words, "CODE_TTL", 0.3)  # how long the message shows the code
    _, shown, expired = await world.command(world.ana, "link", count=3)
    assert CODE.search(shown.content or "")
    assert expired.kind == "edit_original" and expired.message is shown.message
    assert expired.content == "This link code has expired. Run /link again for a new one."


async def test_a_visibility_button_makes_the_fact_private_and_refreshes_the_listing(world: World) -> None:
    await world.save(world.ana_key, "User is training for a marathon")
    await world.save(world.ana_key, "User likes pepperoni pizza")
    _, listing = await world.command(world.ana, "memories")
    lines = (listing.content or "").splitlines()
    assert lines[1].startswith("1. User likes pepperoni pizza — learned in a Discord DM")
    assert lines[2].startswith("2. User is training for a marathon — learned in a Discord DM")
    assert buttons_of(listing) == ["1 · Make private", "2 · Make private"]

    click = await world.discord.click_button(world.ana, listing, "2 · Make private")
    ack, refreshed = await world.discord.wait_for_interaction_responses(click, 2)
    assert ack.type == 6
    assert refreshed.kind == "edit_original" and refreshed.message is listing.message
    facts = {fact.text: fact.visibility for fact in await world.runtime.memories.list_facts(world.ana_key)}
    assert facts == {"User likes pepperoni pizza": "shared", "User is training for a marathon": "private"}
    content = refreshed.content or ""
    assert content.startswith("Done: “User is training for a marathon” is now private.")
    marathon = next(line for line in content.splitlines() if "marathon" in line and line[0].isdigit())
    number = marathon.split(".", 1)[0]
    assert f"{number} · Share" in buttons_of(refreshed) and len(buttons_of(refreshed)) == 2

    # The new buttons work too: share it again.
    again = await world.discord.click_button(world.ana, refreshed, f"{number} · Share")
    _, shared = await world.discord.wait_for_interaction_responses(again, 2)
    assert (shared.content or "").startswith("Done: “User is training for a marathon” is now shared.")
    assert {f.visibility for f in await world.runtime.memories.list_facts(world.ana_key)} == {"shared"}


async def test_someone_else_cannot_press_a_visibility_button(world: World) -> None:
    await world.save(world.ana_key, "User likes pepperoni pizza")
    _, listing = await world.command(world.ana, "memories")
    click = await world.discord.click_button(world.bo, listing, "1 · Make private")
    [refusal] = await world.discord.wait_for_interaction_responses(click, 1)
    assert refusal.type == 4 and refusal.ephemeral and refusal.content == NOT_YOUR_MEMORY
    [fact] = await world.runtime.memories.list_facts(world.ana_key)
    assert fact.visibility == "shared"
    assert buttons_of(listing) == ["1 · Make private"]  # the listing is untouched


async def test_unpressed_visibility_buttons_come_off_before_discord_stops_allowing_edits(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render.BUTTONS_TIMEOUT < 15 * 60  # a bot can edit an interaction's reply for 15 minutes
    monkeypatch.setattr(render, "BUTTONS_TIMEOUT", 0.3)
    await world.save(world.ana_key, "User likes pepperoni pizza")
    _, listing, expired = await world.command(world.ana, "memories", count=3)
    assert buttons_of(listing) == ["1 · Make private"]
    assert expired.kind == "edit_original" and expired.components == []
    assert expired.content == listing.content  # the listing stays; only its buttons are gone


async def test_forty_facts_have_at_most_25_buttons_and_all_are_listed(world: World) -> None:
    for index in range(40):
        await world.save(world.ana_key, f"User fact number {index:02d}")
    expected = await world.runtime.service.commands.memories(world.ana_key)
    interaction = await world.discord.push_slash_command(world.ana, "memories")

    def numbered() -> list[str]:
        responses = world.discord.interaction_responses
        texts = [r.content or "" for r in responses if r.interaction_id == interaction]
        return [line for text in texts for line in text.splitlines() if re.match(r"\d+\. ", line)]

    await eventually(lambda: len(numbered()) >= 40)
    _, first, *rest = await world.discord.wait_for_interaction_responses(interaction)
    assert len(rest) >= 1 and all(r.kind == "followup" and r.ephemeral and not r.components for r in rest)
    assert numbered() == [f"{n}. {f.text} — {f.source}" for n, f in enumerate(expected.facts, start=1)]
    labels = buttons_of(first)
    assert len(labels) == 25 and len(first.components) == 5
    assert all(len(row["components"]) <= 5 for row in first.components)
    assert labels == [f"{n} · Make private" for n in range(1, 26)]
    assert all(line.startswith(f"{n}. ") for n, line in enumerate((first.content or "").splitlines()[1:], 1))
    assert len((first.content or "").splitlines()) == 26

    # A press on the 25th replaces the first message with the refreshed listing: 25 buttons again.
    click = await world.discord.click_button(world.ana, first, "25 · Make private")
    _, refreshed = await world.discord.wait_for_interaction_responses(click, 2)
    assert refreshed.message is first.message and len(buttons_of(refreshed)) == 25
    assert "…and 15 more." in (refreshed.content or "") and len(refreshed.content or "") <= 2000
    assert sum(f.visibility == "private" for f in await world.runtime.memories.list_facts(world.ana_key)) == 1
