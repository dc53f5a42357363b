"""Child processes: the bot itself (`python -m bot`) and a fake model server of its own.

A real model runs elsewhere; a fake model in the bot's own process would steal its event
loop, so throughput figures run the fake model (or the bot) in a separate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
READY_LINE = "bot ready:"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    # Only what Python needs plus the bot's own settings: nothing leaks in from this shell.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@dataclass
class Child:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    ready_seconds: float = float("nan")

    @property
    def pid(self) -> int:
        return self.process.pid


async def _drain(child: Child, stream: asyncio.StreamReader, ready: asyncio.Event, marker: str) -> None:
    # Keep reading so the child never blocks on a full pipe; remember the lines for errors.
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        child.lines.append(text)
        del child.lines[:-200]
        if marker in text:
            ready.set()


@asynccontextmanager
async def _spawn(
    args: list[str], env: dict[str, str], cwd: Path, marker: str, *, stderr: bool, timeout: float = 60
) -> AsyncIterator[Child]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=child_env(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    child = Child(process)
    ready = asyncio.Event()
    assert process.stdout is not None and process.stderr is not None
    readers = [
        asyncio.create_task(_drain(child, process.stderr, ready, marker if stderr else "\0")),
        asyncio.create_task(_drain(child, process.stdout, ready, "\0" if stderr else marker)),
    ]
    try:
        waiter = asyncio.create_task(ready.wait())
        exited = asyncio.create_task(process.wait())
        await asyncio.wait({waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not ready.is_set():
            tail = "\n".join(child.lines[-20:])
            raise RuntimeError(f"{' '.join(args[1:4])} did not get ready:\n{tail}")
        child.ready_seconds = time.perf_counter() - started
        yield child
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        for reader in readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@asynccontextmanager
async def bot_process(env: dict[str, str], cwd: Path) -> AsyncIterator[Child]:
    """`python -m bot` with `env`; yields once it logged that it is ready."""
    async with _spawn([sys.executable, "-m", "bot"], env, cwd, READY_LINE, stderr=True) as child:
        yield child


@asynccontextmanager
async def model_process(latency: float, cwd: Path) -> AsyncIterator[str]:
    """The fake OpenAI server in its own process; yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), "--latency", str(latency)]
    async with _spawn(args, {}, cwd, "listening", stderr=False):
        yield f"http://127.0.0.1:{port}/v1"
