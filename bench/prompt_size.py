"""Figures 3 and 4: tokens sent to the model per turn as memory and as a thread grow.

Memory: one person with 10 ... 10,000 stored facts (each naming a word no other fact has);
each probe asks about one fact's word in a fresh thread, and we check that fact reached
the system prompt. Thread: one conversation of up to 1,000 turns.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from pathlib import Path
from typing import Any

from langgraph.store.base import PutOp

from bench.measure import (
    Figures,
    TimedFakeOpenAI,
    bot_settings,
    history_tokens,
    ratio,
    request_tokens,
    sqlite_url,
    system_text,
)
from bench.seed_baseline import SeedBot
from bench.workload import chat_line, direct_message, fact, fact_value, probe
from bot.memory import memories_namespace
from bot.messages import IncomingMessage
from bot.runtime import open_runtime

TARGET_TOKEN_GROWTH = 1.5
TARGET_RECALL = 0.95
PERSON = 0
_BATCH = 1000


def _probe_indices(size: int, probes: int) -> list[int]:
    """A spread of facts to ask about: always the newest, the rest sampled across all ages."""
    chosen = {size - 1, *random.Random(size).sample(range(size - 1), min(probes, size) - 1)}
    return sorted(chosen)


async def _bot_probes(model: TimedFakeOpenAI, workdir: Path, size: int, indices: list[int]) -> dict[str, Any]:
    async with open_runtime(
        bot_settings(model.base_url, sqlite_url(workdir, f"prompt_memory_{size}.db"))
    ) as runtime:
        store = runtime.storage.store
        namespace = memories_namespace(direct_message(PERSON, "").user_id)
        for start in range(0, size, _BATCH):
            ops = [
                PutOp(namespace, f"f{index:06d}", fact_value(index), index=False)
                for index in range(start, min(size, start + _BATCH))
            ]
            await store.abatch(ops)
        tokens: list[int] = []
        hits = 0
        for index in indices:
            base = direct_message(PERSON, probe(index))
            message = IncomingMessage(
                platform=base.platform,
                user_id=base.user_id,
                user_name=base.user_name,
                thread_id=f"console:probe:{size}:{index}",
                text=base.text,
                is_direct=True,
            )
            await runtime.service.handle(message)
            body = model.last_request()
            tokens.append(request_tokens(body))
            hits += fact(index)[0] in system_text(body)
    model.forget_history()
    return _probe_summary(tokens, hits, len(indices))


def _probe_summary(tokens: list[int], hits: int, probes: int) -> dict[str, Any]:
    return {
        "tokens_mean": round(statistics.fmean(tokens), 1),
        "tokens_max": max(tokens),
        "recall": hits / probes,
    }


async def _seed_probes(model: TimedFakeOpenAI, size: int, indices: list[int]) -> dict[str, Any]:
    seed = SeedBot(model.base_url)
    user = f"person{PERSON}"
    seed.add_facts(user, (fact(index) for index in range(size)))
    tokens: list[int] = []
    hits = 0
    for index in indices:
        await asyncio.to_thread(seed.turn, user, f"probe:{size}:{index}", probe(index))
        body = model.last_request()
        tokens.append(request_tokens(body))
        hits += fact(index)[0] in system_text(body)
    model.forget_history()
    return _probe_summary(tokens, hits, len(indices))


async def memory_growth(*, quick: bool, workdir: Path) -> Figures:
    sizes, probes = ((10, 50), 5) if quick else ((10, 100, 1000, 10_000), 40)
    rows: dict[str, list[dict[str, Any]]] = {"seed": [], "bot": []}
    async with TimedFakeOpenAI() as model:
        for size in sizes:
            indices = _probe_indices(size, probes)
            rows["seed"].append(
                {"facts": size, "probes": len(indices), **await _seed_probes(model, size, indices)}
            )
            rows["bot"].append(
                {"facts": size, "probes": len(indices), **await _bot_probes(model, workdir, size, indices)}
            )
    bot = rows["bot"]
    growth = ratio(bot[-1]["tokens_mean"], bot[0]["tokens_mean"])
    recall = min(row["recall"] for row in bot)
    return {
        "target_token_growth": TARGET_TOKEN_GROWTH,
        "target_recall": TARGET_RECALL,
        "rows": rows,
        "token_growth": growth,
        "seed_token_growth": ratio(rows["seed"][-1]["tokens_mean"], rows["seed"][0]["tokens_mean"]),
        "min_recall": recall,
        "seed_min_recall": min(row["recall"] for row in rows["seed"]),
        "meets_token_target": growth <= TARGET_TOKEN_GROWTH,
        "meets_recall_target": recall >= TARGET_RECALL,
    }


async def thread_growth(*, quick: bool, workdir: Path) -> Figures:
    checkpoints = (5, 20) if quick else (10, 100, 1000)
    last = max(checkpoints)
    rows: dict[str, list[dict[str, Any]]] = {"seed": [], "bot": []}
    async with TimedFakeOpenAI() as model:
        seed = SeedBot(model.base_url)
        for turn in range(1, last + 1):
            await asyncio.to_thread(seed.turn, "person0", "dm:long", chat_line(turn))
            if turn in checkpoints:
                body = model.last_request()
                rows["seed"].append(
                    {"turns": turn, "tokens": request_tokens(body), "history_tokens": history_tokens(body)}
                )
            model.forget_history()
        settings = bot_settings(model.base_url, sqlite_url(workdir, "prompt_thread.db"))
        async with open_runtime(settings) as runtime:
            for turn in range(1, last + 1):
                await runtime.service.handle(direct_message(0, chat_line(turn)))
                if turn in checkpoints:
                    body = model.last_request()
                    rows["bot"].append(
                        {
                            "turns": turn,
                            "tokens": request_tokens(body),
                            "history_tokens": history_tokens(body),
                        }
                    )
                model.forget_history()
    budget = settings.history_token_budget
    worst = max(row["history_tokens"] for row in rows["bot"])
    return {
        "history_token_budget": budget,
        "memory_token_budget": settings.memory_token_budget,
        "rows": rows,
        "max_history_tokens": worst,
        "meets_target": worst <= budget,
    }
