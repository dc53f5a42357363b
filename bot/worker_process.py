"""A worker process: runs the turns the main process sends it (see `bot.workers`).

`python -m bot.worker_process` reads its settings as the first JSON line on stdin, opens the
same runtime as the main process (model client, database, graph), answers `{"ready": true}`
and then runs each turn line it reads, concurrently, writing one reply line per turn. At end
of input it finishes the turns it holds and exits. Logs go to stderr, with secrets redacted.

SIGINT and SIGTERM are ignored: a Ctrl-C or a platform's SIGTERM reaches the whole process
group, and the main process is the one that decides when turns are drained.

Like the main process, a worker runs on uvloop where it is installed (`bot.event_loop`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

from bot import event_loop
from bot.gc_tuning import freeze_what_exists, paused_for_imports, tune_for_serving

with paused_for_imports():
    from bot.logging_setup import configure_logging
    from bot.messages import Reply
    from bot.runtime import open_runtime
    from bot.service import BROKEN_TURN_REPLY, ChatService
    from bot.workers import LINE_LIMIT, READY, encode, reply_payload, turn_from
    from config.settings import Settings, secret_values

    freeze_what_exists()  # before the collector is back on: it would walk them all at once

log = logging.getLogger("bot.worker")


async def _answer(service: ChatService, line: bytes, out: asyncio.StreamWriter) -> None:
    turn_id, message, text, prior = turn_from(json.loads(line))
    try:
        reply = await service.run_turn(message, text, prior)
    except Exception:
        log.exception("turn failed in thread %s", message.thread_id)
        reply = Reply(text=BROKEN_TURN_REPLY, failed=True)
    out.write(encode(reply_payload(turn_id, reply)))
    await out.drain()


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    out = asyncio.StreamWriter(transport, protocol, None, loop)

    first = await reader.readline()
    if not first:
        return
    settings = Settings(_env_file=None, **json.loads(first)["settings"])  # type: ignore[call-arg]
    configure_logging(settings.log_level, secret_values(settings))
    running: set[asyncio.Task[None]] = set()
    async with open_runtime(settings) as runtime:
        tune_for_serving()
        out.write(encode({**READY, "event_loop": event_loop.running_loop_name()}))
        await out.drain()
        while line := await reader.readline():
            task = asyncio.create_task(_answer(runtime.service, line, out))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    out.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    event_loop.run(serve())


if __name__ == "__main__":
    main()
