"""End to end: the real slack-bolt / slack-sdk clients against the fake Slack, the real core
(`open_runtime`) against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import SlackAdapter, SlackAuthError
from bot.commands import FORGET_CANCEL, FORGET_CONFIRM, Commands
from bot.commands.core import EXPIRED, NOT_YOURS, UNKNOWN_BUTTON
from bot.memory import Provenance
from bot.runtime import Runtime, open_runtime
from tests.fakes.openai_server import FakeOpenAI, Text
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack
from tests.slack_fixtures import *  # noqa: F403  (the Slack fixtures)
from tests.slack_fixtures import slack_settings

PIZZA_FACT = "User likes pepperoni pizza"


# ---------------------------------------------------------------- fixtures


async def answer(
    slack: FakeSlack, channel: str, text: str, *, user: str = "U1", thread_ts: str | None = None
) -> str:
    """Say something in a channel thread (or start one) and return the bot's final reply text."""
    ts = await slack.send_message(channel, text, user=user, thread_ts=thread_ts)
    where = thread_ts or ts
    before = len(slack.messages_in(channel, where))
    replies = await slack.wait_for_messages(
        channel=channel, thread_ts=where, count=before + 1 if thread_ts else 1
    )
    return replies[-1].text


async def settle() -> None:
    """Give any (wrong) extra reply a chance to show up before asserting it did not."""
    await asyncio.sleep(0.3)


# ---------------------------------------------------------------- the fake itself


async def test_fake_checks_tokens_and_records_unknown_methods(slack: FakeSlack) -> None:
    good = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    assert (await good.auth_test())["user_id"] == "UBOT"
    with pytest.raises(SlackApiError, match="unknown_method"):
        await good.api_call("team.info")
    assert slack.unknown_calls == ["team.info"]
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient(token="xoxb-nope", base_url=slack.api_url).auth_test()
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await good.apps_connections_open(app_token="xapp-nope")


# ---------------------------------------------------------------- conversations


async def test_mention_starts_a_thread_and_the_reply_lands_in_it(bot: SlackAdapter, slack: FakeSlack) -> None:
    ts = await slack.send_message("C1", "<@UBOT> hello there", user="U1")
    [reply] = await slack.wait_for_messages(channel="C1", thread_ts=ts)
    assert reply.thread_ts == ts
    assert reply.text == "You said: hello there. I know: nothing about you yet"
    assert reply.updates == 1  # the placeholder, replaced
    assert PLACEHOLDER not in reply.text
    await settle()
    assert len(slack.posted) == 1  # both events (app_mention + message) gave one reply
    assert slack.messages_in("C1") == []  # nothing at the channel's top level


async def test_app_mention_arriving_first_still_gives_one_reply(bot: SlackAdapter, slack: FakeSlack) -> None:
    ts = slack.new_ts()
    text = "<@UBOT> which one wins?"
    await slack.send_event(slack.message_event("C1", text, ts=ts, kind="app_mention"))
    await slack.send_event(slack.message_event("C1", text, ts=ts))
    await slack.wait_for_messages(channel="C1", thread_ts=ts)
    await settle()
    assert len(slack.posted) == 1


async def test_follow_up_in_the_thread_is_answered_without_a_mention(
    bot: SlackAdapter, slack: FakeSlack
) -> None:
    ts = await slack.send_message("C1", "<@UBOT> hi", user="U1")
    await slack.wait_for_messages(channel="C1", thread_ts=ts)
    await slack.send_message("C1", "and one more thing", user="U2", thread_ts=ts)
    replies = await slack.wait_for_messages(channel="C1", thread_ts=ts, count=2)
    assert replies[1].text.startswith("You said: and one more thing")


async def test_follow_up_after_a_restart_uses_the_durable_thread(
    bot: SlackAdapter, runtime: Runtime, slack: FakeSlack
) -> None:
    ts = await slack.send_message("C1", "<@UBOT> hi")
    await slack.wait_for_messages(channel="C1", thread_ts=ts)
    await bot.stop()
    restarted = SlackAdapter(runtime.service, runtime.settings)
    await restarted.start()
    try:
        await slack.send_message("C1", "still there?", thread_ts=ts)
        replies = await slack.wait_for_messages(channel="C1", thread_ts=ts, count=2)
        assert replies[1].text.startswith("You said: still there?")
    finally:
        await restarted.stop()


async def test_unmentioned_messages_elsewhere_are_ignored(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    top = await slack.send_message("C2", "just chatting with friends")
    parent = slack.seed_thread("C2", [("U2", "lunch?")])
    await slack.send_message("C2", "sure", thread_ts=parent)
    await settle()
    assert slack.posted == []
    assert openai.requests == []
    assert top


async def test_direct_message_is_answered_in_the_dm(bot: SlackAdapter, slack: FakeSlack) -> None:
    await slack.send_message("D1", "hello bot", user="U1")
    [reply] = await slack.wait_for_messages(channel="D1", thread_ts=None)
    assert reply.text == "You said: hello bot. I know: nothing about you yet"
    await slack.send_message("D1", "second message", user="U1")
    replies = await slack.wait_for_messages(channel="D1", thread_ts=None, count=2)
    assert replies[1].text.startswith("You said: second message")


async def test_web_api_calls_reuse_one_connection(bot: SlackAdapter, slack: FakeSlack) -> None:
    # slack_sdk without a session opened a new connection (a TLS handshake, on real Slack)
    # for each call: auth.test, users.info, and a placeholder and an update per reply.
    for index in range(4):
        await slack.send_message("D1", f"message {index}", user="U1")
        await slack.wait_for_messages(channel="D1", thread_ts=None, count=index + 1)
    web_calls = [call for call in slack.calls if call != "apps.connections.open"]
    assert len(web_calls) >= 9
    # The placeholder goes out while the turn runs, so two may be open at once; never one per call.
    assert len(slack.api_peers) <= 3


async def test_redelivered_event_gives_no_second_reply(bot: SlackAdapter, slack: FakeSlack) -> None:
    event = slack.message_event("D1", "are you there?", user="U1")
    await slack.send_event(event, event_id="EvSAME")
    await slack.wait_for_messages(channel="D1")
    await slack.send_event(event, event_id="EvSAME", retry_attempt=1)
    await settle()
    assert len(slack.posted) == 1


async def test_bot_messages_edits_and_deletions_are_ignored(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    for name in ("bot_message", "message_changed", "message_deleted"):
        await slack.send_event(load_payload(name)["event"])
    await slack.send_event(slack.message_event("D1", "<@UBOT> echo", user="UBOT"))
    await slack.send_event({"type": "reaction_added", "user": "U1", "reaction": "tada", "event_ts": "1.0"})
    await settle()
    assert slack.posted == []
    assert openai.requests == []


# ---------------------------------------------------------------- memory across places and people


async def test_memory_follows_the_person_across_channels_and_dms_but_not_to_others(
    bot: SlackAdapter, slack: FakeSlack
) -> None:
    assert await answer(slack, "C1", "<@UBOT> I like pepperoni pizza") != ""
    elsewhere = await answer(slack, "C2", "<@UBOT> what should I eat?")
    assert f"I know: {PIZZA_FACT}" in elsewhere
    await slack.send_message("D1", "what do you know about me?", user="U1")
    [dm] = await slack.wait_for_messages(channel="D1")
    assert f"I know: {PIZZA_FACT}" in dm.text
    other = await answer(slack, "C2", "<@UBOT> what do you know about me?", user="U2")
    assert "pepperoni" not in other
    assert "nothing about you yet" in other


# ---------------------------------------------------------------- slash commands


async def remember_pizza_and_sf(slack: FakeSlack) -> None:
    await answer(slack, "C1", "<@UBOT> I like pepperoni pizza")
    await answer(slack, "C1", "<@UBOT> I live in SF")


async def test_forget_confirm_erases_and_new_threads_recall_nothing(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await remember_pizza_and_sf(slack)
    response_id = await slack.send_slash_command("/forget", "", user="U1")
    [preview] = await slack.wait_for_responses(response_id)
    assert preview.body["response_type"] == "ephemeral"
    shown = json.dumps(preview.blocks)
    assert "pepperoni" in shown and "SF" in shown
    action_id = await slack.click(preview.blocks, FORGET_CONFIRM, user="U1")
    [done] = await slack.wait_for_responses(action_id)
    assert "erased 2 memories" in done.text
    assert done.body["replace_original"] is True
    assert await runtime.service.memories.list_facts("slack:T1:U1") == []
    assert "nothing about you yet" in await answer(slack, "C2", "<@UBOT> what do you know?")


async def test_forget_cancel_keeps_everything(bot: SlackAdapter, slack: FakeSlack, runtime: Runtime) -> None:
    await remember_pizza_and_sf(slack)
    response_id = await slack.send_slash_command("/forget", user="U1")
    [preview] = await slack.wait_for_responses(response_id)
    action_id = await slack.click(preview.blocks, FORGET_CANCEL, user="U1")
    [done] = await slack.wait_for_responses(action_id)
    assert "kept everything" in done.text
    assert len(await runtime.service.memories.list_facts("slack:T1:U1")) == 2


async def test_forget_with_a_phrase_removes_only_matching(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await remember_pizza_and_sf(slack)
    response_id = await slack.send_slash_command("/forget", "pizza", user="U1")
    [preview] = await slack.wait_for_responses(response_id)
    shown = json.dumps(preview.blocks)
    assert "pepperoni" in shown and "SF" not in shown
    action_id = await slack.click(preview.blocks, FORGET_CONFIRM, user="U1")
    [done] = await slack.wait_for_responses(action_id)
    assert "erased 1 memory" in done.text
    [left] = await runtime.service.memories.list_facts("slack:T1:U1")
    assert left.text == "User lives in SF"


async def test_someone_else_clicking_confirm_cannot_erase(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await remember_pizza_and_sf(slack)
    await answer(slack, "C2", "<@UBOT> I like sushi", user="U2")
    response_id = await slack.send_slash_command("/forget", user="U1")
    [preview] = await slack.wait_for_responses(response_id)
    action_id = await slack.click(preview.blocks, FORGET_CONFIRM, user="U2")
    [refused] = await slack.wait_for_responses(action_id)
    assert refused.text == NOT_YOURS
    assert refused.body.get("replace_original") is False
    assert len(await runtime.service.memories.list_facts("slack:T1:U1")) == 2
    assert len(await runtime.service.memories.list_facts("slack:T1:U2")) == 1


async def test_forget_with_nothing_to_forget_is_kind_and_has_no_buttons(
    bot: SlackAdapter, slack: FakeSlack
) -> None:
    response_id = await slack.send_slash_command("/forget", "  \u2603 ))) <!channel> junk  " * 20, user="U1")
    [reply] = await slack.wait_for_responses(response_id)
    assert "nothing to forget" in reply.text
    assert "<!channel>" not in reply.text
    assert not any(block.get("type") == "actions" for block in reply.blocks)


async def test_memories_lists_what_and_where(bot: SlackAdapter, slack: FakeSlack) -> None:
    await answer(slack, "C1", "<@UBOT> I like pepperoni pizza")
    await slack.send_message("D1", "I live in SF", user="U1")
    await slack.wait_for_messages(channel="D1")
    response_id = await slack.send_slash_command("/memories", user="U1")
    [listing] = await slack.wait_for_responses(response_id)
    assert listing.body["response_type"] == "ephemeral"
    shown = json.dumps(listing.blocks)
    assert PIZZA_FACT in shown and "Slack #general" in shown
    assert "User lives in SF" in shown and "a Slack DM" in shown
    other_id = await slack.send_slash_command("/memories", user="U2")
    [empty] = await slack.wait_for_responses(other_id)
    assert "don't remember anything" in empty.text


async def test_memories_too_many_for_one_message_come_in_several_all_in_order(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    source = Provenance(platform="slack", thread_id="slack:T1:D1", is_direct=True)
    for index in range(450):  # more than one message's 50 blocks hold
        await runtime.memories.save("slack:T1:U1", f"User knows fact number {index}", "misc", source)
    expected = [fact.text for fact in (await runtime.service.commands.memories("slack:T1:U1")).facts]
    assert len(expected) == 450

    response_id = await slack.send_slash_command("/memories", user="U1")
    await slack.wait_for_responses(response_id, count=2)
    await settle()
    messages = [r for r in slack.responses if r.id == response_id]
    assert len(messages) == 2
    assert all(m.body["response_type"] == "ephemeral" for m in messages)
    assert all(len(m.blocks) <= 50 for m in messages)
    sections = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert sections[0] == "*Here's what I remember about you (450):*"
    bullets = [line for text in sections for line in text.split("\n") if line.startswith("• ")]
    assert [line[2:].split(" _(")[0] for line in bullets] == expected
    assert all(line.endswith(")_") and "a Slack DM" in line for line in bullets)
    assert "more." not in json.dumps([m.body for m in messages])


async def test_an_expired_forget_confirm_erases_nothing(runtime: Runtime, slack: FakeSlack) -> None:
    now = [1_000_000.0]
    commands = Commands(runtime.memories, forget_timeout=60, clock=lambda: now[0])
    adapter = SlackAdapter(runtime.service, runtime.settings, commands=commands)
    await adapter.start()
    try:
        await remember_pizza_and_sf(slack)
        response_id = await slack.send_slash_command("/forget", user="U1")
        [preview] = await slack.wait_for_responses(response_id)
        now[0] += 61
        [late] = await slack.wait_for_responses(await slack.click(preview.blocks, FORGET_CONFIRM, user="U1"))
        assert late.text == EXPIRED
        assert late.body["replace_original"] is True
        assert len(await runtime.service.memories.list_facts("slack:T1:U1")) == 2
    finally:
        await adapter.stop()


async def test_a_button_from_before_the_command_core_erases_nothing(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await remember_pizza_and_sf(slack)
    old = [{"type": "actions", "elements": [{"action_id": "forget_confirm", "value": '{"u":"U1","p":null}'}]}]
    [reply] = await slack.wait_for_responses(await slack.click(old, "forget_confirm", user="U1"))
    assert reply.text == UNKNOWN_BUTTON
    assert reply.body.get("replace_original") is False
    assert len(await runtime.service.memories.list_facts("slack:T1:U1")) == 2


# ---------------------------------------------------------------- context and output


async def test_first_mention_mid_thread_passes_the_earlier_messages(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    parent = slack.seed_thread(
        "C1", [("U2", "we should order food for the offsite"), ("U1", "agreed, something everyone likes")]
    )
    await slack.send_message("C1", "<@UBOT> any ideas?", user="U1", thread_ts=parent)
    [reply] = await slack.wait_for_messages(channel="C1", thread_ts=parent)
    assert reply.text.startswith("You said: any ideas?")
    sent = json.dumps(openai.last_request())
    assert "we should order food for the offsite" in sent
    assert "Bruno" in sent  # the earlier speaker's name came from users.info


async def test_model_output_cannot_ping_anyone(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    openai.script(Text("Hey <!channel> and @everyone, also <!here> <@U2> <!subteam^S1|devs> — **done**"))
    ts = await slack.send_message("C1", "<@UBOT> announce it")
    [reply] = await slack.wait_for_messages(channel="C1", thread_ts=ts)
    for ping in ("<!channel>", "<!here>", "<@U2>", "<!subteam", "@everyone"):
        assert ping not in reply.text
    assert "&lt;!channel&gt;" in reply.text
    assert "*done*" in reply.text


async def test_long_reply_arrives_as_several_messages(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 80 for i in range(22)]
    long_text = "\n\n".join(paragraphs)
    assert len(long_text) > 9000
    openai.script(Text(long_text))
    ts = await slack.send_message("C1", "<@UBOT> tell me everything")
    replies = await slack.wait_for_messages(channel="C1", thread_ts=ts, count=3)
    await settle()
    replies = slack.messages_in("C1", ts)
    assert len(replies) >= 3
    assert all(len(r.text) <= 3500 for r in replies)
    assert replies[0].updates == 1  # the placeholder carries the first chunk
    assert "Paragraph 0:" in replies[0].text and "Paragraph 21:" in replies[-1].text


async def test_mention_alone_and_files_alone_get_a_kind_reply(
    bot: SlackAdapter, slack: FakeSlack, openai: FakeOpenAI
) -> None:
    ts = await slack.send_message("C1", "<@UBOT>")
    [reply] = await slack.wait_for_messages(channel="C1", thread_ts=ts)
    assert "What would you like" in reply.text
    await slack.send_event(load_payload("file_share")["event"])
    [files] = await slack.wait_for_messages(channel="D0FILES")
    assert "attachments" in files.text
    assert openai.requests == []


async def test_a_very_long_message_is_handled(bot: SlackAdapter, slack: FakeSlack) -> None:
    await slack.send_message("D1", "x" * 40_000)
    [reply] = await slack.wait_for_messages(channel="D1")
    assert reply.text


async def test_a_failure_while_answering_gets_an_apology(bot: SlackAdapter, slack: FakeSlack) -> None:
    slack.fail_next("chat.update")
    ts = await slack.send_message("C1", "<@UBOT> hi")
    [reply] = await slack.wait_for_messages(channel="C1", thread_ts=ts)
    assert reply.text.startswith("Sorry")


# ---------------------------------------------------------------- connection


async def test_invalid_bot_token_fails_start_clearly(
    tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack
) -> None:
    settings = slack_settings(tmp_path, openai, slack, slack_bot_token="xoxb-wrong-secret-value")
    async with open_runtime(settings) as opened:
        adapter = SlackAdapter(opened.service, settings)
        with pytest.raises(SlackAuthError) as raised:
            await adapter.start()
        assert "invalid_auth" in str(raised.value)
        assert "wrong-secret-value" not in str(raised.value)
        await adapter.stop()


async def test_invalid_app_token_fails_start_clearly(
    tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack
) -> None:
    settings = slack_settings(tmp_path, openai, slack, slack_app_token="xapp-wrong-secret-value")
    async with open_runtime(settings) as opened:
        adapter = SlackAdapter(opened.service, settings)
        with pytest.raises(SlackAuthError, match="SLACK_APP_TOKEN") as raised:
            await adapter.start()
        assert "wrong-secret-value" not in str(raised.value)
        await adapter.stop()


async def test_socket_dropped_mid_conversation_reconnects_and_answers_once(
    bot: SlackAdapter, slack: FakeSlack
) -> None:
    ts = await slack.send_message("C1", "<@UBOT> hi")
    await slack.wait_for_messages(channel="C1", thread_ts=ts)
    opened = slack.connections_opened
    pending = await slack.send_event(
        slack.message_event("C1", "are you still there?", thread_ts=ts), wait_ack=False
    )
    await slack.drop_socket()
    await slack.wait_connected(connections=2)
    assert slack.connections_opened > opened  # a fresh URL from apps.connections.open
    await slack.redeliver_unacked()
    replies = await slack.wait_for_messages(channel="C1", thread_ts=ts, count=2)
    assert replies[1].text.startswith("You said: are you still there?")
    await slack.send_message("C1", "great", thread_ts=ts)
    await slack.wait_for_messages(channel="C1", thread_ts=ts, count=3)
    await settle()
    assert len(slack.messages_in("C1", ts)) == 3
    assert pending.envelope_id


# ---------------------------------------------------------------- HTTP mode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_http_mode_accepts_signed_requests_and_rejects_bad_ones(
    tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack
) -> None:
    port = free_port()
    settings = slack_settings(
        tmp_path, openai, slack, slack_app_token=None, slack_signing_secret=slack.signing_secret, port=port
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    async with open_runtime(settings) as opened:
        adapter = SlackAdapter(opened.service, settings)
        await adapter.start()
        try:
            for option in ("forge", "omit_signature", "stale"):
                body = slack.event_callback(slack.message_event("D1", f"sneaky {option}"))
                status, _ = await slack.post_signed(url, body, **{option: True})
                assert status == 401, option
            good = slack.event_callback(slack.message_event("D1", "hello over http"))
            status, _ = await slack.post_signed(url, good)
            assert status == 200
            [reply] = await slack.wait_for_messages(channel="D1")
            assert reply.text.startswith("You said: hello over http")
            status, _ = await slack.post_signed(url, good, retry_num=1)  # Slack's redelivery
            assert status == 200
            form = slack.slash_command_body("/memories", user="U1", channel="D1")
            status, _ = await slack.post_signed(url, form, form=True)
            assert status == 200
            response_id = form["response_url"].rsplit("/", 1)[1]
            await slack.wait_for_responses(response_id)
            await settle()
            assert len(slack.posted) == 1
            assert not any("sneaky" in json.dumps(r) for r in openai.requests)
        finally:
            await adapter.stop()


# ---------------------------------------------------------------- recorded payloads


def load_payload(name: str) -> dict[str, Any]:
    path = Path(__file__).parent / "payloads" / "slack" / f"{name}.json"
    return json.loads(path.read_text())
