"""A console adapter: chat with the bot from a terminal or a pipe, on the same core.

`/memories` and `/forget [phrase]` go to the same command core as on Slack and Discord;
a view's buttons become a question answered on the next line.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.commands import CommandView
from bot.messages import IncomingMessage
from bot.service import ChatService

HELP = "Commands: /memories (what I know about you), /forget [phrase] (erase it), /quit. Ctrl-D ends."
COMMANDS = {"/memories", "/forget"}


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
            elif command in COMMANDS:
                await self._show(await self._service.commands.run(command, self.user_id, argument))
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

    async def _show(self, view: CommandView) -> None:
        """Print a view; with buttons, ask which one and press it (the first on 'yes')."""
        first, *rest = view.lines()
        self._print(f"bot> {first}")
        for line in rest:
            self._print(f"  {line}")
        if not view.buttons:
            return
        chosen, *others = view.buttons
        fallback = others[-1] if others else None
        otherwise = fallback.label.lower() if fallback else "leave it"
        self._print(f"bot> Type 'yes' to {chosen.label.lower()}, anything else to {otherwise}.")
        answer = (await self._read_line() or "").strip().lower()
        button = chosen if answer in {"y", "yes"} else fallback
        if button is not None:
            await self._show(await self._service.commands.press(self.user_id, button.action, button.value))
