"""The platform-neutral entry point: one call runs one turn and returns the reply.

Adapters never touch LangGraph: they build an `IncomingMessage`, call `handle`, and post
the `Reply`. Turns in one thread run in arrival order; different threads run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver

from bot import metrics
from bot.commands import Commands
from bot.graph import MEMORY_CHANGED, MODEL_FAILED, message_text
from bot.inbox import Inbox
from bot.memory import MemoryManager
from bot.messages import IncomingMessage, PriorMessage, Reply
from bot.streaming import CUT_OFF_NOTE, TextSink, stream_graph

log = logging.getLogger(__name__)

TurnRunner = Callable[[IncomingMessage, str, Sequence[PriorMessage]], Awaitable[Reply]]

EMPTY_TEXT_REPLY = "I only read text, and that message didn't have any. Write to me in words and I'll answer."
CLOSING_REPLY = "I'm restarting right now, so I couldn't read that. Please send it again in a minute."
BROKEN_TURN_REPLY = "Sorry, something went wrong on my side while answering. Please try again."
TRUNCATION_NOTE = (
    "\n\n[Note: this message was {length:,} characters long; only the first {kept:,} were read.]"
)
MAX_PRIOR_MESSAGES = 30


def clean_text(text: str) -> str:
    """Text safe to store and send: valid UTF-8, no control characters except newlines/tabs."""
    # Lone surrogates (broken UTF-16 from a client) cannot be stored or sent: drop them.
    return "".join(
        char for char in text if char in "\n\t" or unicodedata.category(char) not in {"Cc", "Cs", "Co"}
    ).strip()


def _has_visible_text(text: str) -> bool:
    # Format characters alone (zero-width spaces, direction marks) look empty to a person.
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text)


class _ThreadLocks:
    """One lock per thread, created on demand and dropped when nobody waits on it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(thread_id, (asyncio.Lock(), 0))
        if not users:
            metrics.ACTIVE_THREADS.inc()
        self._locks[thread_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[thread_id]
            if users <= 1:
                del self._locks[thread_id]
                metrics.ACTIVE_THREADS.dec()
            else:
                self._locks[thread_id] = (lock, users - 1)


class ChatService:
    """Runs turns through the shared graph; `commands` answers a person's commands and buttons."""

    def __init__(
        self,
        graph: Any,
        memories: MemoryManager,
        checkpointer: BaseCheckpointSaver,
        *,
        max_input_chars: int = 8000,
        after_turn: Callable[[str], Awaitable[None]] | None = None,
        after_turn_every: int = 8,
        run_turn: TurnRunner | None = None,
        commands: Commands | None = None,
        streaming: bool = True,
        inbox: Inbox | None = None,
    ) -> None:
        """`run_turn` runs a checked, cleaned turn somewhere else (`bot.workers`); by default
        it runs here, in this process, through `graph`. `streaming` False: `handle` never calls
        its `on_text` (the answer arrives whole); turns in worker processes never stream."""
        self._graph = graph
        self.memories = memories
        self.commands = commands or Commands(memories)
        self._checkpointer = checkpointer
        self._max_input_chars = max_input_chars
        self._after_turn = after_turn
        self._after_turn_every = after_turn_every
        self._turns_per_thread: dict[str, int] = {}
        self._locks = _ThreadLocks()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._accepting = True
        self._turn_runner: TurnRunner = run_turn or self.run_turn
        self._streams = streaming and run_turn is None
        self.inbox = inbox  # where adapters record each message before acting on it (`bot.inbox`)

    async def has_thread(self, thread_id: str) -> bool:
        """Whether the bot already has a conversation in `thread_id` (durable)."""
        checkpoint = await self._checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}})
        return checkpoint is not None

    @property
    def streams(self) -> bool:
        """Whether `handle` hands out the answer's text as it is written."""
        return self._streams

    async def handle(
        self, message: IncomingMessage, *, prior: Sequence[PriorMessage] = (), on_text: TextSink | None = None
    ) -> Reply:
        """Run one turn for `message` and return what to post back. Never raises for bad input.

        With `on_text` (and `streams`), the answer's text is handed to it piece by piece as
        the model writes it; the returned `Reply` is still the whole, final answer.
        """
        if not self._accepting:
            metrics.TURNS.labels(message.platform, "closing").inc()
            return Reply(text=CLOSING_REPLY, failed=True)
        text = clean_text(message.text)
        if not _has_visible_text(text):
            metrics.TURNS.labels(message.platform, "empty").inc()
            return Reply(text=EMPTY_TEXT_REPLY)
        if len(text) > self._max_input_chars:
            text = text[: self._max_input_chars] + TRUNCATION_NOTE.format(
                length=len(text), kept=self._max_input_chars
            )
        self._in_flight += 1
        self._idle.clear()
        started = time.perf_counter()
        try:
            async with self._locks.hold(message.thread_id):
                if prior and await self.has_thread(message.thread_id):
                    # Two first mentions raced: the earlier one already brought this context.
                    prior = ()
                if on_text is not None and self._streams:
                    reply = await self.run_turn(message, text, prior, on_text=on_text)
                else:
                    reply = await self._turn_runner(message, text, prior)
        except Exception:
            log.exception("turn failed in thread %s", message.thread_id)
            reply = Reply(text=BROKEN_TURN_REPLY, failed=True)
        else:
            if reply.failed:
                metrics.MODEL_ERRORS.inc()
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
            elapsed = time.perf_counter() - started
            metrics.TURN_SECONDS.labels(message.platform).observe(elapsed)
            log.debug("turn in %s took %.1f ms", message.thread_id, elapsed * 1000)
        metrics.TURNS.labels(message.platform, "failed" if reply.failed else "answered").inc()
        return reply

    async def run_turn(
        self,
        message: IncomingMessage,
        text: str,
        prior: Sequence[PriorMessage],
        *,
        on_text: TextSink | None = None,
    ) -> Reply:
        """One turn through the graph, for text `handle` has already checked and cleaned.

        The caller holds the thread's turn lock; `bot.workers` calls this in a worker process.
        """
        inputs: list[HumanMessage] = []
        if prior:
            inputs.append(HumanMessage(content=_format_prior(prior), id=str(uuid.uuid4())))
        turn_id = str(uuid.uuid4())
        content = text if message.is_direct else f"[{_speaker_label(message.user_name)}] {text}"
        inputs.append(
            HumanMessage(content=content, id=turn_id, additional_kwargs={"user_id": message.user_id})
        )
        config = {
            "configurable": {
                "thread_id": message.thread_id,
                "user_id": message.user_id,
                "user_name": message.user_name,
                "platform": message.platform,
                "is_direct": message.is_direct,
                "channel_label": message.channel_label,
            }
        }
        # One checkpoint per turn, written when the turn ends: a turn killed half-way leaves
        # the thread as it was before it (facts it saved stay saved).
        shown = ""
        if on_text is None:
            result = await self._graph.ainvoke({"messages": inputs}, config, durability="exit")
        else:
            result, shown = await stream_graph(self._graph, {"messages": inputs}, config, on_text)
        await self._maybe_after_turn(message.thread_id)
        messages = result["messages"]
        start = next((i for i, m in enumerate(messages) if m.id == turn_id), 0)
        this_turn = messages[start + 1 :]
        final = this_turn[-1] if this_turn else None
        if not isinstance(final, AIMessage):
            return Reply(text=BROKEN_TURN_REPLY, failed=True)
        changed = any(
            isinstance(m, ToolMessage) and m.additional_kwargs.get(MEMORY_CHANGED) for m in this_turn
        )
        failed = bool(final.additional_kwargs.get(MODEL_FAILED))
        answer = message_text(final)
        if failed and shown.strip():
            # The model failed after part of its answer was already on screen: keep that
            # part, say it was cut off, and post no second message under it.
            answer = shown.rstrip() + CUT_OFF_NOTE
        return Reply(text=answer, memories_changed=changed, failed=failed)

    async def _maybe_after_turn(self, thread_id: str) -> None:
        """Run the after-turn hook (checkpoint pruning) every few turns of a thread, not each."""
        if self._after_turn is None:
            return
        if len(self._turns_per_thread) > 100_000:
            self._turns_per_thread.clear()  # a bounded counter; a missed prune just comes later
        count = self._turns_per_thread.get(thread_id, 0) + 1
        if count >= self._after_turn_every:
            await self._after_turn(thread_id)
            count = 0
        self._turns_per_thread[thread_id] = count

    @property
    def accepting(self) -> bool:
        """False once shutting down (`stop_accepting`)."""
        return self._accepting

    def stop_accepting(self) -> None:
        """New turns get a polite 'restarting' reply from now on; running turns finish."""
        self._accepting = False
        if self.inbox is not None:
            self.inbox.stop_taking_over()

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for in-flight turns; True if all finished."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            log.warning("%d turn(s) still running at shutdown", self._in_flight)
            return False

    @property
    def in_flight(self) -> int:
        return self._in_flight


def _speaker_label(name: str) -> str:
    return " ".join(name.replace("[", "(").replace("]", ")").split())[:80] or "someone"


def _format_prior(prior: Sequence[PriorMessage]) -> str:
    recent = list(prior)[-MAX_PRIOR_MESSAGES:]
    lines = [
        f"[{'you (the bot)' if item.from_bot else _speaker_label(item.user_name)}] {clean_text(item.text)[:2000]}"
        for item in recent
    ]
    return "Earlier in this thread, before I was mentioned:\n" + "\n".join(lines)
