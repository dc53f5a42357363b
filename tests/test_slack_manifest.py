"""The Slack manifest asks for what the code uses, and every slash command it declares is
answered by the running bot (the real slack-bolt against the fake Slack)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack import SlackAdapter
from bot.commands.core import UNKNOWN_COMMAND
from bot.runtime import open_runtime
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_fixtures import slack_settings

MANIFEST = Path(__file__).resolve().parents[1] / "slack-manifest.yaml"


def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_the_ai_app_features_and_their_scopes_are_enabled() -> None:
    loaded = manifest()
    features, settings = loaded["features"], loaded["settings"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["assistant_view"]["assistant_description"]
    scopes = set(loaded["oauth_config"]["scopes"]["bot"])
    assert {"assistant:write", "chat:write", "commands", "im:history", "users:read"} <= scopes
    events = set(settings["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "assistant_thread_started", "app_mention", "message.im"} <= events
    assert settings["interactivity"]["is_enabled"] is True


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[FakeSlack]:
    async with FakeOpenAI() as openai, FakeSlack() as slack:
        slack.add_user("U1", "Ana")
        slack.add_channel("C1", "general")
        settings = slack_settings(tmp_path, openai, slack)
        async with open_runtime(settings) as runtime:
            adapter = SlackAdapter(runtime.service, settings)
            await adapter.start()
            try:
                yield slack
            finally:
                await adapter.stop()


async def test_every_declared_slash_command_gets_a_private_answer(bot: FakeSlack) -> None:
    commands = [entry["command"] for entry in manifest()["features"]["slash_commands"]]
    assert {"/memories", "/forget"} <= set(commands)
    for command in commands:
        response_id = await bot.send_slash_command(command, user="U1")
        [answer] = await bot.wait_for_responses(response_id)
        assert answer.body["response_type"] == "ephemeral", command
        assert answer.text and UNKNOWN_COMMAND not in answer.text, command
