"""`sso-bridge doctor`: checks a deployment's configuration and dependencies, one line each.

Checks, in order: configuration (every problem reported), the bridge's own database (reachable,
schema current), the user directory (reachable), the user query (the mapping works; with
``--canary LOGIN`` that login is found and active), the password hash formats in the user table
(SQL backend: a sample of up to 1000, counted by format and cost, weak ones WARNed with the
reasons `PasswordHasher.strength` gives, unrecognised ones WARNed; never a hash printed), the
one-user-one-ERID invariant on the live data (identity map and merchant table: `invariants`),
Redis (or the in-process cache), and Digital River (a test mint for a throwaway ERID, then
revoked).

Each line reads ``OK|WARN|FAIL  <check>: <what was found>`` with ``(hint: ...)`` where something
can be done. Exit status 0 when nothing FAILed, 1 otherwise. Secrets from the settings (RUM
passwords, API keys, DR secret, login API credentials, passwords inside URLs) are scrubbed from
every line before it is printed, as a second line of defence: no check prints one on purpose.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sso_bridge.db import make_engine
from sso_bridge.directory.base import AmbiguousLogin, DirectoryUnavailable, UserDirectory
from sso_bridge.directory.http import HttpUserDirectory
from sso_bridge.directory.passwords import HashStrength, PasswordHasher, typical_sample
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.dr.client import DrConfigurationError, DrError, DrUnavailable
from sso_bridge.identity_guarantees import verify_guarantees
from sso_bridge.invariants import identity_map_findings, merchant_findings
from sso_bridge.schema import HEAD, UnsupportedDatabase, current_version
from sso_bridge.settings import Settings, SettingsError, load_settings
from sso_bridge.store import RedisStore, StoreUnavailable

Verdict = Literal["OK", "WARN", "FAIL"]

#: The ERID of the test mint: no merchant user has it (ERIDs the bridge assigns are UUIDs).
DOCTOR_ERID = "sso-bridge-doctor"
HASH_SAMPLE = 1000
_MIN_SCRUBBED = 6


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    name: str
    detail: str
    hint: str = ""

    def line(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.verdict:<4}  {self.name}: {self.detail}{hint}"


def _why(exc: BaseException) -> str:
    """A short reason: the exception type and, for SQL errors, the driver's first line.

    SQL errors never carry bound values (engines use ``hide_parameters``); URLs are scrubbed by
    the caller's secret filter.
    """
    cause = exc.__cause__
    if isinstance(exc, DirectoryUnavailable) and isinstance(cause, SQLAlchemyError):
        exc = cause  # the SQL backend wraps the driver's error: show the driver's words
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = text[0][:200] if text else ""
    name = type(orig if orig is not None else exc).__name__
    return f"{name}: {first}" if first and first != name else name


def _safe_url(url: str) -> str:
    """A database or Redis URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL (e.g. redis://): take it apart by hand
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


def _secrets(settings: Settings) -> list[str]:
    values: list[str | None] = [
        settings.dr_api_secret,
        settings.dr_api_key,
        *settings.rum_users.values(),
        *settings.api_keys,
        *settings.token_encryption_keys,
        settings.directory.api_token,
        settings.directory.api_password,
        settings.rum_password_encryption.key if settings.rum_password_encryption else None,
    ]
    for url in (settings.database_url, settings.directory.url, settings.redis_url):
        if url:
            values.append(urlsplit(url).password)
    if settings.directory.api_url:
        values.append(urlsplit(settings.directory.api_url).password)
    # Longest first, so a secret containing another is scrubbed whole. Very short values are
    # left alone: scrubbing "s" would garble every line, and no check prints a secret anyway.
    return sorted(
        {value for value in values if value and len(value) >= _MIN_SCRUBBED}, key=len, reverse=True
    )


# --- the checks -----------------------------------------------------------------------------


def check_configuration(settings: Settings) -> Iterator[Check]:
    backend = settings.directory.backend
    yield Check(
        "OK",
        "configuration",
        f"settings valid; user directory backend {backend}; DR at {settings.dr_base_url}",
    )
    if not settings.rum_users:
        yield Check(
            "FAIL",
            "configuration",
            "no RUM credentials: `sso-bridge serve` refuses to start",
            'set SSO_BRIDGE_RUM_USERS, e.g. \'{"dr": "<a long random password>"}\'',
        )
    if not settings.api_keys:
        yield Check(
            "WARN",
            "configuration",
            "no /v1 API keys: the merchant backend cannot open sessions or fetch tokens",
            "set SSO_BRIDGE_API_KEYS, e.g. '[\"<a long random key>\"]'",
        )


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return False
    return not database.startswith("file:") and not Path(database).exists()


def _missing_guarantees(engine: Engine) -> str | None:
    try:
        verify_guarantees(engine)
    except UnsupportedDatabase as exc:
        return str(exc)
    return None


def check_bridge_database(settings: Settings) -> Iterator[Check]:
    name = "bridge database"
    where = _safe_url(settings.database_url)
    if _missing_sqlite_file(settings.database_url):
        # Checked first: connecting would create an empty file as a side effect.
        yield Check("FAIL", name, f"{where} does not exist", "run `sso-bridge db upgrade`")
        return
    engine = make_engine(settings.database_url)
    try:
        version = current_version(engine)
        missing = _missing_guarantees(engine) if version == HEAD else None
    except SQLAlchemyError as exc:
        yield Check(
            "FAIL",
            name,
            f"{where} unreachable ({_why(exc)})",
            "check SSO_BRIDGE_DATABASE_URL and that the database server runs",
        )
        return
    finally:
        engine.dispose()
    if missing:
        yield Check("FAIL", name, f"{where}: {missing}")
    elif version == HEAD:
        yield Check("OK", name, f"{where} reachable, schema at version {version} (current)")
    elif version < HEAD:
        yield Check(
            "FAIL",
            name,
            f"{where} reachable, schema at version {version}, this release needs {HEAD}",
            "run `sso-bridge db upgrade`",
        )
    else:
        yield Check(
            "FAIL",
            name,
            f"{where} schema at version {version} is newer than this release ({HEAD})",
            "run the sso-bridge release that upgraded it",
        )


def _directory_where(settings: Settings) -> str:
    if settings.directory.backend == "http":
        parts = urlsplit(settings.directory.api_url or "")
        port = f":{parts.port}" if parts.port else ""
        return f"login API {parts.scheme}://{parts.hostname}{port}{parts.path}"
    return f"{_safe_url(settings.directory.url)} table {settings.directory.table!r}"


def check_directory(settings: Settings, directory: UserDirectory) -> Iterator[Check]:
    name = "user directory"
    where = _directory_where(settings)
    hint = (
        "check SSO_BRIDGE_DIRECTORY__API_URL and its credentials"
        if settings.directory.backend == "http"
        else "check SSO_BRIDGE_DIRECTORY__URL and that the database server runs"
    )
    if settings.directory.backend == "sql" and _missing_sqlite_file(settings.directory.url):
        yield Check("FAIL", name, f"{where} does not exist", hint)
        return
    try:
        directory.ping()
    except Exception as exc:  # the doctor reports any failure, whatever its kind
        yield Check("FAIL", name, f"{where} unreachable ({_why(exc)})", hint)
        return
    yield Check("OK", name, f"{where} reachable")
    api_url = settings.directory.api_url
    if settings.directory.backend == "http" and api_url:
        parts = urlsplit(api_url)
        if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            yield Check(
                "WARN",
                name,
                "the login API is plain http to another host: shoppers' passwords cross the "
                "network unencrypted",
                "use an https:// URL",
            )


def check_user_query(directory: UserDirectory, canary: str | None) -> Iterator[Check]:
    name = "user query"
    login = canary or "sso-bridge-doctor@invalid"
    mapping_hint = "check SSO_BRIDGE_DIRECTORY__TABLE and the column mapping (__*_COLUMN)"
    try:
        user = directory.find_by_login(login)
    except AmbiguousLogin:
        yield Check(
            "FAIL",
            name,
            f"several accounts match {login!r}: such logins are refused",
            "make the login columns unique (case-insensitively)",
        )
        return
    except Exception as exc:  # e.g. a mapped column that does not exist
        hint = "" if isinstance(directory, HttpUserDirectory) else mapping_hint
        yield Check("FAIL", name, f"lookup failed ({_why(exc)})", hint)
        return
    if canary is None:
        yield Check(
            "OK",
            name,
            "a lookup by login runs",
            "pass --canary LOGIN to check that a real user is found",
        )
    elif user is None:
        yield Check(
            "FAIL",
            name,
            f"canary {canary!r} not found",
            "check the login columns (SSO_BRIDGE_DIRECTORY__LOGIN_COLUMNS) or the login",
        )
    elif not user.active:
        yield Check(
            "WARN",
            name,
            f"canary {canary!r} found (user key {user.key}) but not active",
            "check SSO_BRIDGE_DIRECTORY__ACTIVE_COLUMN, or pick an active user",
        )
    else:
        yield Check("OK", name, f"canary {canary!r} found, user key {user.key}, active")


def check_hash_formats(settings: Settings, directory: UserDirectory) -> Iterator[Check]:
    name = "password hashes"
    if not isinstance(directory, SqlUserDirectory):
        yield Check("OK", name, "not applicable: the login API verifies passwords itself")
        return
    try:
        samples = directory.password_samples(HASH_SAMPLE)
    except (SQLAlchemyError, DirectoryUnavailable) as exc:
        yield Check(
            "FAIL",
            name,
            f"cannot read the password column ({_why(exc)})",
            "check SSO_BRIDGE_DIRECTORY__PASSWORD_COLUMN",
        )
        return
    if not samples:
        yield Check("WARN", name, "no password hashes in the user table", "is it the right table?")
        return
    yield from describe_hashes(
        samples, directory.hasher, upgrading=settings.directory.upgrade_hashes
    )


# Formats whose "rounds" is log2 of the work: bcrypt's cost, phpass's and Drupal 7's count.
_BCRYPT_COST = frozenset(
    {"bcrypt", "ldap_bcrypt", "django_bcrypt", "bcrypt_sha256", "django_bcrypt_sha256", "wordpress"}
)
_LOG2_ROUNDS = frozenset({"phpass", "drupal7_sha512", "drupal7_md5_phpass"})


def describe_cost(strength: HashStrength) -> str:
    """Cost parameters as an operator reads them: "cost 12", "1,000,000 iterations",
    "sha512, 210,000 iterations", "m=65536, t=3, p=4"; "" for a fixed-cost format."""
    scheme = strength.format or ""
    parts: list[str] = []
    for key, value in strength.cost:
        if isinstance(value, str):
            parts.append(value)  # the digest or PRF: "sha256", "pbkdf2-sha512"
        elif key == "rounds" and scheme in _BCRYPT_COST:
            parts.append(f"cost {value}")
        elif key == "rounds" and scheme in _LOG2_ROUNDS:
            parts.append(f"2^{value} iterations")
        elif key in ("rounds", "i"):
            parts.append(f"{value:,} iterations")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _label(strength: HashStrength) -> str:
    cost = describe_cost(strength)
    return f"{strength.format} ({cost})" if cost else str(strength.format)


def _no_password(stored: str) -> bool:
    """An empty value or a `!`-prefixed one (Django's unusable password, a social-login
    account, a locked shadow entry): deliberately not a password, so neither weak nor unknown."""
    return not stored.strip() or stored.startswith("!")


def describe_hashes(
    samples: Sequence[tuple[str, str | None]], hasher: PasswordHasher, *, upgrading: bool = False
) -> Iterator[Check]:
    """A summary line, then one line per format and cost, most common first: weak ones WARN
    with `strength()`'s reasons and the fix, unrecognised ones WARN. `samples` are (hash, salt
    column) pairs; `upgrading` is DIRECTORY__UPGRADE_HASHES. Never a hash, salt or login shown.
    """
    name = "password hashes"
    total = len(samples)
    groups: Counter[HashStrength] = Counter()
    no_password = 0
    for stored, salt in samples:
        if _no_password(stored):
            no_password += 1
        else:
            groups[hasher.strength(stored, salt=salt)] += 1
    known = {strength: count for strength, count in groups.items() if strength.format is not None}
    unrecognised = total - no_password - sum(known.values())
    weak = sum(count for strength, count in known.items() if strength.weak)
    # As the directory picks its dummy hash: from every sampled row (`SqlUserDirectory._dummy`).
    typical = typical_sample(samples, hasher)
    timed = hasher.strength(typical[0], salt=typical[1]) if typical else None
    timed_like = _label(timed) if timed and timed.format else f"a new {hasher.new_scheme} hash"
    formats = len({strength.format for strength in known})
    yield Check(
        "OK",
        name,
        f"{total} sampled: {formats} format(s), {weak} weak, {unrecognised} unrecognised, "
        f"{no_password} without a password; unknown logins are timed like {timed_like}",
    )
    fix = (
        "SSO_BRIDGE_DIRECTORY__UPGRADE_HASHES is on: each is rehashed at its user's next sign-in"
        if upgrading
        else "set SSO_BRIDGE_DIRECTORY__UPGRADE_HASHES=true to rehash each at its user's next "
        "sign-in"
    )
    # Most common first; ties in a stable order (format, then cost), so the output is repeatable.
    for strength, count in sorted(
        known.items(), key=lambda item: (-item[1], str(item[0].format), str(item[0].cost))
    ):
        share = f"{count} of {total}"
        if strength.weak:
            reasons = ", ".join(strength.reasons)
            yield Check("WARN", name, f"{_label(strength)}: {share}, weak ({reasons})", fix)
        else:
            yield Check("OK", name, f"{_label(strength)}: {share}")
    if unrecognised:
        yield Check(
            "WARN",
            name,
            f"unrecognised format: {unrecognised} of {total}; these users cannot sign in",
            "see README 'Passwords' for the supported formats",
        )
    if no_password:
        yield Check(
            "OK",
            name,
            f"no password (empty or `!`-prefixed, e.g. social-login accounts): "
            f"{no_password} of {total}; these users cannot sign in with a password",
        )


def check_identity_invariant(settings: Settings, directory: UserDirectory) -> Iterator[Check]:
    """One user, one ERID, on the live data: the identity map, then the merchant table."""
    name = "identity map"
    engine = make_engine(settings.database_url)
    try:
        if _missing_sqlite_file(settings.database_url) or current_version(engine) != HEAD:
            yield Check("WARN", name, "not checked: the bridge database is not ready (see above)")
        else:

            def canonical_key(key: str) -> str | None:
                user = directory.find_by_key(key)
                return None if user is None else user.key

            total, findings = identity_map_findings(engine, canonical_key)
            for finding in findings:
                yield Check(
                    "FAIL",
                    name,
                    finding.describe(),
                    "each user must have exactly one ERID: decide which one DR knows and "
                    "contact support before changing anything",
                )
            if not findings:
                yield Check(
                    "OK",
                    name,
                    f"{total} identities: one ERID per user key, one user key per ERID "
                    "(also ignoring case), no two keys for one directory user",
                )
    except (SQLAlchemyError, DirectoryUnavailable) as exc:
        yield Check("FAIL", name, f"cannot check the identity map ({_why(exc)})")
    finally:
        engine.dispose()
    yield from _check_merchant_accounts(settings, directory)


def _check_merchant_accounts(settings: Settings, directory: UserDirectory) -> Iterator[Check]:
    name = "merchant accounts"
    if not isinstance(directory, SqlUserDirectory):
        yield Check("OK", name, "not applicable: the login API keeps the accounts")
        return
    try:
        emails, logins = merchant_findings(directory.engine, settings.directory)
    except SQLAlchemyError as exc:
        # WARN: a mapping that cannot be read already FAILs the user query above.
        yield Check("WARN", name, f"not checked: cannot read the user table ({_why(exc)})")
        return
    if emails.groups:
        yield Check(
            "FAIL",
            name,
            emails.describe(),
            "one email, one account: merge or retire the extra accounts in the merchant's system",
        )
    for finding in logins:
        yield Check(
            "WARN",
            name,
            finding.describe(),
            "these logins cannot sign in: make the login columns unique (case-insensitively)",
        )
    if not emails.groups and not logins:
        yield Check("OK", name, "no email with several accounts, no ambiguous login")


def check_cache(settings: Settings) -> Iterator[Check]:
    name = "redis"
    if not settings.redis_url:
        yield Check(
            "WARN",
            name,
            "no SSO_BRIDGE_REDIS_URL: in-process cache, fine for one process only",
            "set SSO_BRIDGE_REDIS_URL for several workers or replicas",
        )
        return
    where = _safe_url(settings.redis_url)
    store = RedisStore.from_url(
        settings.redis_url, prefix=settings.redis_key_prefix, timeout=settings.redis_timeout
    )
    key = "doctor:probe"
    started = time.monotonic()
    try:
        store.set(key, b"1", 10)
        round_trip = store.get(key) == b"1"
        store.delete(key)
    except StoreUnavailable as exc:
        yield Check(
            "FAIL",
            name,
            f"{where} unreachable ({exc})",
            "check SSO_BRIDGE_REDIS_URL, the server, SSO_BRIDGE_REDIS_TIMEOUT",
        )
        return
    finally:
        store.client.close()
    elapsed = (time.monotonic() - started) * 1000
    if not round_trip:
        yield Check("FAIL", name, f"{where} does not keep what is written", "a read-only replica?")
        return
    yield Check("OK", name, f"{where} reachable, write/read/delete in {elapsed:.1f} ms")
    if settings.redis_local_cache_size > 0:
        yield _check_tracking(settings, where)


def _check_tracking(settings: Settings, where: str) -> Check:
    """The worker-local token cache needs Redis to push invalidations (CLIENT TRACKING); a Redis
    that refuses it (older than 6, a proxy, an ACL) leaves every cache hit a round trip."""
    name = "local token cache"
    store = RedisStore.from_url(
        settings.redis_url or "",
        prefix=settings.redis_key_prefix,
        timeout=settings.redis_timeout,
        local_cache_size=1,
    )
    try:
        with contextlib.suppress(StoreUnavailable):
            store.get("tok:doctor")  # starts the tracking connection
        cache = store.local_cache
        give_up = time.monotonic() + max(2.0, 4 * settings.redis_timeout)
        while cache is not None and not cache.enabled and time.monotonic() < give_up:
            time.sleep(0.02)
        if cache is not None and cache.enabled:
            return Check("OK", name, f"{where} pushes invalidations (CLIENT TRACKING)")
        return Check(
            "WARN",
            name,
            f"{where} did not accept CLIENT TRACKING: every token cache hit asks Redis",
            "use Redis 6 or later without a proxy or ACL that blocks CLIENT TRACKING, or set "
            "SSO_BRIDGE_REDIS_LOCAL_CACHE_SIZE=0",
        )
    finally:
        store.close()


def check_digital_river(settings: Settings) -> Iterator[Check]:
    name = "digital river"
    if not (settings.dr_api_key and settings.dr_api_secret):
        yield Check(
            "WARN",
            name,
            "no DR credentials: /v1/tokens is disabled",
            "set SSO_BRIDGE_DR_API_KEY and SSO_BRIDGE_DR_API_SECRET",
        )
        return
    from sso_bridge.services import build_dr_client

    client = build_dr_client(settings, deadline=max(settings.dr_timeout, 3.0))
    with client:
        try:
            token = client.mint_token(DOCTOR_ERID)
        except DrConfigurationError as exc:
            yield Check(
                "FAIL",
                name,
                f"test mint refused: {exc.code} (HTTP {exc.status}) at {settings.dr_base_url}",
                "check SSO_BRIDGE_DR_API_KEY and SSO_BRIDGE_DR_API_SECRET",
            )
            return
        except DrUnavailable as exc:
            yield Check(
                "FAIL",
                name,
                f"test mint failed: {exc.code} at {settings.dr_base_url}",
                "check SSO_BRIDGE_DR_BASE_URL and outbound network access",
            )
            return
        except DrError as exc:
            status = f"HTTP {exc.status}" if exc.status is not None else "no response"
            yield Check("FAIL", name, f"test mint failed: {exc.code} ({status})")
            return
        yield Check(
            "OK",
            name,
            f"test mint for ERID {DOCTOR_ERID!r}: {token.token_type} token, "
            f"expires_in {token.expires_in} s",
        )
        try:
            client.revoke_token(token.access_token)
        except DrError as exc:
            yield Check(
                "WARN",
                name,
                f"the test token could not be revoked ({exc.code}); it expires by itself",
            )


# --- running --------------------------------------------------------------------------------


def run_checks(settings: Settings, canary: str | None) -> Iterator[Check]:
    from sso_bridge.services import build_directory

    yield from check_configuration(settings)
    yield from check_bridge_database(settings)
    directory = build_directory(settings)
    try:
        yield from check_directory(settings, directory)
        yield from check_user_query(directory, canary)
        yield from check_hash_formats(settings, directory)
        yield from check_identity_invariant(settings, directory)
    finally:
        close: Callable[[], None] | None = getattr(directory, "close", None)
        if isinstance(directory, SqlUserDirectory):
            directory.engine.dispose()
        elif close is not None:
            close()
    yield from check_cache(settings)
    yield from check_digital_river(settings)


def run_doctor(
    echo: Callable[[str], None],
    *,
    canary: str | None = None,
    raw: Mapping[str, Any] | None = None,
) -> int:
    """Print one line per check through ``echo``; the exit status (0: no FAIL, 1: some FAIL)."""
    try:
        settings = load_settings(raw)
    except SettingsError as exc:
        for problem in exc.problems:
            echo(Check("FAIL", "configuration", problem).line())
        echo("doctor: configuration invalid, nothing else checked")
        return 1
    secrets = _secrets(settings)
    counts: Counter[str] = Counter()
    for check in run_checks(settings, canary):
        counts[check.verdict] += 1
        line = check.line()
        for secret in secrets:
            line = line.replace(secret, "[redacted]")
        echo(line)
    echo(f"doctor: {counts['OK']} OK, {counts['WARN']} WARN, {counts['FAIL']} FAIL")
    return 1 if counts["FAIL"] else 0
