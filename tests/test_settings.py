"""Settings: names, parsing, validation errors that name the setting, no secret in reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings, parse_database_url, secret_values


def test_database_urls_parse() -> None:
    assert parse_database_url("sqlite:///data/bot.db").sqlite_path == Path("data/bot.db")
    assert parse_database_url("sqlite:////var/lib/bot.db").sqlite_path == Path("/var/lib/bot.db")
    target = parse_database_url("postgresql://u:p@db:5432/bot")
    assert target.kind == "postgres"
    assert target.postgres_dsn == "postgresql://u:p@db:5432/bot"


@pytest.mark.parametrize("url", ["mysql://x", "sqlite://", "sqlite:///", "bot.db", "postgresql:///nohost"])
def test_bad_database_urls_name_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        parse_database_url(url)


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_MODEL=from-dotenv\nDISCORD_GUILD_ID=\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    settings = load_settings()
    assert settings.bot_model == "from-dotenv"
    assert settings.discord_guild_id is None
    assert settings.slack_configured and not settings.discord_configured


def test_secrets_are_hidden_in_reprs_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, openai_api_key="sk-very-secret", discord_token="discord-secret")
    assert "sk-very-secret" not in repr(settings)
    assert "discord-secret" not in str(settings.model_dump())
    assert sorted(secret_values(settings)) == ["discord-secret", "sk-very-secret"]

    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    with pytest.raises(ConfigError, match="PORT") as caught:
        load_settings()
    assert "sk-very-secret" not in str(caught.value)


def test_model_endpoint_needs_a_key_or_a_base_url() -> None:
    assert "OPENAI_API_KEY" in (Settings(_env_file=None).model_endpoint_problem() or "")
    assert (
        Settings(_env_file=None, openai_base_url="http://localhost:11434/v1").model_endpoint_problem() is None
    )
