"""The durable inbox on SQLite and Postgres: recorded once, claimed with a lease, taken over
after it, answered in thread order across "processes" (two `Inbox`es on one database, each
with its own owner name and a clock the test moves)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot import metrics
from bot.inbox import MAX_ATTEMPTS, Arrival, Claim, Inbox, InboxStore
from bot.inbox_sweeper import MAX_HOLD_SECONDS, Sweeper, open_inbox, open_store
from config.settings import parse_database_url

LEASE = 30.0


class ManualClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def arrival(
    key: str, thread: str = "slack:T1:C1:1.0", *, event_id: str | None = None, **payload: Any
) -> Arrival:
    return Arrival(
        key=key, platform="slack", thread_id=thread, payload=payload or {"text": key}, event_id=event_id
    )


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Callable[[], Any]]:
    """Opens stores on one database (each a "process's" connections); closes them all after."""
    opened: list[InboxStore] = []

    async def open_one() -> InboxStore:
        store = await open_store(parse_database_url(database_url))
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def two(stores: Callable[[], Any], clock: ManualClock) -> tuple[Inbox, Inbox]:
    """Processes A and B on one database and one clock."""
    a = Inbox(await stores(), lease_seconds=LEASE, clock=clock, owner="A")
    b = Inbox(await stores(), lease_seconds=LEASE, clock=clock, owner="B")
    return a, b


async def test_a_message_is_recorded_once_under_either_of_its_ids(two: tuple[Inbox, Inbox]) -> None:
    a, b = two
    before = metrics.sample("bot_inbox_duplicates_total", {"platform": "slack"})
    first = await a.admit(arrival("slack:T1:C1:5.1", event_id="Ev1"))
    assert first is not None and first.ahead == 0
    # The same message again, in another process: by its key (the app_mention twin of a
    # message event) and by its event id alone (a redelivered envelope).
    assert await b.admit(arrival("slack:T1:C1:5.1", event_id="Ev2")) is None
    assert await b.admit(arrival("slack:T1:C1:other", event_id="Ev1")) is None
    assert await a.admit(arrival("slack:T1:C1:5.1")) is None
    assert metrics.sample("bot_inbox_duplicates_total", {"platform": "slack"}) == before + 3
    # Answered: still known, so a redelivery after the answer is not answered either.
    async with first.turn():
        pass
    assert await b.admit(arrival("slack:T1:C1:5.1", event_id="Ev3")) is None


async def test_turns_of_one_thread_run_in_arrival_order_across_processes(two: tuple[Inbox, Inbox]) -> None:
    a, b = two
    claims = [
        await (a if index % 2 == 0 else b).admit(arrival(f"m{index}", "thread-1")) for index in range(4)
    ]
    other = await b.admit(arrival("elsewhere", "thread-2"))
    assert other is not None and other.ahead == 0
    assert [claim.ahead for claim in claims if claim] == [0, 1, 2, 3]
    order: list[str] = []

    async def answer(claim: Claim | None) -> None:
        assert claim is not None
        async with claim.turn():
            order.append(claim.entry.key)
            await asyncio.sleep(0)

    # Started last-first: each still waits for the ones that arrived before it.
    await asyncio.gather(*(answer(claim) for claim in reversed(claims)))
    assert order == ["m0", "m1", "m2", "m3"]
    # Another thread never waited on this one.
    async with other.turn():
        pass


async def test_a_dead_process_s_message_is_taken_over_after_its_lease(
    two: tuple[Inbox, Inbox], clock: ManualClock
) -> None:
    a, b = two
    resumed: list[Claim] = []

    async def resume(claim: Claim) -> None:
        async with claim.turn():
            resumed.append(claim)

    b.serve("slack", resume)
    claim = await a.admit(arrival("m1", payload_note="x"))
    assert claim is not None
    assert await claim.may_post()
    await claim.posted("1700.000001")  # A posted its placeholder, then died
    before = metrics.sample("bot_lease_takeovers_total", {"platform": "slack"})

    sweeper = Sweeper(b)
    clock.now += LEASE - 1
    assert await sweeper.sweep_once() == []  # the lease still runs
    clock.now += 2
    [taken] = await sweeper.sweep_once()
    assert taken.resumed and taken.existing == ("1700.000001",)
    assert taken.entry.payload == {"payload_note": "x"}
    await asyncio.gather(*sweeper._resumed)
    assert resumed == [taken]
    assert metrics.sample("bot_lease_takeovers_total", {"platform": "slack"}) == before + 1
    # A comes back from a long pause: it no longer holds the message and must not post.
    assert not await claim.may_post()
    await claim.done()
    assert await sweeper.sweep_once() == []
    assert await a.admit(arrival("m1")) is None


async def test_a_live_process_keeps_its_lease_by_renewing_it(
    two: tuple[Inbox, Inbox], clock: ManualClock
) -> None:
    a, b = two
    b.serve("slack", lambda claim: asyncio.sleep(0))
    claim = await a.admit(arrival("m1"))
    assert claim is not None
    for _ in range(5):  # 5 x 20 s: far past one lease, renewed every 20 s
        clock.now += 20
        await Sweeper(a).sweep_once()
        assert await Sweeper(b).sweep_once() == []
    assert await claim.may_post()


async def test_clock_jumps(two: tuple[Inbox, Inbox], clock: ManualClock, stores: Callable[[], Any]) -> None:
    a, b = two
    b.serve("slack", lambda claim: asyncio.sleep(0))
    # B's clock jumps an hour ahead while A works: B takes the message, A finds out before posting.
    working = await a.admit(arrival("m1"))
    assert working is not None
    ahead = ManualClock(clock.now + 3600)
    jumpy = Inbox(await stores(), lease_seconds=LEASE, clock=ahead, owner="B2")
    jumpy.serve("slack", lambda claim: asyncio.sleep(0))
    jumpy_sweeper = Sweeper(jumpy)
    [taken] = await jumpy_sweeper.sweep_once()
    assert taken.entry.key == "m1"
    assert not await working.may_post()
    await asyncio.gather(*jumpy_sweeper._resumed)  # answered and done before B looks

    # A process whose clock ran an hour ahead wrote a lease no sane clock gives, then died:
    # it is not honoured for an hour, it is taken over at once.
    far_a = Inbox(await stores(), lease_seconds=LEASE, clock=ahead, owner="A2")
    stranded = await far_a.admit(arrival("m2", "thread-2"))
    assert stranded is not None
    [rescued] = await Sweeper(b).sweep_once()
    assert rescued.entry.key == "m2"

    # A clock that jumps back an hour: leases it wrote look expired to the others (taken
    # over, and the owner learns it at its next `may_post`); nothing waits for an hour.
    behind = Inbox(await stores(), lease_seconds=LEASE, clock=ManualClock(clock.now - 3600), owner="A3")
    late = await behind.admit(arrival("m3", "thread-3"))
    assert late is not None
    [again] = await Sweeper(b).sweep_once()
    assert again.entry.key == "m3" and not await late.may_post()


async def test_a_cancelled_turn_releases_its_message_for_another_process_at_once(
    two: tuple[Inbox, Inbox],
) -> None:
    a, b = two
    b.serve("slack", lambda claim: asyncio.sleep(0))
    claim = await a.admit(arrival("m1"))
    assert claim is not None
    started = asyncio.Event()

    async def turn() -> None:
        async with claim.turn():
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(turn())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    before = metrics.sample("bot_lease_takeovers_total", {"platform": "slack"})
    [taken] = await Sweeper(b).sweep_once()  # no lease to wait for
    assert taken.entry.key == "m1" and taken.entry.previous_owner is None
    assert metrics.sample("bot_lease_takeovers_total", {"platform": "slack"}) == before


async def test_a_message_that_keeps_killing_its_process_is_given_up(
    two: tuple[Inbox, Inbox], clock: ManualClock
) -> None:
    a, b = two
    b.serve("slack", lambda claim: asyncio.sleep(0))
    assert await a.admit(arrival("poison")) is not None
    takers = [
        Inbox(b.store, lease_seconds=LEASE, clock=clock, owner=f"P{i}") for i in range(MAX_ATTEMPTS + 1)
    ]
    taken_times = 0
    for taker in takers:
        taker.serve("slack", lambda claim: asyncio.sleep(0))
        clock.now += LEASE + 1
        sweeper = Sweeper(taker)
        sweeper._resume = lambda claim: None  # type: ignore[method-assign]  # each taker dies too
        taken_times += len(await sweeper.sweep_once())
    assert taken_times == MAX_ATTEMPTS - 1
    assert await b.store.depth() == 0


async def test_done_rows_are_pruned_after_the_retention_window(
    stores: Callable[[], Any], clock: ManualClock
) -> None:
    inbox = Inbox(await stores(), lease_seconds=LEASE, retention_seconds=3600, clock=clock, owner="A")
    done = await inbox.admit(arrival("old"))
    waiting = await inbox.admit(arrival("waiting", "thread-2"))
    assert done is not None and waiting is not None
    async with done.turn():
        pass
    clock.now += 3601
    await Sweeper(inbox).sweep_once()
    assert metrics.sample("bot_inbox_depth") == 1  # the unanswered one is kept, whatever its age
    # Pruned: a delivery this late would be answered again (retention is the dedupe horizon).
    assert await inbox.admit(arrival("old")) is not None
    assert await inbox.admit(arrival("waiting")) is None


async def test_a_done_that_missed_the_database_is_retried_by_the_sweeper(
    stores: Callable[[], Any], clock: ManualClock
) -> None:
    store = await stores()
    inbox = Inbox(store, lease_seconds=LEASE, clock=clock, owner="A")
    claim = await inbox.admit(arrival("m1"))
    assert claim is not None
    real_finish = store.finish

    async def broken(*args: Any) -> bool:
        raise OSError("connection lost")

    store.finish = broken  # type: ignore[method-assign]
    async with claim.turn():
        pass
    assert "m1" in inbox.unfinished and await store.depth() == 1
    store.finish = real_finish  # type: ignore[method-assign]
    await Sweeper(inbox).sweep_once()
    assert not inbox.unfinished and await store.depth() == 0


async def test_open_inbox_runs_its_sweeper(database_url: str) -> None:
    async with open_inbox(parse_database_url(database_url), lease_seconds=0.3) as inbox:
        claim = await inbox.admit(arrival("m1"))
        assert claim is not None
        await asyncio.sleep(0.5)  # past the lease: renewed meanwhile
        assert await claim.may_post()
        assert await inbox.ping()


async def test_a_turn_whose_wait_fails_leaves_its_message_to_a_sweeper(
    two: tuple[Inbox, Inbox], clock: ManualClock
) -> None:
    a, b = two
    b.serve("slack", lambda claim: asyncio.sleep(0))
    first = await a.admit(arrival("m1"))
    second = await a.admit(arrival("m2"))
    assert first is not None and second is not None and second.ahead == 1

    async def broken(*args: Any) -> int:
        raise OSError("connection lost")

    a.store.ahead = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        async with second.turn():
            pass
    assert "m2" not in a.held  # not renewed for ever by A's sweeper
    async with first.turn():
        pass
    [taken] = await Sweeper(b).sweep_once()  # released: no lease to wait for
    assert taken.entry.key == "m2"


async def test_a_claim_no_turn_finishes_is_let_go_after_ten_minutes(
    two: tuple[Inbox, Inbox], clock: ManualClock
) -> None:
    a, b = two
    b.serve("slack", lambda claim: asyncio.sleep(0))
    stuck = await a.admit(arrival("m1"))
    assert stuck is not None
    a.held_since["m1"] -= MAX_HOLD_SECONDS + 1  # claimed (by the monotonic clock) long ago
    await Sweeper(a).sweep_once()
    assert "m1" not in a.held
    clock.now += LEASE + 1
    [taken] = await Sweeper(b).sweep_once()
    assert taken.entry.key == "m1" and not await stuck.may_post()
