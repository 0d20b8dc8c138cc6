"""HttpUserDirectory: the merchant's users behind a login API of its own, over HTTP.

For merchants whose accounts live behind a service rather than in a table the bridge may read,
the bridge speaks a small, plain JSON contract that the merchant implements
(``SSO_BRIDGE_DIRECTORY__BACKEND=http``, ``__API_URL`` = ``{base}`` below)::

    POST {base}/authenticate      {"login": "...", "password": "..."}
        200 {"user": {...}}       the password is right (also for an inactive account: say so
                                  with "active": false, the bridge answers "User not active")
        401 or 404                wrong password, or no such login: the same answer for both
        409                       several accounts match the login (the bridge refuses it)
    GET  {base}/users/{key}       200 {"user": {...}} | 404
    GET  {base}/users?login=...   200 {"user": {...}} | 404 | 409 (several accounts match)
    GET  {base}/users?email=...   200 {"user": {...}} | 404
    POST {base}/users             {"login", "email", "password", "firstName", "lastName",
                                   "phone", "locale"}  (absent values are null)
        201 {"user": {...}}       created; the API hashes the password itself
        409                       the email (or login) already belongs to an account

    user object: {"key": "42", "login": "ann@example.com", "email": "ann@example.com",
                  "firstName": "Ann", "lastName": "Lee", "phone": null, "locale": "en_US",
                  "active": true}
    ("key" is required and never changes; a number is taken as its decimal text; a user found
    by a login keeps the login as it was asked (as the SQL backend does), else "login" is used,
    then the email; "active" defaults to true; other fields may be null or absent.)

Logins are matched as the merchant's own site matches them (case, several login columns): that
is the API's business. Every request carries the configured credentials: ``__API_TOKEN`` as
``Authorization: Bearer <token>``, or ``__API_USERNAME``/``__API_PASSWORD`` as HTTP Basic. A
401 or 403 to a ``GET`` (which carries no shopper password), or a 403 to a ``POST``, means the
API refused the bridge's own credentials.

Timing is the API's job: ``POST /authenticate`` must take as long for an unknown login as for a
known one with a wrong password (verify against a dummy hash of the usual cost, as the bridge's
SQL backend does), since the bridge cannot see the difference to even it out. Accordingly
`HttpUserDirectory.dummy_verify` does nothing, and `verify_password` is a call to
``/authenticate`` with the user's login.

Transport: one pooled `requests.Session` per process (no cookies kept), a connect and a read
timeout on every call (``__API_TIMEOUT``, default 2 s), and no retries at all: a login ``POST``
must never be sent twice, and DR retries a RUM call that failed. Timeouts, connection errors, 5xx,
a refusal of the bridge's credentials and answers outside this contract raise
`DirectoryUnavailable`, which the RUM endpoint answers with 503 in DR's error format, writing
nothing. Passwords, the token and the Basic password are never logged nor put in an exception
message; log lines carry the method, the path template (no login, email or key), the status and
the elapsed time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
import requests.auth

from sso_bridge.directory.base import (
    AmbiguousLogin,
    DirectoryUnavailable,
    DirectoryUser,
    EmailTaken,
    NewUser,
    is_truthy,
)
from sso_bridge.outbound import install_log_redaction, pooled_session
from sso_bridge.settings import DirectorySettings

log = logging.getLogger(__name__)

# ping asks for a login no account should have: 200 or 404 both prove the API answers us.
_PING_LOGIN = "sso-bridge-ping@invalid"


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _text(value: object) -> str | None:
    if value is None or isinstance(value, Mapping | list | bool):
        return None
    text = str(value)
    return text or None


def _active(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool | int):
        return bool(value)
    return is_truthy(value)


def parse_user(body: object, *, login: str | None = None) -> DirectoryUser:
    """The user of a ``{"user": {...}}`` answer; ValueError when it breaks the contract."""
    if not isinstance(body, Mapping) or not isinstance(body.get("user"), Mapping):
        raise ValueError('answer is not {"user": {...}}')
    user: Mapping[str, Any] = body["user"]
    key = _text(user.get("key"))
    if key is None:
        raise ValueError("user has no key")
    email = _text(user.get("email"))
    return DirectoryUser(
        key=key,
        # As the SQL backend does: a user found by a login is known by that login, as typed.
        login=login or _text(user.get("login")) or email or key,
        email=email,
        first_name=_text(user.get("firstName")),
        last_name=_text(user.get("lastName")),
        phone=_text(user.get("phone")),
        locale=_text(user.get("locale")),
        active=_active(user.get("active")),
    )


class HttpUserDirectory:
    """`UserDirectory` over the merchant login API described in this module's docstring."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 2.0,
        connect_timeout: float | None = None,
        session: requests.Session | None = None,
        pool_maxsize: int = 32,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout or min(1.0, timeout), timeout)
        self._auth: requests.auth.AuthBase | None = None
        if token:
            self._auth = _Bearer(token)
        elif username and password:
            self._auth = requests.auth.HTTPBasicAuth(username, password)
        if session is None:
            # No automatic retries: a login POST is never replayed behind the caller's back.
            session = pooled_session(pool_connections=1, pool_maxsize=pool_maxsize)
        self._session = session
        install_log_redaction()

    @classmethod
    def from_settings(cls, settings: DirectorySettings) -> HttpUserDirectory:
        return cls(
            base_url=settings.api_url or "",
            token=settings.api_token,
            username=settings.api_username,
            password=settings.api_password,
            timeout=settings.api_timeout,
        )

    def __repr__(self) -> str:
        return f"HttpUserDirectory(base_url={self._base_url!r})"

    # --- transport --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> requests.Response:
        """One request, no retry. ``template`` (e.g. ``/users/{key}``) is what gets logged."""
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self._base_url + path,
                params=params,
                json=body,
                auth=self._auth,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection error"
            log.warning("login API %s %s: %s", method, template, type(exc).__name__)
            # Not chained: the exception text holds the URL, whose query carries a login.
            raise DirectoryUnavailable(f"login API {kind}: {type(exc).__name__}") from None
        status = response.status_code
        log.debug(
            "login API %s %s -> %d in %.1f ms",
            method,
            template,
            status,
            (time.monotonic() - started) * 1000,
        )
        if status >= 500:
            raise DirectoryUnavailable(f"login API answered HTTP {status}")
        refused = status == 403 or (status == 401 and method == "GET")
        if refused:
            log.error(
                "login API refused the bridge's credentials (HTTP %d): check "
                "SSO_BRIDGE_DIRECTORY__API_TOKEN or __API_USERNAME/__API_PASSWORD",
                status,
            )
            raise DirectoryUnavailable(f"login API refused the bridge's credentials ({status})")
        return response

    def _user(self, response: requests.Response, *, login: str | None = None) -> DirectoryUser:
        try:
            return parse_user(response.json(), login=login)
        except ValueError as exc:  # includes a body that is not JSON
            log.warning("login API answer outside the contract: %s", exc)
            raise DirectoryUnavailable(f"login API answer outside the contract: {exc}") from None

    @staticmethod
    def _unexpected(method: str, template: str, status: int) -> DirectoryUnavailable:
        log.warning(
            "login API %s %s answered HTTP %d, outside the contract", method, template, status
        )
        return DirectoryUnavailable(f"login API {method} {template} answered HTTP {status}")

    def _lookup(
        self,
        template: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        login: str | None = None,
    ) -> DirectoryUser | None:
        response = self._call("GET", template, path, params=params)
        if response.status_code == 200:
            return self._user(response, login=login)
        if response.status_code == 404:
            return None
        if response.status_code == 409:
            raise AmbiguousLogin("the login API reports several matching accounts")
        raise self._unexpected("GET", template, response.status_code)

    # --- UserDirectory ----------------------------------------------------------------------

    def authenticate(self, login: str, password: str) -> DirectoryUser | None:
        login = login.strip()
        if not login:
            return None
        response = self._call(
            "POST", "/authenticate", "/authenticate", body={"login": login, "password": password}
        )
        status = response.status_code
        if status == 200:
            return self._user(response, login=login)
        if status in (401, 404):
            return None
        if status == 409:
            raise AmbiguousLogin("the login API reports several matching accounts")
        raise self._unexpected("POST", "/authenticate", status)

    def find_by_login(self, login: str) -> DirectoryUser | None:
        login = login.strip()
        if not login:
            return None
        return self._lookup("/users?login=", "/users", {"login": login}, login=login)

    def find_by_key(self, key: str) -> DirectoryUser | None:
        if not key:
            return None
        return self._lookup("/users/{key}", "/users/" + quote(key, safe=""))

    def find_by_email(self, email: str) -> DirectoryUser | None:
        email = email.strip()
        if not email:
            return None
        try:
            return self._lookup("/users?email=", "/users", {"email": email})
        except AmbiguousLogin:
            # The contract has no 409 here; an API that sends one cannot say which account.
            raise self._unexpected("GET", "/users?email=", 409) from None

    def create_user(
        self, new_user: NewUser, *, before_commit: Callable[[], None] | None = None
    ) -> DirectoryUser:
        if before_commit is not None:
            # The API commits on its side: the last moment the bridge controls is before it
            # posts (sso_bridge/registrations.py says what that means for the lease).
            before_commit()
        body = {
            "login": new_user.login or new_user.email,
            "email": new_user.email,
            "password": new_user.password,
            "firstName": new_user.first_name,
            "lastName": new_user.last_name,
            "phone": new_user.phone,
            "locale": new_user.locale,
        }
        response = self._call("POST", "/users", "/users", body=body)
        if response.status_code in (200, 201):
            return self._user(response, login=body["login"])
        if response.status_code == 409:
            raise EmailTaken()
        raise self._unexpected("POST", "/users", response.status_code)

    def verify_password(self, user: DirectoryUser, password: str) -> bool:
        """The API checks it: /authenticate with the user's login must name this same user."""
        found = self.authenticate(user.login, password)
        return found is not None and found.key == user.key

    def dummy_verify(self, password: str) -> None:
        """Nothing to spend here: the API equalises its own timing (see the module docstring)."""

    def ping(self) -> None:
        """The API answers the bridge, with its credentials accepted (200 or 404 to a lookup)."""
        response = self._call("GET", "/users?login=", "/users", params={"login": _PING_LOGIN})
        if response.status_code not in (200, 404):
            raise self._unexpected("GET", "/users?login=", response.status_code)

    def close(self) -> None:
        self._session.close()
