"""One typed settings object, read from the environment and an optional `.env`.

The environment variable names are the public contract (see README and `.env.example`).
Secrets are `SecretStr`, so they never show up in reprs, logs or error messages.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the setting, never its value."""


@dataclass(frozen=True, kw_only=True)
class DatabaseTarget:
    """Where durable state lives, parsed from `DATABASE_URL`."""

    kind: Literal["sqlite", "postgres"]
    sqlite_path: Path | None = None
    postgres_dsn: str | None = None


def parse_database_url(url: str) -> DatabaseTarget:
    """Parse `sqlite:///relative.db`, `sqlite:////absolute.db` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        raw_path = url[len("sqlite:///") :]
        if not raw_path or raw_path.endswith("/"):
            raise ConfigError("DATABASE_URL: the sqlite URL has no file name (e.g. sqlite:///data/bot.db)")
        return DatabaseTarget(kind="sqlite", sqlite_path=Path(raw_path))
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        if not parts.hostname and "host=" not in (parts.query or ""):
            raise ConfigError("DATABASE_URL: the postgresql URL has no host")
        return DatabaseTarget(kind="postgres", postgres_dsn=url)
    raise ConfigError(
        "DATABASE_URL must start with sqlite:/// (file) or postgresql:// (server); e.g. sqlite:///data/bot.db"
    )


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    bot_model: str = "gpt-4o-mini"
    bot_embedding_model: str | None = None
    model_timeout_seconds: float = Field(default=60.0, gt=0)
    model_max_retries: int = Field(default=2, ge=0)

    database_url: str = DEFAULT_DATABASE_URL

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str | None = None
    port: int = Field(default=3000, ge=1, le=65535)

    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_id: int | None = None
    # Shards this process runs (README, "Scaling out"); unset: discord.py asks Discord how many.
    discord_shard_count: int | None = Field(default=None, ge=1)
    discord_shard_ids: str | None = None  # e.g. "0,1"; needs DISCORD_SHARD_COUNT

    log_level: str = "INFO"

    # Budgets that keep every prompt bounded, however long people talk.
    history_token_budget: int = Field(default=3000, ge=200)
    memory_token_budget: int = Field(default=600, ge=50)
    max_facts_in_prompt: int = Field(default=40, ge=1)
    max_input_chars: int = Field(default=8000, ge=100)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)

    # Worker processes that run turns (1: turns run in the main process). Python runs one
    # core per process; set it to the number of cores to use them all (README, "Scaling out").
    bot_workers: int = Field(default=1, ge=1, le=64)

    # Post the answer as the model writes it (false: post it whole, once it is done).
    bot_streaming: bool = True

    # What a fact learned in a DM is: `shared` (used wherever the person talks to the bot) or
    # `private` (only in their DMs). Facts the model marks sensitive are private in a DM anyway.
    memory_dm_visibility: Literal["shared", "private"] = "shared"

    # Several processes on one database (README, "Scaling out"): a message a process claimed
    # and did not answer is taken over by another after this lease; answered messages are
    # remembered (so a late redelivery is not answered again) for the retention window.
    turn_lease_seconds: float = Field(default=30.0, gt=0)
    inbox_retention_seconds: float = Field(default=86_400.0, ge=0)
    # /healthz, /readyz and /metrics on this port (unset: not served; in --slack-http mode
    # they are on $PORT too).
    bot_health_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator(
        "openai_base_url",
        "bot_embedding_model",
        "slack_api_url",
        "discord_api_url",
        "discord_gateway_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "openai_api_key",
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "discord_token",
        mode="before",
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "discord_guild_id", "discord_shard_count", "discord_shard_ids", "bot_health_port", mode="before"
    )
    @classmethod
    def _blank_guild_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("memory_dm_visibility", mode="before")
    @classmethod
    def _visibility_word(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "shared"
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def database(self) -> DatabaseTarget:
        return parse_database_url(self.database_url)

    @property
    def discord_shards(self) -> tuple[int, list[int] | None] | None:
        """(shard count, this process's shard ids or None for all of them), or None: automatic."""
        if self.discord_shard_count is None:
            if self.discord_shard_ids is not None:
                raise ConfigError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the bot's total shards)")
            return None
        if self.discord_shard_ids is None:
            return self.discord_shard_count, None
        try:
            ids = sorted({int(part) for part in self.discord_shard_ids.split(",") if part.strip()})
        except ValueError:
            raise ConfigError(
                "DISCORD_SHARD_IDS must be shard numbers separated by commas, e.g. 0,1"
            ) from None
        if not ids or any(not 0 <= shard < self.discord_shard_count for shard in ids):
            raise ConfigError("DISCORD_SHARD_IDS: each shard must be from 0 to DISCORD_SHARD_COUNT - 1")
        return self.discord_shard_count, ids

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None and (
            self.slack_app_token is not None or self.slack_signing_secret is not None
        )

    @property
    def discord_configured(self) -> bool:
        return self.discord_token is not None

    def model_endpoint_problem(self) -> str | None:
        """Why no model can be reached with these settings, or None when one can."""
        if self.openai_api_key is None and self.openai_base_url is None:
            return (
                "OPENAI_API_KEY is not set: set it, or set OPENAI_BASE_URL to a local "
                "OpenAI-compatible server (e.g. http://localhost:11434/v1 for Ollama)"
            )
        return None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one clear line."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    settings.database  # noqa: B018 - validates DATABASE_URL early, naming the setting
    settings.discord_shards  # noqa: B018 - the same for the shard settings
    return settings


def default_console_user() -> str:
    """The OS user name, used as the console person's name when none is given."""
    try:
        return getpass.getuser() or "you"
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "you"


# What a worker process needs to run turns: the model, the database and the budgets. It never
# gets the platform credentials.
WORKER_SETTINGS = (
    "openai_api_key",
    "openai_base_url",
    "bot_model",
    "bot_embedding_model",
    "model_timeout_seconds",
    "model_max_retries",
    "database_url",
    "log_level",
    "history_token_budget",
    "memory_token_budget",
    "max_facts_in_prompt",
    "max_input_chars",
    "memory_dm_visibility",
)


def worker_settings(settings: Settings) -> dict[str, object]:
    """`WORKER_SETTINGS` as plain JSON-ready values (secrets revealed: this goes over a pipe)."""
    values: dict[str, object] = {}
    for name in WORKER_SETTINGS:
        value = getattr(settings, name)
        values[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return values


def secret_values(settings: Settings) -> list[str]:
    """Every secret's plain value, for log redaction."""
    secrets = [
        settings.openai_api_key,
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_signing_secret,
        settings.discord_token,
    ]
    values = [secret.get_secret_value() for secret in secrets if secret is not None]
    target = urlsplit(settings.database_url)
    if target.password:
        values.append(target.password)
    return values
