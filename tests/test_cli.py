"""`python -m bot` as a user runs it: a real subprocess, real settings, the fake model server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import Fail, FakeOpenAI
from tests.fakes.slack_server import FakeSlack

SECRET_KEY = "sk-live-DO-NOT-LEAK-0123456789abcdef"
# pyproject.toml installs uvloop everywhere but Windows, and every process of the bot runs on it.
EXPECTED_LOOP = "asyncio" if sys.platform == "win32" else "uvloop"


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: only what the bot needs plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


async def run_bot(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path, timeout: float = 60
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_nothing_configured_exits_non_zero_with_what_to_set(tmp_path: Path) -> None:
    code, _, err = await run_bot(env=bot_env(tmp_path), cwd=tmp_path)

    assert code == 2
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "DISCORD_TOKEN",
        "python -m bot chat",
    ):
        assert name in err
    assert "Traceback" not in err


async def test_chat_remembers_a_fact_across_two_threads(tmp_path: Path, fake_model: FakeOpenAI) -> None:
    env = bot_env(tmp_path, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_model.base_url)

    code, out, _ = await run_bot(
        "chat", "--user", "ana", "--thread", "one", env=env, cwd=tmp_path, stdin="I like pepperoni pizza\n"
    )
    assert code == 0
    assert "bot> Thanks for telling me!" in out

    code, out, _ = await run_bot(
        "chat", "--user", "ana", "--thread", "two", env=env, cwd=tmp_path, stdin="what should I eat?\n"
    )
    assert code == 0
    assert "I know: User likes pepperoni pizza" in out
    # The second thread starts fresh: only its own message reaches the model.
    assert [m["content"] for m in fake_model.last_request()["messages"][1:]] == ["what should I eat?"]


async def test_memories_admin_list_export_forget(tmp_path: Path, fake_model: FakeOpenAI) -> None:
    env = bot_env(tmp_path, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_model.base_url)
    await run_bot("chat", "--user", "ana", env=env, cwd=tmp_path, stdin="I like tea\nI live in Porto\n")

    code, out, _ = await run_bot("memories", "export", "console:ana", env=env, cwd=tmp_path)
    assert code == 0
    exported = json.loads(out)
    assert sorted(f["fact"] for f in exported["facts"]) == ["User likes tea", "User lives in Porto"]

    code, out, _ = await run_bot("memories", "list", "console:ana", env=env, cwd=tmp_path)
    assert "User likes tea (learned in the console chat" in out

    code, _, _ = await run_bot("memories", "forget", "console:ana", env=env, cwd=tmp_path, stdin="n\n")
    assert code == 1
    code, out, _ = await run_bot(
        "memories", "forget", "console:ana", "--phrase", "tea", "--yes", env=env, cwd=tmp_path
    )
    assert code == 0
    assert "forgot 1 fact(s)" in out
    code, out, _ = await run_bot("memories", "export", "console:ana", env=env, cwd=tmp_path)
    assert [f["fact"] for f in json.loads(out)["facts"]] == ["User lives in Porto"]


async def test_missing_model_key_is_one_clear_line(tmp_path: Path) -> None:
    code, _, err = await run_bot("chat", env=bot_env(tmp_path), cwd=tmp_path)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "OPENAI_API_KEY" in err and "OPENAI_BASE_URL" in err


async def test_malformed_database_url_names_the_setting(tmp_path: Path) -> None:
    env = bot_env(tmp_path, OPENAI_API_KEY="sk-test", DATABASE_URL="mysql://nope")
    code, _, err = await run_bot("chat", env=env, cwd=tmp_path)
    assert code == 2
    assert "DATABASE_URL" in err
    assert "Traceback" not in err


async def test_unreachable_postgres_names_the_setting_and_hides_the_password(tmp_path: Path) -> None:
    env = bot_env(
        tmp_path, OPENAI_API_KEY="sk-test", DATABASE_URL="postgresql://bot:hunter2secret@127.0.0.1:9/bot"
    )
    code, _, err = await run_bot("chat", env=env, cwd=tmp_path)
    assert code == 2
    assert "DATABASE_URL" in err
    assert "hunter2secret" not in err
    assert "Traceback" not in err


async def test_secrets_never_reach_logs_or_replies(tmp_path: Path, fake_model: FakeOpenAI) -> None:
    fake_model.script(Fail(401, message=f"Incorrect API key provided: {SECRET_KEY}"))
    env = bot_env(
        tmp_path,
        OPENAI_API_KEY=SECRET_KEY,
        OPENAI_BASE_URL=fake_model.base_url,
        LOG_LEVEL="DEBUG",
        SLACK_SIGNING_SECRET="slack-signing-secret-value-42",
    )
    code, out, err = await run_bot(
        "chat", "--user", "ana", env=env, cwd=tmp_path, stdin="hello\nhello again\n"
    )

    assert code == 0
    assert "Sorry, I couldn't reach my language model" in out
    assert fake_model.auth_headers[-1] == f"Bearer {SECRET_KEY}"  # it was really used
    for secret in (SECRET_KEY, "slack-signing-secret-value-42"):
        assert secret not in out
        assert secret not in err
    assert "model call failed" in err


async def _wait_for_line(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> None:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"process ended before printing {needle!r}:\n{''.join(seen)}")
        seen.append(line)
        if needle in line:
            return


class RunningBot:
    """`python -m bot` in a subprocess: started until it logs ready, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env, self._cwd = env, cwd
        self.seen: list[str] = []
        self.exit_code: int | None = None
        self.log = ""

    async def __aenter__(self) -> RunningBot:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=self._env, cwd=self._cwd, stderr=asyncio.subprocess.PIPE
        )
        assert self._process.stderr is not None
        await asyncio.wait_for(_wait_for_line(self._process.stderr, "bot ready:", self.seen), 60)
        return self

    @property
    def ready_line(self) -> str:
        return self.seen[-1].rstrip()

    async def __aexit__(self, *exc: object) -> None:
        assert self._process.stderr is not None
        self._process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(self._process.stderr.read(), 60)
        self.exit_code = await self._process.wait()
        self.log = "".join(self.seen) + rest.decode()


async def test_slack_credentials_start_slack_only_and_sigterm_exits_cleanly(
    tmp_path: Path, fake_model: FakeOpenAI
) -> None:
    async with FakeSlack() as slack:
        slack.add_user("U1", "Ana")
        env = bot_env(
            tmp_path,
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake_model.base_url,
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_APP_TOKEN=slack.app_token,
            SLACK_API_URL=slack.api_url,
        )
        async with RunningBot(env, tmp_path) as bot:
            assert bot.ready_line.endswith(f"bot ready: slack (event loop: {EXPECTED_LOOP})")
            await slack.send_message("D1", "I like pepperoni pizza", user="U1")
            # Streamed (the default): the reply is posted, then edited until it is whole.
            reply = await slack.wait_until(
                lambda: next((m for m in slack.messages_in("D1") if "remember" in m.text), None),
                timeout=30,
                what="the whole reply",
            )
            assert len(slack.messages_in("D1")) == 1 and "remember" in reply.text

    assert bot.exit_code == 0, bot.log
    assert "discord" not in bot.log.lower()
    assert "stopped cleanly" in bot.log
    assert slack.bot_token not in bot.log and slack.app_token not in bot.log
    assert "will be unused" not in bot.log  # Bolt's start-up warning about SLACK_BOT_TOKEN, which is ours


def discord_env(tmp_path: Path, fake_model: FakeOpenAI, discord: FakeDiscord, **extra: str) -> dict[str, str]:
    """`bot_env` for a Discord-only bot against the fakes."""
    return bot_env(
        tmp_path,
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake_model.base_url,
        DISCORD_TOKEN=discord.token,
        DISCORD_API_URL=discord.api_url,
        DISCORD_GATEWAY_URL=discord.gateway_url,
        **extra,
    )


async def test_discord_credentials_start_discord_only(tmp_path: Path, fake_model: FakeOpenAI) -> None:
    async with (
        FakeDiscord() as discord,
        RunningBot(discord_env(tmp_path, fake_model, discord), tmp_path) as bot,
    ):
        assert bot.ready_line.endswith(f"bot ready: discord (event loop: {EXPECTED_LOOP})")
        ana = discord.make_user("ana")
        await discord.push_dm(ana, "I like pepperoni pizza")
        channel = discord.dm_channel_id(ana)
        # Streamed (the default): the reply is sent, then edited until it is whole.
        await discord.wait_until(
            lambda: any("remember" in text for text in discord.shown_in(channel)), 30, "the whole reply"
        )
        assert len(discord.shown_in(channel)) == 1

    assert bot.exit_code == 0, bot.log
    assert "slack" not in bot.log.lower()
    assert discord.token not in bot.log


async def test_bot_workers_run_turns_in_child_processes_that_stop_with_the_bot(
    tmp_path: Path, fake_model: FakeOpenAI
) -> None:
    async with (
        FakeDiscord() as discord,
        RunningBot(discord_env(tmp_path, fake_model, discord, BOT_WORKERS="2"), tmp_path) as bot,
    ):
        started = re.findall(r"worker \d ready \(pid (\d+), event loop: (\w+)\)", "".join(bot.seen))
        workers = {int(pid) for pid, _ in started}
        assert len(workers) == 2
        assert {loop for _, loop in started} == {EXPECTED_LOOP}
        ana = discord.make_user("ana")
        await discord.push_dm(ana, "I like pepperoni pizza")
        await discord.push_dm(ana, "what do I like?")
        # BOT_WORKERS > 1: turns in worker processes are posted whole (not streamed).
        replies = await discord.wait_for_messages(discord.dm_channel_id(ana), 2, timeout=30)
        assert "pepperoni" in replies[-1].content

    assert bot.exit_code == 0, bot.log
    assert "stopped cleanly" in bot.log
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the worker is gone (and was reaped)
