"""Settings: every bad value is named, ids accept the comma form people type, secrets stay secret."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, load_settings


def test_invalid_values_name_the_setting(monkeypatch):
    monkeypatch.setenv("DENSE_WEIGHT", "2")
    monkeypatch.setenv("FUSION", "magic")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "DENSE_WEIGHT" in str(caught.value) and "FUSION" in str(caught.value)


def test_role_and_guild_ids_accept_commas(monkeypatch):
    monkeypatch.setenv("GUILD_IDS", "123, 456")
    monkeypatch.setenv("ADMIN_ROLE_IDS", "789")
    settings = load_settings()
    assert settings.guild_ids == [123, 456] and settings.admin_role_ids == [789]
    monkeypatch.setenv("MODERATOR_ROLE_IDS", "12,abc")
    with pytest.raises(ConfigError, match="MODERATOR_ROLE_IDS"):
        load_settings()


def test_the_token_never_shows_in_reprs_or_dumps(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret-token-value")
    settings = load_settings()
    assert settings.discord_token.get_secret_value() == "MTIz.secret-token-value"
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.discord_token)):
        assert "secret-token-value" not in text


def test_command_line_overrides_win_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEEDS_DIR", "/somewhere/else")
    assert load_settings(seeds_dir=tmp_path).seeds_dir == tmp_path


def test_every_setting_is_documented_in_env_example():
    from conftest import REPO

    example = (REPO / ".env.example").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert name.upper() in example, f"{name.upper()} missing from .env.example"


@pytest.mark.parametrize("value", ["discord.com/api", "ftp://127.0.0.1/api", "http://", "http://127.0.0.1:port/api",
                                   "http://127.0.0.1/api?v=9", "wss://gateway.discord.gg"])
def test_a_bad_discord_api_base_url_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("DISCORD_API_BASE_URL", value)
    with pytest.raises(ConfigError, match="DISCORD_API_BASE_URL"):
        load_settings()


def test_discord_api_base_url_defaults_to_discord_and_drops_a_trailing_slash(monkeypatch):
    monkeypatch.delenv("DISCORD_API_BASE_URL", raising=False)
    assert Settings(_env_file=None).discord_api_base_url == "https://discord.com/api"
    monkeypatch.setenv("DISCORD_API_BASE_URL", "http://127.0.0.1:8080/api/")
    assert load_settings().discord_api_base_url == "http://127.0.0.1:8080/api"


def test_database_settings_are_checked_and_named(monkeypatch, tmp_path):
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    settings = load_settings()
    assert settings.database == f"sqlite:///{tmp_path / 'index' / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:pw@127.0.0.1/quotes")
    assert load_settings().database == "postgresql+psycopg://bot:pw@127.0.0.1/quotes"
    monkeypatch.setenv("DATABASE_URL", "mysql://x@y/z")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings()
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("LOG_RETENTION_DAYS", "-1")
    with pytest.raises(ConfigError, match="LOG_RETENTION_DAYS"):
        load_settings()
    monkeypatch.delenv("LOG_RETENTION_DAYS")
    monkeypatch.setenv("SEEDS_DIR", str(tmp_path / "seeds"))
    monkeypatch.setenv("ARCHIVE_DIR", str(tmp_path / "seeds" / "old"))
    with pytest.raises(ConfigError, match="ARCHIVE_DIR"):
        load_settings()
