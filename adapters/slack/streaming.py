"""Slack: an answer delivered as the model writes it.

Natively where Slack allows it (`chat.startStream` / `appendStream` / `stopStream`, Markdown),
otherwise by posting a message and editing it (`chat.update`, mrkdwn), split over several
messages when long. The model's pieces are buffered: the first text goes out as soon as it
arrives, later text at most about once a second (sooner when a lot is waiting), so a
fast model never turns into a flood of Web API calls.

Pings stay defused on every chunk: each chunk is escaped, and a trailing `@word` (which
the next piece could complete into `@channel`) is held back until the next piece, as is
trailing whitespace (so a cut-off answer, whose final text is trimmed, still only grows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import SLACK_CHUNK, THINKING, escape, to_mrkdwn
from adapters.slack.stream_text import FAILURES, error_name, message_end, safe_cut, whole_paragraphs
from adapters.text_split import split_message

log = logging.getLogger(__name__)

STATUS = "is thinking…"
FLUSH_SECONDS = 1.0  # at most about one append or update a second per answer
BIG_BUFFER = 1000  # characters waiting that are worth a call before the second is up
WHOLE_PARAGRAPHS = 1000  # the last characters of a message, where only whole paragraphs are shown


@dataclass
class Abilities:
    """What this workspace and token turned out to allow, remembered for the process."""

    streaming: bool = True
    status: bool = True


class AnswerStream:
    """One answer on its way to a Slack thread: `start()`, `sink(piece)`..., `finish(text)`."""

    def __init__(
        self,
        client: AsyncWebClient,
        abilities: Abilities,
        *,
        channel: str,
        thread_ts: str | None,
        team_id: str,
        user_id: str,
    ) -> None:
        """`thread_ts` None: a DM's top level, where Slack has no stream or status to offer."""
        self._client = client
        self._abilities = abilities
        self._channel = channel
        self._thread_ts = thread_ts
        self._team_id = team_id
        self._user_id = user_id
        self._native = abilities.streaming and thread_ts is not None
        self._pieces: list[str] = []
        self._size = 0
        self._flushed = 0  # how much of the text the last flush saw
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closing = False
        self._pump: asyncio.Task[None] | None = None
        self._status_shown = False
        # native: the stream's message and how much of the text it holds
        self._stream_ts: str | None = None
        self._sent_raw = 0  # characters of the text sent, in all messages
        self._sent = ""  # what the open stream's message holds, escaped
        self._finished: list[tuple[str, str]] = []  # earlier messages of a long answer: (ts, text)
        # post + update: the messages and what each one shows
        self._messages: list[str] = []
        self._shown: list[str] = []

    @property
    def text(self) -> str:
        """All the answer's text handed over so far."""
        return "".join(self._pieces)

    def start(self) -> None:
        self._pump = asyncio.create_task(self._run())

    def sink(self, piece: str) -> None:
        """The core's text sink: never blocks, never raises."""
        self._pieces.append(piece)
        self._size += len(piece)
        self._wake.set()
        if self._size - self._flushed >= BIG_BUFFER:
            self._urgent.set()

    async def finish(self, final: str) -> None:
        """End the answer with exactly `final` (the turn's whole reply text)."""
        self._closing = True
        self._wake.set()
        self._urgent.set()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)
        try:
            if self._native:
                await self._finish_native(final)
            if not self._native:
                await self._render(final)
        finally:
            await self._clear_status()

    async def abandon(self) -> None:
        """The turn was cancelled: stop posting (what is shown stays)."""
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    # ------------------------------------------------------------------ the pump

    async def _run(self) -> None:
        if self._thread_ts is not None and self._abilities.status:
            await self._set_status(STATUS)
        if not self._status_shown and not self._native:
            await self._placeholder()
        while True:
            await self._wake.wait()
            if self._closing:
                return
            self._wake.clear()
            self._flushed = self._size
            if self._native:
                await self._stream_more()
            if not self._native:
                await self._render(self.text, final=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), FLUSH_SECONDS)
            self._urgent.clear()

    async def _placeholder(self) -> None:
        try:
            self._messages.append(await self._post(THINKING))
            self._shown.append(THINKING)
        except FAILURES as exc:
            log.warning("Slack: could not post the placeholder (%s)", error_name(exc))

    # ------------------------------------------------------------------ native streaming

    async def _stream_more(self, *, final: str | None = None) -> None:
        """Send what can be shown of the text so far; with `final`, all of it, and end."""
        text = self.text if final is None else final
        cut = len(text) if final is not None else safe_cut(text)
        if cut <= self._sent_raw and final is None:
            return
        pending = text[self._sent_raw : cut]
        try:
            # A long answer goes on in a new message, cut where a sentence or line ends.
            while len(self._sent) + len(escape(pending)) > SLACK_CHUNK:
                room = SLACK_CHUNK - len(self._sent)
                whole = self._sent.endswith("\n\n")
                head = pending[: message_end(pending, room, used=len(self._sent), shown_whole=whole)]
                await self._send(head, end=True)
                pending = pending[len(head) :]
            if final is None and len(self._sent) + len(escape(pending)) > SLACK_CHUNK - WHOLE_PARAGRAPHS:
                # Near a message's end only whole paragraphs are shown, so it can still end on one.
                pending = whole_paragraphs(pending)
            if pending or final is not None:
                await self._send(pending, end=final is not None)
        except FAILURES as exc:
            await self._streaming_refused(exc)
            return
        await self._clear_status()

    async def _send(self, part: str, *, end: bool) -> None:
        chunk = escape(part)
        if self._stream_ts is None:
            if end and not chunk:
                return
            response = await self._client.chat_startStream(
                channel=self._channel,
                thread_ts=str(self._thread_ts),
                markdown_text=chunk,
                recipient_team_id=self._team_id,
                recipient_user_id=self._user_id,
            )
            self._stream_ts = str(response["ts"])
            if end:
                await self._client.chat_stopStream(channel=self._channel, ts=self._stream_ts)
        elif end:
            await self._client.chat_stopStream(
                channel=self._channel, ts=self._stream_ts, markdown_text=chunk or None
            )
        else:
            await self._client.chat_appendStream(
                channel=self._channel, ts=self._stream_ts, markdown_text=chunk
            )
        self._sent += chunk
        self._sent_raw += len(part)
        if end:
            self._finished.append((self._stream_ts, self._sent))
            self._stream_ts, self._sent = None, ""

    async def _finish_native(self, final: str) -> None:
        if self._stream_ts is None and not self._finished:
            self._native = False  # nothing streamed (a canned reply): plain messages
            return
        shown = "".join(text for _, text in self._finished) + self._sent
        if escape(final).startswith(shown) and final.startswith(self.text[: self._sent_raw]):
            await self._stream_more(final=final)
            return
        # What was shown is not the start of the final text: end the stream, then edit.
        try:
            await self._send("", end=True)
        except FAILURES as exc:
            log.warning("Slack: could not end a stream (%s)", error_name(exc))
        self._to_updates()

    def _to_updates(self) -> None:
        """From here on this answer's messages are edited with chat.update."""
        self._native = False
        done = [*self._finished, *([(self._stream_ts, self._sent)] if self._stream_ts else [])]
        self._messages = [ts for ts, _ in done]
        self._shown = [text for _, text in done]

    async def _streaming_refused(self, exc: Exception) -> None:
        """Slack said no: this answer, and every later one, is posted and edited instead."""
        log.warning("Slack: streaming refused (%s); posting and editing messages instead", error_name(exc))
        self._abilities.streaming = False
        if self._stream_ts is not None:  # a stream that broke mid-answer: edit its messages
            with contextlib.suppress(*FAILURES):
                await self._client.chat_stopStream(channel=self._channel, ts=self._stream_ts)
        self._to_updates()
        if self.text:
            await self._render(self.text, final=False)

    # ------------------------------------------------------------------ post + update

    async def _render(self, text: str, *, final: bool = True) -> None:
        """Make the messages show `text` (mrkdwn, split), touching only what changed."""
        if not final and not text.strip():
            return
        chunks = split_message(to_mrkdwn(text), SLACK_CHUNK) or ["…"]
        for index, chunk in enumerate(chunks):
            try:
                if index >= len(self._messages):
                    self._messages.append(await self._post(chunk))
                    self._shown.append(chunk)
                elif self._shown[index] != chunk:
                    await self._client.chat_update(
                        channel=self._channel, ts=self._messages[index], text=chunk
                    )
                    self._shown[index] = chunk
            except FAILURES as exc:
                if final:
                    raise
                log.warning("Slack: could not show the answer so far (%s)", error_name(exc))
                return
        await self._clear_status()

    async def _post(self, text: str) -> str:
        response = await self._client.chat_postMessage(
            channel=self._channel, thread_ts=self._thread_ts, text=text
        )
        return str(response["ts"])

    # ------------------------------------------------------------------ status

    async def _set_status(self, status: str) -> None:
        if self._thread_ts is None or not self._abilities.status:
            return
        try:
            await self._client.assistant_threads_setStatus(
                channel_id=self._channel, thread_ts=self._thread_ts, status=status
            )
        except FAILURES as exc:
            log.info("Slack: no thinking status here (%s); not trying again", error_name(exc))
            self._abilities.status = False
            return
        self._status_shown = bool(status)

    async def _clear_status(self) -> None:
        if self._status_shown:
            self._status_shown = False
            await self._set_status("")
