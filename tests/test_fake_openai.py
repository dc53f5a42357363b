"""The fake OpenAI server, driven through the real openai and langchain_openai clients."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import SecretStr

from tests.fakes.openai_server import (
    TOOL_ACK,
    Drop,
    Empty,
    Fail,
    FakeOpenAI,
    Hang,
    Text,
    ToolCalls,
    default_brain,
    embed,
)

SAVE_MEMORY = {
    "type": "function",
    "function": {
        "name": "save_memory",
        "description": "Remember a fact about the user.",
        "parameters": {
            "type": "object",
            "properties": {"fact": {"type": "string"}, "topic": {"type": "string"}},
            "required": ["fact", "topic"],
        },
    },
}
UPDATE_MEMORY = {
    "type": "function",
    "function": {
        "name": "update_memory",
        "description": "Replace a remembered fact.",
        "parameters": {
            "type": "object",
            "properties": {"memory_id": {"type": "string"}, "fact": {"type": "string"}},
            "required": ["memory_id", "fact"],
        },
    },
}
SYSTEM = (
    "You are a helpful bot.\nWhat you know about the user:\n"
    "- [m1] User lives in SF (Location)\n- [m2] User likes tea"
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def chat_model(fake: FakeOpenAI, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=fake.base_url, api_key=SecretStr("sk-test"), max_retries=0, **kwargs
    )


def client(fake: FakeOpenAI, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, **kwargs)


def body(user: Any, *, system: str = SYSTEM, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "tools": [SAVE_MEMORY, UPDATE_MEMORY] if tools is None else tools,
    }


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


# --- default_brain, as a pure function ------------------------------------------------------------


def test_brain_saves_stated_facts_with_topics_in_one_response() -> None:
    answer = default_brain(body("[Ann Lee] I really like Pepperoni pizza, and my name is Ann!"))
    assert answer == ToolCalls(
        [
            ("save_memory", {"fact": "User likes Pepperoni pizza", "topic": "Preferences"}),
            ("save_memory", {"fact": "User's name is Ann", "topic": "Identity"}),
        ]
    )


@pytest.mark.parametrize(
    ("said", "fact", "topic"),
    [
        ("I work at Acme Corp.", "User works at Acme Corp", "Work"),
        ("I'm allergic to peanuts", "User is allergic to peanuts", "Health"),
        ("i am allergic to cats", "User is allergic to cats", "Health"),
        ("Remember that my badge number is 4.2B", "my badge number is 4.2B", "Notes"),
        ("remember the deploy is Friday", "the deploy is Friday", "Notes"),
    ],
)
def test_brain_recognises_each_kind_of_fact(said: str, fact: str, topic: str) -> None:
    assert default_brain(body(said, system="")) == ToolCalls(
        [("save_memory", {"fact": fact, "topic": topic})]
    )


def test_brain_updates_a_contradicted_location() -> None:
    answer = default_brain(body("I just moved to NYC"))
    assert answer == ToolCalls([("update_memory", {"memory_id": "m1", "fact": "User lives in NYC"})])


def test_brain_skips_known_facts() -> None:
    assert default_brain(body("I live in sf. I like TEA")) == Text(
        "I already know that. I know: User lives in SF; User likes tea"
    )
    # Only the new fact is saved when a message mixes new and known ones.
    assert default_brain(body("I like tea and I love jazz")) == ToolCalls(
        [("save_memory", {"fact": "User likes jazz", "topic": "Preferences"})]
    )


def test_brain_answers_in_text_without_facts_or_without_tools() -> None:
    parts = [{"type": "text", "text": "What's up?"}]
    assert default_brain(body(parts)) == Text(
        "You said: What's up?. I know: User lives in SF; User likes tea"
    )
    assert default_brain(body("Do I like pizza?", system="")) == Text(
        "You said: Do I like pizza?. I know: nothing about you yet"
    )
    assert default_brain(body("I like pizza", tools=[])) == Text(
        "You said: I like pizza. I know: User lives in SF; User likes tea"
    )


def test_brain_acknowledges_tool_results() -> None:
    request = body("I like pizza")
    request["messages"].append({"role": "tool", "tool_call_id": "call_1", "content": "saved"})
    assert default_brain(request) == Text(TOOL_ACK)


# --- Through the real clients ---------------------------------------------------------------------


async def test_langchain_tool_calls_parse(fake: FakeOpenAI) -> None:
    llm = chat_model(fake).bind_tools([SAVE_MEMORY, UPDATE_MEMORY])
    reply = await llm.ainvoke([SystemMessage(SYSTEM), HumanMessage("I moved to Berlin and I love jazz")])
    assert isinstance(reply, AIMessage)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("update_memory", {"memory_id": "m1", "fact": "User lives in Berlin"}),
        ("save_memory", {"fact": "User likes jazz", "topic": "Preferences"}),
    ]
    ids = [c["id"] for c in reply.tool_calls]
    assert all(i and i.startswith("call_") for i in ids)
    assert len(set(ids)) == 2

    followup = [
        SystemMessage(SYSTEM),
        HumanMessage("I moved to Berlin and I love jazz"),
        reply,
        *(ToolMessage("ok", tool_call_id=i) for i in ids if i),
    ]
    ack = await llm.ainvoke(followup)
    assert ack.content == TOOL_ACK
    assert fake.system_prompts() == [SYSTEM, SYSTEM]
    assert fake.last_request()["messages"][-1]["role"] == "tool"
    assert fake.auth_headers == ["Bearer sk-test", "Bearer sk-test"]


async def test_plain_reply_has_full_response_shape(fake: FakeOpenAI) -> None:
    async with client(fake) as api:
        completion = await api.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
        )
        models = await api.models.list()
    choice = completion.choices[0]
    assert choice.message.content == "You said: hello there. I know: nothing about you yet"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.usage is not None
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert "gpt-4o-mini" in [m.id for m in models.data]


async def test_scripted_steps_come_first_then_the_brain(fake: FakeOpenAI) -> None:
    fake.script(Text("scripted"), ToolCalls([("save_memory", {"fact": "x", "topic": "Notes"})]), Empty())
    llm = chat_model(fake).bind_tools([SAVE_MEMORY])
    assert (await llm.ainvoke("a")).content == "scripted"
    assert (await llm.ainvoke("b")).tool_calls[0]["args"] == {"fact": "x", "topic": "Notes"}
    empty = await llm.ainvoke("c")
    assert empty.content == ""
    assert empty.tool_calls == []
    assert (await llm.ainvoke("d")).text.startswith("You said: d.")
    fake.script(Text("never used"))
    fake.reset()
    assert fake.requests == []
    assert (await llm.ainvoke("e")).text.startswith("You said: e.")


async def test_langchain_streams_text_and_tool_calls(fake: FakeOpenAI) -> None:
    llm = chat_model(fake, stream_usage=True).bind_tools([SAVE_MEMORY])
    text = ""
    async for chunk in llm.astream("tell me something quite long please"):
        text += str(chunk.content)
    assert text == "You said: tell me something quite long please. I know: nothing about you yet"
    assert fake.last_request()["stream"] is True
    assert fake.last_request()["stream_options"] == {"include_usage": True}

    merged: AIMessageChunk | None = None
    async for piece in llm.astream("I like long walks on the beach"):
        assert isinstance(piece, AIMessageChunk)
        merged = piece if merged is None else merged + piece
    assert merged is not None
    assert merged.tool_calls == [
        {
            "name": "save_memory",
            "args": {"fact": "User likes long walks on the beach", "topic": "Preferences"},
            "id": merged.tool_calls[0]["id"],
            "type": "tool_call",
        }
    ]
    assert merged.usage_metadata is not None
    assert merged.usage_metadata["total_tokens"] > 0


async def test_openai_stream_without_usage(fake: FakeOpenAI) -> None:
    async with client(fake) as api:
        stream = await api.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("You said: hi.")


async def test_embeddings_rank_similar_text_higher(fake: FakeOpenAI) -> None:
    embedder = OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=fake.base_url,
        api_key=SecretStr("sk-test"),
        check_embedding_ctx_length=False,
    )
    query = await embedder.aembed_query("favourite pizza topping")
    docs = await embedder.aembed_documents(["User likes pepperoni pizza topping", "User lives in Berlin"])
    assert len(query) == 64
    assert cosine(query, docs[0]) > cosine(query, docs[1])
    # The client asks for base64 unless told otherwise; it must decode to the same vector.
    assert fake.embedding_requests[0]["encoding_format"] == "base64"
    assert query == pytest.approx(embed("favourite pizza topping"), abs=1e-6)

    async with client(fake) as api:
        floats = await api.embeddings.create(
            model="text-embedding-3-small", input="Favourite PIZZA topping", encoding_format="float"
        )
    assert floats.data[0].embedding == pytest.approx(query, abs=1e-6)


async def test_missing_api_key_is_rejected(fake: FakeOpenAI) -> None:
    async with client(fake, default_headers={"Authorization": ""}) as api:
        with pytest.raises(openai.AuthenticationError) as raised:
            await api.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    assert raised.value.status_code == 401
    assert fake.requests == []


async def test_scripted_failures_raise_openai_errors(fake: FakeOpenAI) -> None:
    fake.script(Fail(500), Fail(429, retry_after=2.5, message="slow down"))
    messages: Any = [{"role": "user", "content": "hi"}]
    async with client(fake) as api:
        with pytest.raises(openai.InternalServerError):
            await api.chat.completions.create(model="gpt-4o-mini", messages=messages)
        with pytest.raises(openai.RateLimitError) as raised:
            await api.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert raised.value.response.headers["retry-after"] == "2.5"
    assert "slow down" in raised.value.message
    fake.fail_next(503, times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await chat_model(fake).ainvoke("hi")
    assert (await chat_model(fake).ainvoke("hi")).text.startswith("You said: hi.")
    assert len(fake.requests) == 5


async def test_hang_triggers_a_client_timeout_and_drop_a_connection_error(fake: FakeOpenAI) -> None:
    fake.script(Hang(5), Drop())
    with pytest.raises(openai.APITimeoutError):
        await chat_model(fake, timeout=0.3).ainvoke("hi")
    with pytest.raises(openai.APIConnectionError):
        await chat_model(fake).ainvoke("hi")
    assert len(fake.requests) == 2


async def test_stop_refuses_connections_and_start_recovers_on_the_same_url(fake: FakeOpenAI) -> None:
    llm = chat_model(fake)
    base_url = fake.base_url
    assert (await llm.ainvoke("before")).text.startswith("You said: before.")
    await fake.stop()
    with pytest.raises(openai.APIConnectionError):
        await llm.ainvoke("while down")
    await fake.start()
    assert fake.base_url == base_url
    assert (await llm.ainvoke("after")).text.startswith("You said: after.")
