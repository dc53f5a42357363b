"""Slack with the durable inbox, two bot "processes" in this one (two runtimes with their own
inbox owner and Socket Mode connection, one database): redeliveries to the other connection,
a /forget button pressed on the other process, a message a dead process left, a database
that goes away, and the health routes on $PORT in HTTP mode."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack import SlackAdapter
from bench.processes import free_port
from bot import metrics
from bot.commands import FORGET_CONFIRM
from bot.inbox import UNAVAILABLE_REPLY, Arrival
from bot.runtime import Runtime, open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack
from tests.slack_fixtures import *  # noqa: F403 - the fake model, the fake Slack
from tests.slack_fixtures import slack_settings


async def settle() -> None:
    """Give any (wrong) extra reply a chance to show up before asserting it did not."""
    await asyncio.sleep(0.3)


@pytest.fixture
def make(tmp_path: Path, openai: FakeOpenAI, slack: FakeSlack) -> Callable[..., Settings]:
    def settings(**overrides: Any) -> Settings:
        return slack_settings(tmp_path, openai, slack, **overrides)

    return settings


@asynccontextmanager
async def processes(settings: Settings, count: int, slack: FakeSlack) -> AsyncIterator[list[SlackAdapter]]:
    """`count` runtimes + Socket Mode adapters on `settings`' database, all connected."""
    async with AsyncExitStack() as stack:
        adapters = []
        for _ in range(count):
            runtime = await stack.enter_async_context(open_runtime(settings))
            adapter = SlackAdapter(runtime.service, settings)
            await adapter.start()
            stack.push_async_callback(adapter.stop)
            adapters.append(adapter)
        await slack.wait_open(count)
        yield adapters


async def test_a_redelivery_to_the_other_process_is_not_answered_again(
    make: Callable[..., Settings], slack: FakeSlack, database_url: str
) -> None:
    duplicates = metrics.sample("bot_inbox_duplicates_total", {"platform": "slack"})
    async with processes(make(database_url=database_url), 2, slack):
        # A DM to process 0, then the same event again to process 1 (a new envelope id and
        # retry_attempt 1): once, whether the retry comes before or after the answer.
        event = slack.message_event("D1", "hello there", user="U1")
        first = await slack.send_event(event, event_id="EvOne", connection=0)
        again = await slack.redeliver(first)
        assert again.envelope_id != first.envelope_id and again.connection != first.connection
        await slack.wait_for_messages(channel="D1", count=1)
        await slack.redeliver(again)
        # A mention arrives as two events (message and app_mention, other event ids, same
        # ts); each to another process: one answer.
        ts = slack.new_ts()
        await slack.send_event(slack.message_event("C1", "<@UBOT> hi", ts=ts), connection=0)
        mention = slack.message_event("C1", "<@UBOT> hi", ts=ts, kind="app_mention")
        await slack.send_event(mention, connection=1)
        await slack.wait_for_messages(channel="C1", thread_ts=ts, count=1)
        await settle()
    assert len(slack.messages_in("D1")) == 1
    assert len(slack.messages_in("C1", ts)) == 1
    assert metrics.sample("bot_inbox_duplicates_total", {"platform": "slack"}) >= duplicates + 2


async def test_a_thread_joined_on_one_process_is_followed_on_the_other(
    make: Callable[..., Settings], slack: FakeSlack, openai: FakeOpenAI, postgres_url: str
) -> None:
    async with processes(make(database_url=postgres_url), 2, slack):
        openai.latency = 0.5  # the first turn still runs when the follow-up arrives elsewhere
        ts = slack.new_ts()
        await slack.send_event(slack.message_event("C1", "<@UBOT> first", ts=ts), connection=0)
        await slack.send_event(slack.message_event("C1", "second", thread_ts=ts), connection=1)
        replies = await slack.wait_for_messages(channel="C1", thread_ts=ts, count=2, timeout=15)
    assert [reply.text.split(".")[0] for reply in replies] == ["You said: first", "You said: second"]


async def test_forget_confirmed_on_another_process_than_the_one_that_asked(
    make: Callable[..., Settings], slack: FakeSlack, database_url: str
) -> None:
    async with processes(make(database_url=database_url), 2, slack) as (first, _second):
        await slack.send_message("D1", "I like pepperoni pizza", user="U1")
        await slack.wait_for_messages(channel="D1", count=1)
        response_id = await slack.send_slash_command("/forget", user="U1", channel="D1", connection=0)
        [preview] = await slack.wait_for_responses(response_id)
        assert "pepperoni" in json.dumps(preview.blocks)
        done_id = await slack.click(preview.blocks, FORGET_CONFIRM, user="U1", channel="D1", connection=1)
        [done] = await slack.wait_for_responses(done_id)
        assert "erased 1 memory" in done.text
        assert await first.service.memories.list_facts("slack:T1:U1") == []


async def test_a_message_left_by_a_dead_process_is_answered_once_editing_its_placeholder(
    make: Callable[..., Settings], slack: FakeSlack, database_url: str
) -> None:
    settings = make(database_url=database_url, turn_lease_seconds=0.6)
    async with open_runtime(settings) as runtime:
        assert runtime.inbox is not None
        # Process X recorded two DMs and died: one with its placeholder already posted.
        placeholder = await slack._m_chat_postMessage({"channel": "D1", "text": PLACEHOLDER})
        for index, (channel, posted) in enumerate([("D1", [placeholder["ts"]]), ("D2", [])]):
            event = slack.message_event(channel, f"are you there {index}?", user="U1")
            arrival = Arrival(
                key=f"slack:T1:{channel}:{event['ts']}",
                platform="slack",
                thread_id=f"slack:T1:{channel}",
                payload={"event": event},
            )
            past = time.time() - 60
            assert await runtime.inbox.store.insert(arrival, "X", past, past + 1) is not None
            await runtime.inbox.store.set_posted(arrival.key, "X", posted)
        takeovers = metrics.sample("bot_lease_takeovers_total", {"platform": "slack"})
        adapter = SlackAdapter(runtime.service, settings)
        await adapter.start()
        try:
            [edited] = await slack.wait_for_messages(channel="D1", count=1)
            [posted] = await slack.wait_for_messages(channel="D2", count=1)
            await settle()
        finally:
            await adapter.stop()
    assert edited.ts == placeholder["ts"] and edited.text.startswith("You said: are you there 0?")
    assert posted.text.startswith("You said: are you there 1?")
    assert len(slack.messages_in("D1")) == 1 and len(slack.messages_in("D2")) == 1
    assert metrics.sample("bot_lease_takeovers_total", {"platform": "slack"}) == takeovers + 2


def _set_connections(admin_url: str, database: str, *, allowed: bool) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
            )


async def test_a_database_that_goes_away_gets_a_polite_reply_then_turns_resume(
    make: Callable[..., Settings], slack: FakeSlack, postgres_url: str, postgres_admin_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    async with open_runtime(make(database_url=postgres_url)) as runtime:
        adapter = SlackAdapter(runtime.service, runtime.settings)
        await adapter.start()
        try:
            await slack.send_message("D1", "I like green tea", user="U1")
            await slack.wait_for_messages(channel="D1", count=1)

            await asyncio.to_thread(_set_connections, postgres_admin_url, database, allowed=False)
            try:
                ready, report = await runtime.health.readiness()
                assert not ready and report["checks"] == {}  # no checks yet: the launcher adds them
                with pytest.raises(Exception):  # noqa: B017 - whichever error the driver raises
                    await runtime.database_reachable()
                await slack.send_message("D1", "are you there?", user="U1")
                [_, sorry] = await slack.wait_for_messages(channel="D1", count=2, timeout=15)
                assert sorry.text == UNAVAILABLE_REPLY
            finally:
                await asyncio.to_thread(_set_connections, postgres_admin_url, database, allowed=True)

            for _ in range(100):
                try:
                    if await runtime.database_reachable():
                        break
                except Exception:
                    await asyncio.sleep(0.1)
            await slack.send_message("D1", "what do you know?", user="U1")
            [*_, back] = await slack.wait_for_messages(channel="D1", count=3, timeout=30)
            assert "User likes green tea" in back.text
            await settle()
            assert len(slack.messages_in("D1")) == 3
        finally:
            await adapter.stop()


async def test_http_mode_serves_health_on_port_and_answers_a_retry_to_another_process_once(
    make: Callable[..., Settings], slack: FakeSlack, database_url: str
) -> None:
    ports = [free_port(), free_port()]
    async with AsyncExitStack() as stack:
        for port in ports:
            settings = make(
                database_url=database_url,
                slack_app_token=None,
                slack_signing_secret=slack.signing_secret,
                port=port,
            )
            runtime: Runtime = await stack.enter_async_context(open_runtime(settings))
            runtime.health.serving()
            adapter = SlackAdapter(runtime.service, settings, http_mode=True, health=runtime.health)
            await adapter.start()
            stack.push_async_callback(adapter.stop)
        body = slack.event_callback(slack.message_event("D1", "hello over http"))
        status, _ = await slack.post_signed(f"http://127.0.0.1:{ports[0]}/slack/events", body)
        assert status == 200
        status, _ = await slack.post_signed(f"http://127.0.0.1:{ports[1]}/slack/events", body, retry_num=1)
        assert status == 200
        [reply] = await slack.wait_for_messages(channel="D1")
        assert reply.text.startswith("You said: hello over http")
        async with aiohttp.ClientSession() as session:
            for path, wanted in (
                ("/healthz", "alive"),
                ("/readyz", "ready"),
                ("/metrics", "bot_turns_total"),
            ):
                async with session.get(f"http://127.0.0.1:{ports[1]}{path}") as response:
                    assert response.status == 200, path
                    assert wanted in await response.text()
        await settle()
    assert len(slack.messages_in("D1")) == 1


async def test_a_message_arriving_while_draining_is_left_to_another_process(
    make: Callable[..., Settings], slack: FakeSlack, database_url: str
) -> None:
    settings = make(database_url=database_url, turn_lease_seconds=0.6)
    async with processes(settings, 1, slack) as (draining,):
        draining.service.stop_accepting()  # SIGTERM: this process takes no new turns
        await slack.send_message("D1", "anyone there?", user="U1")
        await settle()
        assert slack.messages_in("D1") == []  # no "please resend"
        async with processes(settings, 2, slack):  # another process comes up (and the first one's)
            [reply] = await slack.wait_for_messages(channel="D1", count=1)
            await settle()
    assert reply.text.startswith("You said: anyone there?")
    assert len(slack.messages_in("D1")) == 1
