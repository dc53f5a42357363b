"""Run turns in worker processes, so one bot can use every core (`BOT_WORKERS`).

A Python process runs on one core, and most of a turn's CPU is the model client and the graph
runtime, not waiting. With `BOT_WORKERS=N` the main process keeps everything that must be in
one place: the platform connections, answer-once dedupe, per-thread turn order (the thread's
turn lock is held while its turn runs in a worker) and the /memories and /forget commands. It
hands each checked turn to a worker process and posts the reply that comes back.

Workers are `python -m bot.worker_process` children that open the same database. They are
spoken to in JSON lines over their stdin/stdout: first the settings they need (the model and
database, never the platform credentials; over the pipe, not the environment), then one line
per turn each way. A thread always goes to the same worker. A worker that dies fails only the
turns it was running (those people get the usual "please try again"); the next turn for it
starts a new one. Closing the pool closes the workers' stdin: they finish what they hold and
exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bot.messages import IncomingMessage, PriorMessage, Reply
from config.settings import Settings, worker_settings

log = logging.getLogger(__name__)

READY = {"ready": True}
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Replies and prior context can be long; a line holds one whole turn or reply.
LINE_LIMIT = 32 * 1024 * 1024
_REPO = Path(__file__).resolve().parent.parent


class WorkerFailed(RuntimeError):
    """The worker running a turn exited before answering it."""


# --- the wire format, shared with bot.worker_process -----------------------------------------


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def turn_payload(
    turn_id: int, message: IncomingMessage, text: str, prior: Sequence[PriorMessage]
) -> dict[str, Any]:
    # `raw` (the platform payload) stays in the main process: the core never reads it.
    fields_ = {field.name: getattr(message, field.name) for field in fields(message) if field.name != "raw"}
    return {
        "id": turn_id,
        "message": fields_,
        "text": text,
        "prior": [asdict(p) for p in prior],
    }


def turn_from(payload: dict[str, Any]) -> tuple[int, IncomingMessage, str, list[PriorMessage]]:
    prior = [PriorMessage(**item) for item in payload["prior"]]
    return int(payload["id"]), IncomingMessage(**payload["message"]), str(payload["text"]), prior


def reply_payload(turn_id: int, reply: Reply) -> dict[str, Any]:
    return {
        "id": turn_id,
        "reply": {"text": reply.text, "memories_changed": reply.memories_changed, "failed": reply.failed},
    }


def _child_environment() -> dict[str, str]:
    # Settings reach the worker over its stdin; none of them (secrets included) is inherited
    # through the environment, so a worker cannot pick up the platform tokens.
    setting_names = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name.upper() not in setting_names}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
    return env


class _Worker:
    """One worker process and the turns it is running."""

    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, index: int, settings: dict[str, Any]) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.worker_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_child_environment(),
            limit=LINE_LIMIT,
        )
        worker = cls(index, process)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(encode({"settings": settings}))
        await process.stdin.drain()
        try:
            first = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            first = b""
        ready = json.loads(first) if first else None
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            await worker._kill()
            raise WorkerFailed(f"worker {index} did not start (its log above says why)")
        worker._reader = asyncio.create_task(worker._read_replies(), name=f"worker-{index}-replies")
        log.info("worker %d ready (pid %d, event loop: %s)", index, process.pid, ready.get("event_loop"))
        return worker

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and self._reader is not None and not self._reader.done()

    @property
    def pid(self) -> int:
        return self.process.pid

    async def run_turn(self, message: IncomingMessage, text: str, prior: Sequence[PriorMessage]) -> Reply:
        assert self.process.stdin is not None
        self._next_id += 1
        turn_id = self._next_id
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[turn_id] = answer
        try:
            self.process.stdin.write(encode(turn_payload(turn_id, message, text, prior)))
            await self.process.stdin.drain()
            return await answer
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise WorkerFailed(f"worker {self.index} is gone") from exc
        finally:
            self._pending.pop(turn_id, None)

    async def _read_replies(self) -> None:
        assert self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                payload = json.loads(line)
                answer = self._pending.get(int(payload["id"]))
                if answer is not None and not answer.done():
                    answer.set_result(Reply(**payload["reply"]))
        except Exception:  # a garbled line means the worker is broken: fail its turns over
            log.exception("worker %d sent something unreadable", self.index)
        finally:
            if self._pending:
                log.error("worker %d stopped with %d turns running", self.index, len(self._pending))
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(WorkerFailed(f"worker {self.index} exited mid-turn"))

    async def close(self) -> None:
        """Close stdin (the worker finishes its turns and exits); kill it if it does not."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("worker %d did not stop in %.0f s; killing it", self.index, STOP_TIMEOUT_S)
            await self._kill()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class WorkerPool:
    """`BOT_WORKERS` worker processes; `run_turn` has the signature `ChatService` expects."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = worker_settings(settings)
        self._count = count
        self._workers: list[_Worker | None] = [None] * count
        self._restarting: list[asyncio.Lock] = [asyncio.Lock() for _ in range(count)]

    def pids(self) -> list[int]:
        return [worker.pid for worker in self._workers if worker is not None and worker.alive]

    async def start(self) -> None:
        started = await asyncio.gather(
            *(_Worker.start(index, self._settings) for index in range(self._count)), return_exceptions=True
        )
        for index, outcome in enumerate(started):
            if isinstance(outcome, _Worker):
                self._workers[index] = outcome
        failures = [outcome for outcome in started if isinstance(outcome, BaseException)]
        if failures:
            await self.close()
            raise failures[0]

    def worker_for(self, thread_id: str) -> int:
        """The worker index for a thread: stable, so a thread's turns share a worker."""
        return zlib.crc32(thread_id.encode()) % self._count

    async def run_turn(self, message: IncomingMessage, text: str, prior: Sequence[PriorMessage]) -> Reply:
        index = self.worker_for(message.thread_id)
        worker = self._workers[index]
        if worker is None or not worker.alive:
            worker = await self._replace(index)
        return await worker.run_turn(message, text, prior)

    async def _replace(self, index: int) -> _Worker:
        async with self._restarting[index]:
            current = self._workers[index]
            if current is not None and current.alive:
                return current
            if current is not None:
                await current.close()
            log.warning("starting worker %d again", index)
            self._workers[index] = replacement = await _Worker.start(index, self._settings)
            return replacement

    async def close(self) -> None:
        workers = [worker for worker in self._workers if worker is not None]
        self._workers = [None] * self._count
        await asyncio.gather(*(worker.close() for worker in workers))


@asynccontextmanager
async def open_worker_pool(settings: Settings, count: int) -> AsyncIterator[WorkerPool]:
    """Start `count` workers (all ready before this yields); stop them on exit."""
    pool = WorkerPool(settings, count)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()
