"""Shared fixtures: a fake model server, settings that point at it, and runtimes on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.runtime import Runtime, open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI

# Every variable the bot reads: tests start from none of them and never leak them.
BOT_ENV = (
    "OPENAI_API_KEY OPENAI_BASE_URL BOT_MODEL BOT_EMBEDDING_MODEL DATABASE_URL SLACK_BOT_TOKEN "
    "SLACK_APP_TOKEN SLACK_SIGNING_SECRET SLACK_API_URL PORT DISCORD_TOKEN DISCORD_API_URL "
    "DISCORD_GATEWAY_URL DISCORD_GUILD_ID LOG_LEVEL DISCORD_SHARD_COUNT DISCORD_SHARD_IDS BOT_HEALTH_PORT "
    "TURN_LEASE_SECONDS INBOX_RETENTION_SECONDS MEMORY_DM_VISIBILITY"
).split()

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in BOT_ENV:
        monkeypatch.delenv(name, raising=False)
    # Settings also read ./.env: run every test from an empty folder.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def make_settings(tmp_path: Path, fake_model: FakeOpenAI) -> Callable[..., Settings]:
    """Settings pointing at the fake model and a fresh SQLite file; keyword overrides win."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "openai_api_key": "sk-test-key-0123456789",
            "openai_base_url": fake_model.base_url,
            "database_url": f"sqlite:///{tmp_path}/bot.db",
            "model_max_retries": 0,
            "model_timeout_seconds": 10,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


def _postgres_reachable(url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "the postgres extra (psycopg) is not installed"
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except Exception as exc:
        return f"no PostgreSQL server at TEST_DATABASE_URL ({type(exc).__name__})"


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    reason = _postgres_reachable(TEST_DATABASE_URL)
    if reason:
        pytest.skip(reason)
    return TEST_DATABASE_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    import psycopg

    name = f"bot_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(postgres_admin_url)._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bot.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def runtime(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(database_url=database_url)) as opened:
        yield opened


@pytest.fixture
async def sqlite_runtime(make_settings: Callable[..., Settings]) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings()) as opened:
        yield opened
