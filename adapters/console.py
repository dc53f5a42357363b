"""A console adapter: chat with the bot from a terminal or a pipe, on the same core.

`/memories`, `/forget [phrase]`, `/link [code]` and `/unlink` go to the same command core as
on Slack and Discord; a view's buttons become a question answered on the next line, and a
fact's own button (private/shared) becomes `/private N` or `/share N` on the numbered
`/memories` list. The console is a direct conversation: private facts are used here.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.commands import CommandView, FactLine
from bot.messages import IncomingMessage
from bot.service import ChatService
from bot.visibility import PRIVATE, SHARED, Visibility

HELP = (
    "Commands: /memories (what I know about you), /private N and /share N (who may see fact N), "
    "/forget [phrase] (erase it), /link [code] (join your accounts), /unlink, /quit. Ctrl-D ends."
)
COMMANDS = {"/memories", "/forget", "/link", "/unlink"}
VISIBILITY_COMMANDS: dict[str, Visibility] = {"/private": PRIVATE, "/share": SHARED}
NO_SUCH_FACT = "There's no memory number {number}. Run /memories to see the list."


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
        self._listed: tuple[FactLine, ...] | None = None  # the numbered /memories list last shown

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
                commands = self._service.commands
                await self._show(
                    await commands.run(command, self.user_id, argument, display_name=self._user_name)
                )
            elif command in VISIBILITY_COMMANDS:
                await self._change_visibility(VISIBILITY_COMMANDS[command], argument)
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

    async def _change_visibility(self, visibility: Visibility, argument: str) -> None:
        """`/private N`, `/share N`: N counts in the last /memories list shown (or the current one)."""
        commands = self._service.commands
        if self._listed is None:
            self._listed = (await commands.memories(self.user_id)).facts
        number = argument.strip()
        if not number.isdigit() or not 1 <= int(number) <= len(self._listed):
            self._print("bot> " + NO_SUCH_FACT.format(number=number or "?"))
            return
        fact = self._listed[int(number) - 1]
        view = await commands.set_visibility(self.user_id, fact.id, visibility)
        await self._show(view)

    def _lines(self, view: CommandView) -> list[str]:
        """The view's lines; a listing whose facts have their own buttons is numbered for /private N."""
        if not any(fact.buttons for fact in view.facts):
            return view.lines()
        self._listed = view.facts
        numbered = [
            f"{index}. {fact.text}" + (f" ({fact.source})" if view.show_sources else "")
            for index, fact in enumerate(view.facts, start=1)
        ]
        tail = [line for line in (view.more_line(), view.footer) if line]
        return [view.text, *numbered, *tail]

    async def _show(self, view: CommandView) -> None:
        """Print a view; with buttons, ask which one and press it (the first on 'yes')."""
        first, *rest = self._lines(view)
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
