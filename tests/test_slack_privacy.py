"""Privacy scopes and /link on Slack: the real slack-bolt / slack-sdk against the fake Slack,
the real core against the fake model (whose requests show what reached the prompt)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from bot.commands import FACT_PRIVATE, FACT_SHARE
from bot.commands.wording import NOT_YOUR_MEMORY
from bot.linking import ALPHABET, CODE_LENGTH
from bot.memory import Provenance
from bot.runtime import Runtime
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_fixtures import *  # noqa: F403  (the Slack fixtures)
from tests.test_slack_adapter import answer

ANA = "slack:T1:U1"
DM = Provenance(platform="slack", thread_id="slack:T1:D1", is_direct=True)
CODE = re.compile(rf"\b[{ALPHABET}]{{{CODE_LENGTH}}}\b")


@pytest.fixture
def slack_overrides() -> dict[str, Any]:
    return {"memory_dm_visibility": "private"}


async def memories_blocks(slack: FakeSlack, user: str = "U1") -> list[dict[str, Any]]:
    response_id = await slack.send_slash_command("/memories", user=user)
    [shown] = await slack.wait_for_responses(response_id)
    assert shown.body["response_type"] == "ephemeral"
    return shown.blocks


def prompt_with(openai: FakeOpenAI, text: str) -> str:
    """The system prompt of the last chat request whose user message contains `text`."""
    for body, system in zip(reversed(openai.requests), reversed(openai.system_prompts()), strict=True):
        if any(text in str(m.get("content")) for m in body["messages"] if m.get("role") == "user"):
            return system
    raise AssertionError(f"no request carried {text!r}")


async def test_a_dm_fact_stays_out_of_a_channel_prompt_and_reaches_a_later_dm(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI, runtime: Runtime
) -> None:
    await slack.send_message("D1", "I live in Lisbon", user="U1")
    await slack.wait_for_messages(channel="D1")  # the turn that saved it is over
    [fact] = await runtime.memories.list_facts(ANA)
    assert "Lisbon" in fact.text and fact.visibility == "private"  # MEMORY_DM_VISIBILITY=private

    await answer(slack, "C1", "<@UBOT> where should we meet?")
    assert "Lisbon" not in prompt_with(openai, "where should we meet")
    await slack.send_message("D1", "what do you know about where I live?", user="U1")
    await slack.wait_for_messages(channel="D1", count=2)
    assert "Lisbon" in prompt_with(openai, "where I live")


async def test_the_memories_button_makes_a_fact_shared_and_it_reaches_the_channel(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User lives in Lisbon", "location", DM)
    [fact] = await runtime.memories.list_facts(ANA)
    assert fact.visibility == "private"
    blocks = await memories_blocks(slack)
    section = next(b for b in blocks if "Lisbon" in b.get("text", {}).get("text", ""))
    assert "private" in section["text"]["text"] and section["accessory"]["action_id"] == FACT_SHARE

    response_id = await slack.click(blocks, FACT_SHARE, user="U1")
    [replaced] = await slack.wait_for_responses(response_id)
    assert replaced.body.get("replace_original") is True
    assert any(
        b.get("accessory", {}).get("action_id") == FACT_PRIVATE for b in replaced.blocks
    )  # now it offers the way back
    [fact] = await runtime.memories.list_facts(ANA)
    assert fact.visibility == "shared"
    await answer(slack, "C1", "<@UBOT> where should we meet?")
    assert "Lisbon" in prompt_with(openai, "where should we meet")


async def test_someone_else_cannot_press_my_visibility_button(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User lives in Lisbon", "location", DM)
    blocks = await memories_blocks(slack)
    response_id = await slack.click(blocks, FACT_SHARE, user="U2")
    [refused] = await slack.wait_for_responses(response_id)
    assert refused.text == NOT_YOUR_MEMORY  # privately, to Bruno
    assert refused.body.get("replace_original") is not True
    [fact] = await runtime.memories.list_facts(ANA)
    assert fact.visibility == "private"


async def test_a_long_listing_has_a_button_per_fact_then_falls_back_to_packed_lines(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    for index in range(60):
        await runtime.memories.save(ANA, f"User knows fact number {index}", "misc", DM)
    response_id = await slack.send_slash_command("/memories", user="U1")
    await slack.wait_for_responses(response_id, count=2)
    messages = [r for r in slack.responses if r.id == response_id]
    buttons = [b["accessory"] for m in messages for b in m.blocks if "accessory" in b]
    assert len(buttons) == 60 and all(len(m.blocks) <= 50 for m in messages)
    for index in range(60, 400):  # more than 5 messages of 50 blocks could give a block each
        await runtime.memories.save(ANA, f"User knows fact number {index}", "misc", DM)
    response_id = await slack.send_slash_command("/memories", user="U1")
    await slack.wait_for_responses(response_id)
    await slack.wait_until(
        lambda: True if len([r for r in slack.responses if r.id == response_id]) >= 2 else None
    )
    messages = [r for r in slack.responses if r.id == response_id]
    shown = "\n".join(b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section")
    assert all(f"fact number {index}" in shown for index in range(400))
    assert len(messages) <= 5


async def test_link_shows_a_one_time_code_privately_and_unlink_says_nothing_to_do(
    bot: SlackAdapter, slack: FakeSlack
) -> None:
    response_id = await slack.send_slash_command("/link", user="U1")
    [issued] = await slack.wait_for_responses(response_id)
    assert issued.body["response_type"] == "ephemeral"
    assert CODE.search(issued.text) is not None
    response_id = await slack.send_slash_command("/unlink", user="U1")
    [nothing] = await slack.wait_for_responses(response_id)
    assert "nothing to unlink" in nothing.text


async def test_a_wrong_code_is_refused_privately_and_links_nothing(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    response_id = await slack.send_slash_command("/link", "ABCDEFGH", user="U1")
    [refused] = await slack.wait_for_responses(response_id)
    assert refused.body["response_type"] == "ephemeral" and "don't know that code" in refused.text
    assert await runtime.memories.identities(ANA) == []


async def test_link_with_a_discord_code_joins_the_accounts(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save("discord:42", "User has a dog called Rex", "pets", DM)
    issued = await runtime.service.commands.link("discord:42", "ana#42")
    [code] = set(CODE.findall(issued.text))
    response_id = await slack.send_slash_command("/link", code, user="U1")
    [linked] = await slack.wait_for_responses(response_id)
    assert "Linked" in linked.text and "ana#42" in linked.text
    assert [fact.text for fact in await runtime.memories.list_facts(ANA)] == ["User has a dog called Rex"]
