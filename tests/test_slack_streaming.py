"""Streamed answers on Slack: the real slack-bolt / slack-sdk against the fake Slack, the real
core against the fake model streaming over SSE."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from adapters.slack.render import SLACK_CHUNK, ZWSP, to_mrkdwn
from adapters.slack.streaming import STATUS
from adapters.text_split import split_message
from bot.runtime import open_runtime
from bot.streaming import CUT_OFF_NOTE
from tests.fakes.openai_server import Cut, FakeOpenAI, Text
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack, PostedMessage
from tests.slack_fixtures import *  # noqa: F403  (the Slack fixtures)
from tests.slack_fixtures import slack_settings

LONG = ("Pizza in North Beach is a fine idea tonight, and the slices there are famous. " * 3).rstrip()


@pytest.fixture
def slack_overrides() -> dict[str, Any]:
    return {"bot_streaming": True}


def calls(slack: FakeSlack, method: str) -> list[dict]:
    return [args for name, args in slack.stream_calls if name == method]


async def final_reply(slack: FakeSlack, channel: str, thread_ts: str | None, text: str) -> PostedMessage:
    """The one message that ends up showing `text` there."""

    def ready() -> PostedMessage | None:
        found = [m for m in slack.messages_in(channel, thread_ts) if not m.streaming]
        return found[-1] if found and found[-1].text == text else None

    return await slack.wait_until(ready, what=f"the final answer in {channel}/{thread_ts}")


async def test_first_text_shows_while_the_model_is_still_writing(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    openai.stream_gate = asyncio.Event()  # the model sends one piece, then waits
    openai.script(Text(LONG))
    ts = await slack.send_message("C1", "<@UBOT> where to eat?")
    [shown] = await slack.wait_for_messages(channel="C1", thread_ts=ts, settled=False)
    assert shown.streaming and shown.text == LONG[:12]
    openai.stream_gate.set()
    reply = await final_reply(slack, "C1", ts, LONG)
    assert slack.messages_in("C1", ts) == [reply]
    [start] = calls(slack, "chat.startStream")
    assert start["thread_ts"] == ts
    assert (start["recipient_team_id"], start["recipient_user_id"]) == (slack.team_id, "U1")
    assert [s["status"] for s in slack.statuses] == [STATUS, ""]  # set while waiting, then cleared


async def test_a_long_answer_takes_few_calls_and_arrives_whole_and_in_order(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    text = " ".join(f"w{i:03d}" for i in range(600))  # 3,000 characters, 250 pieces
    openai.script(Text(text))
    ts = await slack.send_message("C1", "<@UBOT> count for me")
    await final_reply(slack, "C1", ts, text)
    assert len(calls(slack, "chat.appendStream")) <= 25  # pieces: 250
    assert len(calls(slack, "chat.startStream")) == 1 and len(calls(slack, "chat.stopStream")) == 1


async def test_a_very_long_streamed_answer_goes_on_in_new_messages(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 80 for i in range(22)).rstrip()
    openai.script(Text(text))
    ts = await slack.send_message("C1", "<@UBOT> tell me everything")
    await slack.wait_until(
        lambda: True if "Paragraph 21:" in "".join(m.text for m in slack.messages_in("C1", ts)) else None
    )
    await slack.wait_for_messages(channel="C1", thread_ts=ts, count=3)
    replies = slack.messages_in("C1", ts)
    assert not any(m.streaming for m in replies)
    assert all(len(m.text) <= SLACK_CHUNK for m in replies)
    assert "".join(m.text for m in replies) == text
    assert all(m.text.startswith("Paragraph") for m in replies)  # cut where a paragraph ends


async def test_refused_streaming_falls_back_to_post_and_update_for_good(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    slack.refuse_streaming("not_allowed")
    openai.script(Text(LONG), Text("Second answer."))
    ts = await slack.send_message("C1", "<@UBOT> where to eat?")
    reply = await final_reply(slack, "C1", ts, to_mrkdwn(LONG))
    assert not reply.streaming and reply.updates >= 0
    assert len(slack.stream_calls) == 1  # the refused chat.startStream
    later = await slack.send_message("C1", "<@UBOT> and then?")
    await final_reply(slack, "C1", later, "Second answer.")
    assert len(slack.stream_calls) == 1  # not tried again


async def test_a_long_answer_in_fallback_mode_splits_cleanly(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    slack.refuse_streaming("missing_scope")
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 80 for i in range(22))
    openai.script(Text(text))
    ts = await slack.send_message("C1", "<@UBOT> tell me everything")
    expected = split_message(to_mrkdwn(text), SLACK_CHUNK)
    assert len(expected) >= 3
    await slack.wait_until(
        lambda: True if [m.text for m in slack.messages_in("C1", ts)] == expected else None
    )


async def test_refused_status_still_answers_and_is_not_asked_again(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    slack.refuse_status("missing_scope")
    openai.script(Text("First."), Text("Second."))
    ts = await slack.send_message("C1", "<@UBOT> hi")
    await final_reply(slack, "C1", ts, "First.")
    assert not bot._conversations.abilities.status
    later = await slack.send_message("C1", "<@UBOT> again")
    await final_reply(slack, "C1", later, "Second.")
    assert slack.statuses == []


async def test_a_model_failing_mid_answer_keeps_the_text_with_a_note_in_one_message(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    openai.script(Cut(LONG, after=40))
    ts = await slack.send_message("C1", "<@UBOT> where to eat?")
    expected = LONG[:40].rstrip() + CUT_OFF_NOTE
    reply = await final_reply(slack, "C1", ts, expected)
    await asyncio.sleep(0.3)  # room for a (wrong) second answer to show up
    assert slack.messages_in("C1", ts) == [reply]


async def test_a_broadcast_split_across_pieces_never_pings(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    text = "Heads up: @channel meeting now, @here too & <!everyone>"
    assert text[:12] == "Heads up: @c"  # the model's first piece ends inside the word
    openai.stream_gate = asyncio.Event()
    openai.script(Text(text))
    ts = await slack.send_message("C1", "<@UBOT> announce it")
    [shown] = await slack.wait_for_messages(channel="C1", thread_ts=ts, settled=False)
    assert shown.text == "Heads up:"  # the partial word (and the space) wait for the next piece
    openai.stream_gate.set()
    safe = f"Heads up: @{ZWSP}channel meeting now, @{ZWSP}here too &amp; &lt;!everyone&gt;"
    await final_reply(slack, "C1", ts, safe)
    for _, args in slack.stream_calls:
        assert "@channel" not in str(args.get("markdown_text")) and "<" not in str(args.get("markdown_text"))


async def test_assistant_thread_gets_prompts_and_its_messages_are_answered(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    thread_ts = await slack.start_assistant_thread("U1")
    await slack.wait_until(lambda: slack.suggested_prompts or None)
    [prompts] = slack.suggested_prompts
    assert prompts["channel_id"] == "D1" and prompts["thread_ts"] == thread_ts
    assert [p["title"] for p in prompts["prompts"]][:2] == ["What do you know about me?", "Forget something"]
    openai.script(Text("Hello in the assistant thread."))
    await slack.send_message("D1", "hi there", user="U1", thread_ts=thread_ts)
    await final_reply(slack, "D1", thread_ts, "Hello in the assistant thread.")
    assert calls(slack, "chat.startStream")[0]["thread_ts"] == thread_ts


async def test_a_top_level_dm_is_answered_by_post_and_update(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    openai.script(Text(LONG))
    await slack.send_message("D1", "where to eat?", user="U1")
    reply = await final_reply(slack, "D1", None, LONG)
    assert len(slack.messages_in("D1")) == 1 and reply.updates >= 1  # the placeholder, edited
    assert slack.stream_calls == []  # Slack streams only into threads


async def test_streaming_off_keeps_the_placeholder_and_one_update(
    tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack
) -> None:
    settings = slack_settings(tmp_path, openai, slack, bot_streaming=False)
    async with open_runtime(settings) as opened:
        adapter = SlackAdapter(opened.service, settings)
        await adapter.start()
        try:
            openai.script(Text(LONG))
            ts = await slack.send_message("C1", "<@UBOT> where to eat?")
            [reply] = await slack.wait_for_messages(channel="C1", thread_ts=ts)
            assert reply.text == LONG and reply.text != PLACEHOLDER and reply.updates == 1
            assert slack.stream_calls == [] and slack.statuses == []
        finally:
            await adapter.stop()
