"""Keep a thread's history valid and bounded: repair tool-call pairs, trim, redact."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages
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


def fit_to_budget(messages: Sequence[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """The newest messages that fit in `max_tokens`, starting on a human message.

    Starting on a human message keeps tool calls and their results together. The current
    turn (from the last human message on) is always kept, even if it alone is over budget.
    """
    repaired = repair_tool_pairs(messages)
    trimmed = trim_messages(
        repaired,
        max_tokens=max_tokens,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
    if trimmed:
        return list(trimmed)
    for index in range(len(repaired) - 1, -1, -1):
        if isinstance(repaired[index], HumanMessage):
            return repaired[index:]
    return repaired[-1:]


def compaction(messages: Sequence[BaseMessage], max_tokens: int) -> list[RemoveMessage]:
    """Removals that keep the stored thread within `max_tokens` (approximate).

    Only whole exchanges are dropped (the cut lands on a human message), so what stays is
    always a valid history. Storing a bounded history keeps each turn's load, memory and
    disk use flat however long a thread runs; the prompt budget hides older turns anyway.
    """
    total = 0
    cut: int | None = None
    for index in range(len(messages) - 1, -1, -1):
        total += count_tokens_approximately([messages[index]])
        if total > max_tokens:
            break
        if isinstance(messages[index], HumanMessage):
            cut = index
    else:
        return []
    if not cut:
        return []
    return [RemoveMessage(id=message.id) for message in messages[:cut] if message.id]


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
