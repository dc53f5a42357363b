"""Discord: an answer shown as the model writes it, by sending a message and editing it.

The reply goes out with the first text and is then edited as more arrives, each message at
most once every `EDIT_SECONDS`, counted from the end of its previous send or edit: an edit
that is slow, or that discord.py holds back after a 429 until `retry_after` has passed,
pushes the next one back instead of letting them pile up, and the text meanwhile waits
here. Past 2,000 characters the answer goes on in a new message, cut where `split_message`
cuts (paragraph, line, sentence, word), so at the end the messages are exactly the split of
the reply, as with streaming off. "Typing…" shows until the first text. Every send and edit
carries `AllowedMentions.none()`, so nothing the model writes pings anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from adapters.discord.render import MESSAGE_LIMIT, NO_PINGS
from adapters.text_split import split_message

if TYPE_CHECKING:
    from bot.messages import Reply

log = logging.getLogger(__name__)

EDIT_SECONDS = 1.0  # at most one edit a second per message
FINAL_TRIES = 3  # the last edit carries the whole answer: it is worth trying again


@dataclass
class _Shown:
    """One message of the answer: what it shows, and when it may be edited next."""

    message: discord.Message
    content: str
    ready_at: float


class AnswerStream:
    """One answer on its way to a Discord channel: `start()`, `sink(piece)`..., `finish(text)`."""

    def __init__(self, target: discord.abc.Messageable, *, edit_seconds: float = EDIT_SECONDS) -> None:
        self._target = target
        self._edit_seconds = edit_seconds
        self._pieces: list[str] = []
        self._shown: list[_Shown] = []
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._quiet = False  # Discord refused a partial update for good (no permission)
        self._pump: asyncio.Task[None] | None = None
        self._typing: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        """All the answer's text handed over so far."""
        return "".join(self._pieces)

    def start(self) -> None:
        self._typing = asyncio.create_task(show_typing(self._target))
        self._pump = asyncio.create_task(self._run())

    def sink(self, piece: str) -> None:
        """The core's text sink: never blocks, never raises."""
        self._pieces.append(piece)
        self._wake.set()

    async def finish(self, final: str) -> None:
        """End the answer showing exactly `final` (the turn's whole reply text)."""
        try:
            await self._stop_pump()
            await self._show_final(final)
        finally:
            self._stop_typing()

    async def abandon(self) -> None:
        """The turn was cancelled: stop updating (what is shown stays)."""
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        self._stop_typing()

    # ------------------------------------------------------------------ while it is written

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._closing.is_set():
                return
            self._wake.clear()
            wait = await self._show_partial(self.text)
            if wait is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), wait)
                self._wake.set()  # look again once the edit is due

    async def _stop_pump(self) -> None:
        """Let a send or edit in flight land (its message must not be lost), then stop."""
        self._closing.set()
        self._wake.set()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)

    async def _show_partial(self, text: str) -> float | None:
        """Bring the messages up to `text` as far as pacing allows; seconds until the next
        edit is due when some of it had to wait, else None."""
        if self._quiet:
            return None
        try:
            for index, chunk in enumerate(split_message(text, MESSAGE_LIMIT)):
                if index == len(self._shown):
                    await self._send(chunk)
                    continue
                shown = self._shown[index]
                if shown.content == chunk:
                    continue
                wait = shown.ready_at - time.monotonic()
                if wait > 0:
                    return wait  # later messages wait too, so no text shows twice
                await self._edit(shown, chunk)
        except discord.Forbidden as exc:
            log.warning("discord: may not show the answer as it is written (%s)", exc.text)
            self._quiet = True
        except discord.HTTPException as exc:
            log.warning("discord: could not show the answer so far (%s); trying again", exc)
            return self._edit_seconds
        return None

    # ------------------------------------------------------------------ the end

    async def _show_final(self, final: str) -> None:
        chunks = split_message(final, MESSAGE_LIMIT)
        for index, chunk in enumerate(chunks):
            if index == len(self._shown):
                await self._send(chunk)
                continue
            shown = self._shown[index]
            if shown.content != chunk:
                await asyncio.sleep(max(0.0, shown.ready_at - time.monotonic()))
                await self._edit_final(shown, chunk)
        for extra in self._shown[len(chunks) :]:  # the final text is shorter than what was shown
            with contextlib.suppress(discord.NotFound):
                await extra.message.delete()
        del self._shown[len(chunks) :]

    async def _edit_final(self, shown: _Shown, chunk: str) -> None:
        for attempt in range(1, FINAL_TRIES + 1):
            try:
                await self._edit(shown, chunk)
                return
            except discord.NotFound:  # someone deleted it: the answer still arrives
                shown.message = await self._target.send(chunk, allowed_mentions=NO_PINGS)
                shown.content = chunk
                return
            except discord.Forbidden:
                raise
            except discord.HTTPException as exc:
                if attempt == FINAL_TRIES:
                    raise
                log.warning("discord: the answer's last edit failed (%s); trying again", exc)
                await asyncio.sleep(self._edit_seconds)

    # ------------------------------------------------------------------ calls

    async def _send(self, chunk: str) -> None:
        message = await self._target.send(chunk, allowed_mentions=NO_PINGS)
        self._shown.append(_Shown(message, chunk, time.monotonic() + self._edit_seconds))
        self._stop_typing()

    async def _edit(self, shown: _Shown, chunk: str) -> None:
        shown.message = await shown.message.edit(content=chunk, allowed_mentions=NO_PINGS)
        shown.content = chunk
        shown.ready_at = time.monotonic() + self._edit_seconds

    def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            self._typing = None


async def show_typing(target: discord.abc.Messageable) -> None:
    """Show "typing…" in `target` until cancelled; a failure here never touches the answer."""
    try:
        async with target.typing():
            await asyncio.Future()  # until cancelled
    except Exception as exc:  # noqa: BLE001 - only decoration failed; the reply still goes out
        log.debug("discord: the typing indicator failed (%s)", type(exc).__name__)


async def typing_while(target: discord.abc.Messageable, turn: Awaitable[Reply]) -> Reply:
    """Run `turn` with "typing…" shown; the indicator never delays or sinks the reply.

    discord.py's `typing()` waits for its first request (and any rate-limit retry of it)
    before its block starts; here the indicator runs beside the turn instead, and stops
    when the turn is done, whatever state its own requests are in.
    """
    typing = asyncio.create_task(show_typing(target))
    try:
        return await turn
    finally:
        typing.cancel()
