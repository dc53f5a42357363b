"""Drive `python -m bot` (the real Slack and Discord adapters) through the test suite's fake platforms.

Each harness sends one DM as a person and waits until the bot's final reply is posted at
the fake, so a turn is timed from "event pushed" to "reply observed", as a person sees it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from bench.processes import Child, bot_process
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.fakes.slack_server import FakeSlack


class DmDriver(Protocol):
    """Sends a DM as person `person` and returns the seconds until the reply was posted."""

    async def dm(self, person: int, text: str) -> float: ...


class SlackDriver:
    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack

    def prepare(self, people: int) -> None:
        for person in range(people):
            self.slack.add_user(f"U{person}", f"Person {person}")
            self.slack.add_channel(f"D{person}", f"dm-{person}", is_im=True)

    async def dm(self, person: int, text: str) -> float:
        channel = f"D{person}"
        before = len([m for m in self.slack.messages_in(channel) if "thinking" not in m.text])
        event = self.slack.message_event(channel, text, user=f"U{person}")
        started = time.perf_counter()
        await self.slack.send_event(event, wait_ack=False)
        await self.slack.wait_for_messages(channel=channel, count=before + 1, timeout=120)
        return time.perf_counter() - started

    def forget_history(self) -> None:
        """Drop what the fake recorded, so its lookups stay fast over thousands of turns."""
        self.slack.posted.clear()
        self.slack.envelopes.clear()
        self.slack.calls.clear()


class DiscordDriver:
    def __init__(self, discord: FakeDiscord) -> None:
        self.discord = discord
        self.people: list[FakeUser] = []

    def prepare(self, people: int) -> None:
        self.people = [self.discord.make_user(f"user{i}", global_name=f"Person {i}") for i in range(people)]

    async def dm(self, person: int, text: str) -> float:
        user = self.people[person]
        channel = self.discord.dm_channel_id(user)
        before = len([m for m in self.discord.messages if m.channel_id == channel])
        started = time.perf_counter()
        await self.discord.push_dm(user, text)
        await self.discord.wait_for_messages(channel, before + 1, timeout=120)
        return time.perf_counter() - started


def _bot_env(
    model_url: str, database_url: str, workers: int, platform: dict[str, str], *, streaming: bool = False
) -> dict[str, str]:
    """`streaming` False (figures 1, 2, 6): a turn's cost from message to the whole answer, as
    the seed delivers it; streamed delivery is figure 9's."""
    return {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": model_url,
        "MODEL_MAX_RETRIES": "0",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        "BOT_WORKERS": str(workers),
        "BOT_STREAMING": "true" if streaming else "false",
        **platform,
    }


@asynccontextmanager
async def slack_bot_process(
    model_url: str, database_url: str, people: int, cwd: Path, *, workers: int = 1
) -> AsyncIterator[tuple[SlackDriver, Child]]:
    """`python -m bot` in its own process, in Socket Mode against a fake Slack in this one."""
    async with FakeSlack() as slack:
        driver = SlackDriver(slack)
        driver.prepare(people)
        platform = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "SLACK_API_URL": slack.api_url,
        }
        async with bot_process(_bot_env(model_url, database_url, workers, platform), cwd) as child:
            await slack.wait_connected()
            yield driver, child


@asynccontextmanager
async def discord_bot_process(
    model_url: str, database_url: str, people: int, cwd: Path, *, workers: int = 1, streaming: bool = False
) -> AsyncIterator[tuple[DiscordDriver, Child]]:
    """`python -m bot` in its own process, on the gateway of a fake Discord in this one."""
    async with FakeDiscord() as discord:
        driver = DiscordDriver(discord)
        driver.prepare(people)
        platform = {
            "DISCORD_TOKEN": discord.token,
            "DISCORD_API_URL": discord.api_url,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
        }
        env = _bot_env(model_url, database_url, workers, platform, streaming=streaming)
        async with bot_process(env, cwd) as child:
            yield driver, child
