"""Settings come from the environment and a TOML file; bad values name their variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError


def test_defaults_match_the_interface() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./monitor.db"
    assert settings.data_dir == Path("./monitor-data")
    assert (settings.smtp_host, settings.smtp_port) == ("localhost", 25)
    assert settings.mail_from == "monitor@localhost"
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.api_token is None
    assert settings.allow_private_networks is False


def test_environment_overrides_the_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('smtp_host = "mail.example.org"\nsmtp_port = 587\n')
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    monkeypatch.setenv("MONITOR_SMTP_PORT", "2525")
    settings = load_settings()
    assert settings.smtp_host == "mail.example.org"
    assert settings.smtp_port == 2525


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MONITOR_SMTP_PORT", "not-a-port"),
        ("MONITOR_SMTP_PORT", "70000"),
        ("MONITOR_ALLOW_PRIVATE_NETWORKS", "perhaps"),
        ("MONITOR_DATABASE_URL", "no url at all"),
        ("MONITOR_PUBLIC_URL", "ftp://example.org"),
        ("MONITOR_LOG_FORMAT", "xml"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_exclusive_tls_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SMTP_SSL", "true")
    monkeypatch.setenv("MONITOR_SMTP_STARTTLS", "true")
    with pytest.raises(ConfigError, match="MONITOR_SMTP_SSL"):
        load_settings()


def test_unknown_keys_and_missing_files_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('smtp_hots = "typo"\n')
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    with pytest.raises(ConfigError, match="MONITOR_SMTP_HOTS: unknown setting"):
        load_settings()
    monkeypatch.setenv("MONITOR_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()


def test_broken_toml_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text("smtp_host = \n")
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    with pytest.raises(ConfigError, match="MONITOR_CONFIG"):
        load_settings()


def test_redaction_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_API_TOKEN", "s3cret-token")
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql+psycopg://u:dbpass@h/db")
    shown = str(load_settings().redacted())
    for secret in ("s3cret-token", "hunter2", "dbpass"):
        assert secret not in shown


def test_an_empty_secret_means_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker compose passes `${MONITOR_API_TOKEN:-}` as an empty string when it is unset:
    # that must disable writes, not make an empty bearer token the admin's.
    monkeypatch.setenv("MONITOR_API_TOKEN", "")
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "  ")
    settings = load_settings()
    assert settings.api_token is None
    assert settings.smtp_password is None
