"""One validated settings object, read from the environment and an optional TOML file.

Nothing is read at import time: `load_settings()` is called by the composition root, so tests
and tools can build settings of their own. Precedence: environment, then the TOML file named
by `MONITOR_CONFIG` (keys without the prefix, e.g. `database_url = "..."`), then defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.errors import ConfigError

ENV_PREFIX = "MONITOR_"
CONFIG_FILE_VARIABLE = "MONITOR_CONFIG"


class Settings(BaseSettings):
    """Every setting of the service; names are documented in INTERFACE.md and README.md."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = "sqlite:///./monitor.db"
    data_dir: Path = Path("./monitor-data")

    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    mail_from: str = "monitor@localhost"

    public_url: str = "http://127.0.0.1:8080"
    api_token: SecretStr | None = None
    # Per-client budgets under /api (per token, or per address without one), in the `limits`
    # notation ("60/minute", "10/second;500/hour"); /healthz, /readyz, /metrics are exempt.
    api_rate_limit: str = "60/minute"  # writes
    api_read_rate_limit: str = "90/minute"  # reads: 100 quick requests from one client get 429
    api_public_reads: bool = True  # GET under /api without a token; false: a viewer token
    allow_private_networks: bool = False

    # Outgoing HTTP (feeds, pages, webhooks); see README "Fetching politely and safely".
    fetch_allowlist: Annotated[tuple[str, ...], NoDecode] = ()  # exact host:port pairs
    fetch_deadline: float = Field(default=30.0, gt=0, le=600)
    fetch_connect_timeout: float = Field(default=10.0, gt=0, le=120)
    feed_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    page_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    per_host_concurrency: int = Field(default=2, ge=1, le=50)
    per_host_delay: float = Field(default=1.0, ge=0, le=60)
    respect_robots: bool = True
    contact_url: str | None = None  # named in the User-Agent; defaults to MONITOR_PUBLIC_URL

    log_format: Literal["text", "json"] = "text"
    # INFO adds a line per poll round and delivery run.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    # How long an append waits for the event log's write lock before failing as retryable.
    event_lock_timeout: float = Field(default=5.0, gt=0, le=300)
    # How long SQLite waits on a locked database file before "database is locked".
    sqlite_busy_timeout: float = Field(default=5.0, gt=0, le=300)
    # How often followers look for new events when idle.
    follower_poll_interval: float = Field(default=1.0, gt=0, le=60)
    # Leases of the scheduler's leader and of each follower's owner (docs/architecture.md,
    # "Scaling out"): a process that dies is replaced within `lease_duration`.
    lease_duration: float = Field(default=15.0, gt=0, le=600)
    lease_renew_interval: float = Field(default=5.0, gt=0, le=300)  # the holders' heartbeat

    # --- Subscriptions and delivery (README "Subscriptions and delivery") ---
    digest_send_empty: bool = False  # send a digest even when nothing matched in the period
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)  # whole request, per attempt
    webhook_disable_after: float = Field(default=5 * 86400.0, gt=0)  # failing this long: off
    smtp_timeout: float = Field(default=30.0, gt=0, le=300)
    smtp_ca_file: str | None = None  # an extra trust anchor for the SMTP server's certificate
    smtp_retry_interval: float = Field(default=1800.0, ge=60)  # RFC 5321: at least 30 min
    smtp_give_up_after: float = Field(default=5 * 86400.0, gt=0)  # then DigestFailed
    delivery_lease: float = Field(default=60.0, gt=0, le=3600)  # a dead worker's claim expires
    # Key of the HMAC that makes unsubscribe tokens; unset: a key file in MONITOR_DATA_DIR
    # (set it when several replicas serve /unsubscribe without a shared data directory).
    unsubscribe_key: SecretStr | None = None
    # --- end of subscriptions and delivery ---

    @field_validator("api_token", "smtp_password", "unsubscribe_key", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: Any) -> Any:
        """`MONITOR_API_TOKEN=` (as compose passes an unset variable) means no token, never
        an empty one that an empty `Authorization: Bearer` header would match."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        return value

    @field_validator("api_rate_limit", "api_read_rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate limit like 60/minute: {value!r}") from None
        return value

    @field_validator("fetch_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("fetch_allowlist")
    @classmethod
    def _valid_allowlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"entries are host:port, got {entry!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _valid_public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _renewed_within_lease(self) -> Settings:
        if self.lease_renew_interval * 2 > self.lease_duration:
            raise ValueError(
                "MONITOR_LEASE_RENEW_INTERVAL must be at most half of MONITOR_LEASE_DURATION, "
                "or a holder that is merely slow loses its lease"
            )
        return self

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Settings:
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError(
                "MONITOR_SMTP_SSL and MONITOR_SMTP_STARTTLS are exclusive: "
                "implicit TLS (usually port 465) or STARTTLS (usually port 587), not both"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def redacted(self) -> dict[str, Any]:
        """The settings as plain values, secrets replaced by a mask (for `config --dump`)."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                shown[name] = "********"
            elif isinstance(value, Path):
                shown[name] = str(value)
            else:
                shown[name] = value
        shown["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        return shown


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise `ConfigError` naming the offending variable."""
    config_file = os.environ.get(CONFIG_FILE_VARIABLE)
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}: no such file: {config_file}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # a TOML syntax error surfaces as a plain ValueError
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}: {config_file}: {exc}") from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        variable = ENV_PREFIX + location[0].upper() if location else "settings"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        problems.append(f"{variable}: {message}")
    return "invalid configuration: " + "; ".join(problems)
