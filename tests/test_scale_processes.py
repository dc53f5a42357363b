"""Several real `python -m bot` processes on the local Postgres (and one on SQLite), against
the fake Slack spreading events over their Socket Mode connections and redelivering some to
another connection: every message answered exactly once, each thread in order; the same with
a process SIGKILLed mid-turn; readiness and metrics over HTTP; SIGTERM drains.

Sizes: 200 messages in 40 threads (5 each) on 3 processes, with a 0.05 s model for the
first run and a 0.5 s model and a 2 s lease for the kill run (a turn is in flight in every
process when one is killed; its Socket Mode connection goes with it).
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.commands import FORGET_CONFIRM
from tests.fakes.openai_server import FakeOpenAI, Hang
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack
from tests.scale_world import Bot, Conversations, bot_env, bots, eventually

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.spread = True  # one app, several connections: Slack spreads the events over them
        yield fake


async def test_three_processes_answer_every_message_once_in_thread_order(
    slack: FakeSlack, postgres_url: str, tmp_path: Path
) -> None:
    async with FakeOpenAI(latency=0.05) as model:
        env = bot_env(slack, model, postgres_url)
        async with bots(3, env, tmp_path, slack) as running:
            for bot in running:
                status, body = await bot.get("/readyz")
                assert status == 200, body
            conversations = Conversations(slack, threads=40, per_thread=5)
            await conversations.send_all(redeliver_every=7)
            await conversations.wait_answered(timeout=120)
            await asyncio.sleep(0.5)  # room for a (wrong) second answer to show
            assert conversations.problems() == []
            # Once each at the model too: 200 messages, 200 chat requests.
            assert len(model.requests) == 200
            model.reset()
            answered = [
                await bot.metric("bot_turns_total", platform="slack", outcome="answered") for bot in running
            ]
            assert sum(answered) == 200
            assert all(count > 0 for count in answered)  # each process took its share
            duplicates = sum([await bot.metric("bot_inbox_duplicates_total") for bot in running])
            # 40 mentions arrive twice (message + app_mention), always at two processes: the
            # second finds the first's row. (A redelivery to a process that saw the event is
            # already stopped by its memory, before the database.)
            assert duplicates >= 40

            # /forget asked on one process, confirmed on another: the button carries its state.
            await slack.send_message("D9", "I like pepperoni pizza", user="U9")
            await slack.wait_for_messages(channel="D9", count=1, timeout=20)
            asked = await slack.send_slash_command("/forget", user="U9", channel="D9", connection=0)
            [preview] = await slack.wait_for_responses(asked, timeout=20)
            assert "pepperoni" in json.dumps(preview.blocks)
            pressed = await slack.click(preview.blocks, FORGET_CONFIRM, user="U9", channel="D9", connection=1)
            [done] = await slack.wait_for_responses(pressed, timeout=20)
            assert "erased 1 memory" in done.text
    assert len({envelope.connection for envelope in conversations.envelopes}) == 3


async def test_a_process_killed_mid_turn_leaves_nothing_unanswered_or_twice(
    slack: FakeSlack, postgres_url: str, tmp_path: Path
) -> None:
    async with FakeOpenAI(latency=0.5) as model:
        env = bot_env(slack, model, postgres_url, TURN_LEASE_SECONDS="2")
        async with bots(3, env, tmp_path, slack) as running:
            conversations = Conversations(slack, threads=40, per_thread=5)
            await conversations.send_round(0)
            await conversations.send_round(1, redeliver_every=5)
            # Turns are in flight everywhere (0.5 s each): kill one process outright.
            victim = running[1]
            await eventually(
                lambda: _has_turns(victim), timeout=10, what="a turn in flight in the process to kill"
            )
            victim.child.process.send_signal(signal.SIGKILL)
            await victim.child.process.wait()
            await slack.redeliver_unacked()  # as Slack does: unacked envelopes go to another connection
            for round_index in range(2, 5):
                await conversations.send_round(round_index, redeliver_every=4)
            await conversations.wait_answered(timeout=90)
            await asyncio.sleep(1.0)
            assert conversations.problems() == []
            survivors = [running[0], running[2]]
            takeovers = sum([await bot.metric("bot_lease_takeovers_total") for bot in survivors])
            assert takeovers >= 1
            # The placeholders the killed process had posted were edited into answers, not left.
            assert not [m for m in slack.posted if m.text == PLACEHOLDER]


async def test_sigterm_drains_with_readiness_down_first(
    slack: FakeSlack, postgres_url: str, tmp_path: Path
) -> None:
    async with FakeOpenAI() as model:
        env = bot_env(slack, model, postgres_url)
        async with bots(1, env, tmp_path, slack) as (bot,):
            assert (await bot.get("/readyz"))[0] == 200
            model.script(Hang(1.5))  # a turn in flight while it shuts down
            await slack.send_message("D1", "slow one", user="U1")
            await eventually(lambda: _async(model.in_flight == 1), what="the turn to start")
            bot.child.process.send_signal(signal.SIGTERM)
            await eventually(lambda: _not_ready(bot), what="readiness to go 503")
            assert (await bot.get("/healthz"))[0] == 200  # still alive, draining
            assert await bot.child.process.wait() == 0
            [reply] = slack.messages_in("D1")
            assert reply.text.startswith("You said: slow one")


async def test_one_process_on_sqlite_killed_mid_turn_answers_after_restart(
    slack: FakeSlack, tmp_path: Path
) -> None:
    async with FakeOpenAI() as model:
        env = bot_env(slack, model, f"sqlite:///{tmp_path}/bot.db", TURN_LEASE_SECONDS="1")
        async with bots(1, env, tmp_path, slack) as (bot,):
            model.script(Hang(30))
            await slack.send_message("D1", "are you there?", user="U1")
            await eventually(lambda: _async(model.in_flight == 1), what="the turn to start")
            await slack.wait_until(lambda: slack.messages_in("D1") or None, what="the placeholder")
            bot.child.process.send_signal(signal.SIGKILL)
            await bot.child.process.wait()
        model.reset()
        async with bots(1, env, tmp_path, slack):
            [reply] = await slack.wait_for_messages(channel="D1", count=1, timeout=30)
            await asyncio.sleep(0.5)
    assert reply.text.startswith("You said: are you there?")
    assert len(slack.messages_in("D1")) == 1  # the placeholder, edited into the answer


async def _async(value: bool) -> bool:
    return value


async def _not_ready(bot: Bot) -> bool:
    try:
        status, _ = await bot.get("/readyz")
    except OSError:
        return False
    return status == 503


async def _has_turns(bot: Bot) -> bool:
    return await bot.metric("bot_active_threads") > 0
