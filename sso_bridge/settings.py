"""Settings: `SSO_BRIDGE_*` environment variables over an optional TOML file, validated at once.

Keys follow Flask's ``from_prefixed_env`` convention: values are parsed as JSON when they are
JSON, nested keys are joined with ``__`` (``SSO_BRIDGE_DIRECTORY__URL``). The TOML file named by
``SSO_BRIDGE_CONFIG`` holds the same keys (any case: ``[directory] url = ...``); the environment
wins. Every problem found is collected and reported in one `SettingsError`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

PREFIX = "SSO_BRIDGE_"


class SettingsError(Exception):
    """Start-up configuration is invalid; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


@dataclass(frozen=True)
class DirectorySettings:
    """Where the merchant's users live and how its table is laid out."""

    url: str = field(repr=False)  # may embed a database password
    table: str = "users"
    key_column: str = "id"
    login_columns: tuple[str, ...] = ("email",)
    password_column: str = "password"
    email_column: str | None = "email"
    first_name_column: str | None = "first_name"
    last_name_column: str | None = "last_name"
    active_column: str | None = "active"
    phone_column: str | None = None
    locale_column: str | None = None
    new_password_scheme: str = "argon2"
    upgrade_hashes: bool = False
    create_defaults: Mapping[str, Any] = field(default_factory=dict)
    # backend "http": the merchant's login API (sso_bridge.directory.http) instead of a table.
    backend: str = "sql"
    api_url: str | None = field(default=None, repr=False)  # may embed credentials
    api_token: str | None = field(default=None, repr=False)
    api_username: str | None = None
    api_password: str | None = field(default=None, repr=False)
    api_timeout: float = 2.0


@dataclass(frozen=True)
class PasswordEncryptionSettings:
    """How DR encrypts the RUM ``password`` element (absent: plain text)."""

    key: str = field(repr=False)
    mode: str = "cbc"
    iv: str = "prefix"
    encoding: str = "base64"


@dataclass(frozen=True)
class PrivateStoreRule:
    email_domain: str | None = None
    email_address: str | None = None
    ip_range: str | None = None
    purchase_plan_id: str | None = None
    target_market_id: str | None = None
    search: bool = False


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)  # URLs may embed passwords
    directory: DirectorySettings
    redis_url: str | None = field(default=None, repr=False)
    redis_key_prefix: str = "sso-bridge:"
    redis_timeout: float = 0.25
    dr_base_url: str = "https://api.digitalriver.com"
    dr_api_key: str | None = field(default=None, repr=False)
    dr_api_secret: str | None = field(default=None, repr=False)
    dr_calls_per_second: float = 10.0
    dr_timeout: float = 1.5
    dr_negative_ttl: float = 2.0
    rum_users: Mapping[str, str] = field(default_factory=dict, repr=False)
    rum_allowed_ips: tuple[str, ...] = ()
    trusted_proxies: int = 0
    rum_password_encryption: PasswordEncryptionSettings | None = field(default=None, repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    site_id: str | None = None
    session_ttl: int = 3600
    session_attribute: str = "sessionToken"
    registration_retry_window: int = 600
    registration_lease: float = 4.0
    max_body_bytes: int = 65536
    token_encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    token_safety_margin: int = 60
    token_refresh_fraction: float = 0.5
    private_stores: tuple[PrivateStoreRule, ...] = ()
    log_level: str = "INFO"
    login_concurrency: int = 2
    login_queue_seconds: float = 1.0
    shopper_ip_attribute: str | None = None
    throttle_enabled: bool = True


# --- loading --------------------------------------------------------------------------------


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# Tables whose own keys are setting names (case-insensitive); every other mapping value (RUM
# users, create defaults) is data and keeps its keys exactly.
_SECTIONS = {"DIRECTORY", "RUM_PASSWORD_ENCRYPTION"}


def _upper_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    upper: dict[str, Any] = {}
    for key, value in data.items():
        name = key.upper()
        if name in _SECTIONS and isinstance(value, Mapping):
            value = {inner.upper(): item for inner, item in value.items()}
        upper[name] = value
    return upper


def raw_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Collect the TOML file (if named) and every ``SSO_BRIDGE_*`` variable into one mapping."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config_file = environ.get(PREFIX + "CONFIG")
    if config_file:
        try:
            with Path(config_file).open("rb") as handle:
                raw = _upper_keys(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError([f"CONFIG: cannot read {config_file}: {exc}"]) from exc
    for name, value in environ.items():
        if not name.startswith(PREFIX) or name == PREFIX + "CONFIG":
            continue
        path = name.removeprefix(PREFIX).split("__")
        target = raw
        for part in path[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        target[path[-1]] = _parse_env_value(value)
    return raw


class _Reader:
    """Reads typed values out of the raw mapping, recording problems instead of failing fast."""

    def __init__(self, raw: Mapping[str, Any], prefix: str = "") -> None:
        self.raw = raw
        self.prefix = prefix
        self.problems: list[str] = []

    def _name(self, key: str) -> str:
        return f"{PREFIX}{self.prefix}{key}"

    def _bad(self, key: str, message: str) -> None:
        self.problems.append(f"{self._name(key)}: {message}")

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.raw.get(key, default)
        if value is None or value == "":
            if required:
                self._bad(key, "is required")
            return None if value is None else default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self._bad(key, f"must be a string, got {type(value).__name__}")
            return default
        return str(value)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw.get(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            self._bad(key, "must be a number")
            return default
        if isinstance(value, bool) or number < minimum:
            self._bad(key, f"must be a number >= {minimum:g}")
            return default
        return number

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | str):
            self._bad(key, "must be an integer")
            return default
        try:
            number = int(value)
        except ValueError:
            self._bad(key, "must be an integer")
            return default
        if number < minimum:
            self._bad(key, f"must be >= {minimum}")
            return default
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
        self._bad(key, "must be true or false")
        return default

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if isinstance(value, str):
            value = [value] if value else []
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            self._bad(key, 'must be a JSON list of non-empty strings, e.g. ["a", "b"]')
            return ()
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.raw.get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
        ):
            self._bad(key, 'must be a JSON object of non-empty strings, e.g. {"user": "password"}')
            return {}
        return dict(value)

    def section(self, key: str) -> _Reader:
        value = self.raw.get(key, {})
        if not isinstance(value, Mapping):
            self._bad(key, "must be a table/object")
            value = {}
        return _Reader(value, f"{self.prefix}{key}__")

    def check(self, key: str, value: Any, test: Callable[[Any], bool], message: str) -> None:
        if value is not None and not test(value):
            self._bad(key, message)


def _is_database_url(value: str) -> bool:
    try:
        make_url(value)
    except Exception:  # SQLAlchemy raises ArgumentError and friends for any malformed URL
        return False
    return True


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_token_key(value: str) -> bool:
    from sso_bridge.dr.sealing import parse_token_key

    try:
        parse_token_key(value)
    except ValueError:
        return False
    return True


def _password_scheme_known(name: str) -> bool:
    from sso_bridge.directory.passwords import PasswordHasher

    try:
        PasswordHasher(new_scheme=name)
    except ValueError:
        return False
    return True


def _is_http_url(value: str) -> bool:
    parsed = urlsplit(value)
    return parsed.scheme in {"http", "https"} and bool(parsed.hostname)


def _read_directory_api(section: _Reader, backend: str) -> dict[str, Any]:
    """The login API settings (backend "http"); URL and one kind of credentials required."""
    api: dict[str, Any] = {
        "api_url": section.string("API_URL", required=backend == "http"),
        "api_token": section.string("API_TOKEN"),
        "api_username": section.string("API_USERNAME"),
        "api_password": section.string("API_PASSWORD"),
        "api_timeout": section.number("API_TIMEOUT", 2.0, minimum=0.05),
    }
    if backend != "http":
        return api
    section.check("API_URL", api["api_url"], _is_http_url, "must be an http(s):// URL")
    basic = api["api_username"] is not None or api["api_password"] is not None
    if api["api_token"] and basic:
        section._bad("API_TOKEN", "set API_TOKEN or API_USERNAME/API_PASSWORD, not both")
    elif basic and not (api["api_username"] and api["api_password"]):
        section._bad("API_USERNAME", "API_USERNAME and API_PASSWORD go together")
    elif not api["api_token"] and not basic:
        section._bad("API_TOKEN", "is required (or API_USERNAME and API_PASSWORD)")
    return api


def _read_directory(reader: _Reader) -> DirectorySettings:
    section = reader.section("DIRECTORY")
    backend = (section.string("BACKEND", "sql") or "sql").lower()
    section.check("BACKEND", backend, lambda b: b in {"sql", "http"}, "must be sql or http")
    if backend == "http":
        url = section.string("URL") or ""  # the login API replaces the user table
    else:
        url = section.string("URL", required=True) or "sqlite://"
    section.check("URL", url or None, _is_database_url, "is not a SQLAlchemy database URL")
    api = _read_directory_api(section, backend)
    login_columns = section.string_list("LOGIN_COLUMNS") or ("email",)
    defaults = section.raw.get("CREATE_DEFAULTS", {})
    if not isinstance(defaults, Mapping):
        section._bad("CREATE_DEFAULTS", "must be a JSON object of column: value")
        defaults = {}
    scheme = section.string("NEW_PASSWORD_SCHEME", "argon2") or "argon2"
    section.check(
        "NEW_PASSWORD_SCHEME",
        scheme,
        _password_scheme_known,
        "is not a supported password hash scheme (e.g. argon2, bcrypt, django_pbkdf2_sha256)",
    )

    def column(key: str, default: str | None) -> str | None:
        value = section.raw.get(key, default)
        if value in (None, "", False):
            return None  # an empty value switches an optional column off
        return section.string(key, default)

    directory = DirectorySettings(
        url=url,
        table=section.string("TABLE", "users") or "users",
        key_column=section.string("KEY_COLUMN", "id") or "id",
        login_columns=login_columns,
        password_column=section.string("PASSWORD_COLUMN", "password") or "password",
        email_column=column("EMAIL_COLUMN", "email"),
        first_name_column=column("FIRST_NAME_COLUMN", "first_name"),
        last_name_column=column("LAST_NAME_COLUMN", "last_name"),
        active_column=column("ACTIVE_COLUMN", "active"),
        phone_column=column("PHONE_COLUMN", None),
        locale_column=column("LOCALE_COLUMN", None),
        new_password_scheme=scheme,
        upgrade_hashes=section.boolean("UPGRADE_HASHES", False),
        create_defaults=dict(defaults),
        backend=backend,
        **api,
    )
    reader.problems.extend(section.problems)
    return directory


def _read_encryption(reader: _Reader) -> PasswordEncryptionSettings | None:
    if "RUM_PASSWORD_ENCRYPTION" not in reader.raw:
        return None
    section = reader.section("RUM_PASSWORD_ENCRYPTION")
    key = section.string("KEY", required=True)
    mode = section.string("MODE", "cbc") or "cbc"
    section.check("MODE", mode, lambda m: m in {"cbc", "gcm", "ecb"}, "must be cbc, gcm or ecb")
    encoding = section.string("ENCODING", "base64") or "base64"
    section.check("ENCODING", encoding, lambda e: e in {"base64", "hex"}, "must be base64 or hex")
    iv = section.string("IV", "prefix") or "prefix"
    from sso_bridge.rum.password_cipher import parse_iv, parse_key

    if key:
        try:
            parse_key(key)
        except ValueError as exc:
            section._bad("KEY", str(exc))
    try:
        parse_iv(iv)  # else a bad IV would only surface later, as a bare ValueError at start-up
    except ValueError as exc:
        section._bad("IV", str(exc))
    reader.problems.extend(section.problems)
    return PasswordEncryptionSettings(key=key or "", mode=mode, iv=iv, encoding=encoding)


def _read_private_stores(reader: _Reader) -> tuple[PrivateStoreRule, ...]:
    value = reader.raw.get("PRIVATE_STORES", [])
    if not isinstance(value, list):
        reader._bad("PRIVATE_STORES", "must be a JSON list of rules")
        return ()
    rules = []
    for index, item in enumerate(value):
        where = f"PRIVATE_STORES[{index}]"
        if not isinstance(item, Mapping):
            reader._bad(where, "must be an object")
            continue
        rule = PrivateStoreRule(
            email_domain=item.get("emailDomain"),
            email_address=item.get("emailAddress"),
            ip_range=item.get("ipRange"),
            purchase_plan_id=item.get("purchasePlanId"),
            target_market_id=item.get("targetMarketId"),
            search=bool(item.get("search", False)),
        )
        if rule.ip_range:
            # A token request carries no shopper address to match, so such a rule could never
            # apply: refuse it rather than let it silently do nothing.
            reader._bad(where, "ipRange rules are not supported yet (use emailDomain or "
                        "emailAddress)")
        elif not (rule.email_domain or rule.email_address):
            reader._bad(where, "needs emailDomain or emailAddress")
        if not rule.search and not rule.purchase_plan_id:
            reader._bad(where, 'needs "purchasePlanId" or "search": true')
        rules.append(rule)
    return tuple(rules)


def load_settings(raw: Mapping[str, Any] | None = None) -> Settings:
    """Build validated `Settings` from ``raw`` (default: TOML file + environment)."""
    raw = _upper_keys(raw_from_environment() if raw is None else raw)
    reader = _Reader(raw)
    database_url = reader.string("DATABASE_URL", "sqlite:///sso-bridge.sqlite3") or ""
    reader.check("DATABASE_URL", database_url, _is_database_url, "is not a database URL")
    directory = _read_directory(reader)
    allowed_ips = reader.string_list("RUM_ALLOWED_IPS")
    for cidr in allowed_ips:
        reader.check("RUM_ALLOWED_IPS", cidr, _is_cidr, f"{cidr!r} is not an IP address or CIDR")
    token_keys = reader.string_list("TOKEN_ENCRYPTION_KEYS")
    for index, token_key in enumerate(token_keys):
        reader.check(
            f"TOKEN_ENCRYPTION_KEYS[{index}]",
            token_key,
            _is_token_key,
            "must be 32 bytes as base64 or 64 hex digits",
        )
    log_level = (reader.string("LOG_LEVEL", "INFO") or "INFO").upper()
    reader.check(
        "LOG_LEVEL",
        log_level,
        lambda v: v in {"DEBUG", "INFO", "WARNING", "ERROR"},
        "unknown level",
    )
    settings = Settings(
        database_url=database_url,
        directory=directory,
        redis_url=reader.string("REDIS_URL"),
        redis_key_prefix=reader.string("REDIS_KEY_PREFIX", "sso-bridge:") or "",
        redis_timeout=reader.number("REDIS_TIMEOUT", 0.25, minimum=0.001),
        dr_base_url=(reader.string("DR_BASE_URL", "https://api.digitalriver.com") or "").rstrip(
            "/"
        ),
        dr_api_key=reader.string("DR_API_KEY"),
        dr_api_secret=reader.string("DR_API_SECRET"),
        dr_calls_per_second=reader.number("DR_CALLS_PER_SECOND", 10.0, minimum=0.1),
        dr_timeout=reader.number("DR_TIMEOUT", 1.5, minimum=0.05),
        dr_negative_ttl=reader.number("DR_NEGATIVE_TTL", 2.0, minimum=0.0),
        rum_users=reader.string_map("RUM_USERS"),
        rum_allowed_ips=allowed_ips,
        trusted_proxies=reader.integer("TRUSTED_PROXIES", 0),
        rum_password_encryption=_read_encryption(reader),
        api_keys=reader.string_list("API_KEYS"),
        site_id=reader.string("SITE_ID"),
        session_ttl=reader.integer("SESSION_TTL", 3600, minimum=1),
        session_attribute=reader.string("SESSION_ATTRIBUTE", "sessionToken") or "sessionToken",
        registration_retry_window=reader.integer("REGISTRATION_RETRY_WINDOW", 600),
        registration_lease=reader.number("REGISTRATION_LEASE", 4.0, minimum=0.2),
        max_body_bytes=reader.integer("MAX_BODY_BYTES", 65536, minimum=1024),
        token_encryption_keys=token_keys,
        token_safety_margin=reader.integer("TOKEN_SAFETY_MARGIN", 60),
        token_refresh_fraction=reader.number("TOKEN_REFRESH_FRACTION", 0.5, minimum=0.05),
        private_stores=_read_private_stores(reader),
        log_level=log_level,
        login_concurrency=reader.integer("LOGIN_CONCURRENCY", os.cpu_count() or 2, minimum=1),
        login_queue_seconds=reader.number("LOGIN_QUEUE_SECONDS", 1.0, minimum=0.0),
        shopper_ip_attribute=reader.string("SHOPPER_IP_ATTRIBUTE"),
        throttle_enabled=reader.boolean("THROTTLE_ENABLED", True),
    )
    if bool(settings.dr_api_key) != bool(settings.dr_api_secret):
        reader._bad("DR_API_KEY", "DR_API_KEY and DR_API_SECRET go together")
    if settings.token_refresh_fraction >= 1:
        reader._bad("TOKEN_REFRESH_FRACTION", "must be below 1 (a fraction of the token's life)")
    if reader.problems:
        raise SettingsError(reader.problems)
    return settings
