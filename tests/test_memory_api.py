"""The memory management API behind /memories, /forget and the admin CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bot.runtime import Runtime, open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import dm, in_thread


async def _teach(runtime: Runtime, user: str, *texts: str) -> None:
    for text in texts:
        await runtime.service.handle(dm(user, text))


async def test_list_is_newest_first_and_describes_the_source(runtime: Runtime) -> None:
    await _teach(runtime, "ana", "I like tea", "I live in Porto")

    facts = await runtime.memories.list_facts("console:ana")
    assert {fact.text for fact in facts} == {"User likes tea", "User lives in Porto"}
    assert facts[0].updated_at >= facts[1].updated_at
    assert all(fact.where() == "the console chat" for fact in facts)


async def test_forget_a_phrase_removes_only_matching_facts(runtime: Runtime) -> None:
    await _teach(runtime, "ana", "I like pepperoni pizza", "I like green tea", "I live in Porto")

    preview = await runtime.memories.preview_forget("console:ana", "pizza")
    assert [fact.text for fact in preview] == ["User likes pepperoni pizza"]
    assert await runtime.memories.forget("console:ana", "pizza") == 1

    left = sorted(fact.text for fact in await runtime.memories.list_facts("console:ana"))
    assert left == ["User likes green tea", "User lives in Porto"]


async def test_forget_everything_clears_facts_and_direct_history_but_not_shared_threads(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await _teach(runtime, "ana", "I like green tea")
    await runtime.service.handle(in_thread("ana", "C1:1.1", "I work on compilers"))
    await _teach(runtime, "ben", "I like chess")

    shared_facts = await runtime.memories.list_facts("slack:ana")
    assert len(shared_facts) == 1  # a different platform identity: not touched below
    assert await runtime.memories.forget("console:ana") == 1

    assert await runtime.memories.list_facts("console:ana") == []
    assert not await runtime.service.has_thread("console:dm:ana")
    assert await runtime.service.has_thread("slack:C1:1.1")
    assert [f.text for f in await runtime.memories.list_facts("console:ben")] == ["User likes chess"]

    reply = await runtime.service.handle(dm("ana", "what do you know about me?"))
    assert "nothing about you yet" in reply.text
    assert "green tea" not in json.dumps(fake_model.last_request())


async def test_a_dm_restarted_after_forget_is_forgotten_again(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    # DM threads are indexed on their first turn only; a thread whose history was erased
    # starts over, so it must be indexed again or the next /forget would miss it.
    for text in ("hello", "how are you?", "tell me a joke"):
        await runtime.service.handle(dm("ana", text, thread="console:dm:ana:one"))
    await runtime.memories.forget("console:ana")
    assert not await runtime.service.has_thread("console:dm:ana:one")

    await runtime.service.handle(dm("ana", "my secret plan is quetzalcoatl", thread="console:dm:ana:one"))
    await runtime.service.handle(dm("ana", "and another thing", thread="console:dm:ana:one"))
    assert await runtime.service.has_thread("console:dm:ana:one")
    await runtime.memories.forget("console:ana")

    assert not await runtime.service.has_thread("console:dm:ana:one")
    await runtime.service.handle(dm("ana", "what did I tell you?", thread="console:dm:ana:one"))
    assert "quetzalcoatl" not in json.dumps(fake_model.last_request())


async def test_forget_with_nothing_stored_is_zero(runtime: Runtime) -> None:
    assert await runtime.memories.preview_forget("console:nobody") == []
    assert await runtime.memories.forget("console:nobody") == 0
    assert await runtime.memories.forget("console:nobody", "pizza") == 0


async def test_export_is_json_with_provenance_and_no_vectors(runtime: Runtime) -> None:
    await _teach(runtime, "ana", "I like green tea")

    exported = json.loads(json.dumps(await runtime.memories.export("console:ana")))
    assert exported["user_id"] == "console:ana"
    (fact,) = exported["facts"]
    assert fact["fact"] == "User likes green tea"
    assert fact["source"]["is_direct"] is True
    assert fact["learned_in"] == "the console chat"
    assert "embedding" not in fact


def _bytes_on_disk(db: Path) -> bytes:
    return b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*") if path.is_file())


async def test_forgotten_text_is_gone_from_the_sqlite_files(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    db = tmp_path / "bot.db"
    async with open_runtime(settings) as runtime:
        await _teach(runtime, "ana", "remember that zanzibarquokka is my secret word")
        await _teach(runtime, "ben", "remember that ben keeps marmalade")
        assert b"zanzibarquokka" in _bytes_on_disk(db)

        assert await runtime.memories.forget("console:ana") == 1
        assert b"zanzibarquokka" not in _bytes_on_disk(db)
        assert b"marmalade" in _bytes_on_disk(db)

    async with open_runtime(settings) as reopened:
        assert await reopened.memories.list_facts("console:ana") == []
    assert b"zanzibarquokka" not in _bytes_on_disk(db)


async def test_semantic_ranking_with_an_embedding_model(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    async with open_runtime(make_settings(bot_embedding_model="text-embedding-3-small")) as runtime:
        for index in range(30):
            await _teach(runtime, "ana", f"remember that widget{index} sits on shelf{index}")
        await runtime.service.handle(dm("ana", "which shelf has widget7?"))

    assert fake_model.embedding_requests, "facts and the message were embedded"
    assert "widget7 sits on shelf7" in fake_model.system_prompts()[-1]
    stored = await _stored_value(make_settings)
    assert "embedding" in stored


async def _stored_value(make_settings: Callable[..., Settings]) -> dict:
    async with open_runtime(make_settings()) as runtime:
        items = await runtime.storage.store.asearch(("memories", "console:ana"), limit=1)
        return items[0].value


async def test_forget_a_phrase_also_removes_it_from_direct_history_only(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await _teach(runtime, "ana", "I like pepperoni pizza", "I like green tea")
    await runtime.service.handle(in_thread("ana", "C1:1.1", "I like pepperoni pizza"))

    assert await runtime.memories.forget("console:ana", "pizza") == 1
    await runtime.service.handle(dm("ana", "what do I like?"))

    sent = json.dumps(fake_model.last_request())
    assert "pizza" not in sent
    assert "I like green tea" in sent  # the rest of the conversation is kept
    assert await runtime.service.has_thread("slack:C1:1.1")
    assert [f.text for f in await runtime.memories.list_facts("slack:ana")] == ["User likes pepperoni pizza"]
