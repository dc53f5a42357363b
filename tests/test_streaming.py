"""The answer streams through ChatService as the model writes it, through the real ChatOpenAI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.runtime import open_runtime
from bot.streaming import CUT_OFF_NOTE
from config.settings import Settings
from tests.fakes.openai_server import TOOL_ACK, Cut, FakeOpenAI, Text
from tests.helpers import chat_messages, dm

LONG = "Pizza in North Beach is a fine idea tonight, and the slices there are famous. " * 3


async def test_text_arrives_before_the_model_finishes_and_adds_up_to_the_answer(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    fake_model.stream_gate = asyncio.Event()
    fake_model.script(Text(LONG))
    pieces: list[str] = []
    first_text = asyncio.Event()

    def sink(piece: str) -> None:
        pieces.append(piece)
        first_text.set()

    async with open_runtime(make_settings()) as runtime:
        turn = asyncio.create_task(runtime.service.handle(dm("ana", "where to eat?"), on_text=sink))
        await first_text.wait()  # the model has sent one piece and is held there
        assert not turn.done() and "".join(pieces) == LONG[:12]
        fake_model.stream_gate.set()
        reply = await turn
        assert "".join(pieces) == reply.text == LONG
        assert fake_model.last_request()["stream"] is True
        # The checkpoint was written at the end of the turn: the next turn sees this one.
        await runtime.service.handle(dm("ana", "and after that?"))
        assert [m["content"] for m in chat_messages(fake_model.last_request())][-2] == LONG


async def test_a_turn_that_saves_a_fact_streams_only_its_final_words(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    pieces: list[str] = []
    async with open_runtime(make_settings()) as runtime:
        reply = await runtime.service.handle(dm("ana", "I like green tea"), on_text=pieces.append)
        assert reply.memories_changed and reply.text == TOOL_ACK
        assert "".join(pieces) == TOOL_ACK  # the tool-call round (its JSON) never shows
        assert [f.text for f in await runtime.memories.list_facts("console:ana")] == ["User likes green tea"]


async def test_a_model_failing_mid_answer_keeps_the_text_and_says_it_was_cut_off(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    fake_model.script(Cut(LONG, after=40))
    pieces: list[str] = []
    async with open_runtime(make_settings()) as runtime:
        reply = await runtime.service.handle(dm("ana", "where to eat?"), on_text=pieces.append)
        assert reply.failed
        assert "".join(pieces) == LONG[:40]
        assert reply.text == LONG[:40].rstrip() + CUT_OFF_NOTE
        # The thread is still usable: the next turn answers normally.
        again = await runtime.service.handle(dm("ana", "hello again"), on_text=pieces.append)
        assert not again.failed and again.text.startswith("You said: hello again")


async def test_streaming_off_hands_out_nothing_until_the_end(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    pieces: list[str] = []
    async with open_runtime(make_settings(bot_streaming=False)) as runtime:
        assert not runtime.service.streams
        reply = await runtime.service.handle(dm("ana", "hello"), on_text=pieces.append)
    assert pieces == [] and reply.text.startswith("You said: hello")
    assert not fake_model.last_request().get("stream")


async def test_a_broken_sink_does_not_break_the_turn(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI
) -> None:
    def broken(piece: str) -> None:
        raise RuntimeError("renderer on fire")

    async with open_runtime(make_settings()) as runtime:
        reply = await runtime.service.handle(dm("ana", "hello"), on_text=broken)
    assert not reply.failed and reply.text.startswith("You said: hello")
