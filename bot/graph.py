"""The one shared LangGraph graph: respond (with relevant facts) <-> remember (memory tools).

Built once by `build_graph` with the model, memory manager and checkpointer injected, and
shared by every adapter. Who is talking always comes from `config["configurable"]`,
never from the model, so no message can write into someone else's memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from pydantic import ValidationError

from bot.history import history_window
from bot.memory import MemoryManager
from bot.memory_tools import Speaker, apply_tool
from bot.prompts import MEMORY_TOOLS, system_prompt

log = logging.getLogger(__name__)

MODEL_FAILED = "model_failed"
MEMORY_CHANGED = "memory_changed"
APOLOGY = (
    "Sorry, I couldn't reach my language model just now, so I can't answer that. "
    "Please try again in a moment."
)
EMPTY_ANSWER = "I'm not sure what to say to that. Could you put it another way?"
SAVED_ANSWER = "Thanks, I'll remember that."


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Budgets that keep every model call bounded."""

    history_token_budget: int = 3000
    memory_token_budget: int = 600
    max_facts_in_prompt: int = 40
    max_tool_rounds: int = 3


def message_text(message: BaseMessage) -> str:
    """The plain text of a message whose content may be a string or a list of parts."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = [part if isinstance(part, str) else str(part.get("text", "")) for part in content]
    return "".join(parts)


def _tool_rounds_this_turn(messages: list[AnyMessage]) -> int:
    rounds = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            rounds += 1
    return rounds


def _last_human_text(messages: list[AnyMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message_text(message)
    return ""


CONTEXT_TURNS = 3


def _recent_turns(messages: list[AnyMessage]) -> list[str]:
    """The thread's last few messages before the current one (people's and the bot's words),
    oldest first: a follow-up such as "and her sister?" is searched with them."""
    current = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), 0)
    earlier = [
        message_text(message)
        for message in messages[:current]
        if isinstance(message, HumanMessage) or (isinstance(message, AIMessage) and not message.tool_calls)
    ]
    return earlier[-CONTEXT_TURNS:]


def _as_stored(response: BaseMessage) -> AIMessage:
    """The model's answer as the thread keeps it: what a later prompt sends back, no more.

    langchain-openai attaches token counts, model name, fingerprint and finish reason to
    every answer. A stored thread is loaded (and each message rebuilt) on every turn, and
    a few hundred turns are in flight at once, so that metadata cost a third of a full
    thread's bytes and load time for nothing a prompt uses (`bench/README.md`, figure 6).
    """
    if not isinstance(response, AIMessage):
        return AIMessage(content=message_text(response))
    return AIMessage(
        content=response.content,
        additional_kwargs=response.additional_kwargs,
        tool_calls=response.tool_calls,
        invalid_tool_calls=response.invalid_tool_calls,
        id=response.id,
    )


def _describe_failure(exc: BaseException) -> str:
    """Exception type and HTTP status only: provider messages can echo key fragments."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")


def build_graph(
    *,
    model: BaseChatModel,
    memory: MemoryManager,
    checkpointer: BaseCheckpointSaver,
    limits: Limits | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the bot's graph once; every adapter shares the result."""
    limits = limits or Limits()
    model_with_tools = model.bind_tools(list(MEMORY_TOOLS))

    async def respond(
        state: MessagesState, config: RunnableConfig
    ) -> Command[Literal["remember", "__end__"]]:
        speaker = Speaker.from_config(config)
        messages = state["messages"]
        if speaker.is_direct and all(isinstance(message, HumanMessage) for message in messages):
            # The first turn of a DM thread (or the first since its history was erased): index
            # it so /forget can find it. Its checkpoint is written only when the turn ends, so
            # no DM history is ever stored unindexed; later turns skip the lookup.
            await memory.note_direct_thread(speaker.user_id, speaker.thread_id)
        # Private facts reach only the person's direct conversations: in a shared thread the
        # store query leaves them out, so no instruction has to keep them back.
        facts = await memory.relevant_facts(
            speaker.user_id,
            _last_human_text(messages),
            limit=limits.max_facts_in_prompt,
            token_budget=limits.memory_token_budget,
            context=_recent_turns(messages),
            include_private=speaker.is_direct,
        )
        withheld = not speaker.is_direct and await memory.has_private(speaker.user_id)
        system = SystemMessage(
            system_prompt(
                user_name=speaker.user_name,
                facts=facts,
                is_direct=speaker.is_direct,
                channel_label=speaker.channel_label,
                now=datetime.now(UTC),
                withheld=withheld,
            )
        )
        window = history_window(messages, limits.history_token_budget)
        prompt = [system, *window.prompt]
        tools_allowed = _tool_rounds_this_turn(messages) < limits.max_tool_rounds
        try:
            response = await (model_with_tools if tools_allowed else model).ainvoke(prompt)
        except Exception as exc:  # noqa: BLE001 - any model failure gets the same kind reply
            log.error("model call failed for thread %s: %s", speaker.thread_id, _describe_failure(exc))
            response = AIMessage(content=APOLOGY, additional_kwargs={MODEL_FAILED: True})
        response = _as_stored(response)
        if not tools_allowed and (response.tool_calls or response.invalid_tool_calls):
            # Out of tool rounds: whatever the model asked for, this turn ends with words.
            response = AIMessage(content=message_text(response), id=response.id)
        has_calls = bool(response.tool_calls or response.invalid_tool_calls)
        if not has_calls and not message_text(response).strip():
            saved = _tool_rounds_this_turn(messages) > 0
            response = AIMessage(content=SAVED_ANSWER if saved else EMPTY_ANSWER, id=response.id)
        # A thread stores no more than a prompt can show: older exchanges could never reach
        # the model again, and each turn loads (and holds in memory) the whole stored thread.
        # Unlike the seed, a saved fact goes back to the model (remember -> respond) so the
        # person gets a real answer. Routing here, not in a conditional edge, spares every
        # turn a second read of the whole state.
        destination: Literal["remember", "__end__"] = "remember" if has_calls else "__end__"
        return Command(update={"messages": [*window.removals, response]}, goto=destination)

    async def remember(state: MessagesState, config: RunnableConfig) -> dict[str, list[Any]]:
        speaker = Speaker.from_config(config)
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        results: list[ToolMessage] = []
        for call in last.tool_calls:
            call_id = call.get("id") or ""
            try:
                outcome, changed = await apply_tool(memory, speaker, call["name"], call["args"])
            except (ValidationError, ValueError) as exc:
                outcome, changed = f"Error: invalid arguments ({exc.__class__.__name__}).", False
            results.append(
                ToolMessage(
                    content=outcome,
                    tool_call_id=call_id,
                    name=call["name"],
                    additional_kwargs={MEMORY_CHANGED: changed},
                )
            )
        for bad in last.invalid_tool_calls:
            results.append(
                ToolMessage(
                    content="Error: the arguments were not valid JSON; nothing was saved.",
                    tool_call_id=bad.get("id") or "",
                    name=bad.get("name") or "unknown",
                )
            )
        return {"messages": results}

    builder = StateGraph(MessagesState)
    builder.add_node("respond", respond, destinations=("remember", END))
    builder.add_node("remember", remember)
    builder.add_edge(START, "respond")
    builder.add_edge("remember", "respond")
    return builder.compile(checkpointer=checkpointer, store=memory.store)
