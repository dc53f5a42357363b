"""Shared measuring tools: percentiles, a fake model that times itself, settings, RSS."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from langchain_core.messages.utils import count_tokens_approximately

from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, message_text

Figures = dict[str, Any]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest, not an interpolation)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / mean in milliseconds, rounded for the report."""
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3) if seconds else float("nan"),
        "samples": len(seconds),
    }


class TimedFakeOpenAI(FakeOpenAI):
    """The test suite's fake model, also recording how long it spent on each chat request.

    That time (including any configured latency) is "the model's own time", subtracted
    from a turn to get what the bot itself adds.
    """

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.handling: list[float] = []

    async def __aenter__(self) -> TimedFakeOpenAI:
        await self.start()
        return self

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await super()._chat(request)
        finally:
            self.handling.append(time.perf_counter() - started)

    def model_time_since(self, mark: int) -> float:
        """Seconds of model time recorded after `len(self.handling) == mark`."""
        return sum(self.handling[mark:])

    def forget_history(self) -> None:
        """Drop recorded requests (long runs would otherwise hold every prompt in memory)."""
        self.requests.clear()
        self.embedding_requests.clear()
        self.auth_headers.clear()
        self.handling.clear()


def bot_settings(model_url: str, database_url: str, **overrides: Any) -> Settings:
    """Settings for the real runtime against a fake model at `model_url` (no .env, no retries)."""
    values: dict[str, Any] = {
        "openai_api_key": "sk-bench",
        "openai_base_url": model_url,
        "database_url": database_url,
        "model_max_retries": 0,
        "model_timeout_seconds": 30,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def sqlite_url(folder: Path, name: str = "bot.db") -> str:
    return f"sqlite:///{folder / name}"


def request_tokens(body: dict[str, Any]) -> int:
    """Approximate tokens of a recorded chat request's messages (the counter history.py uses)."""
    messages = [
        {"role": str(m.get("role", "user")), "content": message_text(m.get("content"))}
        for m in body.get("messages", [])
        if m.get("role") != "tool"
    ]
    tool_results = sum(
        len(message_text(m.get("content"))) // 4 + 3
        for m in body.get("messages", [])
        if m.get("role") == "tool"
    )
    return int(count_tokens_approximately(messages)) + tool_results


def history_tokens(body: dict[str, Any]) -> int:
    """Approximate tokens of everything except the system prompt."""
    rest = {"messages": [m for m in body.get("messages", []) if m.get("role") != "system"]}
    return request_tokens(rest)


def system_text(body: dict[str, Any]) -> str:
    return "\n".join(
        message_text(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"
    )


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (default: this one) in MB, from /proc."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 2) if baseline else float("nan")


POSTGRES_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_postgres(database: str) -> str | None:
    """A database of that name, dropped and created again; None when no server is reachable."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
    except Exception:
        return None
    return urlunsplit(urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{database}"))
