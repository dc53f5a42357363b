"""The settings of several processes: shards, the lease, the retention window, the health port."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.turn_lease_seconds == 30
    assert settings.inbox_retention_seconds == 86_400
    assert settings.bot_health_port is None
    assert settings.discord_shards is None  # discord.py decides


def test_shards_and_ports_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_IDS", " 2, 0 ")
    monkeypatch.setenv("BOT_HEALTH_PORT", "8080")
    monkeypatch.setenv("TURN_LEASE_SECONDS", "2.5")
    settings = load_settings()
    assert settings.discord_shards == (4, [0, 2])
    assert settings.bot_health_port == 8080
    assert settings.turn_lease_seconds == 2.5
    monkeypatch.setenv("DISCORD_SHARD_IDS", "")
    assert load_settings().discord_shards == (4, None)  # every shard of 4 in this process


@pytest.mark.parametrize(
    ("count", "ids", "named"),
    [
        ("", "0,1", "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ("2", "0,2", "DISCORD_SHARD_IDS"),
        ("2", "zero", "DISCORD_SHARD_IDS"),
        ("0", "", "DISCORD_SHARD_COUNT"),
    ],
)
def test_bad_shard_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, count: str, ids: str, named: str
) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", count)
    monkeypatch.setenv("DISCORD_SHARD_IDS", ids)
    with pytest.raises(ConfigError, match=named):
        load_settings()


@pytest.mark.parametrize(("name", "value"), [("TURN_LEASE_SECONDS", "0"), ("BOT_HEALTH_PORT", "70000")])
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()
