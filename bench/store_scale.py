"""Figure 5: memory retrieval latency with many people, each with many facts.

`MemoryManager.relevant_facts` (what every turn runs before the model call) for random
people, on SQLite (the database is kept under bench/results/ and reused between runs) and
on Postgres when a server is reachable (a dedicated database, created and dropped here).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore, PutOp

from bench.measure import POSTGRES_ADMIN_URL, Figures, fresh_postgres, ratio, summary_ms
from bench.seed_baseline import SeedBot
from bench.workload import fact_value, probe
from bot.memory import MemoryManager, memories_namespace
from bot.storage import open_storage
from config.settings import parse_database_url

TARGET_P99_MS = 20.0
POSTGRES_DATABASE = "bench_store"
_META = ("bench", "meta")
_BATCH = 10_000


def _user(person: int) -> str:
    return f"console:person{person}"


async def _populate(store: BaseStore, people: int, facts: int) -> float:
    """Write every fact (unless a previous run finished writing them); returns seconds spent."""
    done = await store.aget(_META, "complete")
    if done is not None and done.value == {"people": people, "facts": facts}:
        return 0.0
    started = time.perf_counter()
    ops: list[PutOp] = []
    for person in range(people):
        namespace = memories_namespace(_user(person))
        ops.extend(
            PutOp(namespace, f"f{j:03d}", fact_value(person * facts + j), index=False) for j in range(facts)
        )
        if len(ops) >= _BATCH:
            await store.abatch(ops)
            ops = []
    if ops:
        await store.abatch(ops)
    await store.aput(_META, "complete", {"people": people, "facts": facts}, index=False)
    return time.perf_counter() - started


async def _measure(memories: MemoryManager, people: int, facts: int, samples: int) -> dict[str, Any]:
    chooser = random.Random(42)
    for _ in range(20):  # warm caches and connections
        person = chooser.randrange(people)
        await memories.relevant_facts(_user(person), probe(person * facts), limit=12, token_budget=600)
    seconds: list[float] = []
    hits = 0
    for _ in range(samples):
        person = chooser.randrange(people)
        index = person * facts + chooser.randrange(facts)
        started = time.perf_counter()
        found = await memories.relevant_facts(_user(person), probe(index), limit=12, token_budget=600)
        seconds.append(time.perf_counter() - started)
        hits += any(f.id == f"f{index - person * facts:03d}" for f in found)
    return {**summary_ms(seconds), "recall": round(hits / samples, 3)}


async def _on(url: str, people: int, facts: int, samples: int) -> dict[str, Any]:
    async with open_storage(parse_database_url(url)) as storage:
        build = await _populate(storage.store, people, facts)
        memories = MemoryManager(storage.store, storage.checkpointer)
        return {**await _measure(memories, people, facts, samples), "build_s": round(build, 1)}


def _drop_postgres() -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DATABASE}" WITH (FORCE)')


async def _seed(people: int, facts: int, samples: int) -> dict[str, Any]:
    seed = SeedBot("http://127.0.0.1:9/v1")  # never called: only its store is used
    for start in range(0, people, 100):
        ops = [
            PutOp(("memories", f"person{person}"), f"f{j:03d}", fact_value(person * facts + j))
            for person in range(start, min(people, start + 100))
            for j in range(facts)
        ]
        seed.store.batch(ops)
    chooser = random.Random(42)
    seconds: list[float] = []
    for _ in range(samples):
        person = chooser.randrange(people)
        started = time.perf_counter()
        seed.retrieve(f"person{person}")
        seconds.append(time.perf_counter() - started)
    return summary_ms(seconds)


async def run(*, quick: bool, workdir: Path, results: Path) -> Figures:
    people, facts, samples = (50, 20, 50) if quick else (10_000, 100, 1000)
    # The full-size database is slow to build, so it lives with the results and is reused.
    folder = workdir if quick else results
    url = f"sqlite:///{folder / f'store_scale_{people}x{facts}.db'}"
    rows: dict[str, Any] = {"seed_inmemory": await _seed(people, facts, samples)}
    rows["sqlite"] = await _on(url, people, facts, samples)
    postgres = fresh_postgres(POSTGRES_DATABASE)
    if postgres is None:
        rows["postgres"] = {
            "skipped": f"no PostgreSQL server reachable at TEST_DATABASE_URL ({POSTGRES_ADMIN_URL})"
        }
    else:
        try:
            rows["postgres"] = await _on(postgres, people, facts, samples)
        finally:
            _drop_postgres()
    for name in ("sqlite", "postgres"):
        if "p50_ms" in rows[name]:
            rows[name]["vs_seed_p50"] = ratio(rows[name]["p50_ms"], rows["seed_inmemory"]["p50_ms"])
    return {
        "people": people,
        "facts_per_person": facts,
        "target_p99_ms": TARGET_P99_MS,
        "rows": rows,
        "meets_target": rows["sqlite"]["p99_ms"] <= TARGET_P99_MS,
    }
