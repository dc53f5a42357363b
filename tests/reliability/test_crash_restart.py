"""The bot process is SIGKILLed (between turns, and mid-turn) and restarted on the same database.

Real subprocesses (`python -m bot chat`, stdin-driven) against the fake model server: the
thread's history and the person's memories survive, and a turn killed after its tool call
was checkpointed leaves a thread that still works.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI, Hang, ToolCalls
from tests.helpers import chat_messages
from tests.reliability.conftest import Tally, eventually
from tests.test_cli import bot_env
from tests.test_core_turns import assert_valid_history


class ChatProcess:
    """`python -m bot chat` kept open: send a line, read the bot's reply line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, tmp_path: Path, fake: FakeOpenAI, thread: str) -> ChatProcess:
        env = bot_env(
            tmp_path, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url, MODEL_MAX_RETRIES="0"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "chat",
            "--user",
            "ana",
            "--thread",
            thread,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        return cls(process)

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def reply(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        assert line.startswith(b"bot> "), line
        return line.decode().removeprefix("bot> ").strip()

    async def say(self, line: str) -> str:
        await self.send(line)
        return await self.reply()

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def close(self) -> str:
        """End stdin, wait for a clean exit, return stderr."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        _, err = await asyncio.wait_for(self.process.communicate(), 60)
        assert self.process.returncode == 0, err.decode()
        return err.decode()


async def test_killed_between_turns_keeps_history_and_memories(
    tmp_path: Path, fake_model: FakeOpenAI, tally: Tally
) -> None:
    first = await ChatProcess.start(tmp_path, fake_model, "kitchen")
    await first.say("I like green tea")
    assert (await first.say("the kettle is blue")).startswith("You said: the kettle is blue")
    await first.kill()
    tally.faults_injected += 1

    second = await ChatProcess.start(tmp_path, fake_model, "kitchen")
    answer = await second.say("what do you know?")
    await second.close()
    tally.turns_run += 3

    assert "I know: User likes green tea" in answer
    sent = [m["content"] for m in chat_messages(fake_model.last_request())]
    assert "I like green tea" in sent and "the kettle is blue" in sent  # the thread's history
    assert_valid_history(fake_model.last_request())


@pytest.mark.parametrize("killed_at", ["first-model-call", "after-tool-call"])
async def test_killed_mid_turn_leaves_a_usable_thread(
    tmp_path: Path, fake_model: FakeOpenAI, killed_at: str, tally: Tally
) -> None:
    bot = await ChatProcess.start(tmp_path, fake_model, "pantry")
    await bot.say("hello")
    if killed_at == "after-tool-call":
        # The tool call and its result are checkpointed; the answer after it never comes.
        fake_model.script(
            ToolCalls([("save_memory", {"fact": "User likes kiwi", "topic": "Food"})]), Hang(60)
        )
    else:
        fake_model.script(Hang(60))
    calls_before = len(fake_model.requests)
    await bot.send("I like kiwi")
    wanted = calls_before + (2 if killed_at == "after-tool-call" else 1)
    await eventually(lambda: len(fake_model.requests) == wanted, timeout=30, what="the hanging call")
    await bot.kill()
    tally.faults_injected += 1

    restarted = await ChatProcess.start(tmp_path, fake_model, "pantry")
    answer = await restarted.say("are you still there?")
    later = await restarted.say("and now?")
    await restarted.close()
    tally.turns_run += 4

    assert answer.startswith("You said: are you still there?")
    assert later.startswith("You said: and now?")
    assert_valid_history(fake_model.last_request())
    if killed_at == "after-tool-call":
        assert "I know: User likes kiwi" in answer  # the tool ran before the kill
