"""The simulator's memory: tokens, shoppers, authorizations, counters and injected faults.

One `SimulatorState` per app, guarded by one lock because the simulator runs under threaded
servers. It lives in one process: run the simulator with a single worker, or the tokens minted by
one process are unknown to the others and the stats only cover one of them.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .config import SimPurchasePlan, SimulatorConfig, SimulatorQuirks

#: The kinds of DR calls counted in ``/_sim/stats``.
CALL_KINDS = (
    "token",
    "app_token",
    "token_inspect",
    "token_revoke",
    "shopper_create",
    "shopper_update",
    "shopper_get",
    "plan_search",
    "plan_authorize",
)

_PURGE_THRESHOLD = 10_000


@dataclass
class TokenRecord:
    external_reference_id: str | None  # None: the application's own token, no shopper behind it
    session_token: str | None
    expires_at: float
    session_id: str
    authorized_plans: set[str] = field(default_factory=set)

    def expires_in(self, now: float | None = None) -> int:
        return max(0, int(self.expires_at - (time.time() if now is None else now)))


@dataclass
class ShopperRecord:
    id: str
    external_reference_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    locale: str = "en_US"
    currency: str = "USD"


@dataclass(frozen=True)
class Faults:
    """Injected misbehaviour, applied to DR calls (never to ``/_sim``).

    ``latency_ms`` delays each affected call; ``hang`` holds it for that many seconds (``true``:
    the configured maximum) before answering; ``status`` forces an error answer (with ``code`` or
    the usual code for that status, and a ``Retry-After`` of ``retry_after`` seconds when given);
    otherwise ``error_rate`` is the fraction of affected calls answering 500 or 503. ``calls``
    limits how many calls are affected (None: all) and ``paths`` which (path prefixes; empty: all).
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None
    hang: float = 0.0
    calls: int | None = None
    paths: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: object, *, max_hang: float) -> Faults:
        """Validated faults from a ``POST /_sim/faults`` body (raises `ValueError`)."""
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key in ("latency_ms", "error_rate", "retry_after"):
            if data.get(key) is not None:
                values[key] = _number(data[key], key, minimum=0.0)
        if values.get("error_rate", 0.0) > 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        hang = data.get("hang")
        if hang is True:
            values["hang"] = max_hang
        elif hang not in (None, False):
            values["hang"] = min(_number(hang, "hang", minimum=0.0), max_hang)
        status = data.get("status")
        if status is not None:
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
                raise ValueError("status must be an HTTP error status (400-599)")
            values["status"] = status
        code = data.get("code")
        if code is not None:
            if not isinstance(code, str) or not code:
                raise ValueError("code must be a non-empty string")
            values["code"] = code
        calls = data.get("calls")
        if calls is not None:
            if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
                raise ValueError("calls must be a non-negative integer or null")
            values["calls"] = calls
        paths = data.get("paths")
        if paths is not None:
            if isinstance(paths, str):
                paths = [paths]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise ValueError("paths must be a list of path prefixes")
            values["paths"] = tuple(paths)
        return cls(**values)

    def to_json(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "status": self.status,
            "code": self.code,
            "retry_after": self.retry_after,
            "hang": self.hang,
            "calls": self.calls,
            "paths": list(self.paths),
        }

    def applies_to(self, path: str) -> bool:
        if self.calls is not None and self.calls <= 0:
            return False
        if self.paths and not any(path.startswith(prefix) for prefix in self.paths):
            return False
        return bool(self.latency_ms or self.error_rate or self.status or self.hang)


def _number(value: object, name: str, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum:g}")
    return float(value)


@dataclass(frozen=True)
class FaultAction:
    """What one call suffers: a delay, then possibly a forced error answer."""

    delay: float
    status: int | None
    code: str | None
    retry_after: float | None


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)
        self._wake = threading.Event()
        self._reset_locked()

    def _reset_locked(self) -> None:
        self.quirks: SimulatorQuirks = self.config.quirks
        self.faults = Faults()
        self._tokens: dict[str, TokenRecord] = {}
        self._shoppers: dict[str, ShopperRecord] = {}
        self._authorizations: list[dict[str, object]] = []
        self._calls: Counter[str] = Counter({kind: 0 for kind in CALL_KINDS})
        self._mints: Counter[str] = Counter()
        self._faults_applied = 0
        self._rate_limited = 0
        self._next_shopper_id = 1_000_000_001
        self._bucket = self.config.rate_limit or 0.0
        self._bucket_updated = time.monotonic()

    # ----------------------------------------------------------------- admin

    def reset(self) -> None:
        """Forget everything (tokens, shoppers, stats) and clear faults and runtime quirks."""
        with self._lock:
            self._reset_locked()
        self.wake_sleepers()

    def wake_sleepers(self) -> None:
        """End every injected delay now (reset, shutdown)."""
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults

    def set_quirks(self, quirks: SimulatorQuirks) -> None:
        with self._lock:
            self.quirks = quirks

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                "calls": dict(self._calls),
                "mints_by_erid": dict(self._mints),
                "shoppers": len(self._shoppers),
                "authorizations": [dict(entry) for entry in self._authorizations],
                "active_tokens": sum(1 for r in self._tokens.values() if r.expires_in() > 0),
                "faults_applied": self._faults_applied,
                "rate_limited": self._rate_limited,
            }

    # ----------------------------------------------------------------- per call

    def count(self, kind: str) -> None:
        with self._lock:
            self._calls[kind] += 1

    def take_rate_slot(self) -> bool:
        """False when DR's per-key rate limit (if configured) is exceeded."""
        rate = self.config.rate_limit
        if rate is None:
            return True
        with self._lock:
            now = time.monotonic()
            self._bucket = min(rate, self._bucket + (now - self._bucket_updated) * rate)
            self._bucket_updated = now
            if self._bucket >= 1.0:
                self._bucket -= 1.0
                return True
            self._rate_limited += 1
            return False

    def take_fault(self, path: str) -> FaultAction | None:
        with self._lock:
            faults = self.faults
            if not faults.applies_to(path):
                return None
            if faults.calls is not None:
                self.faults = replace(faults, calls=faults.calls - 1)
            self._faults_applied += 1
            status = faults.status
            if status is None and faults.error_rate and self._random.random() < faults.error_rate:
                status = self._random.choice((500, 503))
            return FaultAction(
                delay=faults.latency_ms / 1000.0 + faults.hang,
                status=status,
                code=faults.code if faults.status is not None else None,
                retry_after=faults.retry_after,
            )

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake early on reset or shutdown."""
        if seconds <= 0:
            return
        with self._lock:
            event = self._wake
        event.wait(seconds)

    # ----------------------------------------------------------------- tokens

    def mint(self, erid: str | None, session_token: str | None) -> tuple[str, str, TokenRecord]:
        """A new ``(access_token, refresh_token, record)`` for the ERID (None: an application
        token, counted in ``calls["app_token"]`` but not in ``mints_by_erid``)."""
        access_token = secrets.token_urlsafe(32)
        refresh_token = secrets.token_urlsafe(32)
        now = time.time()
        record = TokenRecord(
            external_reference_id=erid,
            session_token=session_token,
            expires_at=now + self.config.token_lifetime,
            session_id=secrets.token_hex(16),
        )
        with self._lock:
            if len(self._tokens) >= _PURGE_THRESHOLD:
                self._tokens = {t: r for t, r in self._tokens.items() if r.expires_at > now}
            self._tokens[access_token] = record
            if erid is not None:
                self._mints[erid] += 1
        return access_token, refresh_token, record

    def lookup(self, access_token: str) -> TokenRecord | None:
        """The record of a live token; None if unknown, revoked or expired."""
        with self._lock:
            record = self._tokens.get(access_token)
            if record is None:
                return None
            if record.expires_at <= time.time():
                del self._tokens[access_token]
                return None
            return record

    def revoke(self, access_token: str) -> bool:
        with self._lock:
            return self._tokens.pop(access_token, None) is not None

    # ----------------------------------------------------------------- shoppers

    def create_shopper(self, erid: str, fields: Mapping[str, str]) -> ShopperRecord | None:
        """The new shopper, or None if one with this ERID exists."""
        with self._lock:
            if erid in self._shoppers:
                return None
            record = ShopperRecord(id=str(self._next_shopper_id), external_reference_id=erid)
            self._next_shopper_id += 1
            _apply_shopper_fields(record, fields)
            self._shoppers[erid] = record
            return replace(record)

    def update_shopper(self, erid: str, fields: Mapping[str, str]) -> bool:
        with self._lock:
            record = self._shoppers.get(erid)
            if record is None:
                return False
            _apply_shopper_fields(record, fields)
            return True

    def get_shopper(self, erid: str) -> ShopperRecord | None:
        with self._lock:
            record = self._shoppers.get(erid)
            return None if record is None else replace(record)

    # ----------------------------------------------------------------- private stores

    def search_plans(self, rules: Mapping[str, str]) -> list[SimPurchasePlan]:
        return [plan for plan in self.config.purchase_plans if plan.matches_any(rules)]

    def find_plan(self, plan_id: str) -> SimPurchasePlan | None:
        return next((p for p in self.config.purchase_plans if p.id == plan_id), None)

    def record_authorization(
        self, record: TokenRecord, plan: SimPurchasePlan, rule: Mapping[str, str]
    ) -> None:
        with self._lock:
            record.authorized_plans.add(plan.id)
            self._authorizations.append(
                {
                    "erid": record.external_reference_id,
                    "session_id": record.session_id,
                    "plan_id": plan.id,
                    "target_market_id": plan.target_market_id,
                    "rule": dict(rule),
                }
            )


def _apply_shopper_fields(record: ShopperRecord, fields: Mapping[str, str]) -> None:
    if "firstName" in fields:
        record.first_name = fields["firstName"]
    if "lastName" in fields:
        record.last_name = fields["lastName"]
    if "emailAddress" in fields:
        record.email = fields["emailAddress"]
    if "locale" in fields:
        record.locale = fields["locale"]
    if "currency" in fields:
        record.currency = fields["currency"]
