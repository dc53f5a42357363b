"""The seed notebook's design, reproduced faithfully as the baseline every figure is compared to.

Sync graph, `InMemoryStore`, `MemorySaver`, every fact from `store.search(("memories", user_id))`
(default limit: the first 10 saved) pasted into the prompt, `ChatOpenAI(...).bind_tools([Info])`.
Only the model's address changes: it points at the fake server. Run turns off the event loop
(`asyncio.to_thread`) because the fake server lives on it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, TypedDict

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore


class Info(TypedDict):
    """This tool should be called when you want to save a new fact about the user.

    Attributes:
        fact (str): A fact about the user.
        topic (str): The topic related the fact is about, i.e. Food, Location, Movies, etc.
    """

    fact: str
    topic: str


PROMPT = """You are a helpful assistant that learns about users to provide better assistance.

Current user information:
<info>
{info}
</info>

Instructions:
1. Use the `Info` tool to save new information the user shares.
2. Save facts, opinions, preferences, and experiences.
3. Your goal: Improve assistance by building a user profile over time.

Remember: Every piece of information helps you serve the user better in future interactions.
"""


class SeedBot:
    """The notebook's compiled graph with its store and checkpointer."""

    def __init__(self, base_url: str) -> None:
        model = ChatOpenAI(model="gpt-4o-mini", base_url=base_url, api_key="sk-bench", max_retries=0)  # type: ignore[arg-type]
        self.model = model.bind_tools([Info])
        self.store = InMemoryStore()
        self.checkpointer = MemorySaver()
        self.graph = self._build()

    def _build(self) -> Any:
        model = self.model

        def call_model(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
            user_id = config["configurable"]["user_id"]
            memories = store.search(("memories", user_id))
            info = "\n".join([d.value["fact"] for d in memories])
            system_msg = PROMPT.format(info=info)
            response = model.invoke([{"role": "system", "content": system_msg}, *state["messages"]])
            return {"messages": [response]}

        def route(state: MessagesState) -> str:
            last = state["messages"][-1]
            assert isinstance(last, AIMessage)
            if len(last.tool_calls) == 0:
                return END
            return "update_memory"

        def update_memory(
            state: MessagesState, config: RunnableConfig, *, store: BaseStore
        ) -> dict[str, Any]:
            user_id = config["configurable"]["user_id"]
            memory_id = str(uuid.uuid4())
            tool_calls = []
            last = state["messages"][-1]
            assert isinstance(last, AIMessage)
            for tc in last.tool_calls:
                tool_calls.append({"role": "tool", "content": "Saved!", "tool_call_id": tc["id"]})
                store.put(
                    ("memories", user_id),
                    memory_id,
                    {"fact": tc["args"]["fact"], "topic": tc["args"]["topic"]},
                )
            return {"messages": tool_calls}

        builder = StateGraph(MessagesState)
        builder.add_node(call_model)
        builder.add_node(update_memory)
        builder.add_edge("update_memory", END)
        builder.add_edge(START, "call_model")
        builder.add_conditional_edges("call_model", route, path_map=[END, "update_memory"])
        return builder.compile(checkpointer=self.checkpointer, store=self.store)

    def turn(self, user_id: str, thread_id: str, text: str) -> float:
        """Run one turn synchronously; returns its duration in seconds (measured in this thread)."""
        config = {"configurable": {"thread_id": thread_id, "user_id": user_id}}
        started = time.perf_counter()
        self.graph.invoke({"messages": [{"role": "user", "content": text}]}, config)
        return time.perf_counter() - started

    def add_facts(self, user_id: str, facts: Iterable[tuple[str, str]]) -> None:
        """Store (fact, topic) pairs in order, one uuid key each, as the notebook's tool node does."""
        for fact, topic in facts:
            self.store.put(("memories", user_id), str(uuid.uuid4()), {"fact": fact, "topic": topic})

    def retrieve(self, user_id: str) -> list[str]:
        """What the seed puts in the prompt for a person."""
        return [item.value["fact"] for item in self.store.search(("memories", user_id))]


def _footprint(base_url: str, people: int, turns: int) -> dict[str, float]:
    """RSS of this process before and after `people * turns` seed turns (run as a child process)."""
    from bench.measure import rss_mb
    from bench.workload import chat_line

    bot = SeedBot(base_url)
    bot.turn("warmup", "warmup", chat_line(0))
    idle = rss_mb()
    started = time.perf_counter()
    for turn in range(turns):
        for person in range(people):
            bot.turn(f"person{person}", f"dm:person{person}", chat_line(turn * people + person))
    return {
        "rss_idle_mb": idle,
        "rss_after_mb": rss_mb(),
        "turns": people * turns,
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Run seed turns against a model server; print RSS as JSON.")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--turns", type=int, default=100)
    arguments = parser.parse_args()
    print(json.dumps(_footprint(arguments.base_url, arguments.people, arguments.turns)))
