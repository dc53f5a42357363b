"""Shared pieces of the reliability suite: the figures counter, platform worlds, small waits.

Every test records what it did into the session `tally` (faults injected, inputs tried,
interleavings and turns run, and what went wrong: replies lost, duplicates, cross-talk);
`pytest -q tests/reliability` prints the table at the end of the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from bot.runtime import Runtime, open_runtime
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_fixtures import slack_settings
from tests.test_discord_adapter import discord_settings

# Short enough that a hung model call fails fast, long enough for a noisy 2-core machine.
MODEL_TIMEOUT = 1.0


@dataclass
class Tally:
    """The suite's figures; tests add to them as they go (before asserting)."""

    faults_injected: int = 0
    inputs_tried: int = 0
    interleavings_run: int = 0
    turns_run: int = 0
    replies_lost: int = 0
    duplicates: int = 0
    cross_talk: int = 0

    def rows(self) -> list[tuple[str, int]]:
        return [(field.name.replace("_", " "), getattr(self, field.name)) for field in fields(self)]

    def any(self) -> bool:
        return any(value for _, value in self.rows())


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


def summary_table(tally: Tally) -> str:
    width = max(len(name) for name, _ in tally.rows())
    lines = [f"{'figure':<{width}}  {'count':>7}", f"{'-' * width}  {'-' * 7}"]
    lines += [f"{name:<{width}}  {value:>7,}" for name, value in tally.rows()]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.any():
        terminalreporter.write_sep("=", "reliability figures")
        terminalreporter.write_line(summary_table(TALLY))


# ---------------------------------------------------------------- waiting without timing


async def eventually(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `condition` until true; fail (not hang) after `timeout` seconds."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def quiet() -> None:
    """Give a wrong extra reply the chance to show up before asserting there is none."""
    await asyncio.sleep(0.3)


# ---------------------------------------------------------------- platform worlds


@dataclass
class SlackWorld:
    slack: FakeSlack
    openai: FakeOpenAI
    runtime: Runtime
    adapter: SlackAdapter


@dataclass
class DiscordWorld:
    discord: FakeDiscord
    openai: FakeOpenAI
    runtime: Runtime
    adapter: DiscordAdapter
    ana: FakeUser
    bo: FakeUser


@pytest.fixture
async def slack_world(tmp_path: Path, fake_model: FakeOpenAI) -> AsyncIterator[SlackWorld]:
    """The Slack adapter in Socket Mode on the fake Slack, the real core on SQLite."""
    async with FakeSlack() as slack:
        for user, name in (("U1", "Ana"), ("U2", "Bruno"), ("U3", "Chen")):
            slack.add_user(user, name)
        slack.add_channel("C1", "general")
        settings = slack_settings(tmp_path, fake_model, slack, model_timeout_seconds=MODEL_TIMEOUT)
        async with open_runtime(settings) as runtime:
            adapter = SlackAdapter(runtime.service, settings)
            await adapter.start()
            try:
                yield SlackWorld(slack, fake_model, runtime, adapter)
            finally:
                await adapter.stop()


@pytest.fixture
async def discord_world(tmp_path: Path, fake_model: FakeOpenAI) -> AsyncIterator[DiscordWorld]:
    """The Discord adapter on the fake gateway and REST API, the real core on SQLite."""
    async with FakeDiscord() as discord:
        settings = discord_settings(tmp_path, fake_model, discord, model_timeout_seconds=MODEL_TIMEOUT)
        async with open_runtime(settings) as runtime:
            adapter = DiscordAdapter(runtime.service, settings, guild_ready_timeout=0.05)
            await adapter.start()
            try:
                ana = discord.make_user("ana", global_name="Ana")
                bo = discord.make_user("bo", global_name="Bo")
                yield DiscordWorld(discord, fake_model, runtime, adapter, ana, bo)
            finally:
                await adapter.stop()


def sqlite_bytes(db: Path) -> bytes:
    """Everything SQLite keeps on disk for `db`: the file, its -wal and -shm."""
    return b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*") if path.is_file())
