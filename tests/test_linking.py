"""Account linking, on SQLite and Postgres: one person across Slack, Discord and the console,
joined only by a one-time code; /forget covers both; /unlink splits them; every bad input.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.commands import FORGET_CONFIRM, Commands, CommandView
from bot.commands import link as words
from bot.facts import Provenance
from bot.linking import ALPHABET, CODE_LENGTH, code_hash, new_code, normalize
from bot.memory import MemoryManager
from bot.messages import IncomingMessage
from bot.runtime import Runtime, open_runtime
from bot.storage import open_storage
from bot.visibility import PRIVATE
from config.settings import Settings, parse_database_url
from tests.fakes.openai_server import FakeOpenAI
from tests.reliability.conftest import sqlite_bytes
from tests.test_cli import bot_env, run_bot

SLACK, DISCORD, MALLORY, SLACK_BEN = "slack:T1:U1", "discord:42", "discord:99", "slack:T1:U2"
NAMES = {SLACK: "Ana", DISCORD: "ana.d", MALLORY: "mallory", SLACK_BEN: "Ben"}
SECRET = "zanzibarquokka"
CODE = re.compile(r"link code is ([A-Z2-9]{8})")


def dm(user: str, text: str) -> IncomingMessage:
    platform, native = user.split(":", 1)[0], user.rsplit(":", 1)[-1]
    return IncomingMessage(
        platform=platform,
        user_id=user,
        user_name=NAMES.get(user, native),
        thread_id=f"{platform}:dm:{native}",
        text=text,
        is_direct=True,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def commands(runtime: Runtime, clock: Clock) -> Commands:
    return Commands(runtime.memories, clock=clock)


async def issue(commands: Commands, user: str) -> str:
    view = await commands.link(user, NAMES.get(user, user))
    match = CODE.search(view.text)
    assert match, view.text
    return match.group(1)


async def link(commands: Commands, issuer: str, redeemer: str) -> CommandView:
    return await commands.link(redeemer, NAMES.get(redeemer, redeemer), await issue(commands, issuer))


async def texts(runtime: Runtime, user: str) -> set[str]:
    return {fact.text for fact in await runtime.memories.list_facts(user)}


async def test_link_joins_two_accounts_into_one_person_with_one_set_of_facts(
    runtime: Runtime, fake_model: FakeOpenAI, commands: Commands
) -> None:
    service = runtime.service
    for text in ("I like pepperoni pizza", "I live in Porto"):
        await service.handle(dm(SLACK, text))
    for text in ("I like pepperoni pizza", "I work at Initech"):
        await service.handle(dm(DISCORD, text))

    issued = await commands.link(SLACK, "Ana")
    code = CODE.search(issued.text)
    assert code and len(code.group(1)) == CODE_LENGTH and issued.expires_in == 600
    assert "Keep it to yourself" in issued.footer
    linked = await commands.link(DISCORD, "ana.d", code.group(1).lower())  # typed in lower case
    assert linked.text.startswith(
        "Linked: this Discord account and your Slack account Ana are now one person"
    )

    both = {"User likes pepperoni pizza", "User lives in Porto", "User works at Initech"}
    assert await texts(runtime, SLACK) == await texts(runtime, DISCORD) == both  # the duplicate once
    where = {fact.text: fact.where() for fact in await runtime.memories.list_facts(DISCORD)}
    assert where["User lives in Porto"] == "a Slack DM" and where["User works at Initech"] == "a Discord DM"
    assert {i.user_id for i in await runtime.memories.identities(SLACK)} == {SLACK, DISCORD}

    before = len(fake_model.requests)
    await service.handle(dm(DISCORD, "where should I eat tonight?"))
    assert "User lives in Porto" in fake_model.system_prompts()[before]

    await service.handle(dm(DISCORD, "I like green tea"))  # learned after linking, on Discord
    assert "User likes green tea" in await texts(runtime, SLACK)
    again = await commands.link(SLACK, "Ana")
    assert "already linked with your Discord account ana.d" in again.footer


async def test_forget_on_either_account_erases_for_both_with_both_dm_histories(
    runtime: Runtime, fake_model: FakeOpenAI, commands: Commands, tmp_path: Path
) -> None:
    service = runtime.service
    await service.handle(dm(SLACK, f"remember that {SECRET} is my word"))
    await service.handle(dm(DISCORD, "I like green tea"))
    await service.handle(dm(SLACK_BEN, "remember that marmaladeotter is mine"))
    await link(commands, SLACK, DISCORD)
    await service.handle(dm(DISCORD, "I live in Porto"))

    preview = await commands.forget(DISCORD)
    assert "(3 memories)" in preview.text
    [confirm] = [b for b in preview.buttons if b.action == FORGET_CONFIRM]
    done = await commands.press(DISCORD, confirm.action, confirm.value)
    assert done.text == "Done. I erased 3 memories about you."

    assert await texts(runtime, SLACK) == set() == await texts(runtime, DISCORD)
    assert not await service.has_thread("slack:dm:U1") and not await service.has_thread("discord:dm:42")
    assert await texts(runtime, SLACK_BEN) == {"marmaladeotter is mine"}
    before = len(fake_model.requests)
    await service.handle(dm(SLACK, "what was my word?"))
    assert SECRET not in json.dumps(fake_model.requests[before:])
    if runtime.storage.kind == "sqlite":
        on_disk = sqlite_bytes(tmp_path / "bot.db")
        assert SECRET.encode() not in on_disk and b"marmaladeotter" in on_disk
    else:
        async with runtime.storage.store.conn.connection() as conn:  # type: ignore[attr-defined]
            cursor = await conn.execute(
                "SELECT count(*) AS n FROM store WHERE value::text LIKE %s", (f"%{SECRET}%",)
            )
            assert (await cursor.fetchone())["n"] == 0


async def test_unlink_splits_by_the_platform_each_fact_was_learned_on(
    runtime: Runtime, fake_model: FakeOpenAI, commands: Commands
) -> None:
    service = runtime.service
    await service.handle(dm(SLACK, "I like pepperoni pizza"))
    await service.handle(dm(DISCORD, "I work at Initech"))
    await link(commands, SLACK, DISCORD)
    await service.handle(dm(SLACK, "I live in Porto"))  # after linking, on Slack
    await service.handle(dm(DISCORD, "I like green tea"))  # after linking, on Discord
    pizza = next(f for f in await runtime.memories.list_facts(DISCORD) if "pizza" in f.text)
    await commands.set_visibility(DISCORD, pizza.id, PRIVATE)

    done = await commands.unlink(SLACK)
    assert done.text.startswith(
        "Unlinked: this Slack account and your Discord account ana.d are separate again"
    )
    assert await texts(runtime, SLACK) == {"User likes pepperoni pizza", "User lives in Porto"}
    assert await texts(runtime, DISCORD) == {"User works at Initech", "User likes green tea"}
    [kept] = [f for f in await runtime.memories.list_facts(SLACK) if "pizza" in f.text]
    assert kept.visibility == PRIVATE and kept.where() == "a Slack DM"
    assert await runtime.memories.identities(SLACK) == [] == await runtime.memories.identities(DISCORD)
    links = runtime.storage.links
    assert links is not None  # the link's codes (with the issuer's display name) went with it
    assert await links.sql.rows("SELECT issuer FROM bot_link_codes") == []  # type: ignore[attr-defined]

    before = len(fake_model.requests)
    await service.handle(dm(DISCORD, "where do I live?"))
    assert "Porto" not in fake_model.system_prompts()[before]
    assert (await commands.unlink(DISCORD)).text == words.NOT_LINKED
    relinked = await link(commands, DISCORD, SLACK)  # and they can be joined again
    assert relinked.text.startswith("Linked: this Slack account and your Discord account ana.d")
    assert len(await texts(runtime, SLACK)) == 4


async def test_a_person_has_one_account_per_platform_and_the_third_joins_the_same_person(
    runtime: Runtime, commands: Commands, clock: Clock
) -> None:
    await runtime.memories.save(SLACK, "User rows", "Sport", _place(SLACK))
    await link(commands, SLACK, DISCORD)
    clock.now += 5  # identities are listed in the order they were linked
    taken = await link(commands, SLACK, MALLORY)
    assert taken.text == words.PLATFORM_TAKEN.format(platform="Discord")
    console = await link(commands, DISCORD, "console:ana")
    assert console.text.startswith("Linked: this console account and your Discord account ana.d")
    assert await texts(runtime, "console:ana") == {"User rows"}
    unlinked = await commands.unlink(SLACK)
    assert "your Discord account ana.d and your console account console:ana" in unlinked.text
    assert [i.user_id for i in await runtime.memories.identities(DISCORD)] == [DISCORD, "console:ana"]
    assert await texts(runtime, SLACK) == {"User rows"} and await texts(runtime, DISCORD) == set()


def _place(user: str) -> Provenance:
    message = dm(user, "")
    return Provenance(platform=message.platform, thread_id=message.thread_id, is_direct=True)


async def snapshot(runtime: Runtime, *users: str) -> list[object]:
    return [(sorted(await texts(runtime, u)), await runtime.memories.identities(u)) for u in users]


async def test_every_bad_code_gets_a_clear_answer_and_changes_nothing(
    runtime: Runtime, commands: Commands, clock: Clock
) -> None:
    for user in (SLACK, DISCORD, MALLORY, SLACK_BEN):
        await runtime.memories.save(user, f"User is called {NAMES[user]}", "Name", _place(user))
    everyone = (SLACK, DISCORD, MALLORY, SLACK_BEN)
    state = await snapshot(runtime, *everyone)

    async def redeem(user: str, code: str) -> str:
        return (await commands.link(user, NAMES[user], code)).text

    assert await redeem(DISCORD, "hello") == words.MALFORMED_CODE
    assert await redeem(DISCORD, "0O1IL234") == words.MALFORMED_CODE  # look-alikes are never in a code
    assert await redeem(DISCORD, "AAAA-2222") == words.UNKNOWN_CODE
    old = await issue(commands, SLACK)
    clock.now += 601
    assert await redeem(DISCORD, old) == words.EXPIRED_CODE.format(minutes=10)
    code = await issue(commands, SLACK)
    assert await redeem(SLACK_BEN, code) == words.SAME_PLATFORM.format(platform="Slack")
    assert await redeem(SLACK, code) == words.SAME_PLATFORM.format(platform="Slack")
    assert await snapshot(runtime, *everyone) == state
    # The refused same-platform use did not spend the code.
    assert (await redeem(DISCORD, code)).startswith("Linked:")
    assert await redeem(MALLORY, code) == words.USED_CODE

    state = await snapshot(runtime, *everyone)
    assert await redeem(DISCORD, await issue(commands, SLACK)) == words.ALREADY_LINKED
    elsewhere = await redeem(DISCORD, await issue(commands, SLACK_BEN))
    assert elsewhere == words.LINKED_ELSEWHERE.format(accounts="your Slack account Ana")
    assert await redeem(MALLORY, await issue(commands, SLACK)) == words.PLATFORM_TAKEN.format(
        platform="Discord"
    )
    assert await snapshot(runtime, *everyone) == state


async def test_five_wrong_codes_in_ten_minutes_lock_link_code_for_ten_minutes(
    runtime: Runtime, commands: Commands, clock: Clock
) -> None:
    good = await issue(commands, SLACK)
    wrong = "ZZZZ2222"
    for _ in range(4):
        assert (await commands.link(DISCORD, "ana.d", wrong)).text == words.UNKNOWN_CODE
        clock.now += 60
    fifth = await commands.link(DISCORD, "ana.d", wrong)
    assert fifth.text == words.UNKNOWN_CODE + words.NOW_LOCKED.format(minutes="10 minutes")
    locked = await commands.link(DISCORD, "ana.d", good)
    assert locked.text == words.LOCKED.format(minutes="10 minutes")
    clock.now += 599
    assert (await commands.link(DISCORD, "ana.d", good)).text == words.LOCKED.format(minutes="1 minute")
    assert await runtime.memories.identities(DISCORD) == []
    # Someone else is not locked out; after ten minutes this identity is not either.
    assert (await commands.link(MALLORY, "mallory", wrong)).text == words.UNKNOWN_CODE
    clock.now += 2
    assert (await commands.link(DISCORD, "ana.d", await issue(commands, SLACK))).text.startswith("Linked:")


async def test_wrong_codes_spread_over_more_than_ten_minutes_do_not_lock(
    runtime: Runtime, commands: Commands, clock: Clock
) -> None:
    for _ in range(12):
        assert (await commands.link(DISCORD, "ana.d", "ZZZZ2222")).text == words.UNKNOWN_CODE
        clock.now += 151  # at most four inside any ten minutes
    assert (await commands.link(DISCORD, "ana.d", await issue(commands, SLACK))).text.startswith("Linked:")


async def test_two_people_racing_for_one_code_exactly_one_wins(database_url: str) -> None:
    target = parse_database_url(database_url)
    async with open_storage(target) as first, open_storage(target) as second:
        # Two bot processes' worth of connections on the same database.
        racers = [
            Commands(MemoryManager(s.store, s.checkpointer, facts_index=s.facts, links=s.links))
            for s in (first, second)
        ]
        for round_ in range(5):
            issuer = f"slack:T1:U{round_}"
            code = await issue(racers[0], issuer)
            contenders = [f"discord:{round_}{n}" for n in range(4)] + [f"console:r{round_}"]
            views = await asyncio.gather(
                *(racers[n % 2].link(user, user, code) for n, user in enumerate(contenders))
            )
            winners = [v for v in views if v.text.startswith("Linked:")]
            assert len(winners) == 1, [v.text for v in views]
            # The others lost: the code was used, or (seen after the winner's commit) the
            # issuer's Discord slot was taken.
            lost = {words.USED_CODE, words.PLATFORM_TAKEN.format(platform="Discord")}
            assert all(v.text in lost for v in views if v not in winners), [v.text for v in views]
            assert len(await racers[1]._memories.identities(issuer)) == 2


async def test_codes_are_stored_hashed_and_never_logged(
    runtime: Runtime, commands: Commands, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await issue(commands, SLACK)
    await commands.link(DISCORD, "ana.d", code)
    assert code not in caplog.text
    links = runtime.storage.links
    assert links is not None
    rows = await links.sql.rows("SELECT code_hash, issuer, used_at FROM bot_link_codes")  # type: ignore[attr-defined]
    assert [(row[0], row[1]) for row in rows] == [(code_hash(await links.key(), code), SLACK)]
    assert rows[0][2] is not None
    assert code not in json.dumps([list(map(str, row)) for row in rows])
    if runtime.storage.kind == "sqlite":
        assert code.encode() not in sqlite_bytes(tmp_path / "bot.db")


def test_codes_use_an_alphabet_without_look_alikes() -> None:
    assert not set("0O1IL") & set(ALPHABET) and len(ALPHABET) == 31
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)
    assert normalize(" k7mq-2xrt ") == "K7MQ2XRT"
    for bad in ("", "K7MQ2XR", "K7MQ2XRTT", "K7MQ2XR0", "K7MQ 2XRL", "ﬁ7MQ2XRT"):
        assert normalize(bad) is None, bad


async def test_the_same_name_on_two_platforms_never_links_them(runtime: Runtime) -> None:
    await runtime.service.handle(dm(SLACK, "my name is Ana Lima"))
    await runtime.service.handle(dm(DISCORD, "my name is Ana Lima"))
    assert await runtime.memories.identities(SLACK) == []
    assert (
        len(await runtime.memories.list_facts(SLACK)) == len(await runtime.memories.list_facts(DISCORD)) == 1
    )


async def test_without_a_link_store_linking_is_unavailable(sqlite_runtime: Runtime) -> None:
    storage = sqlite_runtime.storage
    commands = Commands(MemoryManager(storage.store, storage.checkpointer))
    assert (await commands.link(SLACK, "Ana")).text == words.UNAVAILABLE
    assert (await commands.unlink(SLACK)).text == words.UNAVAILABLE


async def test_run_dispatches_link_and_unlink_with_the_display_name(sqlite_runtime: Runtime) -> None:
    commands = sqlite_runtime.service.commands
    issued = await commands.run("/link", SLACK, "", display_name="Ana")
    code = CODE.search(issued.text)
    assert code
    linked = await commands.run("link", DISCORD, f" {code.group(1)} ", display_name="ana.d")
    assert "your Slack account Ana" in linked.text
    assert (await commands.run("/unlink", SLACK)).text.startswith("Unlinked:")


async def test_the_admin_cli_lists_exports_and_unlinks_a_persons_identities(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with open_runtime(make_settings(database_url=f"sqlite:///{tmp_path}/cli.db")) as runtime:
        commands = runtime.service.commands
        await runtime.memories.save(SLACK, "User likes tea", "Food", _place(SLACK), visibility=PRIVATE)
        await runtime.memories.save(DISCORD, "User rows", "Sport", _place(DISCORD))
        await link(commands, SLACK, DISCORD)
    env = bot_env(tmp_path)

    code, out, err = await run_bot("memories", "list", DISCORD, env=env, cwd=tmp_path)
    assert code == 0, err
    assert f"linked identities: {SLACK} (Ana), {DISCORD} (ana.d)" in out or (
        f"linked identities: {DISCORD} (ana.d), {SLACK} (Ana)" in out
    )
    assert "User likes tea (learned in a Slack DM" in out and "; private (DMs only))" in out
    assert "User rows (learned in a Discord DM" in out and "; shared)" in out

    code, out, _ = await run_bot("memories", "export", SLACK, env=env, cwd=tmp_path)
    exported = json.loads(out)
    assert {i["user_id"]: i["display_name"] for i in exported["identities"]} == {
        SLACK: "Ana",
        DISCORD: "ana.d",
    }
    assert exported["person_id"].startswith("person:")
    assert {f["fact"]: (f["visibility"], f["source"]["platform"]) for f in exported["facts"]} == {
        "User likes tea": ("private", "slack"),
        "User rows": ("shared", "discord"),
    }

    code, out, _ = await run_bot("memories", "unlink", SLACK, env=env, cwd=tmp_path)
    assert code == 0 and out.strip() == f"unlinked {SLACK} from {DISCORD} (ana.d)"
    code, _, err = await run_bot("memories", "unlink", SLACK, env=env, cwd=tmp_path)
    assert code == 1 and "not linked" in err
    code, out, _ = await run_bot("memories", "export", DISCORD, env=env, cwd=tmp_path)
    assert [f["fact"] for f in json.loads(out)["facts"]] == ["User rows"]
