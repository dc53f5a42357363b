"""The durable inbox: every message is recorded before it is acted on, answered once, in order.

An adapter `admit`s each incoming message under the platform's own id (a Slack message's
channel and ts, with its event id as a second key; a Discord message id). A second delivery,
to this process or any other on the same database, finds the row: `admit` returns None and
nothing is answered again. The process that recorded it holds a lease on it
(`TURN_LEASE_SECONDS`), renewed by its sweeper while it works; it runs the turn once every
earlier message of the same thread is answered (`Claim.turn`, whichever process holds
those), records each message it posts (`Claim.posted`) and marks the row done. If it dies,
another process's sweeper takes the row over once the lease has run out and hands it to its
adapter (`Inbox.serve`), which edits what was already posted instead of posting again.
Done rows are deleted after the retention window. Storage: `bot.sqlite_inbox`,
`bot.postgres_inbox`; the lifecycle and the sweeper: `bot.inbox_sweeper`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import metrics

log = logging.getLogger(__name__)

# Said when the database cannot be reached: without it a turn cannot run (history, facts).
UNAVAILABLE_REPLY = (
    "I can't reach my memory right now, so I couldn't answer that. Please try again in a minute."
)
MAX_ATTEMPTS = 5  # take-overs of one message before it is given up (a message that kills processes)
POLL_FIRST, POLL_MAX = 0.02, 0.25  # seconds between looks at a thread whose earlier turn runs elsewhere

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class Arrival:
    """A message as an adapter records it: its platform id(s), its thread, and how to answer it."""

    key: str  # the platform's own id, prefixed: "slack:T1:C1:1700000000.000100", "discord:123"
    platform: str
    thread_id: str
    payload: dict[str, Any]  # JSON: what the adapter needs to answer it again, in any process
    event_id: str | None = None  # a second id the same message may arrive under (Slack event_id)


@dataclass(frozen=True, kw_only=True)
class Entry:
    """A recorded message this process holds."""

    seq: int  # arrival order, across every process
    key: str
    platform: str
    thread_id: str
    payload: dict[str, Any]
    posted: tuple[str, ...] = ()  # ids of messages already posted for it (by a process that died)
    attempts: int = 1
    previous_owner: str | None = None


class InboxStore(Protocol):
    """One table, `bot_inbox`, in SQLite or Postgres. Times are the inbox clock's seconds."""

    async def setup(self) -> None: ...
    async def insert(self, arrival: Arrival, owner: str, now: float, until: float) -> tuple[int, int] | None:
        """Record and claim; (seq, unfinished earlier rows of its thread), or None if known."""
        ...

    async def ahead(self, thread_id: str, seq: int) -> int: ...
    async def knows_thread(self, thread_id: str) -> bool: ...
    async def renew(self, owner: str, keys: Sequence[str], until: float) -> None: ...
    async def take_expired(
        self, owner: str, now: float, until: float, platforms: Sequence[str], limit: int, *, far: float
    ) -> list[Entry]:
        """Claim unfinished rows whose lease ended before `now`, or ends after `far` (written
        by a clock that was ahead: a lease no sane clock gives), oldest first."""
        ...

    async def hold(self, key: str, owner: str, until: float) -> bool: ...
    async def set_posted(self, key: str, owner: str, posted: Sequence[str]) -> bool: ...
    async def finish(self, key: str, owner: str, now: float) -> bool: ...
    async def release(self, key: str, owner: str) -> None: ...
    async def prune(self, before: float) -> int: ...
    async def depth(self) -> int: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


Resume = Callable[["Claim"], Awaitable[None]]


@dataclass(eq=False)
class Claim:
    """This process's hold on one recorded message, from `admit` (or a take-over) to done."""

    inbox: Inbox
    entry: Entry
    ahead: int = 0
    resumed: bool = False  # taken over from a process that did not finish it
    _posted: list[str] = field(default_factory=list)
    _finished: bool = False

    @property
    def existing(self) -> tuple[str, ...]:
        """Messages already posted for this one before this process took it over."""
        return self.entry.posted

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[Claim]:
        """Wait for the thread's earlier messages, then answer; done on exit.

        Cancelled (shutdown): the row is released for another process, or this one after a
        restart. Any other exception still marks it done: the adapter already apologised,
        and a message that breaks its turn must not come round again and again.
        """
        try:
            await self.inbox.wait_turn(self)
        except BaseException:
            await asyncio.shield(self.release())  # the database failed us: leave it to a sweeper
            raise
        try:
            yield self
        except asyncio.CancelledError:
            await asyncio.shield(self.release())
            raise
        except BaseException:
            await self.done()
            raise
        await self.done()

    async def may_post(self) -> bool:
        """Whether this process still holds the message (then it may post for it)."""
        return await self.inbox.hold(self)

    async def posted(self, message_id: str) -> None:
        """Record a message posted for this one, so a taker edits it rather than posting again."""
        self._posted.append(message_id)
        await self.inbox.record_posted(self, [*self.entry.posted, *self._posted])

    async def done(self) -> None:
        if not self._finished:
            self._finished = True
            await self.inbox.finish(self)

    async def release(self) -> None:
        if not self._finished:
            self._finished = True
            await self.inbox.release(self)


def process_owner() -> str:
    """A name for this process in the inbox's rows: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Inbox:
    """Admission, claims and thread order over an `InboxStore`; `bot.inbox_sweeper` keeps leases."""

    def __init__(
        self,
        store: InboxStore,
        *,
        lease_seconds: float = 30.0,
        retention_seconds: float = 86_400.0,
        clock: Clock = time.time,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.owner = owner or process_owner()
        self.held: dict[str, Entry] = {}  # rows this process holds: the sweeper renews their leases
        self.held_since: dict[str, float] = {}  # when (monotonic) each was claimed
        self.unfinished: dict[str, Entry] = {}  # answered, but 'done' did not reach the database yet
        self.handlers: dict[str, Resume] = {}
        self.taking_over = True
        self._wakeups: dict[str, asyncio.Event] = {}

    def serve(self, platform: str, resume: Resume) -> None:
        """Let this process take over `platform`'s messages abandoned by others (its sweeper)."""
        self.handlers[platform] = resume

    def unserve(self, platform: str) -> None:
        self.handlers.pop(platform, None)

    def stop_taking_over(self) -> None:
        """Draining: take over nothing more (what this process releases goes to the others)."""
        self.taking_over = False

    async def admit(self, arrival: Arrival) -> Claim | None:
        """Record `arrival` and claim it; None when it was recorded before (a second delivery).

        Raises when the database cannot be reached: the adapter says `UNAVAILABLE_REPLY`.
        """
        now = self.clock()
        recorded = await self.store.insert(arrival, self.owner, now, now + self.lease_seconds)
        if recorded is None:
            metrics.INBOX_DUPLICATES.labels(arrival.platform).inc()
            log.debug("inbox: %s was delivered again; not answering it twice", arrival.key)
            return None
        seq, ahead = recorded
        entry = Entry(
            seq=seq,
            key=arrival.key,
            platform=arrival.platform,
            thread_id=arrival.thread_id,
            payload=arrival.payload,
        )
        self._hold(entry)
        return Claim(self, entry, ahead=ahead)

    def adopt(self, entry: Entry) -> Claim:
        """A claim on a row this process just took over."""
        self._hold(entry)
        if entry.previous_owner is not None:
            metrics.LEASE_TAKEOVERS.labels(entry.platform).inc()
        return Claim(self, entry, ahead=1, resumed=True)

    def _hold(self, entry: Entry) -> None:
        self.held[entry.key] = entry
        self.held_since[entry.key] = time.monotonic()

    def let_go(self, key: str) -> None:
        """Stop renewing `key`'s lease (answered, released, lost or given up)."""
        self.held.pop(key, None)
        self.held_since.pop(key, None)

    async def wait_turn(self, claim: Claim) -> None:
        """Return once no earlier message of the claim's thread is still unanswered."""
        ahead, delay = claim.ahead, POLL_FIRST
        thread = claim.entry.thread_id
        while ahead:
            wake = self._wakeups.setdefault(thread, asyncio.Event())
            try:
                await asyncio.wait_for(wake.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, POLL_MAX)
            ahead = await self.store.ahead(thread, claim.entry.seq)
        if len(self._wakeups) > 10_000:
            self._wakeups.clear()  # waits that ended on a poll left theirs; a missed wake costs one poll

    async def hold(self, claim: Claim) -> bool:
        kept = await self.store.hold(claim.entry.key, self.owner, self.clock() + self.lease_seconds)
        if not kept:
            log.warning("inbox: %s was taken over by another process; not posting", claim.entry.key)
            self.let_go(claim.entry.key)
        return kept

    async def record_posted(self, claim: Claim, posted: Sequence[str]) -> None:
        try:
            await self.store.set_posted(claim.entry.key, self.owner, posted)
        except Exception:  # noqa: BLE001 - the answer is out; only a taker's edit is at stake
            log.warning("inbox: could not record a posted message for %s", claim.entry.key)

    async def finish(self, claim: Claim) -> None:
        entry = self.held.get(claim.entry.key, claim.entry)
        self.let_go(entry.key)
        try:
            await self.store.finish(entry.key, self.owner, self.clock())
        except Exception:  # noqa: BLE001 - answered; the sweeper marks it done when it can
            log.warning("inbox: could not mark %s done; will retry", entry.key)
            self.unfinished[entry.key] = entry
        self._wake(entry.thread_id)

    async def release(self, claim: Claim) -> None:
        self.let_go(claim.entry.key)
        try:
            await self.store.release(claim.entry.key, self.owner)
        except Exception:  # noqa: BLE001 - the lease runs out on its own
            log.warning("inbox: could not release %s; it is taken over after its lease", claim.entry.key)
        self._wake(claim.entry.thread_id)

    def _wake(self, thread_id: str) -> None:
        wake = self._wakeups.pop(thread_id, None)
        if wake is not None:
            wake.set()

    async def knows_thread(self, thread_id: str) -> bool:
        """Whether a message of this thread was ever recorded (the bot was addressed in it)."""
        return await self.store.knows_thread(thread_id)

    async def ping(self) -> bool:
        return await self.store.ping()
