"""Keep a thread's history valid and bounded: repair tool-call pairs, trim, redact."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.checkpoint.base import BaseCheckpointSaver


def _call_ids(message: AIMessage) -> list[str]:
    ids = [call.get("id") for call in message.tool_calls]
    ids += [call.get("id") for call in message.invalid_tool_calls]
    return [call_id for call_id in ids if call_id]


def repair_tool_pairs(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Drop tool calls that never got results (a turn killed mid-way) and orphaned results.

    The model API rejects a history where an assistant tool call is not followed by its
    results, so one crash mid-turn would otherwise poison the thread for good.
    """
    answered = {message.tool_call_id for message in messages if isinstance(message, ToolMessage)}
    repaired: list[BaseMessage] = []
    open_calls: set[str] = set()
    for message in messages:
        if isinstance(message, AIMessage) and (message.tool_calls or message.invalid_tool_calls):
            ids = _call_ids(message)
            if ids and all(call_id in answered for call_id in ids):
                repaired.append(message)
                open_calls = set(ids)
            elif isinstance(message.content, str) and message.content.strip():
                repaired.append(AIMessage(content=message.content, id=message.id))
                open_calls = set()
            else:
                open_calls = set()
            continue
        if isinstance(message, ToolMessage):
            if message.tool_call_id in open_calls:
                repaired.append(message)
            continue
        open_calls = set()
        repaired.append(message)
    return repaired


@dataclass(frozen=True, kw_only=True)
class HistoryWindow:
    """What of a thread's history the model sees this turn, and what the stored thread drops."""

    prompt: list[BaseMessage]
    removals: list[RemoveMessage]


def history_window(messages: Sequence[BaseMessage], max_tokens: int) -> HistoryWindow:
    """The newest whole exchanges that fit in `max_tokens`, and removals for everything older.

    The window starts on a human message, so tool calls stay with their results; the current
    turn (from the last human message on) is always kept, even if it alone is over budget.
    Storing no more than the prompt can show keeps each turn's load, memory and disk use flat
    however long a thread runs. Each message is counted once (this runs on every model call).
    """
    total = 0
    start: int | None = None
    for index in range(len(messages) - 1, -1, -1):
        total += count_tokens_approximately([messages[index]])
        if total > max_tokens:
            break
        if isinstance(messages[index], HumanMessage):
            start = index
    if start is None:
        humans = [index for index, message in enumerate(messages) if isinstance(message, HumanMessage)]
        if not humans:  # not a conversation the bot wrote; show the last message, drop nothing
            return HistoryWindow(prompt=list(messages[-1:]), removals=[])
        start = humans[-1]
    return HistoryWindow(
        prompt=repair_tool_pairs(messages[start:]),
        removals=[RemoveMessage(id=message.id) for message in messages[:start] if message.id],
    )


def searchable_text(message: BaseMessage) -> str:
    """Everything a message says, tool-call arguments included."""
    content = message.content if isinstance(message.content, str) else json.dumps(message.content)
    if isinstance(message, AIMessage) and message.tool_calls:
        content += " " + json.dumps([call["args"] for call in message.tool_calls])
    return content


async def rewrite_thread(
    graph: Any,
    checkpointer: BaseCheckpointSaver,
    thread_id: str,
    drop: Callable[[BaseMessage], bool],
) -> bool:
    """Rewrite a thread's history without the messages `drop` selects; True if any were.

    Every earlier checkpoint holds a copy of the history, so the thread is deleted and its
    remaining messages written back as one fresh checkpoint.
    """
    config = {"configurable": {"thread_id": thread_id}}
    state = await graph.aget_state(config)
    messages = list((state.values or {}).get("messages", []))
    kept = repair_tool_pairs([message for message in messages if not drop(message)])
    if len(kept) == len(messages):
        return False
    await checkpointer.adelete_thread(thread_id)
    if kept:
        await graph.aupdate_state(config, {"messages": kept}, as_node="respond")
    return True
