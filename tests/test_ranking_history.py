"""Pure helpers of the core: fact ranking and history repair/trimming."""

from __future__ import annotations

from datetime import datetime, timedelta

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from bot.history import history_window, repair_tool_pairs
from bot.ranking import Candidate, rank, tokens

NOW = datetime(2026, 1, 1)


def fact(key: str, text: str, age_days: int = 0) -> Candidate:
    return Candidate(key=key, text=text, updated_at=NOW - timedelta(days=age_days))


def test_tokens_drop_stopwords_and_fold_plurals() -> None:
    assert tokens("User likes the Pizzas!") == {"pizza"}


def test_relevant_old_fact_beats_recent_irrelevant_ones() -> None:
    facts = [fact("old", "User is allergic to peanuts", age_days=400)]
    facts += [fact(f"new{i}", f"User visited city number {i}", age_days=i) for i in range(50)]
    chosen = rank("can I eat peanuts?", facts, limit=5, token_budget=1000)
    assert chosen[0].key == "old"
    assert [c.key for c in chosen[1:]] == ["new0", "new1", "new2", "new3"]


def test_budget_and_limit_bound_the_selection() -> None:
    facts = [fact(str(i), "word " * 40, age_days=i) for i in range(100)]
    chosen = rank("anything", facts, limit=50, token_budget=200)
    assert 0 < len(chosen) < 50
    assert sum(len(c.text) // 4 + 7 for c in chosen) <= 200 + 7 * len(chosen)


def test_embeddings_rank_by_similarity() -> None:
    facts = [
        Candidate(key="a", text="alpha", updated_at=NOW, embedding=[1.0, 0.0]),
        Candidate(key="b", text="beta", updated_at=NOW - timedelta(days=9), embedding=[0.0, 1.0]),
    ]
    chosen = rank("zzz", facts, limit=1, token_budget=100, query_embedding=[0.1, 0.9])
    assert [c.key for c in chosen] == ["b"]


def test_repair_drops_unanswered_tool_calls_and_orphans() -> None:
    messages = [
        HumanMessage("hi", id="1"),
        AIMessage("", tool_calls=[{"id": "a", "name": "save_memory", "args": {}}], id="2"),
        HumanMessage("again", id="3"),
        ToolMessage("orphan", tool_call_id="zzz", id="4"),
        AIMessage("", tool_calls=[{"id": "b", "name": "save_memory", "args": {}}], id="5"),
        ToolMessage("ok", tool_call_id="b", id="6"),
        AIMessage("done", id="7"),
    ]
    assert [m.id for m in repair_tool_pairs(messages)] == ["1", "3", "5", "6", "7"]


def test_window_keeps_the_current_turn_even_over_budget() -> None:
    messages = [
        HumanMessage("old " * 500, id="1"),
        AIMessage("ok", id="2"),
        HumanMessage("new " * 500, id="3"),
    ]
    window = history_window(messages, 100)
    assert [m.id for m in window.prompt] == ["3"]
    assert [r.id for r in window.removals] == ["1", "2"]  # the store keeps what a prompt shows


def test_window_keeps_whole_exchanges_within_the_token_budget() -> None:
    messages = []
    for i in range(10):
        messages += [
            HumanMessage(f"question {i} " * 20, id=f"h{i}"),
            AIMessage(f"answer {i} " * 20, id=f"a{i}"),
        ]
    budget = count_tokens_approximately(messages[-5:])  # room for two and a half exchanges
    window = history_window(messages, max_tokens=budget)
    assert [m.id for m in window.prompt] == ["h8", "a8", "h9", "a9"]  # whole exchanges only
    assert all(isinstance(r, RemoveMessage) for r in window.removals)
    assert [r.id for r in window.removals] == [m.id for m in messages[:16]]
    assert count_tokens_approximately(window.prompt) <= budget
    roomy = history_window(messages, max_tokens=10**6)
    assert roomy.removals == [] and [m.id for m in roomy.prompt] == [m.id for m in messages]


def test_window_keeps_a_turn_with_tool_calls_together() -> None:
    messages = [
        HumanMessage("hello " * 30, id="h1"),
        AIMessage("hi", id="a1"),
        HumanMessage("I moved to Lisbon", id="h2"),
        AIMessage("", tool_calls=[{"id": "c", "name": "save_memory", "args": {"fact": "x"}}], id="a2"),
        ToolMessage("Saved.", tool_call_id="c", id="t2"),
    ]
    budget = count_tokens_approximately(messages[2:]) + 1
    window = history_window(messages, max_tokens=budget)
    assert [m.id for m in window.prompt] == ["h2", "a2", "t2"]
    assert [r.id for r in window.removals] == ["h1", "a1"]


def test_window_over_budget_mid_turn_still_starts_on_the_current_human_message() -> None:
    messages = [
        HumanMessage("older", id="h1"),
        AIMessage("ok", id="a1"),
        HumanMessage("remember this", id="h2"),
        AIMessage("", tool_calls=[{"id": "c", "name": "save_memory", "args": {"fact": "y " * 400}}], id="a2"),
        ToolMessage("Saved. " * 200, tool_call_id="c", id="t2"),
    ]
    window = history_window(messages, max_tokens=50)
    assert [m.id for m in window.prompt] == ["h2", "a2", "t2"]
    assert [r.id for r in window.removals] == ["h1", "a1"]
