"""Security: forged or replayed Slack requests do nothing, secrets never reach logs or people,
and model output (or a stored fact) never pings a room."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack import SlackAdapter
from bot.commands import FORGET_CONFIRM
from bot.runtime import Runtime, open_runtime
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import Fail, FakeOpenAI, Text
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack
from tests.reliability.conftest import DiscordWorld, SlackWorld, Tally, eventually, quiet
from tests.slack_fixtures import slack_settings
from tests.test_cli import bot_env
from tests.test_slack_adapter import free_port

# ---------------------------------------------------------------- Slack HTTP mode signatures


class HttpSlack:
    def __init__(self, slack: FakeSlack, runtime: Runtime, url: str) -> None:
        self.slack, self.runtime, self.url = slack, runtime, url

    async def post(self, raw: str, headers: dict[str, str], *, form: bool) -> int:
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=raw, headers={"Content-Type": kind, **headers}) as response,
        ):
            return response.status


@pytest.fixture
async def http_slack(tmp_path: Path, fake_model: FakeOpenAI) -> AsyncIterator[HttpSlack]:
    async with FakeSlack() as slack:
        port = free_port()
        settings = slack_settings(
            tmp_path,
            fake_model,
            slack,
            slack_app_token=None,
            slack_signing_secret=slack.signing_secret,
            port=port,
        )
        async with open_runtime(settings) as runtime:
            adapter = SlackAdapter(runtime.service, settings)
            await adapter.start()
            try:
                yield HttpSlack(slack, runtime, f"http://127.0.0.1:{port}/slack/events")
            finally:
                await adapter.stop()


def bad_headers(slack: FakeSlack, raw: str) -> dict[str, dict[str, str]]:
    """Every way a request can fail Slack's signature check."""
    now = int(time.time())
    good = slack.sign(raw, now)
    return {
        "forged": slack.sign(raw, now, secret="not-the-secret"),
        "no-headers": {},
        "no-signature": {"X-Slack-Request-Timestamp": str(now)},
        "no-timestamp": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "replayed-6-minutes-late": slack.sign(raw, now - 360),
        "from-the-future": slack.sign(raw, now + 360),
        "signed-other-body": slack.sign(raw + " ", now),
        "wrong-version": {**good, "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1=")},
    }


async def test_unsigned_forged_or_replayed_requests_are_401_with_no_side_effect(
    http_slack: HttpSlack, fake_model: FakeOpenAI, tally: Tally
) -> None:
    slack, memories = http_slack.slack, http_slack.runtime.memories
    # Ana has a memory an attacker would like to erase or read.
    event = slack.event_callback(slack.message_event("D1", "I like pepperoni pizza", user="U1"))
    status = await http_slack.post(json.dumps(event), slack.sign(json.dumps(event)), form=False)
    assert status == 200
    await eventually(lambda: bool(slack.posted) and slack.posted[0].text != PLACEHOLDER, what="the reply")
    [fact] = await memories.list_facts("slack:T1:U1")
    requests_before, posted_before = len(fake_model.requests), len(slack.posted)

    # Exactly what our own Erase button carries: from a real /forget preview for Ana.
    preview = await http_slack.runtime.service.commands.forget("slack:T1:U1")
    [confirm] = [button for button in preview.buttons if button.action == FORGET_CONFIRM]
    attacks: dict[str, tuple[str, bool]] = {
        "event": (json.dumps(slack.event_callback(slack.message_event("D1", "sneaky", user="U1"))), False),
        "/memories": (urlencode(slack.slash_command_body("/memories", user="U1")), True),
        "/forget": (urlencode(slack.slash_command_body("/forget", user="U1")), True),
        "confirm-forget": (
            urlencode(
                {
                    "payload": json.dumps(
                        slack.block_actions_body(
                            {"action_id": confirm.action, "value": confirm.value}, user="U1"
                        )
                    )
                }
            ),
            True,
        ),
    }
    for name, (raw, form) in attacks.items():
        for how, headers in bad_headers(slack, raw).items():
            status = await http_slack.post(raw, headers, form=form)
            tally.inputs_tried += 1
            assert status == 401, (name, how)
    await quiet()

    assert await memories.list_facts("slack:T1:U1") == [fact]
    assert len(fake_model.requests) == requests_before
    assert len(slack.posted) == posted_before
    assert slack.responses == []  # nothing reached any response_url
    # The same confirm, properly signed, does work: the rejections were about the signature.
    raw = attacks["confirm-forget"][0]
    assert await http_slack.post(raw, slack.sign(raw), form=True) == 200
    await eventually(lambda: bool(slack.responses), what="the confirm response")
    assert await memories.list_facts("slack:T1:U1") == []


# ---------------------------------------------------------------- secrets


SECRETS = {
    "OPENAI_API_KEY": "sk-live-SECRET-openai-0123456789",
    "SLACK_BOT_TOKEN": "xoxb-SECRET-bot-0123456789",
    "SLACK_APP_TOKEN": "xapp-SECRET-app-0123456789",
    "SLACK_SIGNING_SECRET": "SECRET-signing-0123456789",
    "DISCORD_TOKEN": "SECRET-discord-0123456789",
}


def leaked(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text or value[-12:] in text]


async def test_secrets_never_reach_logs_replies_or_errors_in_a_full_run(
    tmp_path: Path, fake_model: FakeOpenAI, tally: Tally
) -> None:
    """`python -m bot run` on Slack and Discord at DEBUG, with a model error quoting every secret."""
    async with (
        FakeSlack(bot_token=SECRETS["SLACK_BOT_TOKEN"], app_token=SECRETS["SLACK_APP_TOKEN"]) as slack,
        FakeDiscord(token=SECRETS["DISCORD_TOKEN"]) as discord,
    ):
        env = bot_env(
            tmp_path,
            **SECRETS,
            OPENAI_BASE_URL=fake_model.base_url,
            MODEL_MAX_RETRIES="0",
            LOG_LEVEL="DEBUG",
            SLACK_API_URL=slack.api_url,
            DISCORD_API_URL=discord.api_url,
            DISCORD_GATEWAY_URL=discord.gateway_url,
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await slack.wait_connected(timeout=60)
            await discord.wait_for_identify(timeout=60)
            quoted = f"Incorrect API key provided: {' '.join(SECRETS.values())}"
            fake_model.script(Fail(401, message=quoted), Fail(500, message=quoted))
            tally.faults_injected += 2
            ana = discord.make_user("ana", global_name="Ana")
            await slack.send_message("D1", "hello", user="U1")
            await slack.wait_for_messages(channel="D1")
            await discord.push_dm(ana, "hello")
            await discord.wait_for_messages(discord.dm_channel_id(ana), 1)
            await slack.send_message("D1", "hello again", user="U1")
            await discord.push_dm(ana, "hello again")
            await slack.wait_for_messages(channel="D1", count=2)
            await discord.wait_for_messages(discord.dm_channel_id(ana), 2)
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), 60)
        tally.turns_run += 4

    logs = out.decode() + err.decode()
    shown = [m.text for m in slack.posted] + [m.content for m in discord.messages]
    assert "DEBUG" in logs and "model call failed" in logs  # the logs really were verbose
    assert fake_model.auth_headers[0] == f"Bearer {SECRETS['OPENAI_API_KEY']}"  # and the key was used
    assert leaked(logs) == []
    assert leaked("\n".join(shown)) == []
    assert sum("Sorry" in text for text in shown) == 2
    assert "Traceback" not in logs


async def test_raw_log_records_at_debug_hold_no_secret(
    slack_world: SlackWorld, discord_world: DiscordWorld, caplog: pytest.LogCaptureFixture, tally: Tally
) -> None:
    """Even before the redaction filter: no library or module logs a token at DEBUG here."""
    secrets = [
        slack_world.slack.bot_token,
        slack_world.slack.app_token,
        discord_world.discord.token,
        "sk-test",
    ]
    caplog.set_level(logging.DEBUG)
    slack_world.openai.script(Fail(401, message="Incorrect API key provided: sk-tes*"))
    tally.faults_injected += 1
    await slack_world.slack.send_message("D1", "hello", user="U1")
    await slack_world.slack.wait_for_messages(channel="D1")
    await discord_world.discord.push_dm(discord_world.ana, "hello")
    await discord_world.discord.wait_for_messages(discord_world.discord.dm_channel_id(discord_world.ana), 1)
    tally.turns_run += 2
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records
    assert [secret for secret in secrets if secret in text] == []


# ---------------------------------------------------------------- pings

PINGS = [
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "<!subteam^S123|devs>",
    "<@U2>",
    "<@U2|bruno>",
    "@channel @here @everyone",
    "<<!channel>>",
    "```<!channel>```",
    "`<!here>`",
    "[click](<!channel>)",
    "&lt;!channel&gt; <!chan\u200bnel>",
]
SLACK_PING = re.compile(r"<[!@]|(?<!\u200b)@(channel|here|everyone)\b", re.IGNORECASE)


async def test_model_output_and_stored_facts_never_ping_on_slack(
    slack_world: SlackWorld, tally: Tally
) -> None:
    slack, openai = slack_world.slack, slack_world.openai
    openai.script(*(Text(f"Sure! {ping} done") for ping in PINGS))
    for index in range(len(PINGS)):
        await slack.send_message("D1", f"say it {index}", user="U1")
        await slack.wait_for_messages(channel="D1", count=index + 1)
        tally.inputs_tried += 1
    # A person can make the bot remember a ping; listing it must not fire it either.
    await slack.send_message("D1", "remember that <!channel> and @everyone are my friends", user="U1")
    await slack.wait_for_messages(channel="D1", count=len(PINGS) + 1)
    listing = await slack.wait_for_responses(await slack.send_slash_command("/memories", user="U1"))
    tally.inputs_tried += 1

    shown = [m.text for m in slack.posted] + [json.dumps(r.body) for r in listing]
    assert [text for text in shown if SLACK_PING.search(text.replace("\\u200b", "\u200b"))] == []


async def test_nothing_the_bot_sends_on_discord_may_ping(discord_world: DiscordWorld, tally: Tally) -> None:
    discord, openai, ana = discord_world.discord, discord_world.openai, discord_world.ana
    openai.script(Text("@everyone @here <@&42> <@7> " + "long " * 600))  # several chunks
    await discord.push_dm(ana, "shout")
    await discord.push_dm(ana, "remember that @everyone and <@&42> are my friends")
    listing = await discord.push_slash_command(ana, "memories")
    tally.inputs_tried += 3
    await discord.wait_for_interaction_responses(listing, 2)
    await discord.wait_for_messages(discord.dm_channel_id(ana), 3)
    await quiet()

    assert all(m.allowed_mentions == {"parse": []} for m in discord.messages)
    for response in discord.interaction_responses:
        if response.content and "@everyone" in response.content:
            assert response.payload.get("allowed_mentions") == {"parse": []}, response.payload


async def test_a_garbage_timestamp_is_a_401_too(
    http_slack: HttpSlack, fake_model: FakeOpenAI, tally: Tally
) -> None:
    slack = http_slack.slack
    raw = urlencode(slack.slash_command_body("/memories", user="U1"))
    headers = {**slack.sign(raw), "X-Slack-Request-Timestamp": "soon"}
    status = await http_slack.post(raw, headers, form=True)
    tally.inputs_tried += 1
    await quiet()
    assert slack.responses == [] and fake_model.requests == []  # no side effect either way
    assert status == 401
