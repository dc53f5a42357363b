"""Turn mechanics: model failures, bad input, ordering, concurrency, bounded history."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages, count_tokens_approximately

from bot.graph import APOLOGY, EMPTY_ANSWER
from bot.messages import PriorMessage
from bot.runtime import Runtime, open_runtime
from bot.service import EMPTY_TEXT_REPLY
from config.settings import Settings
from tests.fakes.openai_server import Drop, Empty, Fail, FakeOpenAI, Hang, Text, ToolCalls
from tests.helpers import chat_messages, dm


def assert_valid_history(request: dict) -> None:
    """Every assistant tool call is followed by its results, and no result is orphaned."""
    pending: set[str] = set()
    for message in chat_messages(request):
        if message["role"] == "assistant":
            assert not pending, f"tool calls without results: {pending}"
            pending = {call["id"] for call in message.get("tool_calls") or []}
        elif message["role"] == "tool":
            assert message["tool_call_id"] in pending
            pending.discard(message["tool_call_id"])
        else:
            assert not pending, f"tool calls without results: {pending}"


@pytest.mark.parametrize(
    "failure",
    [Fail(500), Fail(429, retry_after=0), Drop(), Hang(5)],
    ids=["http-500", "http-429", "dropped-connection", "timeout"],
)
async def test_a_failed_model_call_gets_one_apology_and_the_next_turn_works(
    make_settings: Callable[..., Settings], database_url: str, fake_model: FakeOpenAI, failure: object
) -> None:
    settings = make_settings(database_url=database_url, model_timeout_seconds=0.5)
    async with open_runtime(settings) as runtime:
        fake_model.script(failure)  # type: ignore[arg-type]
        failed = await runtime.service.handle(dm("ana", "hello?"))
        assert failed.failed
        assert failed.text == APOLOGY

        works = await runtime.service.handle(dm("ana", "I like green tea"))
        assert not works.failed
        assert works.memories_changed
        assert_valid_history(fake_model.last_request())


async def test_a_refused_connection_gets_an_apology_then_recovers(
    sqlite_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    await fake_model.stop()
    failed = await sqlite_runtime.service.handle(dm("ana", "hello?"))
    assert failed.failed
    await fake_model.start()

    reply = await sqlite_runtime.service.handle(dm("ana", "hello again"))
    assert not reply.failed
    assert reply.text.startswith("You said: hello again")


async def test_429_with_retry_after_is_retried_when_retries_are_allowed(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    async with open_runtime(make_settings(model_max_retries=2)) as runtime:
        fake_model.script(Fail(429, retry_after=0.05))
        reply = await runtime.service.handle(dm("ana", "hi"))

    assert not reply.failed
    assert len(fake_model.requests) == 2


async def test_a_failure_after_a_tool_call_keeps_the_fact_and_a_valid_thread(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    fake_model.script(ToolCalls([("save_memory", {"fact": "User likes tea", "topic": "Food"})]), Fail(500))
    failed = await runtime.service.handle(dm("ana", "I like tea"))
    assert failed.failed
    assert [fact.text for fact in await runtime.memories.list_facts("console:ana")] == ["User likes tea"]

    await runtime.service.handle(dm("ana", "still there?"))
    assert_valid_history(fake_model.last_request())


async def test_a_turn_killed_mid_tool_call_does_not_poison_the_thread(
    sqlite_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    # The state a SIGKILL between the model's tool call and its results leaves behind.
    await sqlite_runtime.service.handle(dm("ana", "hi"))
    graph = sqlite_runtime.service._graph
    config = {"configurable": {"thread_id": "console:dm:ana"}}
    dangling = AIMessage(
        content="", tool_calls=[{"id": "call_lost", "name": "save_memory", "args": {"fact": "x"}}]
    )
    await graph.aupdate_state(config, {"messages": [HumanMessage("I like x"), dangling]}, as_node="respond")

    reply = await sqlite_runtime.service.handle(dm("ana", "are you ok?"))

    assert not reply.failed
    assert_valid_history(fake_model.last_request())
    assert "call_lost" not in str(fake_model.last_request())


async def test_an_empty_model_reply_becomes_a_kind_answer(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    fake_model.script(Empty())
    reply = await runtime.service.handle(dm("ana", "hm"))
    assert reply.text == EMPTY_ANSWER


async def test_a_model_that_only_calls_tools_is_made_to_answer(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    call = ToolCalls([("save_memory", {"fact": "User likes loops", "topic": "Fun"})])
    fake_model.script(call, call, call, call, call)
    reply = await runtime.service.handle(dm("ana", "I like loops"))

    assert reply.text  # a natural answer, not a tool result
    assert "tools" not in fake_model.last_request()
    assert len(fake_model.requests) == 4  # three tool rounds, then an answer without tools
    assert [f.text for f in await runtime.memories.list_facts("console:ana")] == ["User likes loops"]


async def test_invalid_tool_arguments_are_answered_not_crashed(
    runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    fake_model.script(ToolCalls([("save_memory", {"topic": "no fact given"})]), Text("Sorry, say again?"))
    reply = await runtime.service.handle(dm("ana", "I like ???"))

    assert reply.text == "Sorry, say again?"
    assert chat_messages(fake_model.last_request())[-1]["content"].startswith("Error: invalid arguments")
    assert await runtime.memories.list_facts("console:ana") == []


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x07\x1b", "\ud800"])
async def test_text_with_nothing_to_read_gets_a_polite_reply(
    runtime: Runtime, fake_model: FakeOpenAI, text: str
) -> None:
    reply = await runtime.service.handle(dm("ana", text))
    assert reply.text == EMPTY_TEXT_REPLY
    assert fake_model.requests == []
    assert not await runtime.service.has_thread("console:dm:ana")


async def test_odd_but_real_text_is_answered(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    for text in ["🍕🍕🍕", "<@U123> <@U456>", "bell\x07 and \x1b[31mred\x1b[0m"]:
        reply = await runtime.service.handle(dm("ana", text))
        assert reply.text.startswith("You said:")
    sent = chat_messages(fake_model.last_request())[-1]["content"]
    assert "\x07" not in sent and "\x1b" not in sent


async def test_a_huge_message_is_truncated_with_a_note(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    limit = runtime.settings.max_input_chars
    await runtime.service.handle(dm("ana", "x" * 100_000))

    sent = chat_messages(fake_model.last_request())[-1]["content"]
    assert len(sent) < limit + 200
    assert "100,000 characters long" in sent


async def test_turns_in_one_thread_run_in_arrival_order(
    sqlite_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    fake_model.latency = 0.2
    first = asyncio.create_task(sqlite_runtime.service.handle(dm("ana", "first")))
    await asyncio.sleep(0)  # let the first turn queue before the second arrives
    second = asyncio.create_task(sqlite_runtime.service.handle(dm("ana", "second")))
    await asyncio.gather(first, second)

    assert fake_model.max_in_flight == 1
    last = [m["content"] for m in chat_messages(fake_model.last_request())]
    assert last == ["first", "You said: first. I know: nothing about you yet", "second"]


async def test_different_threads_run_concurrently(sqlite_runtime: Runtime, fake_model: FakeOpenAI) -> None:
    fake_model.latency = 0.5
    await asyncio.gather(*(sqlite_runtime.service.handle(dm(f"user{i}", "hi")) for i in range(5)))
    assert fake_model.max_in_flight == 5


async def _sixty_turns(runtime: Runtime) -> None:
    for index in range(60):
        await runtime.service.handle(dm("ana", f"message number {index} with some padding words"))


async def test_history_sent_to_the_model_stays_within_budget(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    async with open_runtime(make_settings(history_token_budget=400)) as runtime:
        await _sixty_turns(runtime)

    sent = convert_to_messages(chat_messages(fake_model.last_request()))
    assert count_tokens_approximately(sent) <= 400
    assert sent[0].type == "human"
    assert sent[-1].content == "message number 59 with some padding words"


async def test_a_thread_stores_no_more_than_a_prompt_can_show(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    # Older exchanges could never reach the model again; keeping them made every turn load
    # (and hold in memory) a thread twice the size of its prompt.
    async with open_runtime(make_settings(history_token_budget=400)) as runtime:
        await _sixty_turns(runtime)
        saved = await runtime.storage.checkpointer.aget_tuple(
            {"configurable": {"thread_id": "console:dm:ana"}}
        )
    assert saved is not None
    stored = saved.checkpoint["channel_values"]["messages"]
    last_reply = count_tokens_approximately(stored[-1:])
    assert count_tokens_approximately(stored) <= 400 + last_reply
    assert stored[-1].content.startswith("You said: message number 59")


async def test_prior_thread_context_reaches_the_model_once(runtime: Runtime, fake_model: FakeOpenAI) -> None:
    prior = [
        PriorMessage(user_id="slack:U2", user_name="Ben", text="the deploy failed at step 3"),
        PriorMessage(user_id="slack:B1", user_name="bot", text="older bot note", from_bot=True),
    ]
    await runtime.service.handle(dm("ana", "what failed?", thread="shared"), prior=prior)

    first = chat_messages(fake_model.last_request())[0]["content"]
    assert "[Ben] the deploy failed at step 3" in first
    assert "[you (the bot)] older bot note" in first


async def test_two_first_mentions_at_once_bring_the_earlier_messages_once(
    sqlite_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    # Both adapters read a thread's earlier messages when the thread is new to the bot; two
    # mentions arriving together both find it new, but only the first turn may add them.
    fake_model.latency = 0.2
    prior = [PriorMessage(user_id="slack:U2", user_name="Ben", text="the deploy failed at step 3")]
    first = asyncio.create_task(sqlite_runtime.service.handle(dm("ana", "why?", thread="t"), prior=prior))
    await asyncio.sleep(0)
    second = asyncio.create_task(sqlite_runtime.service.handle(dm("bo", "and now?", thread="t"), prior=prior))
    await asyncio.gather(first, second)

    sent = [m["content"] for m in chat_messages(fake_model.last_request())]
    assert sum("the deploy failed at step 3" in text for text in sent) == 1
    assert sent[-1] == "and now?"


async def test_old_checkpoints_are_pruned_as_a_thread_runs(runtime: Runtime) -> None:
    # Each checkpoint holds the whole history; keeping all of them grew the file per turn.
    turns = 20
    for index in range(turns):
        await runtime.service.handle(dm("ana", f"message {index}"))

    config = {"configurable": {"thread_id": "console:dm:ana"}}
    checkpoints = [c async for c in runtime.storage.checkpointer.alist(config)]
    assert 1 <= len(checkpoints) <= 8 < turns
    latest = checkpoints[0].checkpoint["channel_values"]["messages"]
    assert [m.content for m in latest if m.type == "human"] == [f"message {i}" for i in range(turns)]


async def test_a_stored_answer_keeps_only_what_a_later_prompt_sends(runtime: Runtime) -> None:
    # langchain-openai adds token counts, model name, fingerprint and finish reason to every
    # answer; stored, they were a third of a thread's bytes, loaded again on every turn.
    await runtime.service.handle(dm("ana", "I live in Lisbon"))
    await runtime.service.handle(dm("ana", "what do you know?"))
    saved = await runtime.storage.checkpointer.aget_tuple({"configurable": {"thread_id": "console:dm:ana"}})
    assert saved is not None
    answers = [m for m in saved.checkpoint["channel_values"]["messages"] if isinstance(m, AIMessage)]
    assert [bool(m.tool_calls) for m in answers] == [True, False, False]
    assert answers[0].tool_calls[0]["args"]["fact"] == "User lives in Lisbon"
    assert answers[-1].content.startswith("You said: what do you know?")
    for answer in answers:
        assert answer.response_metadata == {}
        assert answer.usage_metadata is None


async def test_a_finished_turn_leaves_nothing_of_itself_in_memory(sqlite_runtime: Runtime) -> None:
    # Pooled model connections kept the asyncio context of the turn that opened them, and with
    # it that turn's whole LangGraph run (config, loaded history): one per connection.
    from langgraph.pregel._loop import AsyncPregelLoop

    async def alive() -> int:
        for _ in range(3):
            await asyncio.sleep(0)  # finished tasks' done-callbacks run
        gc.collect()
        return sum(isinstance(o, AsyncPregelLoop) for o in gc.get_objects())

    before = await alive()
    for round_index in range(3):
        await asyncio.gather(
            *(sqlite_runtime.service.handle(dm(f"p{i}", f"round {round_index}")) for i in range(10))
        )
    assert await alive() == before
