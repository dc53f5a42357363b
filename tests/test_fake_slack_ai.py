"""The fake Slack's AI-app methods behave like Slack's, through the real slack_sdk client."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_server import FakeSlack


async def test_a_stream_grows_one_message_and_needs_its_recipient_in_channels() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        with pytest.raises(SlackApiError, match="invalid_arguments"):
            await (await client.chat_stream(channel="C1", thread_ts="1.1", buffer_size=1)).append(
                markdown_text="hi"
            )
        stream = await client.chat_stream(
            channel="C1", thread_ts="1.1", recipient_team_id="T1", recipient_user_id="U1", buffer_size=4
        )
        await stream.append(markdown_text="Hel")  # buffered by the SDK
        await stream.append(markdown_text="lo, ")
        await stream.append(markdown_text="world")
        await stream.stop(markdown_text="!")
        [message] = slack.messages_in("C1", "1.1")
        assert message.text == "Hello, world!" and not message.streaming
        with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
            await client.chat_appendStream(channel="C1", ts=message.ts, markdown_text="more")
        dm = await client.chat_stream(channel="D1", thread_ts="2.2", buffer_size=1)
        await dm.append(markdown_text="no recipient needed in a DM")
        await dm.stop()
        assert slack.messages_in("D1", "2.2")[0].text == "no recipient needed in a DM"


async def test_refusals_status_prompts_and_home_views() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        slack.refuse_streaming("missing_scope")
        with pytest.raises(SlackApiError, match="missing_scope"):
            await client.chat_startStream(channel="D1", thread_ts="1.1", markdown_text="x")
        await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="is thinking…")
        assert slack.statuses[-1]["status"] == "is thinking…"
        slack.refuse_status()
        with pytest.raises(SlackApiError, match="missing_scope"):
            await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="x")
        await client.assistant_threads_setSuggestedPrompts(
            channel_id="D1", thread_ts="1.1", prompts=[{"title": "Hi", "message": "Hello"}]
        )
        assert slack.suggested_prompts[-1]["prompts"] == [{"title": "Hi", "message": "Hello"}]
        button = {
            "type": "button",
            "action_id": "a",
            "value": "v",
            "text": {"type": "plain_text", "text": "A"},
        }
        view = {
            "type": "home",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": button}],
        }
        await client.views_publish(user_id="U1", view=view)
        assert [b["action_id"] for b in slack.home_buttons("U1")] == ["a"]
        with pytest.raises(SlackApiError, match="invalid_blocks"):
            await client.views_publish(
                user_id="U1", view={"type": "home", "blocks": [view["blocks"][0]] * 101}
            )
