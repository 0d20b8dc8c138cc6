"""Settings: `SSO_BRIDGE_*` environment variables over an optional TOML file, validated at once.

Keys follow Flask's ``from_prefixed_env`` convention: values are parsed as JSON when they are
JSON, nested keys are joined with ``__`` (``SSO_BRIDGE_DIRECTORY__URL``). The TOML file named by
``SSO_BRIDGE_CONFIG`` holds the same keys (any case: ``[directory] url = ...``); the environment
wins (see `sso_bridge.settings_sources`). The models below are the one statement of every
setting, its type, default and checks. An empty value means the default (for a setting whose
default is none, or an optional column: none). A key that names no setting, anywhere, is an
error with a did-you-mean suggestion. Every problem found is reported in one `SettingsError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sso_bridge import settings_types as checks
from sso_bridge.settings_problems import Schema, SettingPath, describe_error
from sso_bridge.settings_sources import PREFIX, RawSettings, read_layers, upper_keys
from sso_bridge.settings_tables import (
    DirectorySettings,
    PasswordEncryptionSettings,
    PrivateStoreRule,
    any_case,
    configured_rules,
)
from sso_bridge.settings_types import (
    Flag,
    Float,
    Int,
    OptionalText,
    StringList,
    StringMap,
    Text,
    problem,
    secret,
    secret_url,
)

MODES = ("production", "demo", "test")

__all__ = [
    "PREFIX",
    "DirectorySettings",
    "PasswordEncryptionSettings",
    "PrivateStoreRule",
    "Settings",
    "SettingsError",
    "forwarded_allow_ips_setting",
    "load_settings",
    "own_database_url",
    "raw_from_environment",
    "setting_names",
]


class SettingsError(Exception):
    """Start-up configuration is invalid; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


class Settings(BaseSettings):
    """Every setting of the bridge; build it with `load_settings`."""

    # The prefix and delimiter are the ones sso_bridge.settings_sources reads by (stated here
    # for pydantic-settings' own tools); its docstring says why it is not the library's reader.
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        coerce_numbers_to_str=True,
    )

    database_url: Text = secret_url("sqlite:///sso-bridge.sqlite3")  # URLs may embed passwords
    directory: DirectorySettings
    redis_url: OptionalText = secret_url(None)
    redis_key_prefix: Text = "sso-bridge:"
    redis_timeout: Float = Field(default=0.25, ge=0.001)
    # Token entries each worker keeps in memory, kept coherent by Redis tracking; 0: none.
    redis_local_cache_size: Int = Field(default=10_000, ge=0)
    dr_base_url: Text = "https://api.digitalriver.com"
    dr_api_secret: OptionalText = secret(None)
    dr_api_key: OptionalText = secret(None, validate_default=True)
    dr_calls_per_second: Float = Field(default=10.0, ge=0.1)
    dr_timeout: Float = Field(default=1.5, ge=0.05)
    dr_negative_ttl: Float = Field(default=2.0, ge=0.0)
    rum_users: StringMap = secret(default_factory=dict)
    rum_allowed_ips: StringList = ()
    trusted_proxies: Int = Field(default=0, ge=0)
    rum_password_encryption: PasswordEncryptionSettings | None = Field(default=None, repr=False)
    api_keys: StringList = secret(())
    site_id: OptionalText = None
    session_ttl: Int = Field(default=3600, ge=1)
    session_attribute: Text = "sessionToken"
    registration_retry_window: Int = Field(default=600, ge=0)
    # Seconds a registration claim lasts without renewal (a dead owner's is taken over after it).
    registration_lease: Float = Field(default=4.0, ge=0.2)
    max_body_bytes: Int = Field(default=65536, ge=1024)
    token_encryption_keys: StringList = secret(())
    token_safety_margin: Int = Field(default=60, ge=0)
    token_refresh_fraction: Float = Field(default=0.5, ge=0.05)
    private_stores: Annotated[
        tuple[PrivateStoreRule, ...], BeforeValidator(configured_rules)
    ] = ()
    log_level: Text = "INFO"
    login_concurrency: Int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    login_queue_seconds: Float = Field(default=1.0, ge=0.0)
    shopper_ip_attribute: OptionalText = None
    throttle_enabled: Flag = True
    # HMAC key of throttle counter names (default: derived from DR_API_SECRET or RUM_USERS).
    throttle_key: OptionalText = secret(None)
    throttle_global_failures_per_minute: Int = Field(default=6000, ge=1)
    throttle_wait_seconds: Float = Field(default=2.0, ge=0.0)
    throttle_max_in_flight: Int = Field(default=16, ge=1)
    # How long a cached token may outlive a deactivation (seconds; the documented bound is 60).
    active_recheck_seconds: Float = Field(default=30.0, ge=0.0, le=60.0)
    # Server (gunicorn) settings: `sso-bridge serve` and config/gunicorn.conf.py.
    bind: Text = "127.0.0.1:8080"
    workers: Int = Field(default=2, ge=1)
    forwarded_allow_ips: StringList = ("127.0.0.1", "::1")
    # Seconds a client has to send a request's headers, then its body (slow clients dropped).
    request_header_timeout: Float = Field(default=5.0, ge=0.1)
    request_body_timeout: Float = Field(default=10.0, ge=0.1)
    # "production" refuses to start without RUM credentials; "demo" and "test" may run without.
    mode: Text = "production"
    access_log: Flag = False  # one JSON line per request (event "access")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values come only from the caller: `load_settings` reads the environment and the file
        # (sso_bridge.settings_sources) so that create_app(config) stays hermetic.
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _tables(cls, data: Any) -> Any:
        data = any_case(cls, data)
        if isinstance(data, dict):
            data.setdefault("directory", {})  # so a missing table names its missing URL
        return data

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not checks.is_database_url(value):
            raise problem("is not a database URL")
        return value

    @field_validator("dr_base_url")
    @classmethod
    def _dr_base_url(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("dr_api_key")
    @classmethod
    def _dr_credentials(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "dr_api_secret" in info.data and bool(value) != bool(info.data["dr_api_secret"]):
            raise problem("DR_API_KEY and DR_API_SECRET go together")
        return value

    @field_validator("rum_allowed_ips")
    @classmethod
    def _allowed_ips(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [cidr for cidr in value if not checks.is_cidr(cidr)]
        if bad:
            raise problem("; ".join(f"{cidr!r} is not an IP address or CIDR" for cidr in bad))
        return value

    @field_validator("token_encryption_keys")
    @classmethod
    def _token_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        checks.each(value, checks.is_token_key, "must be 32 bytes as base64 or 64 hex digits")
        return value

    @field_validator("token_refresh_fraction")
    @classmethod
    def _refresh_fraction(cls, value: float) -> float:
        if value >= 1:
            raise problem("must be below 1 (a fraction of the token's life)")
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        value = value.lower()
        if value not in MODES:
            raise problem("must be production, demo or test")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise problem("unknown level")
        return value

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        if not checks.is_bind_address(value):
            raise problem("must be HOST:PORT (e.g. 0.0.0.0:8080) or unix:PATH")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_networks(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _proxy_networks(value)


def _split_networks(value: Any) -> Any:
    # gunicorn's own form (one comma-separated string) works as well as a list.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _proxy_networks(value: tuple[str, ...]) -> tuple[str, ...]:
    # No "*": believing X-Forwarded-For from any peer is exactly what lets a client forge its
    # address past RUM_ALLOWED_IPS.
    bad = [item for item in value if not checks.is_strict_network(item)]
    if bad:
        raise problem("; ".join(f"{item!r} is not an IP address or CIDR" for item in bad))
    return value


def forwarded_allow_ips_setting(raw: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """FORWARDED_ALLOW_IPS alone, for gunicorn's configuration file (read before the app is)."""
    raw = upper_keys(raw_from_environment() if raw is None else raw, _SECTIONS)
    value = raw.get("FORWARDED_ALLOW_IPS")
    if value in (None, ""):
        default: tuple[str, ...] = Settings.model_fields["forwarded_allow_ips"].default
        return default
    split = _split_networks(value)
    if not isinstance(split, list | tuple) or not all(isinstance(item, str) for item in split):
        raise SettingsError([f"{PREFIX}FORWARDED_ALLOW_IPS: must be a list of addresses"])
    try:
        return _proxy_networks(tuple(split))
    except PydanticCustomError as exc:
        raise SettingsError([f"{PREFIX}FORWARDED_ALLOW_IPS: {exc.message()}"]) from None


# --- the names of settings ------------------------------------------------------------------


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a settings table (`DirectorySettings`), if the field is one."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _paths(model: type[BaseModel] = Settings, prefix: SettingPath = ()) -> Iterator[SettingPath]:
    for name, info in model.model_fields.items():
        table = _table_model(info.annotation)
        if table is not None and table is not PrivateStoreRule:
            yield from _paths(table, (*prefix, name.upper()))
        else:
            yield (*prefix, name.upper())


def setting_paths() -> list[SettingPath]:
    """Every setting as a key path: ``("SESSION_TTL",)``, ``("DIRECTORY", "URL")``."""
    return list(_paths())


def setting_names() -> list[str]:
    """Every setting's environment variable, e.g. ``SSO_BRIDGE_DIRECTORY__URL``."""
    return [PREFIX + "__".join(map(str, path)) for path in setting_paths()]


_SCHEMA = Schema(
    settings=frozenset(_paths()),
    rule_keys=tuple(to_camel(name) for name in PrivateStoreRule.model_fields),
)
_SECTIONS = _SCHEMA.sections


# --- loading --------------------------------------------------------------------------------


def raw_from_environment(environ: Mapping[str, str] | None = None) -> RawSettings:
    """Collect the TOML file (if named) and every ``SSO_BRIDGE_*`` variable into one mapping."""
    return read_layers(environ, _SECTIONS)


def own_database_url(raw: Mapping[str, Any] | None = None) -> str:
    """The bridge's own database URL alone (``db upgrade`` needs no other setting)."""
    raw = upper_keys(raw_from_environment() if raw is None else raw, _SECTIONS)
    value = raw.get("DATABASE_URL")
    default = Settings.model_fields["database_url"].default
    return str(value) if value not in (None, "") else str(default)


def load_settings(raw: Mapping[str, Any] | None = None) -> Settings:
    """Build validated `Settings` from ``raw`` (default: TOML file + environment)."""
    raw = raw_from_environment() if raw is None else raw
    problems, data = _SCHEMA.known_keys(raw)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(describe_error(error) for error in exc.errors())
        # `from None`: the pydantic error quotes input values, and they may be secrets.
        raise SettingsError(problems) from None
    if problems:
        raise SettingsError(problems)
    return settings
