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

In the same run: the bot on Postgres (its full-text search) on the same data, when a server is
reachable; and a held-out dataset in a second style (`bench.recall_holdout`, LoCoMo-like notes
with dates in many shapes, written by someone who had not read the ranking code) for the bot on
both engines and with the stand-in embedding, BM25 and recency: the check that the ranking is
not fitted to the first dataset.

Each is shown filling the budget and, as the bot did before (`MAX_FACTS_IN_PROMPT`=12),
capped at 12 facts. A question *hits* when at least one needed fact is chosen; *full*
when all are.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langgraph.store.base import PutOp

from bench import recall_holdout, recall_holdout2
from bench.measure import fresh_postgres
from bench.recall_baselines import (
    BM25,
    BUDGET,
    Fact,
    StandInEmbeddings,
    cost,
    embeddings_do_as_well,
    key,
    meets,
    pack,
    recall_by_kind,
)
from bench.recall_data import Person, Question, dataset
from bench.workload import DM_SOURCE
from bot.broader_terms import TERMS, broader_terms
from bot.facts import fact_line, memories_namespace
from bot.memory import MemoryManager
from bot.prompts import system_prompt
from bot.ranking import Candidate, approx_tokens, rank
from bot.storage import open_storage
from config.settings import parse_database_url
from tests.fakes.openai_server import embed

CAPPED = 12
TARGETS = {"hit": 0.90, "multi_hop_hit": 0.80, "full": 0.85}
START = datetime(2026, 1, 1, tzinfo=UTC)
POSTGRES_DATABASE = "bench_recall_quality"  # made afresh by every run
# Held-out datasets, each in a style of its own, written without reading bot/ (see their docstrings).
HELD_OUT = {"holdout": recall_holdout.dataset, "holdout2": recall_holdout2.dataset}
Chosen = dict[tuple[int, int, str], list[str]]


def _facts(people: Sequence[Person]) -> list[list[Fact]]:
    return [
        [(key(p, i), text, topic) for i, (text, topic) in enumerate(person.facts)]
        for p, person in enumerate(people)
    ]


async def _ours(
    url: str,
    people: Sequence[Person],
    variants: Sequence[tuple[int, str, bool]],
    stats: dict[str, list[int]] | None = None,
) -> Chosen:
    """The bot's choice for every question, per variant (limit, label, with embeddings), on the
    store at `url`; with `stats`, the facts section's tokens and the system message's characters
    of the variant labelled "ours" go into it."""
    chosen: Chosen = {}
    async with open_storage(parse_database_url(url)) as storage:
        ops = []
        for p, person_facts in enumerate(_facts(people)):
            for i, (fact_key, text, topic) in enumerate(person_facts):
                stamp = (START + timedelta(minutes=i)).isoformat()
                value = {
                    "fact": text,
                    "topic": topic,
                    TERMS: broader_terms(text),
                    "source": asdict(DM_SOURCE),
                    "saved_at": stamp,
                    "embedding": embed(text),
                }
                ops.append(PutOp(memories_namespace(f"console:p{p}"), fact_key, value, index=False))
        await storage.store.abatch(ops)
        for limit, label, semantic in variants:
            memories = MemoryManager(
                storage.store,
                storage.checkpointer,
                facts_index=storage.facts,
                embeddings=StandInEmbeddings() if semantic else None,
            )
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
                    if label == "ours" and stats is not None:
                        section = "\n".join(fact_line(f.id, f.text, f.topic) for f in found)
                        stats["section_tokens"].append(approx_tokens(section))
                        prompt = system_prompt(
                            user_name="Ana", facts=found, is_direct=True, channel_label=None, now=START
                        )
                        stats["prompt_chars"].append(len(prompt))
    return chosen


def _methods(people: Sequence[Person], chosen: Chosen, labels: Sequence[str]) -> dict[str, Any]:
    facts = _facts(people)
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
            if (p, index[(p, id(q))], label) in chosen:
                return chosen[(p, index[(p, id(q))], label)]
            if label.startswith("bm25"):
                return [f[0] for f in pack(bm25[p].order(q.text), limit)]
            if label.startswith("recency"):
                return [f[0] for f in pack(newest[p], limit)]

            def price(candidate: Candidate) -> int:
                return cost(by_key[p][candidate.key])

            previous = rank(q.text, candidates[p], limit=CAPPED, token_budget=BUDGET, cost=price)
            return [c.key for c in previous]

        return choose

    return {label: recall_by_kind(people, ranked_by(label)) for label in labels}


def _prompt_size(stats: dict[str, list[int]]) -> dict[str, Any]:
    return {
        "facts_section_tokens": {
            "median": statistics.median(stats["section_tokens"]),
            "max": max(stats["section_tokens"]),
        },
        "system_prompt_chars_median": statistics.median(stats["prompt_chars"]),
    }


async def _held_out(name: str, people: Sequence[Person], *, workdir: Path, database: str) -> dict[str, Any]:
    """The bot (SQLite, Postgres, stand-in embedding), BM25 and recency on a held-out dataset."""
    stats: dict[str, list[int]] = {"section_tokens": [], "prompt_chars": []}
    variants = [(100, "ours", False), (100, "ours_embed", True)]
    chosen = await _ours(f"sqlite:///{workdir / f'recall_{name}.db'}", people, variants, stats)
    postgres = fresh_postgres(f"{database}_{name}")
    if postgres is not None:
        chosen.update(await _ours(postgres, people, [(100, "ours_postgres", False)]))
    engines = ["ours_postgres"] if postgres is not None else []
    methods = _methods(people, chosen, ["ours", *engines, "ours_embed", "bm25", "recency"])
    return {
        "people": len(people),
        "facts": sum(len(person.facts) for person in people),
        "questions": sum(len(person.questions) for person in people),
        "methods": methods,
        **_prompt_size(stats),
        "meets_target": all(meets(methods[label], TARGETS) for label in ["ours", *engines])
        and embeddings_do_as_well(methods),
    }


async def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    people = dataset(people=4 if quick else 20, fillers=30 if quick else 80)
    stats: dict[str, list[int]] = {"section_tokens": [], "prompt_chars": []}
    variants = ((100, "ours", False), (CAPPED, "ours_12", False), (100, "ours_embed", True))
    chosen = await _ours(f"sqlite:///{workdir / 'recall.db'}", people, variants, stats)
    database = POSTGRES_DATABASE + ("_quick" if quick else "")  # a full run beside the smoke test
    postgres = fresh_postgres(database)
    if postgres is not None:
        chosen.update(await _ours(postgres, people, [(100, "ours_postgres", False)]))
    engines = ["ours_postgres"] if postgres is not None else []
    held_out = {
        name: await _held_out(name, make(people=4 if quick else 20), workdir=workdir, database=database)
        for name, make in HELD_OUT.items()
    }
    labels = [
        "ours",
        *engines,
        "ours_embed",
        "bm25",
        "recency",
        "ours_12",
        "bm25_12",
        "recency_12",
        "previous_12",
    ]
    methods = _methods(people, chosen, labels)
    return {
        "people": len(people),
        "facts": sum(len(person.facts) for person in people),
        "questions": sum(len(person.questions) for person in people),
        "token_budget": BUDGET,
        "methods": methods,
        **held_out,
        "postgres": "measured" if engines else "skipped: no PostgreSQL server reachable",
        **_prompt_size(stats),
        "targets": TARGETS,
        "meets_target": meets(methods["ours"], TARGETS)
        and all(meets(methods[name], TARGETS) for name in engines)
        and embeddings_do_as_well(methods),
    }
