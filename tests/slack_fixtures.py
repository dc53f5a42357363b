"""Fixtures for the Slack end-to-end tests: the fake model, the fake Slack, the real core and the
real adapter connected to them over Socket Mode. A module takes them with
`from tests.slack_fixtures import *` (they override conftest's database-parametrised `runtime`);
one that wants other settings overrides `slack_overrides`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from bot.runtime import Runtime, open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack

__all__ = ["bot", "openai", "runtime", "slack", "slack_overrides", "slack_settings"]


def slack_settings(tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": "sk-test",
        "openai_base_url": openai.base_url,
        "database_url": f"sqlite:///{tmp_path}/bot.db",
        "slack_bot_token": slack.bot_token,
        "slack_app_token": slack.app_token,
        "slack_api_url": slack.api_url,
        "model_max_retries": 0,
        # One-shot delivery (placeholder, then chat.update) unless a module asks for streaming
        # (test_slack_streaming.py overrides `slack_overrides`).
        "bot_streaming": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def slack_overrides() -> dict[str, Any]:
    """Settings a test module changes for its `runtime` (default: none)."""
    return {}


@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U1", "Ana")
        fake.add_user("U2", "Bruno", display_name="")  # falls back to the real name
        fake.add_channel("C1", "general")
        fake.add_channel("C2", "random")
        yield fake


@pytest.fixture
async def runtime(
    tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack, slack_overrides: dict[str, Any]
) -> AsyncIterator[Runtime]:
    async with open_runtime(slack_settings(tmp_path, openai, slack, **slack_overrides)) as opened:
        yield opened


@pytest.fixture
async def bot(runtime: Runtime) -> AsyncIterator[SlackAdapter]:
    """The adapter in Socket Mode, connected to the fake Slack."""
    adapter = SlackAdapter(runtime.service, runtime.settings)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()
