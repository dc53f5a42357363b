"""Deterministic synthetic workload: distinct words, facts about people, chat lines."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.broader_terms import TERMS, broader_terms
from bot.memory import Provenance
from bot.messages import IncomingMessage

_SYLLABLES = ("ba", "ko", "mi", "ru", "te", "lo", "va", "di", "ne", "gu", "pe", "zo", "fi", "ha", "ju", "ry")
_CATEGORIES = (
    "book", "film", "dish", "city", "band", "sport", "tool", "game", "drink", "plant",
    "painter", "language", "framework", "editor", "holiday", "museum", "car", "song", "poet", "snack",
)  # fmt: skip
_ASKS = (
    "Can you help me plan the review for project {w}?",
    "Please draft a short update about the {w} release for the team.",
    "What would be a good agenda for the {w} planning call tomorrow?",
    "Summarize the risks we discussed for the {w} migration in three bullets.",
    "How should I word a polite reminder about the {w} deadline?",
)


def word(index: int) -> str:
    """A pronounceable word unique to `index` (five syllables: a million distinct words)."""
    return "".join(_SYLLABLES[(index >> (4 * k)) & 15] for k in range(5))


def fact(index: int) -> tuple[str, str]:
    """The index-th (fact text, topic): each fact holds one word no other fact has."""
    category = _CATEGORIES[index % len(_CATEGORIES)]
    return f"User's favourite {category} is called {word(index)}", category.title()


def probe(index: int) -> str:
    """A question that only the index-th fact answers (and that saves nothing)."""
    return f"What do you recall about {word(index)}?"


def chat_line(turn: int) -> str:
    """An ordinary message that asks for help and states no fact."""
    return _ASKS[turn % len(_ASKS)].format(w=word(turn + 7919))


DM_SOURCE = Provenance(platform="console", thread_id="console:dm:bench", is_direct=True)


def fact_value(index: int) -> dict[str, Any]:
    """The stored value `MemoryManager.save` writes for the index-th fact."""
    text, topic = fact(index)
    return {"fact": text, "topic": topic, TERMS: broader_terms(text), "source": asdict(DM_SOURCE)}


def direct_message(person: int, text: str) -> IncomingMessage:
    """A DM from the person-th synthetic person, in that person's own thread."""
    return IncomingMessage(
        platform="console",
        user_id=f"console:person{person}",
        user_name=f"Person {person}",
        thread_id=f"console:dm:person{person}",
        text=text,
        is_direct=True,
    )
