"""A model call fails once (500, 429, hang past the timeout, refused connection), then recovers.

Through the real Slack and Discord clients: the person sees exactly one apology, nothing
else, and their next message is answered normally.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.slack import SlackAdapter
from bot.graph import APOLOGY
from bot.runtime import open_runtime
from tests.fakes.openai_server import Fail, FakeOpenAI, Hang
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack
from tests.reliability.conftest import MODEL_TIMEOUT, DiscordWorld, SlackWorld, Tally, quiet
from tests.slack_fixtures import slack_settings

REFUSED = "refused"
FAULTS = {
    "http-500": Fail(500),
    "http-429-retry-after": Fail(429, retry_after=2),
    "hang-past-timeout": Hang(MODEL_TIMEOUT * 3),
    "connection-refused": REFUSED,
}


async def inject(openai: FakeOpenAI, fault: object) -> None:
    if fault == REFUSED:
        await openai.stop()  # nothing listens on the port any more
    else:
        openai.script(fault)  # type: ignore[arg-type]


async def recover(openai: FakeOpenAI, fault: object) -> None:
    if fault == REFUSED:
        await openai.start()  # same port again


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_slack_person_sees_one_apology_then_an_answer(
    slack_world: SlackWorld, fault: object, tally: Tally
) -> None:
    slack, openai = slack_world.slack, slack_world.openai
    await inject(openai, fault)
    tally.faults_injected += 1
    await slack.send_message("D1", "hello?", user="U1")
    [apology] = await slack.wait_for_messages(channel="D1")
    await recover(openai, fault)

    await slack.send_message("D1", "are you back?", user="U1")
    await slack.wait_for_messages(channel="D1", count=2)
    await quiet()

    texts = [message.text for message in slack.messages_in("D1")]
    tally.turns_run += 2
    tally.replies_lost += max(0, 2 - len(texts))
    tally.duplicates += max(0, len(texts) - 2)
    assert apology.text == APOLOGY
    assert texts == [APOLOGY, texts[1]] and texts[1].startswith("You said: are you back?")
    assert PLACEHOLDER not in texts


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_discord_person_sees_one_apology_then_an_answer(
    discord_world: DiscordWorld, fault: object, tally: Tally
) -> None:
    discord, openai, ana = discord_world.discord, discord_world.openai, discord_world.ana
    channel = discord.dm_channel_id(ana)
    await inject(openai, fault)
    tally.faults_injected += 1
    await discord.push_dm(ana, "hello?")
    [apology] = await discord.wait_for_messages(channel, 1)
    await recover(openai, fault)

    await discord.push_dm(ana, "are you back?")
    await discord.wait_for_messages(channel, 2)
    await quiet()

    texts = [m.content for m in discord.messages if m.channel_id == channel]
    tally.turns_run += 2
    tally.replies_lost += max(0, 2 - len(texts))
    tally.duplicates += max(0, len(texts) - 2)
    assert apology.content == APOLOGY
    assert len(texts) == 2 and texts[1].startswith("You said: are you back?")


async def test_a_429_retried_by_the_client_shows_no_apology_at_all(
    tmp_path: Path, fake_model: FakeOpenAI, tally: Tally
) -> None:
    # With retries on (the production default), a short Retry-After is absorbed invisibly.
    async with FakeSlack() as slack:
        settings = slack_settings(tmp_path, fake_model, slack, model_max_retries=2)
        async with open_runtime(settings) as runtime:
            adapter = SlackAdapter(runtime.service, settings)
            await adapter.start()
            try:
                fake_model.script(Fail(429, retry_after=0.1))
                tally.faults_injected += 1
                await slack.send_message("D1", "hi there", user="U1")
                [reply] = await slack.wait_for_messages(channel="D1")
                await quiet()
            finally:
                await adapter.stop()
    tally.turns_run += 1
    assert reply.text.startswith("You said: hi there")
    assert len(slack.messages_in("D1")) == 1
    assert len(fake_model.requests) == 2  # the 429, then the retry
