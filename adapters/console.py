"""A console adapter: chat with the bot from a terminal or a pipe, on the same core."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.memory import describe_facts
from bot.messages import IncomingMessage
from bot.service import ChatService

HELP = "Commands: /memories (what I know about you), /forget [phrase] (erase it), /quit. Ctrl-D ends."


class ConsoleAdapter:
    """Reads lines until EOF, answers each one; `/memories` and `/forget` work here too."""

    name = "console"

    def __init__(
        self,
        service: ChatService,
        *,
        user_name: str,
        thread: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._service = service
        self._user_name = user_name
        self.user_id = f"console:{user_name}"
        self.thread_id = f"console:{thread or user_name}"
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._interactive = self._stdin.isatty()

    def _print(self, text: str) -> None:
        self._stdout.write(text + "\n")
        self._stdout.flush()

    async def _read_line(self) -> str | None:
        if self._interactive:
            self._stdout.write("you> ")
            self._stdout.flush()
        line = await asyncio.to_thread(self._stdin.readline)
        return None if line == "" else line.rstrip("\n")

    async def run(self) -> int:
        """Chat until EOF or /quit; returns the exit status."""
        if self._interactive:
            self._print(f"Chatting as {self.user_id} in thread {self.thread_id}. {HELP}")
        while (line := await self._read_line()) is not None:
            command, _, argument = line.strip().partition(" ")
            if command in {"/quit", "/exit"}:
                break
            if command == "/help":
                self._print(HELP)
            elif command == "/memories":
                await self._list_memories()
            elif command == "/forget":
                await self._forget(argument.strip() or None)
            elif line.strip():
                reply = await self._service.handle(
                    IncomingMessage(
                        platform="console",
                        user_id=self.user_id,
                        user_name=self._user_name,
                        thread_id=self.thread_id,
                        text=line,
                        is_direct=True,
                        channel_label="console",
                    )
                )
                self._print(f"bot> {reply.text}")
        return 0

    async def _list_memories(self) -> None:
        facts = await self._service.memories.list_facts(self.user_id)
        if not facts:
            self._print("bot> I don't know anything about you yet.")
            return
        self._print("bot> Here's what I know about you:")
        for line in describe_facts(facts):
            self._print(f"  - {line}")

    async def _forget(self, phrase: str | None) -> None:
        doomed = await self._service.memories.preview_forget(self.user_id, phrase)
        if not doomed:
            self._print("bot> There's nothing to forget" + (f" matching '{phrase}'." if phrase else "."))
            return
        self._print(f"bot> This will erase {len(doomed)} fact(s):")
        for line in describe_facts(doomed):
            self._print(f"  - {line}")
        self._print("bot> Type 'yes' to confirm, anything else to keep them.")
        answer = await self._read_line()
        if (answer or "").strip().lower() not in {"y", "yes"}:
            self._print("bot> Kept everything.")
            return
        removed = await self._service.memories.forget(self.user_id, phrase)
        self._print(f"bot> Done: forgot {removed} fact(s).")
