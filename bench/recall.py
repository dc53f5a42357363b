"""Figure 7: retrieval quality: do the facts a question needs reach the prompt?

On the seeded dataset of `bench.recall_data` (20 people, ~120 facts each), every question
is answered by `MemoryManager.relevant_facts` on a real SQLite store (its FTS5 index), and
by two baselines ranked in this file, in the same run, at the same token budget (600 by
default, counted as the prompt shows each fact: `- [id] text (topic)`):

- BM25: textbook Okapi BM25 (k1 1.5, b 0.75, rank-bm25's idf) on Snowball stems, the
  question's words only; facts that match nothing follow, newest first (as the bot did);
- recency: the newest facts;
- the previous default (`bot.ranking.rank`: rarity-weighted word overlap plus recency);
- the bot with an embedding model configured (`BOT_EMBEDDING_MODEL`): no embedding model runs
  offline here, so the stand-in is the fake model server's own (`tests.fakes.openai_server.embed`:
  words hashed into 64 signed buckets), with each fact's vector stored in it as the bot stores
  one. It shows that adding the semantic list does not cost recall; a real model's gain is not
  measured here.

Each is shown filling the budget and, as the bot did before (`MAX_FACTS_IN_PROMPT`=12),
capped at 12 facts. A question *hits* when at least one needed fact is chosen; *full*
when all are.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp

from bench.recall_data import Person, Question, dataset
from bench.workload import DM_SOURCE
from bot.facts import fact_line, memories_namespace
from bot.lexicon import stem, words
from bot.memory import MemoryManager
from bot.prompts import system_prompt
from bot.ranking import Candidate, approx_tokens, rank
from bot.storage import open_storage
from config.settings import parse_database_url
from tests.fakes.openai_server import embed

BUDGET = 600
CAPPED = 12
TARGETS = {"hit": 0.90, "multi_hop_hit": 0.80, "full": 0.85}
START = datetime(2026, 1, 1, tzinfo=UTC)
Fact = tuple[str, str, str]  # (key, text, topic)
Chooser = Callable[[Question], Any]


class _StandInEmbeddings(Embeddings):
    """The fake model server's embedding, without the server (see the module docstring)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed(text)


def _key(person: int, index: int) -> str:
    return hashlib.sha1(f"{person}:{index}".encode()).hexdigest()[:12]


def _cost(fact: Fact) -> int:
    return approx_tokens(fact_line(*fact))


def _pack(order: Sequence[Fact], limit: int) -> list[Fact]:
    chosen: list[Fact] = []
    spent = 0
    for fact in order:
        if len(chosen) >= limit:
            break
        if spent + _cost(fact) <= BUDGET:
            chosen.append(fact)
            spent += _cost(fact)
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


def _score(people: Sequence[Person], choose: Callable[[int, Question], Sequence[str]]) -> dict[str, Any]:
    by_kind: dict[str, list[tuple[bool, bool, int]]] = {}
    for p, person in enumerate(people):
        for question in person.questions:
            chosen = set(choose(p, question))
            needed = {_key(p, i) for i in question.needs}
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


async def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    people = dataset(people=4 if quick else 20, fillers=30 if quick else 80)
    facts = [
        [(_key(p, i), text, topic) for i, (text, topic) in enumerate(person.facts)]
        for p, person in enumerate(people)
    ]
    methods: dict[str, Any] = {}
    async with open_storage(parse_database_url(f"sqlite:///{workdir / 'recall.db'}")) as storage:
        ops = []
        for p, person_facts in enumerate(facts):
            for i, (key, text, topic) in enumerate(person_facts):
                stamp = (START + timedelta(minutes=i)).isoformat()
                value = {
                    "fact": text,
                    "topic": topic,
                    "source": asdict(DM_SOURCE),
                    "saved_at": stamp,
                    "embedding": embed(text),
                }
                ops.append(PutOp(memories_namespace(f"console:p{p}"), key, value, index=False))
        await storage.store.abatch(ops)
        lexical = MemoryManager(storage.store, storage.checkpointer, facts_index=storage.facts)
        semantic = MemoryManager(
            storage.store, storage.checkpointer, facts_index=storage.facts, embeddings=_StandInEmbeddings()
        )
        chosen: dict[tuple[int, int, str], list[str]] = {}
        prompt_chars: list[int] = []
        section_tokens: list[int] = []
        for limit, label, memories in (
            (100, "ours", lexical),
            (CAPPED, "ours_12", lexical),
            (100, "ours_embed", semantic),
        ):
            for p, person in enumerate(people):
                for q, question in enumerate(person.questions):
                    found = await memories.relevant_facts(
                        f"console:p{p}",
                        question.text,
                        limit=limit,
                        token_budget=BUDGET,
                        context=question.context,
                    )
                    chosen[(p, q, label)] = [fact.id for fact in found]
                    if label == "ours":
                        section = "\n".join(fact_line(f.id, f.text, f.topic) for f in found)
                        section_tokens.append(approx_tokens(section))
                        prompt_chars.append(
                            len(
                                system_prompt(
                                    user_name="Ana",
                                    facts=found,
                                    is_direct=True,
                                    channel_label=None,
                                    now=START,
                                )
                            )
                        )
    index = {(p, id(q)): n for p, person in enumerate(people) for n, q in enumerate(person.questions)}
    bm25 = [BM25(person_facts) for person_facts in facts]
    newest = [list(reversed(person_facts)) for person_facts in facts]
    candidates = [
        [Candidate(key=k, text=t, updated_at=START + timedelta(minutes=i)) for i, (k, t, _) in enumerate(pf)]
        for pf in facts
    ]
    by_key = [{f[0]: f for f in pf} for pf in facts]

    def ranked_by(label: str) -> Callable[[int, Question], Sequence[str]]:
        def choose(p: int, q: Question) -> Sequence[str]:
            limit = CAPPED if label.endswith("_12") else 100
            if label.startswith("ours"):
                return chosen[(p, index[(p, id(q))], label)]
            if label.startswith("bm25"):
                return [f[0] for f in _pack(bm25[p].order(q.text), limit)]
            if label.startswith("recency"):
                return [f[0] for f in _pack(newest[p], limit)]

            def cost(candidate: Candidate) -> int:
                return _cost(by_key[p][candidate.key])

            previous = rank(q.text, candidates[p], limit=CAPPED, token_budget=BUDGET, cost=cost)
            return [c.key for c in previous]

        return choose

    for label in ("ours", "ours_embed", "bm25", "recency", "ours_12", "bm25_12", "recency_12", "previous_12"):
        methods[label] = _score(people, ranked_by(label))
    ours = methods["ours"]
    return {
        "people": len(people),
        "facts": sum(len(pf) for pf in facts),
        "questions": sum(len(person.questions) for person in people),
        "token_budget": BUDGET,
        "methods": methods,
        "facts_section_tokens": {"median": statistics.median(section_tokens), "max": max(section_tokens)},
        "system_prompt_chars_median": statistics.median(prompt_chars),
        "targets": TARGETS,
        "meets_target": ours["all"]["hit"] >= TARGETS["hit"]
        and ours.get("multi-hop", {}).get("hit", 0) >= TARGETS["multi_hop_hit"]
        and ours["all"]["full"] >= TARGETS["full"],
    }
