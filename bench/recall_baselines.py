"""Figure 7's baselines and scoring: textbook BM25, packing to the budget, hit and full recall.

Ranked here, beside the bot, in the same run (see `bench.recall`).
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from bench.recall_data import Person, Question
from bot.facts import fact_line
from bot.lexicon import stem, words
from bot.ranking import approx_tokens
from tests.fakes.openai_server import embed

BUDGET = 600
Fact = tuple[str, str, str]  # (key, text, topic)


class StandInEmbeddings(Embeddings):
    """The fake model server's embedding, without the server (see the module docstring)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed(text)


def key(person: int, index: int) -> str:
    return hashlib.sha1(f"{person}:{index}".encode()).hexdigest()[:12]


def cost(fact: Fact) -> int:
    return approx_tokens(fact_line(*fact))


def pack(order: Sequence[Fact], limit: int) -> list[Fact]:
    chosen: list[Fact] = []
    spent = 0
    for fact in order:
        if len(chosen) >= limit:
            break
        if spent + cost(fact) <= BUDGET:
            chosen.append(fact)
            spent += cost(fact)
    return chosen


class BM25:
    """Okapi BM25 over one person's facts (what `rank_bm25.BM25Okapi` computes), Snowball stems."""

    def __init__(self, facts: Sequence[Fact], k1: float = 1.5, b: float = 0.75) -> None:
        self.facts, self.k1, self.b = facts, k1, b
        self.docs = [Counter(stem(w) for w in words(text)) for _, text, _ in facts]
        self.avg = statistics.fmean(sum(d.values()) for d in self.docs) or 1.0
        frequency: Counter[str] = Counter(t for d in self.docs for t in d)
        n = len(self.docs)
        self.idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1) for t, f in frequency.items()}

    def order(self, query: str) -> list[Fact]:
        terms = [stem(w) for w in words(query)]

        def score(i: int) -> float:
            doc, length = self.docs[i], sum(self.docs[i].values())
            return sum(
                self.idf.get(t, 0.0)
                * doc[t]
                * (self.k1 + 1)
                / (doc[t] + self.k1 * (1 - self.b + self.b * length / self.avg))
                for t in terms
                if t in doc
            )

        scores = [score(i) for i in range(len(self.facts))]
        # Ties (and every fact that matches nothing) newest first; facts are oldest first.
        scored = sorted(range(len(self.facts)), key=lambda i: (-scores[i], -i))
        return [self.facts[i] for i in scored]


def recall_by_kind(
    people: Sequence[Person], choose: Callable[[int, Question], Sequence[str]]
) -> dict[str, Any]:
    by_kind: dict[str, list[tuple[bool, bool, int]]] = {}
    for p, person in enumerate(people):
        for question in person.questions:
            chosen = set(choose(p, question))
            needed = {key(p, i) for i in question.needs}
            by_kind.setdefault(question.kind, []).append(
                (bool(chosen & needed), needed <= chosen, len(chosen))
            )
    out: dict[str, Any] = {}
    everything = [row for rows in by_kind.values() for row in rows]
    for kind, rows in [*sorted(by_kind.items()), ("all", everything)]:
        out[kind] = {
            "questions": len(rows),
            "hit": round(sum(r[0] for r in rows) / len(rows), 3),
            "full": round(sum(r[1] for r in rows) / len(rows), 3),
            "facts_mean": round(statistics.fmean(r[2] for r in rows), 1),
        }
    return out


def meets(rows: dict[str, Any], targets: dict[str, float]) -> bool:
    """Whether one method's recall by kind meets the issue's targets."""
    return (
        rows["all"]["hit"] >= targets["hit"]
        and rows.get("multi-hop", {}).get("hit", 0) >= targets["multi_hop_hit"]
        and rows["all"]["full"] >= targets["full"]
    )


def embeddings_do_as_well(methods: dict[str, Any]) -> bool:
    """With an embedding model configured, the bot finds at least what it finds without."""
    plain, embed = methods["ours"]["all"], methods["ours_embed"]["all"]
    return bool(embed["hit"] >= plain["hit"] and embed["full"] >= plain["full"])
