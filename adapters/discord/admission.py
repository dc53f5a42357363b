"""Discord and the durable inbox (`bot.inbox`): every message we answer is recorded under its
message id before we act on it, so an event replayed after a RESUME, or the same message
reaching another process (a shard moved on a restart), is answered once.

The answer runs under its `Claim`. Its reply target is wrapped (`guarded`): the first
message sent needs the claim still held, each one sent is recorded, and a process that
took the message over from a dead one edits those messages instead of sending new ones
(`resume` fetches the message again over REST, from any shard).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, cast

import discord

from bot.answer_guard import AnswerGuard, AnswerTakenOver
from bot.inbox import UNAVAILABLE_REPLY, Arrival, Claim, Inbox
from bot.messages import IncomingMessage

log = logging.getLogger(__name__)

PLATFORM = "discord"


class SeenMessages:
    """A bounded LRU of message ids: a replayed event is dropped here, before the inbox."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def first_time(self, message_id: int) -> bool:
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


_Guard = AnswerGuard[int]


_GUARD: ContextVar[_Guard | None] = ContextVar("discord_answer_guard", default=None)


class _GuardedTarget:
    """A reply target whose `send` is guarded by the answer's claim; all else passes through."""

    def __init__(self, target: discord.abc.Messageable, guard: _Guard) -> None:
        self._target = target
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    async def send(self, content: str | None = None, **kwargs: Any) -> discord.Message:
        guard = self._guard
        if not guard.checked:
            if not await guard.claim.may_post():
                raise AnswerTakenOver(guard.claim.entry.key)
            guard.checked = True
        if guard.reuse:
            partial = cast(Any, self._target).get_partial_message(guard.reuse.pop(0))
            return cast(discord.Message, await partial.edit(content=content, **kwargs))
        message = await self._target.send(content, **kwargs)
        await guard.claim.posted(str(message.id))
        return message


def guarded(target: discord.abc.Messageable) -> discord.abc.Messageable:
    """`target` itself, or guarded when the answer runs under a claim."""
    guard = _GUARD.get()
    return target if guard is None else cast(discord.abc.Messageable, _GuardedTarget(target, guard))


Answer = Callable[[discord.Message, Claim], Awaitable[None]]


class DiscordInbox:
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._client: discord.Client | None = None
        self._answer: Answer | None = None
        self._accepting: Callable[[], bool] = lambda: True

    def start(self, client: discord.Client, answer: Answer, accepting: Callable[[], bool]) -> None:
        """Take over Discord messages other processes left unanswered (`answer` them)."""
        self._client, self._answer, self._accepting = client, answer, accepting
        self._inbox.serve(PLATFORM, self.resume)

    def stop(self) -> None:
        self._inbox.unserve(PLATFORM)
        self._client = self._answer = None

    async def admit(self, message: discord.Message, incoming: IncomingMessage) -> Claim | None:
        """Record and claim `message`; None if it was recorded before (or the database is gone,
        which the person is told)."""
        arrival = Arrival(
            key=f"discord:{message.id}",
            platform=PLATFORM,
            thread_id=incoming.thread_id,
            payload={"channel_id": str(message.channel.id), "message_id": str(message.id)},
        )
        try:
            return await self._inbox.admit(arrival)
        except Exception as exc:  # noqa: BLE001 - the database is gone: say so, politely
            log.warning(
                "discord: the inbox is unreachable (%s); not answering %s", type(exc).__name__, message.id
            )
            try:
                await message.channel.send(UNAVAILABLE_REPLY)
            except discord.HTTPException:
                log.warning("discord: could not say the database is unreachable in %s", message.channel.id)
            return None

    async def run(self, claim: Claim, work: Callable[[], Awaitable[None]]) -> None:
        """Answer under `claim`: after the thread's earlier messages, guarded, then done."""
        try:
            async with claim.turn():
                if not self._accepting():
                    await claim.release()  # shutting down: another process answers it
                    return
                token = _GUARD.set(_Guard(claim, reuse=[int(i) for i in claim.existing]))
                try:
                    await work()
                finally:
                    _GUARD.reset(token)
        except AnswerTakenOver:
            log.info("discord: %s was taken over by another process; it answers it", claim.entry.key)

    async def resume(self, claim: Claim) -> None:
        """Answer a message another process recorded and did not finish (fetched over REST)."""
        client, answer = self._client, self._answer
        if client is None or answer is None:
            raise RuntimeError("the Discord adapter is not running")
        channel_id = int(claim.entry.payload["channel_id"])
        channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("inbox: %s is in a channel we cannot answer in", claim.entry.key)
            return
        message = await channel.fetch_message(int(claim.entry.payload["message_id"]))
        await answer(message, claim)


async def thread_started_from(message: discord.Message) -> discord.Thread | None:
    """The thread already started from `message` (it has the message's id), if there is one."""
    if message.guild is None:
        return None
    thread = message.guild.get_thread(message.id)
    if thread is not None:
        return thread
    try:
        found = await message.guild.fetch_channel(message.id)
    except discord.HTTPException:
        return None
    return found if isinstance(found, discord.Thread) else None
