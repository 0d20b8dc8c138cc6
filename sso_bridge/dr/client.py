"""`CommerceClient`: the calls the bridge makes to Digital River's Commerce API, over HTTP.

Every call has a connect and a read timeout and runs inside a deadline that also bounds its retries
and waits. Transient failures (connection errors, timeouts, 5xx) are retried with capped exponential
backoff and full jitter; rate limiting (429, or ``rate-limit-quota-exceeded`` with any status) waits
for ``Retry-After`` when that fits in the deadline; every other 4xx is final.

Exceptions (each carries ``status``, ``code``, ``description`` and ``retry_after``)::

    DrError                      any failed call; other 4xx (e.g. 400 invalid-request, 404), or a
    |                            2xx answer that cannot be understood (code ``invalid-response``)
    +-- DrUnavailable            timeouts, connection errors, 5xx after retries, deadline exceeded
    +-- DrRateLimited            429 / rate-limit-quota-exceeded that did not clear within the
    |                            deadline, or the client-side limiter could not admit the call
    |                            in time
    +-- DrConfigurationError     ``invalid_client``: wrong API key or secret (never retried)
    +-- DrConflict               409 (``...-already-exists``), e.g. the shopper exists

Secrets never leave this module in a log line or an exception message: the API secret, the
``Authorization`` header and access tokens are not logged (DEBUG lines carry the method, the path
without its query, the status, the elapsed time and the attempt number), and error descriptions
received from DR are scrubbed of the token and secret used for the call.

The parsers (`parse_token`, `parse_error`, `parse_shopper`, `parse_purchase_plans`) accept DR's
documented quirks: ``expires_in`` as a string, ``{"token": {...}}`` wrapping, a single object where
a list is expected, and keys in any case. They raise `ValueError` on bodies they cannot use.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Protocol, TypeAlias

import requests
import requests.auth

# Authlib is used for what it is good at: the RFC 6749 token request body and client_secret_basic
# client authentication (a requests `AuthBase`), and bearer signing. Its `OAuth2Session.fetch_token`
# is not used: it has no deadline/retry policy, parses only RFC 6749 error bodies, and rejects DR's
# quirks (`{"token": {...}}` wrapping, string `expires_in`). The HTTP exchange is ours.
from authlib.oauth2.auth import ClientAuth, TokenAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from sso_bridge.outbound import REDACTED as _REDACTED
from sso_bridge.outbound import install_log_redaction, pooled_session

__all__ = [
    "CommerceClient",
    "DrConfigurationError",
    "DrConflict",
    "DrError",
    "DrRateLimited",
    "DrToken",
    "DrUnavailable",
    "PurchasePlan",
    "RateLimiter",
    "Shopper",
    "TokenBucket",
    "parse_error",
    "parse_purchase_plans",
    "parse_retry_after",
    "parse_shopper",
    "parse_token",
]

log = logging.getLogger(__name__)

RATE_LIMIT_CODE = "rate-limit-quota-exceeded"
INVALID_CLIENT = "invalid_client"
_MAX_ERROR_DESCRIPTION = 300

_DEFAULT_CODES: dict[int, str] = {
    400: "invalid-request",
    401: "invalid_token",
    403: "forbidden",
    404: "resource-not-found",
    405: "method-not-allowed",
    409: "resource-already-exists",
    412: "precondition-failed",
    413: "payload-too-large",
    429: RATE_LIMIT_CODE,
}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DrToken:
    """A full-access shopper token as DR issued it (``expires_in`` in seconds, as received)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PurchasePlan:
    id: str
    target_market_id: str | None
    name: str | None
    authentication_required: bool


@dataclass(frozen=True)
class Shopper:
    external_reference_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


# --------------------------------------------------------------------------- errors


class DrError(Exception):
    """A Digital River call failed. The message never contains secrets or tokens."""

    code: str = "dr-error"
    description: str = "the Digital River call failed"

    def __init__(
        self,
        description: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if description is not None:
            self.description = description
        self.status = status
        self.retry_after = retry_after
        super().__init__(self._message())

    def _message(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"{self.code} ({status}): {self.description}"
        if self.retry_after is not None:
            text += f" [retry after {self.retry_after:g} s]"
        return text


class DrUnavailable(DrError):
    code = "unavailable"
    description = "Digital River did not answer in time"


class DrRateLimited(DrError):
    code = RATE_LIMIT_CODE
    description = "Digital River's rate limit was reached"


class DrConfigurationError(DrError):
    code = INVALID_CLIENT
    description = "Digital River rejected the API key or secret"


class DrConflict(DrError):
    code = "resource-already-exists"
    description = "the resource already exists at Digital River"


def classify_error(
    status: int, code: str, description: str, retry_after: float | None = None
) -> DrError:
    """The exception for an HTTP error answer (``code`` as parsed by `parse_error`)."""
    kind: type[DrError]
    if code == INVALID_CLIENT:
        kind = DrConfigurationError
    elif status == 429 or code == RATE_LIMIT_CODE:
        kind = DrRateLimited
    elif status == 409:
        # DR documents no special error for a duplicate: any other 409 means "exists".
        kind = DrConflict
    elif status >= 500:
        kind = DrUnavailable
    else:
        kind = DrError
    return kind(description, code=code, status=status, retry_after=retry_after)


# --------------------------------------------------------------------------- parsers


def _lower_keys(value: object) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    return {str(key).lower(): item for key, item in value.items()}


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if math.isfinite(number) else None
    return None


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "y"}
    return bool(value)


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, (Mapping, list)):
        return None
    text = str(value)
    return text if text else None


def parse_token(body: object) -> DrToken:
    """A token from a token endpoint answer, plain or wrapped in ``{"token": {...}}``."""
    data = _lower_keys(body)
    if data is None:
        raise ValueError("token answer is not a JSON object")
    if "access_token" not in data:
        inner = _lower_keys(data.get("token"))
        if inner is not None:
            data = inner
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ValueError("token answer has no access_token")
    expires_in = _as_int(data.get("expires_in"))
    if expires_in is None:
        raise ValueError("token answer has no usable expires_in")
    refresh_token = data.get("refresh_token")
    return DrToken(
        access_token=access_token,
        token_type=_as_text(data.get("token_type")) or "bearer",
        expires_in=max(0, expires_in),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
    )


def parse_error(status: int, body: object) -> tuple[str, str]:
    """``(code, description)`` from an RFC 6749 or a Shopper API error body, or from the status."""
    code: str | None = None
    description: str | None = None
    data = _lower_keys(body)
    if data is not None:
        entry: object = None
        errors = _lower_keys(data.get("errors"))
        if errors is not None:
            entry = errors.get("error")
        elif isinstance(data.get("error"), (Mapping, list)):
            entry = data.get("error")
        if isinstance(entry, list):
            entry = entry[0] if entry else None
        fields = _lower_keys(entry)
        if fields is not None:
            code = _as_text(fields.get("code"))
            description = _as_text(fields.get("description")) or _as_text(fields.get("message"))
        elif isinstance(data.get("error"), str):
            code = data["error"] or None
            description = _as_text(data.get("error_description"))
    if code is None:
        code = _DEFAULT_CODES.get(status, "system-error" if status >= 500 else "http-error")
    if description is None:
        description = f"HTTP {status}"
    return code, description[:_MAX_ERROR_DESCRIPTION]


def parse_shopper(body: object) -> Shopper:
    """A shopper from ``{"shopper": {...}}`` (or the bare object), keys in any case."""
    data = _lower_keys(body)
    if data is None:
        raise ValueError("shopper answer is not a JSON object")
    inner = _lower_keys(data.get("shopper"))
    if inner is not None:
        data = inner
    return Shopper(
        external_reference_id=_as_text(data.get("externalreferenceid")),
        first_name=_as_text(data.get("firstname")),
        last_name=_as_text(data.get("lastname")),
        email=_as_text(data.get("emailaddress")) or _as_text(data.get("email")),
    )


def parse_purchase_plans(body: object) -> list[PurchasePlan]:
    """Plans from a search answer: a list or a single object, keys in any case."""
    data = _lower_keys(body)
    if data is None:
        raise ValueError("purchase plan answer is not a JSON object")
    outer = _lower_keys(data.get("purchaseplans"))
    if outer is not None:
        data = outer
    raw = data.get("purchaseplan")
    items: list[object]
    if raw is None:
        items = []
    elif isinstance(raw, list):
        items = list(raw)
    else:
        items = [raw]
    plans: list[PurchasePlan] = []
    for item in items:
        fields = _lower_keys(item)
        if fields is None:
            raise ValueError("purchase plan entry is not a JSON object")
        plan_id = _as_text(fields.get("id"))
        if plan_id is None:
            raise ValueError("purchase plan entry has no id")
        plans.append(
            PurchasePlan(
                id=plan_id,
                target_market_id=_as_text(fields.get("targetmarketid")),
                name=_as_text(fields.get("purchaseplanname")) or _as_text(fields.get("name")),
                authentication_required=_as_bool(
                    fields.get("isauthenticationrequiredtobrowse", False)
                ),
            )
        )
    return plans


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        seconds = when.timestamp() - current
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# --------------------------------------------------------------------------- rate limiting


class RateLimiter(Protocol):
    """Admits calls at a bounded rate. ``deadline`` is on the `time.monotonic` clock.

    `acquire` blocks until the call may go and returns True, or returns False at once when the
    call could not be admitted before ``deadline`` (it must never sleep past it).
    """

    def acquire(self, deadline: float) -> bool: ...


class TokenBucket:
    """In-process, thread-safe token bucket: ``rate`` calls per second, ``burst`` at most at once.

    The default ``burst`` of 1 paces calls evenly (one every ``1/rate`` s), so no one-second window
    sees more than about ``rate`` calls even if DR counts in fixed windows. A caller that has to
    wait reserves its slot before sleeping, so waiters are served in order without busy loops.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._capacity = max(1.0, burst)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self, deadline: float) -> bool:
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity, self._tokens + elapsed * self.rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
            if now + wait > deadline:
                return False
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
        return True


# --------------------------------------------------------------------------- logging hygiene


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


# --------------------------------------------------------------------------- the client

_Json: TypeAlias = object
_Params: TypeAlias = Mapping[str, str]


class _RequestsClientAuth(requests.auth.AuthBase):
    """Authlib's client authentication (``client_secret_basic``) as a requests auth hook.

    Authlib's own adapter lives in ``authlib.integrations.requests_client``, whose import pulls
    in its whole OAuth client stack (about 11 MiB per worker); the protocol part we use is this
    small class of ``authlib.oauth2.auth``.
    """

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._auth = ClientAuth(client_id, client_secret, "client_secret_basic")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url, headers, body = self._auth.prepare(
            request.method, request.url, request.headers, request.body
        )
        request.url = url
        request.headers.update(headers)
        request.body = body
        return request


class _RequestsBearerAuth(requests.auth.AuthBase):
    """Authlib's bearer token placement as a requests auth hook (see `_RequestsClientAuth`)."""

    def __init__(self, access_token: str) -> None:
        self._auth = TokenAuth({"access_token": access_token, "token_type": "bearer"})

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.url, headers, request.body = self._auth.prepare(
            request.url, request.headers, request.body
        )
        request.headers.update(headers)
        return request


class CommerceClient:
    """Digital River Commerce API client (tokens, shoppers, private stores).

    Thread-safe: one instance per process, shared by all threads; it keeps a pooled
    `requests.Session` that stores no cookies, since it serves every shopper (pass ``session`` to
    supply your own: it is then used as is, and not closed by `close`).

    Time limits: ``connect_timeout`` and ``read_timeout`` bound each attempt, ``deadline`` (seconds,
    overridable per `mint_token` call) bounds the whole call including retries, backoff sleeps,
    ``Retry-After`` waits and waits for the rate limiter. No call outlives its deadline by more
    than scheduling noise (`requests` has no total timeout: the read timeout, capped to the time
    left, applies to each socket read, which bounds a server that hangs but not one that trickles
    a body byte by byte).

    Rate: calls go through ``rate_limiter`` (default: an in-process `TokenBucket` at
    ``max_calls_per_second``). That bucket is **per process**: with N processes (e.g. gunicorn
    workers) each allows the full rate, so configure ``max_calls_per_second / N``, or plug in a
    shared limiter (anything with ``acquire(deadline) -> bool``, e.g. one backed by Redis). Every
    attempt, retries included, takes a slot.

    Retries: connection errors, timeouts and 5xx are retried (the calls made here are idempotent,
    or, for shopper creation, answer 409 on a replay, which callers treat as "exists") with capped
    exponential backoff and full jitter (``uniform(0, min(backoff_cap, backoff_base * 2**n))``),
    at most ``max_attempts`` attempts and never past the deadline.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_secret: str,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        deadline: float = 2.0,
        max_calls_per_second: float = 10.0,
        session: requests.Session | None = None,
        rate_limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
        pool_maxsize: int = 32,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret are required")
        if min(connect_timeout, read_timeout, deadline) <= 0:
            raise ValueError("timeouts and deadline must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._limiter: RateLimiter = rate_limiter or TokenBucket(max_calls_per_second)
        self._owns_session = session is None
        if session is None:
            session = pooled_session(pool_connections=4, pool_maxsize=pool_maxsize)
        self._session = session
        self._client_auth: requests.auth.AuthBase = _RequestsClientAuth(api_key, api_secret)
        install_log_redaction()

    def __repr__(self) -> str:
        return f"CommerceClient(base_url={self._base_url!r}, api_key={self._api_key!r})"

    # ----------------------------------------------------------------- tokens

    def mint_token(
        self,
        external_reference_id: str,
        *,
        dr_session_token: str | None = None,
        deadline: float | None = None,
    ) -> DrToken:
        """A full-access token for the shopper ``external_reference_id`` (client credentials)."""
        if not external_reference_id:
            raise ValueError("external_reference_id is required")
        body: str = prepare_token_request(
            "client_credentials",
            dr_external_reference_id=external_reference_id,
            dr_session_token=dr_session_token,
        )
        status, answer = self._call(
            "POST",
            "/oauth20/token",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=self._client_auth,
            secrets=(dr_session_token or "",),
            deadline=deadline,
        )
        try:
            return parse_token(answer)
        except ValueError as exc:
            raise DrError(str(exc), code="invalid-response", status=status) from None

    def mint_app_token(self, *, deadline: float | None = None) -> DrToken:
        """A client-credentials token without a shopper (no ERID): DR accepts it where the spec
        allows "any token", e.g. the purchase-plan search, which then needs no shopper's mint."""
        body: str = prepare_token_request("client_credentials")
        status, answer = self._call(
            "POST",
            "/oauth20/token",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=self._client_auth,
            deadline=deadline,
        )
        try:
            return parse_token(answer)
        except ValueError as exc:
            raise DrError(str(exc), code="invalid-response", status=status) from None

    def inspect_token(self, access_token: str) -> dict[str, object]:
        """DR's view of a token (``externalReferenceId``, ``expiresIn``, ``sessionId``, ...)."""
        status, answer = self._call(
            "GET", "/oauth20/access-tokens", params={"token": access_token}, secrets=(access_token,)
        )
        if not isinstance(answer, dict):
            raise DrError(
                "token inspection answer is not a JSON object",
                code="invalid-response",
                status=status,
            )
        lowered = {str(key).lower(): value for key, value in answer.items()}
        inner = lowered.get("token")
        if "externalreferenceid" not in lowered and isinstance(inner, dict):
            answer = inner
        return {str(key): value for key, value in answer.items()}

    def revoke_token(self, access_token: str) -> None:
        """Revoke ``access_token`` at DR (logout, disabled account, password change)."""
        self._call("DELETE", "/oauth20/access-tokens", bearer=access_token)

    # ----------------------------------------------------------------- shoppers

    def create_shopper(
        self,
        access_token: str,
        shopper: Shopper,
        *,
        locale: str | None = None,
        currency: str | None = None,
    ) -> None:
        """Create the client-hosted shopper; raises `DrConflict` if the ERID exists."""
        payload = _shopper_payload(shopper, include_erid=True)
        if locale:
            payload["locale"] = locale
        if currency:
            payload["currency"] = currency
        self._call("POST", "/v1/shoppers", json_body={"shopper": payload}, bearer=access_token)

    def update_shopper(self, access_token: str, shopper: Shopper) -> None:
        """Update the token's shopper (the ERID is immutable and is not sent)."""
        payload = _shopper_payload(shopper, include_erid=False)
        self._call("POST", "/v1/shoppers/me", json_body={"shopper": payload}, bearer=access_token)

    def get_shopper(self, access_token: str) -> Shopper:
        """The token's shopper, expanded so that its ERID is included."""
        status, answer = self._call(
            "GET", "/v1/shoppers/me", params={"expand": "all"}, bearer=access_token
        )
        try:
            return parse_shopper(answer)
        except ValueError as exc:
            raise DrError(str(exc), code="invalid-response", status=status) from None

    # ----------------------------------------------------------------- private stores

    def search_purchase_plans(self, access_token: str, **rules: str) -> list[PurchasePlan]:
        """Plans matching any of ``rules`` (``emailDomain=``, ``emailAddress=``, ``ipAddress=``).
        Any token will do (a shopper's, or one from `mint_app_token`)."""
        if not rules:
            raise ValueError("at least one access rule is required")
        status, answer = self._call(
            "GET", "/v1/shoppers/me/purchase-plan/search", params=rules, bearer=access_token
        )
        if answer is None:
            return []
        try:
            return parse_purchase_plans(answer)
        except ValueError as exc:
            raise DrError(str(exc), code="invalid-response", status=status) from None

    def authorize_purchase_plan(
        self, access_token: str, plan_id: str, target_market_id: str | None, **rule: str
    ) -> None:
        """Authorize the token's session for a plan, proving ``rule`` (e.g. ``emailDomain=``)."""
        body: dict[str, str] = {"id": plan_id}
        if target_market_id is not None:
            body["targetMarketId"] = target_market_id
        body.update(rule)
        self._call(
            "POST",
            "/v1/shoppers/me/purchase-plan/authorize",
            json_body={"purchasePlanAuthorize": body},
            bearer=access_token,
        )

    def ping(self, timeout: float = 1.0) -> None:
        """Is DR's token endpoint reachable? Any HTTP answer below 500 counts (a GET there is
        refused by design); no credentials are sent and nothing is minted."""
        try:
            response = self._session.get(self._base_url + "/oauth20/token",
                                         timeout=(timeout, timeout), allow_redirects=False)
        except requests.RequestException as exc:
            raise DrUnavailable(type(exc).__name__) from None
        if response.status_code >= 500:
            raise DrUnavailable(status=response.status_code)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> CommerceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transport

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: _Params | None = None,
        data: str | None = None,
        json_body: _Json | None = None,
        headers: dict[str, str] | None = None,
        auth: requests.auth.AuthBase | None = None,
        bearer: str | None = None,
        secrets: tuple[str, ...] = (),
        deadline: float | None = None,
    ) -> tuple[int, _Json | None]:
        """One logical call: ``(status, JSON body or None)`` for a 2xx, else raises `DrError`."""
        start = time.monotonic()
        end = start + (self._deadline if deadline is None else deadline)
        secrets = (*secrets, self._api_secret, bearer or "")
        if bearer is not None:
            auth = _RequestsBearerAuth(bearer)
        url = self._base_url + path
        error: DrError | None = None
        attempt = 0
        while attempt < self._max_attempts:
            attempt += 1
            if not self._limiter.acquire(end):
                if error is not None:
                    raise error
                raise DrRateLimited(
                    "the client-side rate limit would not admit the call before its deadline",
                    code="client-rate-limited",
                )
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            timeout = (min(self._connect_timeout, remaining), min(self._read_timeout, remaining))
            sent = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json_body,
                    headers=headers,
                    auth=auth,
                    timeout=timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                # The exception text may hold the URL with its query (the inspected token), so it
                # is redacted and the original is not chained.
                kind = "timeout" if isinstance(exc, requests.Timeout) else "connection-error"
                log.debug(
                    "DR %s %s -> %s after %.1f ms (attempt %d)",
                    method,
                    path,
                    type(exc).__name__,
                    (time.monotonic() - sent) * 1000,
                    attempt,
                )
                error = DrUnavailable(
                    _redact(f"{type(exc).__name__}: {exc}", secrets)[:_MAX_ERROR_DESCRIPTION],
                    code=kind,
                )
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                log.debug(
                    "DR %s %s -> %d in %.1f ms (attempt %d)",
                    method,
                    path,
                    status,
                    (time.monotonic() - sent) * 1000,
                    attempt,
                )
                if 200 <= status < 300:
                    return status, self._success_body(response)
                error = self._error(response, secrets)
                if isinstance(error, DrRateLimited):
                    wait = (
                        error.retry_after
                        if error.retry_after is not None
                        else self._backoff(attempt)
                    )
                elif isinstance(error, DrUnavailable):
                    wait = self._backoff(attempt)
                else:
                    raise error
            if attempt >= self._max_attempts or time.monotonic() + wait >= end:
                raise error
            time.sleep(wait)
        if error is not None:
            raise error
        raise DrUnavailable("the call's deadline passed", code="deadline-exceeded")

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)

    @staticmethod
    def _success_body(response: requests.Response) -> _Json | None:
        if response.status_code == 204 or not response.content:
            return None
        try:
            body: object = response.json()
        except ValueError:
            raise DrError(
                "Digital River answered with a body that is not JSON",
                code="invalid-response",
                status=response.status_code,
            ) from None
        return body

    @staticmethod
    def _error(response: requests.Response, secrets: tuple[str, ...]) -> DrError:
        body: object
        try:
            body = response.json()
        except ValueError:
            body = None
        code, description = parse_error(response.status_code, body)
        return classify_error(
            response.status_code,
            code,
            _redact(description, secrets),
            parse_retry_after(response.headers.get("Retry-After")),
        )


def _shopper_payload(shopper: Shopper, *, include_erid: bool) -> dict[str, str]:
    fields = {
        "firstName": shopper.first_name,
        "lastName": shopper.last_name,
        "emailAddress": shopper.email,
    }
    if include_erid:
        if not shopper.external_reference_id:
            raise ValueError("a new shopper needs an external_reference_id")
        fields["externalReferenceId"] = shopper.external_reference_id
    return {key: value for key, value in fields.items() if value is not None}
