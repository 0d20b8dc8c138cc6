"""Operator mistakes as one line: ``sso-bridge: <what failed>: <why>. <what to do>``.

A wrong database name, a closed port, a misspelt URL scheme, a broken TOML file: the operator
needs the cause and the fix, not 120 lines of traceback. `describe` recognises those
infrastructure errors (and our own `SettingsError` / `StartupRefused`) and returns the line, or
None for a real bug, which keeps its traceback. The CLI entry point and the gunicorn master hook
are the two places that print it. Every line is scrubbed: a password inside a URL, or any secret
``SSO_BRIDGE_*`` value, never reaches the terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import redis.exceptions
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from sso_bridge.settings import PREFIX, SettingsError
from sso_bridge.startup import StartupRefused
from sso_bridge.store import StoreUnavailable

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^@\s]*@")
_SECRET_NAME = re.compile(
    r"(PASSWORD|SECRET|API_KEYS?|API_TOKEN|ENCRYPTION_KEYS|PEPPER|RUM_USERS|__KEY)$"
)
_MIN_SECRET = 4
_DB_FIX = "Check SSO_BRIDGE_DATABASE_URL and SSO_BRIDGE_DIRECTORY__URL"


def _leaves(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return []


def _secrets(environ: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for name, value in environ.items():
        if not name.startswith(PREFIX):
            continue
        if _SECRET_NAME.search(name):
            found.append(value)
            # A JSON value ({"dr": "<password>"}, ["key1", "key2"]): each string in it.
            with contextlib.suppress(ValueError):
                found.extend(_leaves(json.loads(value)))
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    for secret in _secrets(os.environ if environ is None else environ):
        text = text.replace(secret, "***")
    return text


def _first_line(exc: BaseException) -> str:
    """The driver's own first line (SQLAlchemy wraps it: "(psycopg.X) <line>\\n[SQL...]")."""
    inner = exc.orig if isinstance(exc, OperationalError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    line = lines[0] if lines else type(inner).__name__
    return re.sub(r"\s+", " ", line).rstrip(".")


def _database(exc: OperationalError) -> str:
    why = _first_line(exc)
    lowered = why.lower()
    if "password" in lowered or "access denied" in lowered or "authentication" in lowered:
        fix = f"Check the user and password in the URL. {_DB_FIX}"
    elif "role" in lowered and "does not exist" in lowered:
        fix = f"Create the database user, or correct the user in the URL. {_DB_FIX}"
    elif "does not exist" in lowered or "unknown database" in lowered:
        fix = f"Create the database, or correct its name. {_DB_FIX}"
    elif "unable to open database file" in lowered:
        fix = f"Create the file's directory or make it writable. {_DB_FIX}"
    else:
        fix = f"Start the database server or correct the host and port. {_DB_FIX}"
    return f"database: {why}. {fix}"


def _unknown_scheme(exc: NoSuchModuleError) -> str:
    scheme = str(exc).rpartition(":")[2].strip() or "?"
    return (
        f"database URL: unknown scheme {scheme!r}. Use postgresql://, mysql://, mariadb:// or "
        f"sqlite:/// ({_DB_FIX})"
    )


def _settings(exc: SettingsError) -> str:
    problems = "; ".join(exc.problems)
    return f"configuration: {problems}. Correct these settings (README \"Configuration\")"


def _toml(exc: tomllib.TOMLDecodeError) -> str:
    return (
        f"configuration file: not valid TOML ({exc}). Fix the file named by SSO_BRIDGE_CONFIG"
    )


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    why = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError):
        fix = "Give the bridge's user access to it, or point the setting elsewhere"
    elif isinstance(exc, FileNotFoundError):
        fix = "Create it, or correct the path in the configuration"
    else:
        fix = "Check the path and its permissions"
    return f"cannot open{where}: {why}. {fix}"


def _redis(exc: BaseException) -> str:
    return (
        f"Redis: {_first_line(exc)}. Start Redis or correct SSO_BRIDGE_REDIS_URL "
        "(without it the bridge runs on an in-process cache)"
    )


def _url_value(exc: ArgumentError) -> str:
    # ArgumentError's text quotes the whole URL, password included: say only what is wrong.
    return f"database URL: cannot be parsed. {_DB_FIX} (form: postgresql://user:pass@host/db)"


_DESCRIBERS: list[tuple[type[BaseException], Callable[..., str]]] = [
    (SettingsError, _settings),
    (StartupRefused, str),
    (NoSuchModuleError, _unknown_scheme),
    (ArgumentError, _url_value),
    (OperationalError, _database),
    (redis.exceptions.ConnectionError, _redis),
    (redis.exceptions.TimeoutError, _redis),
    (StoreUnavailable, _redis),
    (tomllib.TOMLDecodeError, _toml),
    (OSError, _os_error),
]


def describe(exc: BaseException) -> str | None:
    """The one line for an operator mistake (without the ``sso-bridge: `` lead), else None."""
    for kind, render in _DESCRIBERS:
        if isinstance(exc, kind):
            return scrub(render(exc))
    return None
