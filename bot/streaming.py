"""A turn's answer as the model writes it: its words token by token, never its tool calls.

The graph runs with LangGraph's `messages` stream (every chat-model token of every node)
beside `values` (the state, whose last value is the turn's result, as `ainvoke` returns).
Only the `respond` node's model tokens are words for the person, and of those only the
messages that are text: a message whose first pieces are a tool call (a fact being saved)
is never shown, so no partial JSON reaches a chat. The checkpoint is written once, at the
end of the turn, exactly as without streaming.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessageChunk

from bot.graph import message_text

log = logging.getLogger(__name__)

# Called with each new piece of the answer's text, in order. It must not block: adapters
# buffer what it gives them and post on their own schedule, so a slow platform never slows
# the model's stream (and through it, the turn).
TextSink = Callable[[str], None]

CUT_OFF_NOTE = "\n\n_(My answer was cut off there, sorry. Please ask again.)_"


class AnswerText:
    """Picks the words meant for the person out of a `messages`-mode stream."""

    def __init__(self) -> None:
        self._tool_messages: set[str] = set()
        self._text_messages: set[str] = set()
        self._pieces: list[str] = []

    @property
    def text(self) -> str:
        """All the text shown so far."""
        return "".join(self._pieces)

    def piece(self, chunk: Any, metadata: dict[str, Any]) -> str:
        """The text this stream event adds to the answer ('' for everything else)."""
        if metadata.get("langgraph_node") != "respond" or not isinstance(chunk, AIMessageChunk):
            return ""
        key = chunk.id or ""
        if key in self._tool_messages:
            return ""
        if chunk.tool_call_chunks and key not in self._text_messages:
            self._tool_messages.add(key)
            return ""
        text = message_text(chunk)
        if text:
            self._text_messages.add(key)
            self._pieces.append(text)
        return text


async def stream_graph(
    graph: Any, inputs: dict[str, Any], config: dict[str, Any], sink: TextSink
) -> tuple[Any, str]:
    """Run one turn of `graph`, handing the answer's text to `sink` as it arrives.

    Returns the final state (what `ainvoke` would) and the text that was shown.
    """
    answer = AnswerText()
    final: Any = None
    async for mode, payload in graph.astream(
        inputs, config, stream_mode=["messages", "values"], durability="exit"
    ):
        if mode == "values":
            final = payload
            continue
        chunk, metadata = payload
        piece = answer.piece(chunk, metadata)
        if piece:
            try:
                sink(piece)
            except Exception:  # a broken renderer must not break the turn
                log.exception("the answer's text sink failed; the full answer still comes at the end")
    return final, answer.text
