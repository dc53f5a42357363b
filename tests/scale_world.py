"""Several real `python -m bot` processes on one database against the fake Slack (which
spreads events over their Socket Mode connections) and a fake model in this process; the
conversations the multi-process tests send, and what they check afterwards."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import Child, bot_process, free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import PLACEHOLDER, Envelope, FakeSlack

CHANNELS = ("C1", "C2", "C3", "C4")


@dataclass
class Bot:
    child: Child
    health_port: int

    async def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.health_port}{path}"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples matching `labels`, from this process's /metrics."""
        status, text = await self.get("/metrics")
        assert status == 200
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


def bot_env(slack: FakeSlack, model: FakeOpenAI, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": model.base_url,
        "MODEL_MAX_RETRIES": "0",
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "BOT_STREAMING": "false",  # a placeholder while the turn runs: what a taker must edit
        "LOG_LEVEL": "INFO",
        **extra,
    }


@asynccontextmanager
async def bots(count: int, env: dict[str, str], cwd: Path, slack: FakeSlack) -> AsyncIterator[list[Bot]]:
    """`count` bot processes, each with its own health port; yields once all are connected."""
    async with AsyncExitStack() as stack:
        started = []
        for _ in range(count):
            port = free_port()
            child = await stack.enter_async_context(bot_process({**env, "BOT_HEALTH_PORT": str(port)}, cwd))
            started.append(Bot(child, port))
        await slack.wait_open(count)
        yield started


@dataclass
class Conversations:
    """`threads` channel threads, each a mention then follow-ups; what was sent, in order."""

    slack: FakeSlack
    threads: int
    per_thread: int
    roots: list[tuple[str, str]] = field(default_factory=list)  # (channel, root ts)
    envelopes: list[Envelope] = field(default_factory=list)
    redelivered: int = 0

    def __post_init__(self) -> None:
        for index in range(self.threads):
            self.slack.add_user(f"U{index}", f"Person {index}")

    async def send_round(self, round_index: int, *, redeliver_every: int = 0) -> None:
        """Message `round_index` of every thread (the first starts the thread with a mention)."""
        for thread in range(self.threads):
            channel = CHANNELS[thread % len(CHANNELS)]
            text = f"t{thread} m{round_index}"
            user = f"U{thread}"
            if round_index == 0:
                ts = await self.slack.send_message(channel, f"<@UBOT> {text}", user=user)
                self.roots.append((channel, ts))
                sent = self.slack.envelopes[-2:]
            else:
                root = self.roots[thread][1]
                event = self.slack.message_event(channel, text, user=user, thread_ts=root)
                sent = [await self.slack.send_event(event)]
            self.envelopes.extend(sent)
            if redeliver_every and (thread + round_index) % redeliver_every == 0:
                # Slack retrying the event on another connection (new envelope, retry_attempt 1).
                await self.slack.redeliver(sent[0])
                self.redelivered += 1

    async def send_all(self, *, redeliver_every: int = 0) -> None:
        for round_index in range(self.per_thread):
            await self.send_round(round_index, redeliver_every=redeliver_every)

    async def wait_answered(self, *, timeout: float) -> None:
        total = self.threads * self.per_thread

        def answered() -> bool | None:
            done = sum(len(self.final_texts(channel, root)) for channel, root in self.roots)
            return True if done >= total else None

        await self.slack.wait_until(answered, timeout=timeout, what=f"{total} answers")

    def final_texts(self, channel: str, root: str) -> list[str]:
        return [m.text for m in self.slack.messages_in(channel, root) if m.text != PLACEHOLDER]

    def problems(self) -> list[str]:
        """Every thread must hold exactly its answers, once each, in the order asked."""
        found = []
        for thread, (channel, root) in enumerate(self.roots):
            posted = self.slack.messages_in(channel, root)  # in post order (a taker edits, never posts)
            said = [_said(m.text) for m in posted]
            wanted = [f"t{thread} m{k}" for k in range(self.per_thread)]
            if said != wanted:
                found.append(f"thread {thread}: {said}")
        return found


def _said(text: str) -> str:
    match = re.match(r"You said: (t\d+ m\d+)\.", text)
    return match.group(1) if match else text[:40]


async def eventually(check: object, *, timeout: float = 20.0, what: str = "a condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def bots_on(envs: list[dict[str, str]], cwd: Path) -> AsyncIterator[list[Bot]]:
    """One bot process per environment (e.g. one per Discord shard), each with a health port."""
    async with AsyncExitStack() as stack:
        started = []
        for env in envs:
            port = free_port()
            child = await stack.enter_async_context(bot_process({**env, "BOT_HEALTH_PORT": str(port)}, cwd))
            started.append(Bot(child, port))
        yield started
