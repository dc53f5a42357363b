"""Privacy scopes, on SQLite and Postgres: a private fact reaches only the person's direct
conversations, filtered by the store query (not by the prompt), and the person decides.

Prompts are asserted on what the fake model received: the real graph runs against it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.commands import FACT_PRIVATE, FACT_SHARE, CommandView
from bot.commands.wording import NOT_YOUR_MEMORY
from bot.facts import Provenance
from bot.memory import MemoryManager
from bot.messages import IncomingMessage
from bot.prompts import SENSITIVE_TOPICS
from bot.runtime import Runtime, open_runtime
from bot.sqlite_fact_index import table
from bot.storage import open_storage
from bot.visibility import PRIVATE, SHARED, default_visibility, merged
from config.settings import ConfigError, Settings, load_settings, parse_database_url
from tests.fakes.openai_server import FakeOpenAI, ToolCalls

ANA = "slack:T1:U1"
BEN = "slack:T1:U2"
KEPT_FOR_DMS = "some things are kept for your DMs"


def slack_dm(text: str, user: str = ANA) -> IncomingMessage:
    native = user.rsplit(":", 1)[-1]
    return IncomingMessage(
        platform="slack",
        user_id=user,
        user_name="Ana" if user == ANA else "Ben",
        thread_id=f"slack:T1:D{native}",
        text=text,
        is_direct=True,
    )


def channel(text: str, user: str = ANA, thread: str = "slack:T1:C1:1.1") -> IncomingMessage:
    return IncomingMessage(
        platform="slack",
        user_id=user,
        user_name="Ana" if user == ANA else "Ben",
        thread_id=thread,
        text=text,
        is_direct=False,
        channel_label="#general",
    )


@pytest.fixture
async def private_runtime(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[Runtime]:
    async with open_runtime(
        make_settings(database_url=database_url, memory_dm_visibility="private")
    ) as opened:
        yield opened


async def ask(runtime: Runtime, fake: FakeOpenAI, message: IncomingMessage) -> str:
    """The system prompt of the model call a turn made first."""
    before = len(fake.requests)
    await runtime.service.handle(message)
    return fake.system_prompts()[before]


def button(view: CommandView, text: str) -> tuple[str, str]:
    [line] = [fact for fact in view.facts if fact.text == text]
    [toggle] = line.buttons
    return toggle.action, toggle.value


async def test_with_dm_visibility_private_a_dm_fact_reaches_later_dms_but_not_channels(
    private_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await private_runtime.service.handle(slack_dm("I like pepperoni pizza"))
    [fact] = await private_runtime.memories.list_facts(ANA)
    assert fact.visibility == PRIVATE

    in_dm = await ask(private_runtime, fake_model, slack_dm("what should I eat?"))
    assert "User likes pepperoni pizza (Preferences; private)" in in_dm

    in_channel = await ask(private_runtime, fake_model, channel("what should I eat?"))
    assert "pepperoni" not in in_channel
    assert KEPT_FOR_DMS in in_channel  # asked what it knows, the bot says some things are kept back
    # Nothing of the fact anywhere in what the channel turn sent, history and tools included.
    assert "pepperoni" not in json.dumps(fake_model.requests[-1])


async def test_by_default_a_dm_fact_is_shared_and_a_channel_fact_always_is(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await runtime.service.handle(slack_dm("I like green tea"))
    await runtime.service.handle(channel("I live in Porto"))
    facts = {fact.text: fact.visibility for fact in await runtime.memories.list_facts(ANA)}
    assert facts == {"User likes green tea": SHARED, "User lives in Porto": SHARED}

    prompt = await ask(runtime, fake_model, channel("where should we go?", thread="slack:T1:C1:2.2"))
    assert "User likes green tea" in prompt and "User lives in Porto" in prompt
    assert KEPT_FOR_DMS not in prompt


async def test_a_sensitive_fact_is_private_in_a_dm_whatever_the_setting_and_shared_in_a_channel(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    save = ("save_memory", {"fact": "User is pregnant", "topic": "Health", "sensitive": True})
    fake_model.script(ToolCalls([save]))
    await runtime.service.handle(slack_dm("I'm pregnant"))
    fake_model.script(ToolCalls([("save_memory", {**save[1], "fact": "User runs marathons"})]))
    await runtime.service.handle(channel("I run marathons, btw"))

    facts = {fact.text: fact.visibility for fact in await runtime.memories.list_facts(ANA)}
    assert facts == {"User is pregnant": PRIVATE, "User runs marathons": SHARED}
    prompt = await ask(runtime, fake_model, channel("any advice?"))
    assert "pregnant" not in prompt and "User runs marathons" in prompt


async def test_the_prompt_says_when_to_mark_a_fact_sensitive_and_keep_it_between_us(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    dm_prompt = await ask(runtime, fake_model, slack_dm("hi"))
    assert SENSITIVE_TOPICS in dm_prompt and "keep that between us" in dm_prompt
    assert "`sensitive: true`" in dm_prompt and "`private: true`" in dm_prompt
    tools = {tool["function"]["name"]: tool["function"] for tool in fake_model.requests[-1]["tools"]}
    assert "sensitive" in tools["save_memory"]["parameters"]["properties"]
    assert "private" in tools["update_memory"]["parameters"]["properties"]
    channel_prompt = await ask(runtime, fake_model, channel("hi"))
    assert "shared thread: other people read your answers" in channel_prompt


async def test_keep_that_between_us_in_a_dm_makes_the_fact_private_through_the_update_tool(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await runtime.service.handle(slack_dm("I work at Initech"))
    [fact] = await runtime.memories.list_facts(ANA)
    assert fact.visibility == SHARED
    fake_model.script(ToolCalls([("update_memory", {"memory_id": fact.id, "private": True})]))
    reply = await runtime.service.handle(slack_dm("keep that between us"))
    assert reply.memories_changed

    [after] = await runtime.memories.list_facts(ANA)
    assert (after.id, after.text, after.visibility) == (fact.id, "User works at Initech", PRIVATE)
    assert "Initech" not in await ask(runtime, fake_model, channel("where do I work?"))
    # An update of the text keeps it private.
    fake_model.script(ToolCalls([("update_memory", {"memory_id": fact.id, "fact": "User works at Hooli"})]))
    await runtime.service.handle(slack_dm("actually I moved to Hooli"))
    [moved] = await runtime.memories.list_facts(ANA)
    assert (moved.text, moved.visibility) == ("User works at Hooli", PRIVATE)


async def test_in_a_shared_thread_the_tools_cannot_touch_a_private_fact(
    private_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await private_runtime.service.handle(slack_dm("I like liquorice"))
    [fact] = await private_runtime.memories.list_facts(ANA)
    fake_model.script(
        ToolCalls(
            [
                ("update_memory", {"memory_id": fact.id, "fact": "User hates liquorice", "private": False}),
                ("delete_memory", {"memory_id": fact.id}),
            ]
        )
    )
    reply = await private_runtime.service.handle(channel("[Ben] make her liquorice fact public"))
    assert not reply.memories_changed
    tool_results = [m["content"] for m in fake_model.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool_results == [f"No fact with id [{fact.id}]; nothing changed."] * 2
    [still] = await private_runtime.memories.list_facts(ANA)
    assert (still.text, still.visibility) == ("User likes liquorice", PRIVATE)


async def test_the_memories_button_moves_a_fact_between_dm_only_and_everywhere(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    commands = runtime.service.commands
    await runtime.service.handle(slack_dm("I like anchovies"))
    listing = await commands.memories(ANA)
    [line] = listing.facts
    assert line.visibility == SHARED and line.source.endswith("· shared")
    assert [(b.action, b.label) for b in line.buttons] == [(FACT_PRIVATE, "Make private")]
    assert "Private memories are used only in your direct messages" in listing.footer
    assert "anchovies" in await ask(runtime, fake_model, channel("pizza toppings?"))

    refused = await commands.press(BEN, *button(listing, "User likes anchovies"))
    assert refused.text == NOT_YOUR_MEMORY and not refused.replace
    done = await commands.press(ANA, *button(listing, "User likes anchovies"))
    assert done.text.startswith("Done: “User likes anchovies” is now private")
    assert done.facts[0].visibility == PRIVATE and done.facts[0].source.endswith("· private (DMs only)")
    assert [(b.action, b.label) for b in done.facts[0].buttons] == [(FACT_SHARE, "Share")]
    assert "anchovies" not in await ask(runtime, fake_model, channel("pizza toppings?"))
    assert "User likes anchovies (Preferences; private)" in await ask(runtime, fake_model, slack_dm("pizza?"))

    shared_again = await commands.press(ANA, *button(done, "User likes anchovies"))
    assert shared_again.facts[0].visibility == SHARED
    assert "anchovies" in await ask(runtime, fake_model, channel("pizza toppings?"))


async def test_the_home_view_keeps_forget_first_and_adds_the_visibility_button(
    sqlite_runtime: Runtime,
) -> None:
    await sqlite_runtime.service.handle(slack_dm("I like tea"))
    home = await sqlite_runtime.service.commands.home(ANA)
    assert [b.label for b in home.facts[0].buttons] == ["Forget", "Make private"]


async def test_export_and_listings_show_each_facts_visibility(private_runtime: Runtime) -> None:
    await private_runtime.service.handle(slack_dm("I like tea"))
    await private_runtime.service.handle(channel("I live in Oslo"))
    exported = await private_runtime.memories.export(ANA)
    assert {fact["fact"]: fact["visibility"] for fact in exported["facts"]} == {
        "User likes tea": "private",
        "User lives in Oslo": "shared",
    }
    assert exported["identities"] == [{"user_id": ANA, "platform": "slack"}]


async def test_saying_a_known_fact_again_where_it_would_be_private_makes_it_private(runtime: Runtime) -> None:
    memories = runtime.memories
    shared_place = Provenance(platform="slack", thread_id="slack:T1:C1:1.1", is_direct=False)
    dm_place = Provenance(platform="slack", thread_id="slack:T1:DU1", is_direct=True)
    key, _ = await memories.save(ANA, "User is in debt", "Money", shared_place)
    again, changed = await memories.save(ANA, "user is in debt", "Money", dm_place, sensitive=True)
    assert (again, changed) == (key, True)
    [fact] = await memories.list_facts(ANA)
    assert fact.visibility == PRIVATE
    # ...and never the reverse: said again in a channel, it stays private.
    assert await memories.save(ANA, "User is in debt", "Money", shared_place) == (key, False)
    assert (await memories.list_facts(ANA))[0].visibility == PRIVATE


async def test_the_store_query_itself_leaves_private_facts_out(runtime: Runtime) -> None:
    memories, dm_place = runtime.memories, Provenance(platform="slack", thread_id="d", is_direct=True)
    for index in range(30):
        await memories.save(ANA, f"User owns gadget {index}", "Stuff", dm_place, visibility=PRIVATE)
    await memories.save(ANA, "User owns a gadget shelf", "Stuff", dm_place, visibility=SHARED)
    prefix = ".".join((await memories.resolve(ANA)).namespace)
    index = runtime.storage.facts
    # Thirty private matches rank first; the query still returns the one shared fact, by itself.
    hits = await index.search(prefix, ["gadget"], limit=5, shared_only=True)
    assert [hit.value["fact"] for hit in hits] == ["User owns a gadget shelf"]
    assert len(await index.search(prefix, ["gadget"], limit=40)) == 31
    assert [hit.value["fact"] for hit in await index.recent(prefix, limit=3, shared_only=True)] == [
        "User owns a gadget shelf"
    ]
    newest = await index.search(
        prefix, ["owns"], limit=3, required="user", newest_first=True, shared_only=True
    )
    assert [hit.value["fact"] for hit in newest] == ["User owns a gadget shelf"]
    assert await index.has_private(prefix)
    found = await memories.relevant_facts(ANA, "which gadget?", limit=40, token_budget=600)
    assert [fact.text for fact in found] == ["User owns a gadget shelf"]
    assert not await memories.has_private(BEN)


def test_the_visibility_rules() -> None:
    assert default_visibility(is_direct=False, sensitive=True, dm_default=PRIVATE) == SHARED
    assert default_visibility(is_direct=True, sensitive=False, dm_default=SHARED) == SHARED
    assert default_visibility(is_direct=True, sensitive=False, dm_default=PRIVATE) == PRIVATE
    assert default_visibility(is_direct=True, sensitive=True, dm_default=SHARED) == PRIVATE
    assert merged(SHARED, PRIVATE) == merged(PRIVATE, SHARED) == PRIVATE
    assert merged(SHARED, SHARED) == SHARED


def test_memory_dm_visibility_is_validated_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMORY_DM_VISIBILITY", "Private")
    assert load_settings().memory_dm_visibility == "private"
    monkeypatch.setenv("MEMORY_DM_VISIBILITY", "secret")
    with pytest.raises(ConfigError, match="MEMORY_DM_VISIBILITY"):
        load_settings()
    monkeypatch.delenv("MEMORY_DM_VISIBILITY")
    assert load_settings().memory_dm_visibility == "shared"


async def test_an_index_from_before_visibilities_is_rebuilt_with_them(tmp_path: Path) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/old.db")
    place = Provenance(platform="slack", thread_id="d", is_direct=True)
    async with open_storage(url) as storage:
        memories = MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)
        await memories.save(ANA, "User keeps bees", "Hobby", place, visibility=PRIVATE)
        await memories.save(ANA, "User keeps a bees diary", "Hobby", place, visibility=SHARED)
    with sqlite3.connect(tmp_path / "old.db") as conn:  # what the previous version's triggers look like
        conn.execute(f"DROP TRIGGER {table(0)}_insert")
        conn.execute(f"CREATE TRIGGER {table(0)}_insert AFTER INSERT ON store WHEN 0 BEGIN SELECT 1; END")
    async with open_storage(url) as storage:
        memories = MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)
        found = await memories.relevant_facts(ANA, "bees?", limit=5, token_budget=600)
        assert [fact.text for fact in found] == ["User keeps a bees diary"]
        both = await memories.relevant_facts(ANA, "bees?", limit=5, token_budget=600, include_private=True)
        assert sorted(fact.text for fact in both) == ["User keeps a bees diary", "User keeps bees"]
