"""BOT_WORKERS: turns run in real worker processes (python -m bot.worker_process)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.messages import IncomingMessage
from bot.runtime import Runtime, open_runtime
from bot.service import BROKEN_TURN_REPLY, TRUNCATION_NOTE
from bot.workers import WorkerPool, turn_from, turn_payload
from config.settings import Settings, worker_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import chat_messages, dm, in_thread

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def pooled(make_settings: Callable[..., Settings]) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(bot_workers=2)) as runtime:
        yield runtime


def threads_on_each_worker(pool: WorkerPool, user: str) -> tuple[str, str]:
    """Two DM thread ids of `user` that the pool sends to different workers."""
    by_worker: dict[int, str] = {}
    for n in range(100):
        thread = f"console:dm:{user}:{n}"
        by_worker.setdefault(pool.worker_for(thread), thread)
        if len(by_worker) == 2:
            return by_worker[0], by_worker[1]
    raise AssertionError("crc32 sent 100 threads to one worker")


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


def test_the_wire_format_round_trips_a_turn_without_the_platform_payload() -> None:
    message = IncomingMessage(
        platform="slack",
        user_id="slack:T1:U1",
        user_name="Ann 🌍",
        thread_id="slack:T1:C1:1.2",
        text="línea\nzwei",
        is_direct=False,
        channel_label="#général",
        message_id="1.2",
        raw={"token": "never leaves the main process"},
    )
    payload = turn_payload(7, message, "cleaned text", [])
    assert "raw" not in payload["message"]
    turn_id, back, text, prior = turn_from(payload)
    assert (turn_id, text, prior) == (7, "cleaned text", [])
    assert back == message  # `raw` is not part of equality; everything else is


async def test_facts_learned_on_one_worker_are_used_on_the_other(
    pooled: Runtime, fake_model: FakeOpenAI
) -> None:
    assert pooled.workers is not None
    pids = pooled.workers.pids()
    assert len(set(pids)) == 2 and os.getpid() not in pids
    first, second = threads_on_each_worker(pooled.workers, "ann")

    learned = await pooled.service.handle(dm("ann", "I moved to Porto", thread=first))
    reply = await pooled.service.handle(dm("ann", "what should I do this weekend?", thread=second))

    assert learned.memories_changed and not reply.failed
    assert "User lives in Porto" in fake_model.system_prompts()[-1]
    assert [fact.text for fact in await pooled.memories.list_facts("console:ann")] == ["User lives in Porto"]
    # The thread histories stay apart, across processes too.
    assert [m["content"] for m in chat_messages(fake_model.last_request())] == [
        "what should I do this weekend?"
    ]


async def test_turns_in_one_thread_keep_their_order(pooled: Runtime, fake_model: FakeOpenAI) -> None:
    fake_model.latency = 0.05
    said = [f"message number {n}" for n in range(6)]
    tasks = []
    for text in said:
        tasks.append(asyncio.create_task(pooled.service.handle(in_thread("bob", "C1:1.0", text))))
        await asyncio.sleep(0)  # arrival order = creation order
    replies = await asyncio.gather(*tasks)

    for text, reply in zip(said, replies, strict=True):
        assert text in reply.text and not reply.failed
    history = [m["content"] for m in chat_messages(fake_model.last_request()) if m["role"] == "user"]
    assert history == [f"[Bob] {text}" for text in said]


async def test_a_killed_worker_fails_only_its_turns_then_comes_back(
    pooled: Runtime, fake_model: FakeOpenAI
) -> None:
    pool = pooled.workers
    assert pool is not None
    doomed_thread, other_thread = threads_on_each_worker(pool, "cy")
    doomed_pid = pool.pids()[pool.worker_for(doomed_thread)]
    fake_model.latency = 1.0

    doomed = asyncio.create_task(
        pooled.service.handle(dm("cy", "hello from the doomed one", thread=doomed_thread))
    )
    await until(lambda: fake_model.in_flight == 1, "the turn reached the model")
    survivor = asyncio.create_task(
        pooled.service.handle(dm("cy", "hello from the other", thread=other_thread))
    )
    await until(lambda: fake_model.in_flight == 2, "the second turn reached the model")
    os.kill(doomed_pid, signal.SIGKILL)

    assert (await doomed).text == BROKEN_TURN_REPLY
    assert not (await survivor).failed

    fake_model.latency = 0.0
    again = await pooled.service.handle(dm("cy", "are you back?", thread=doomed_thread))
    assert not again.failed and "are you back?" in again.text
    assert doomed_pid not in pool.pids() and len(pool.pids()) == 2


async def test_closing_lets_running_turns_finish(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    async with open_runtime(make_settings(bot_workers=2)) as runtime:
        assert runtime.workers is not None
        fake_model.latency = 0.5
        turn = asyncio.create_task(runtime.service.handle(dm("dee", "finish me please")))
        await until(lambda: fake_model.in_flight == 1, "the turn reached the model")
        await runtime.workers.close()
        reply = await turn
    assert not reply.failed and "finish me please" in reply.text


async def test_workers_get_no_platform_credentials(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    monkeypatch.setenv("DISCORD_TOKEN", "discord-from-the-environment")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    settings = make_settings(bot_workers=2, slack_bot_token="xoxb-configured", discord_token="dc-configured")
    shipped = worker_settings(settings)
    assert not [name for name in shipped if name.startswith(("slack", "discord"))]
    async with open_runtime(settings) as runtime:
        assert runtime.workers is not None
        for pid in runtime.workers.pids():
            environ = await asyncio.to_thread(Path(f"/proc/{pid}/environ").read_bytes)
            for secret in (b"xoxb-", b"discord-from", b"dc-configured", b"sk-from-the-environment"):
                assert secret not in environ
        reply = await runtime.service.handle(dm("eve", "hello"))
    assert not reply.failed


async def test_long_input_is_truncated_once(pooled: Runtime, fake_model: FakeOpenAI) -> None:
    limit = pooled.settings.max_input_chars
    await pooled.service.handle(dm("fay", "x" * (limit + 500)))
    sent = chat_messages(fake_model.last_request())[-1]["content"]
    assert sent == "x" * limit + TRUNCATION_NOTE.format(length=limit + 500, kept=limit)
