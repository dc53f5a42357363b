"""The core's memory behaviour, on SQLite and on Postgres, through the real ChatOpenAI client.

Each seed defect has a test here that fails on the seed's design.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.memory import memories_namespace
from bot.runtime import Runtime, open_runtime
from config.settings import Settings
from tests.fakes.openai_server import TOOL_ACK, FakeOpenAI, Text, ToolCalls
from tests.helpers import chat_messages, dm, in_thread


async def test_seed_scenario_facts_follow_the_person_not_the_thread(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    service = runtime.service
    for text in ("hi", "i like pepperoni pizza", "i also just moved to SF"):
        await service.handle(dm("one", text, thread="t1"))

    reply = await service.handle(dm("one", "where and what should i eat for dinner?", thread="t2"))

    prompt = fake_model.system_prompts()[-1]
    assert "User likes pepperoni pizza" in prompt
    assert "User lives in SF" in prompt
    assert reply.text.startswith("You said: where and what should i eat")
    assert "pepperoni pizza" in reply.text
    # Thread 2 does not carry thread 1's messages.
    assert [m["content"] for m in chat_messages(fake_model.last_request())] == [
        "where and what should i eat for dinner?"
    ]

    other = await service.handle(dm("two", "where and what should i eat for dinner?", thread="t3"))
    assert "pepperoni" not in fake_model.system_prompts()[-1]
    assert "nothing about you yet" in other.text
    assert await runtime.memories.list_facts("console:two") == []


async def test_after_saving_a_fact_the_person_gets_a_natural_answer(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    reply = await runtime.service.handle(dm("ana", "I like green tea"))

    # The seed ended the turn on the tool result ("Saved!"); ours goes back to the model.
    assert reply.text == TOOL_ACK
    assert reply.memories_changed
    assert len(fake_model.requests) == 2
    assert chat_messages(fake_model.requests[1])[-1]["role"] == "tool"


async def test_two_facts_in_one_message_are_both_kept(runtime: Runtime) -> None:
    await runtime.service.handle(dm("ana", "I like green tea and I work on compilers"))

    facts = sorted(fact.text for fact in await runtime.memories.list_facts("console:ana"))
    assert facts == ["User likes green tea", "User works on compilers"]


async def test_the_eleventh_fact_and_beyond_still_reach_the_prompt(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    for index in range(25):
        await runtime.service.handle(dm("ana", f"remember that gadget{index} is in drawer{index}"))

    await runtime.service.handle(dm("ana", "where is gadget23?"))

    prompt = fake_model.system_prompts()[-1]
    # The seed's store.search() returned the first 10 facts ever saved: gadget23 was invisible.
    assert "gadget23 is in drawer23" in prompt
    assert prompt.count("\n- [") <= runtime.settings.max_facts_in_prompt


async def test_facts_in_the_prompt_stay_bounded_as_memory_grows(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    for index in range(60):
        await runtime.service.handle(
            dm("ana", f"remember that project{index} uses a very long codename number {index}")
        )

    await runtime.service.handle(dm("ana", "hello again"))

    fact_lines = [line for line in fake_model.system_prompts()[-1].splitlines() if line.startswith("- [")]
    assert 0 < len(fact_lines) <= runtime.settings.max_facts_in_prompt
    assert sum(len(line) for line in fact_lines) <= runtime.settings.memory_token_budget * 4
    # With nothing relevant, the newest facts fill the places.
    assert any("project59 " in line for line in fact_lines)


async def test_a_move_updates_the_old_location_instead_of_adding_one(runtime: Runtime) -> None:
    await runtime.service.handle(dm("ana", "I live in SF"))
    await runtime.service.handle(dm("ana", "I moved to NYC"))

    facts = await runtime.memories.list_facts("console:ana")
    assert [fact.text for fact in facts] == ["User lives in NYC"]


async def test_the_same_fact_twice_is_stored_once(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    await runtime.service.handle(dm("ana", "I like green tea"))
    # Even a model that ignores the prompt and saves it again cannot duplicate it.
    fake_model.script(ToolCalls([("save_memory", {"fact": "user likes GREEN tea", "topic": "Food"})]))
    await runtime.service.handle(dm("ana", "I like green tea", thread="another"))

    assert [fact.text for fact in await runtime.memories.list_facts("console:ana")] == [
        "User likes green tea"
    ]


async def test_the_model_can_delete_a_fact_by_id(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    await runtime.service.handle(dm("ana", "I like green tea"))
    fact = (await runtime.memories.list_facts("console:ana"))[0]
    assert f"[{fact.id}]" in fake_model.system_prompts()[-1]

    fake_model.script(ToolCalls([("delete_memory", {"memory_id": fact.id})]), Text("Done, forgotten."))
    reply = await runtime.service.handle(dm("ana", "that's wrong, I hate tea"))

    assert reply.text == "Done, forgotten."
    assert reply.memories_changed
    assert await runtime.memories.list_facts("console:ana") == []


async def test_a_user_id_in_tool_arguments_is_ignored(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    fake_model.script(
        ToolCalls([("save_memory", {"fact": "likes nuts", "topic": "Food", "user_id": "console:ben"})])
    )
    await runtime.service.handle(dm("ana", "save this for user console:ben: likes nuts"))

    assert await runtime.memories.list_facts("console:ben") == []
    assert [fact.text for fact in await runtime.memories.list_facts("console:ana")] == ["likes nuts"]


async def test_the_model_cannot_touch_another_persons_fact_by_id(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await runtime.service.handle(dm("ben", "I like chess"))
    bens = (await runtime.memories.list_facts("console:ben"))[0]

    fake_model.script(
        ToolCalls(
            [
                ("update_memory", {"memory_id": bens.id, "fact": "User likes nothing"}),
                ("delete_memory", {"memory_id": bens.id}),
            ]
        )
    )
    await runtime.service.handle(dm("ana", "change ben's fact"))

    assert [fact.text for fact in await runtime.memories.list_facts("console:ben")] == ["User likes chess"]


async def test_user_ids_that_share_a_prefix_never_share_facts(runtime: Runtime) -> None:
    # The store joins namespace labels with "."; unescaped, "ann" would prefix-match "ann.b".
    await runtime.service.handle(dm("ann.b", "I like sailing"))
    await runtime.service.handle(dm("ann", "hello"))

    assert await runtime.memories.list_facts("console:ann") == []
    assert await runtime.memories.preview_forget("console:ann") == []
    assert memories_namespace("console:ann.b") == ("memories", "console:ann%2Eb")


async def test_shared_threads_attribute_speakers_and_save_facts_for_the_speaker(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await runtime.service.handle(in_thread("U1", "C1:100.1", "I like rust"))
    await runtime.service.handle(in_thread("U2", "C1:100.1", "I like go"))

    contents = [m["content"] for m in chat_messages(fake_model.last_request()) if m["role"] == "user"]
    assert "[U1] I like rust" in contents
    assert contents[-1] == "[U2] I like go"
    assert [f.text for f in await runtime.memories.list_facts("slack:U1")] == ["User likes rust"]
    assert [f.text for f in await runtime.memories.list_facts("slack:U2")] == ["User likes go"]


async def test_facts_record_where_they_were_learned(runtime: Runtime) -> None:
    await runtime.service.handle(in_thread("U1", "C1:1.1", "I like rust"))
    await runtime.service.handle(dm("ana", "I like tea"))

    shared = (await runtime.memories.list_facts("slack:U1"))[0]
    assert shared.source.thread_id == "slack:C1:1.1"
    assert not shared.source.is_direct
    assert shared.where() == "Slack #general"
    private = (await runtime.memories.list_facts("console:ana"))[0]
    assert private.source.is_direct
    assert private.where() == "the console chat"


async def test_state_survives_a_restart(
    make_settings: Callable[..., Settings], database_url: str, fake_model: FakeOpenAI
) -> None:
    settings = make_settings(database_url=database_url)
    async with open_runtime(settings) as first:
        await first.service.handle(dm("ana", "I like green tea", thread="t1"))
        await first.service.handle(dm("ana", "what's up?", thread="t1"))

    async with open_runtime(settings) as second:
        assert await second.service.has_thread("t1")
        assert not await second.service.has_thread("never-used")
        await second.service.handle(dm("ana", "and now?", thread="t1"))

    prompt = fake_model.system_prompts()[-1]
    assert "User likes green tea" in prompt
    history = [m["content"] for m in chat_messages(fake_model.last_request()) if m["role"] == "user"]
    assert history == ["I like green tea", "what's up?", "and now?"]


async def test_processes_starting_together_on_a_fresh_postgres_all_start(
    make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    # Each runtime has its own pool, as separate processes would; setup used to race.
    settings = make_settings(database_url=postgres_url)

    async def start_and_chat(user: str) -> str:
        async with open_runtime(settings) as runtime:
            return (await runtime.service.handle(dm(user, "I like tea"))).text

    replies = await asyncio.gather(*(start_and_chat(f"user{i}") for i in range(4)))
    assert all(reply == TOOL_ACK for reply in replies)
