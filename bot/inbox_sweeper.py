"""Opening the inbox, and its background work in every process: keep its leases, take over
abandoned messages.

Every third of a lease it renews the leases of the messages this process holds (one
statement for all of them), retries marking done what the database missed, takes over
messages whose lease ran out on the platforms this process serves (oldest first) and hands
each to its adapter, updates the inbox-depth gauge, and now and then deletes done rows
older than the retention window. A database outage only makes it log and try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot import metrics
from bot.inbox import MAX_ATTEMPTS, Claim, Clock, Inbox, InboxStore
from config.settings import DatabaseTarget

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0
MAX_HOLD_SECONDS = 600.0  # no turn holds a message this long (model timeout 60 s, a few rounds)
TAKE_PER_SWEEP = 50
FAR_LEASES = 4  # a lease ending more than this many lease lengths (+ a minute) ahead is not believed


class Sweeper:
    def __init__(self, inbox: Inbox, *, every: float | None = None) -> None:
        self.inbox = inbox
        self.every = every if every is not None else max(0.05, inbox.lease_seconds / 3)
        self._last_prune = float("-inf")
        self._failing = False
        self._resumed: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Sweeper]:
        task = asyncio.create_task(self._loop(), name="inbox-sweeper")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for resumed in list(self._resumed):
                resumed.cancel()
            await asyncio.gather(*self._resumed, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
                if self._failing:
                    log.info("inbox: the database answers again")
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage: keep the loop, say it once
                if not self._failing:
                    log.warning("inbox: sweep failed (%s); retrying", type(exc).__name__)
                self._failing = True
            await asyncio.sleep(self.every)

    async def sweep_once(self) -> list[Claim]:
        """One round; returns the claims taken over (their adapters are answering them)."""
        inbox, store = self.inbox, self.inbox.store
        now = inbox.clock()
        until = now + inbox.lease_seconds
        stale = [
            key for key, since in inbox.held_since.items() if time.monotonic() - since > MAX_HOLD_SECONDS
        ]
        for key in stale:
            # A claim no turn finished in ten minutes (a bug, a wedged task): let its lease run
            # out, so a sweeper answers it; if it was still alive, it finds out before posting.
            log.error("inbox: %s held for %.0f s; letting its lease run out", key, MAX_HOLD_SECONDS)
            inbox.let_go(key)
        if inbox.held:
            await store.renew(inbox.owner, list(inbox.held), until)
        for key in list(inbox.unfinished):
            await store.finish(key, inbox.owner, now)
            inbox.unfinished.pop(key, None)
        taken: list[Claim] = []
        if inbox.handlers and inbox.taking_over:
            far = now + FAR_LEASES * inbox.lease_seconds + 60
            rows = await store.take_expired(
                inbox.owner, now, until, list(inbox.handlers), TAKE_PER_SWEEP, far=far
            )
            for entry in rows:
                claim = inbox.adopt(entry)
                if entry.attempts > MAX_ATTEMPTS:
                    log.error("inbox: giving up on %s after %d attempts", entry.key, entry.attempts - 1)
                    await claim.done()
                    continue
                log.info(
                    "inbox: taking over %s (was %s, attempt %d)",
                    entry.key,
                    entry.previous_owner,
                    entry.attempts,
                )
                taken.append(claim)
                self._resume(claim)
        if time.monotonic() - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            pruned = await store.prune(now - inbox.retention_seconds)
            if pruned:
                log.debug("inbox: deleted %d answered message(s) past retention", pruned)
        metrics.INBOX_DEPTH.set(await store.depth())
        return taken

    def _resume(self, claim: Claim) -> None:
        handler = self.inbox.handlers.get(claim.entry.platform)

        async def run() -> None:
            try:
                if handler is None:
                    raise RuntimeError(f"no adapter for {claim.entry.platform}")
                await handler(claim)
                await claim.done()  # the adapter's `claim.turn()` did already, unless it failed early
            except asyncio.CancelledError:
                await asyncio.shield(claim.release())
                raise
            except Exception:
                log.exception("inbox: could not answer %s taken over; releasing it", claim.entry.key)
                await claim.release()

        task = asyncio.create_task(run())
        self._resumed.add(task)
        task.add_done_callback(self._resumed.discard)


async def open_store(target: DatabaseTarget) -> InboxStore:
    """The inbox's table in `target` (created on first use), on connections of its own."""
    store: InboxStore
    if target.kind == "postgres":
        from bot.postgres_inbox import PostgresInboxStore

        assert target.postgres_dsn is not None
        store = await PostgresInboxStore.open(target.postgres_dsn)
    else:
        from bot.sqlite_inbox import SqliteInboxStore

        assert target.sqlite_path is not None
        store = await SqliteInboxStore.open(target.sqlite_path)
    try:
        await store.setup()
    except BaseException:
        await store.close()
        raise
    return store


@asynccontextmanager
async def open_inbox(
    target: DatabaseTarget,
    *,
    lease_seconds: float = 30.0,
    retention_seconds: float = 86_400.0,
    clock: Clock = time.time,
    owner: str | None = None,
) -> AsyncIterator[Inbox]:
    """Open the inbox in `target`, with its sweeper running (`bot.inbox_sweeper`)."""
    store = await open_store(target)
    try:
        inbox = Inbox(
            store, lease_seconds=lease_seconds, retention_seconds=retention_seconds, clock=clock, owner=owner
        )
        async with Sweeper(inbox).running():
            yield inbox
    finally:
        await store.close()
