"""bot/model.py: the product's model clients send what the stock SDK sends, and close cleanly."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import warnings
import weakref
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from bot.model import PreparedChatCompletions, open_model_clients
from tests.fakes.openai_server import Fail, FakeOpenAI, Text, ToolCalls


@tool
def save_memory(fact: str, topic: str) -> str:
    """Remember a fact about the user."""
    return "saved"


CONVERSATION = [
    SystemMessage("You are a helpful bot.\n- [m1] User lives in Lisbon"),
    HumanMessage("[Ann] I moved to Porto"),
    AIMessage(
        "", tool_calls=[{"id": "call_1", "name": "save_memory", "args": {"fact": "Porto", "topic": "Home"}}]
    ),
    ToolMessage("saved", tool_call_id="call_1"),
    HumanMessage([{"type": "text", "text": "and what is the weather?"}]),
]


def stock_model(fake_model: FakeOpenAI, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini",
        base_url=fake_model.base_url,
        api_key=SecretStr("sk-test"),
        max_retries=0,
        **kwargs,
    )


async def test_prepared_requests_match_the_stock_sdk_byte_for_byte_in_content(
    fake_model: FakeOpenAI, make_settings
) -> None:
    settings = make_settings(openai_api_key="sk-test", bot_model="gpt-4o-mini")
    fake_model.script(Text("stock"), Text("ours"))
    stock = stock_model(fake_model, temperature=0.2, model_kwargs={"user": "u-1"}).bind_tools([save_memory])
    assert (await stock.ainvoke(CONVERSATION)).content == "stock"
    async with open_model_clients(settings) as clients:
        assert isinstance(clients.chat, ChatOpenAI)
        ours = clients.chat.model_copy(update={"temperature": 0.2, "model_kwargs": {"user": "u-1"}})
        assert (await ours.bind_tools([save_memory]).ainvoke(CONVERSATION)).content == "ours"
    first, second = fake_model.requests[-2:]
    assert second == first
    assert second["tools"][0]["function"]["name"] == "save_memory"
    assert second["user"] == "u-1"
    assert fake_model.auth_headers[-2:] == ["Bearer sk-test", "Bearer sk-test"]


@pytest.mark.parametrize(
    "answer",
    [
        Text("a plain answer"),
        ToolCalls([("save_memory", {"fact": "User likes tea", "topic": "Preferences"})]),
    ],
)
async def test_answers_parse_as_the_stock_sdk_parses_them(
    fake_model: FakeOpenAI, make_settings, answer: Text | ToolCalls
) -> None:
    fake_model.script(answer, answer)
    stock = await stock_model(fake_model).bind_tools([save_memory]).ainvoke(CONVERSATION)
    async with open_model_clients(make_settings(bot_model="gpt-4o-mini")) as clients:
        ours = await clients.chat.bind_tools([save_memory]).ainvoke(CONVERSATION)
    assert isinstance(stock, AIMessage) and isinstance(ours, AIMessage)
    assert ours.content == stock.content
    assert [(c["name"], c["args"]) for c in ours.tool_calls] == [
        (c["name"], c["args"]) for c in stock.tool_calls
    ]
    assert ours.usage_metadata == stock.usage_metadata and ours.usage_metadata is not None
    for key in ("finish_reason", "model_name", "model_provider"):
        assert ours.response_metadata[key] == stock.response_metadata[key], key
    # The SDK's model adds the usage fields the server left out, as None.
    stock_usage = {k: v for k, v in stock.response_metadata["token_usage"].items() if v is not None}
    assert ours.response_metadata["token_usage"] == stock_usage


async def test_tool_calls_come_back_parsed(fake_model: FakeOpenAI, make_settings) -> None:
    fake_model.script(ToolCalls([("save_memory", {"fact": "User likes tea", "topic": "Preferences"})]))
    async with open_model_clients(make_settings()) as clients:
        answer = await clients.chat.bind_tools([save_memory]).ainvoke([HumanMessage("I like tea")])
    assert isinstance(answer, AIMessage)
    assert answer.tool_calls[0]["args"] == {"fact": "User likes tea", "topic": "Preferences"}


async def test_retries_and_errors_still_come_from_the_sdk(fake_model: FakeOpenAI, make_settings) -> None:
    fake_model.script(Fail(500), Text("after a retry"))
    async with open_model_clients(make_settings(model_max_retries=1)) as clients:
        assert (await clients.chat.ainvoke("hi")).content == "after a retry"
    fake_model.script(Fail(401))
    async with open_model_clients(make_settings(model_max_retries=0)) as clients:
        with pytest.raises(Exception, match="401"):
            await clients.chat.ainvoke("hi")


async def test_streaming_goes_through_the_stock_create(fake_model: FakeOpenAI, make_settings) -> None:
    fake_model.script(Text("streamed reply"))
    async with open_model_clients(make_settings()) as clients:
        assert isinstance(clients.chat, ChatOpenAI)
        assert isinstance(clients.chat.async_client, PreparedChatCompletions)
        pieces = [chunk.content async for chunk in clients.chat.astream("hi")]
    assert "".join(str(piece) for piece in pieces) == "streamed reply"
    assert fake_model.last_request()["stream"] is True


async def test_embeddings_share_the_client(fake_model: FakeOpenAI, make_settings) -> None:
    settings = make_settings(bot_embedding_model="text-embedding-3-small")
    async with open_model_clients(settings) as clients:
        assert clients.embeddings is not None
        vectors = await clients.embeddings.aembed_documents(["User likes tea", "User lives in Porto"])
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0


async def test_closing_releases_every_connection(fake_model: FakeOpenAI, make_settings) -> None:
    fake_model.script(Text("one"), Text("two"))
    gc.collect()  # earlier tests' garbage must not be blamed on this client
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with open_model_clients(make_settings()) as clients:
            await clients.chat.ainvoke("hi")
            await clients.chat.ainvoke("again")
        del clients
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [
        str(w.message) for w in caught
    ]


async def test_a_model_call_keeps_nothing_of_its_callers_context(
    fake_model: FakeOpenAI, make_settings
) -> None:
    # asyncio callbacks keep the context they were made in; the pooled connection opened by a
    # call outlives it, and a turn's context holds that turn's whole graph run.
    class TurnState:
        pass

    holder: contextvars.ContextVar[TurnState] = contextvars.ContextVar("turn_state")

    async def one_call() -> weakref.ref[TurnState]:
        state = TurnState()
        holder.set(state)
        await clients.chat.ainvoke(CONVERSATION)
        return weakref.ref(state)

    async with open_model_clients(make_settings(bot_model="gpt-4o-mini")) as clients:
        # Each call in a context of its own, as each turn runs in its own task.
        refs = await asyncio.gather(*(asyncio.create_task(one_call()) for _ in range(3)))
        # The finished tasks' done-callbacks run on later loop iterations, later still on a
        # busy machine (a full suite failed with three): wait for them, up to a second. A
        # context a pooled connection kept would still be alive after that.
        for _ in range(100):
            await asyncio.sleep(0.01)
            gc.collect()
            if all(ref() is None for ref in refs):
                break
        assert [ref() for ref in refs] == [None, None, None]
        assert len(fake_model.requests) == 3
