"""The ``/v1`` JSON API for the merchant's backend: DR tokens and SSO sessions."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Blueprint, Response, g, request

from sso_bridge.directory.base import AmbiguousLogin, DirectoryUser
from sso_bridge.dr.broker import TokenUnavailable, UserRefused
from sso_bridge.dr.client import DrError
from sso_bridge.dr.provisioning import ShopperMismatch
from sso_bridge.errors import (
    Conflict,
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from sso_bridge.services import Services, services
from sso_bridge.web import read_body, require_bearer

log = logging.getLogger(__name__)

blueprint = Blueprint("api", __name__, url_prefix="/v1")

_USER_FIELDS = ("userKey", "login", "externalReferenceId")
_SESSION_FIELDS = frozenset(_USER_FIELDS)
_TOKEN_FIELDS = frozenset({*_USER_FIELDS, "drSessionToken"})


@blueprint.before_request
def _authenticate() -> None:
    found = services()
    g.services = found  # looked up once per request
    require_bearer(found.api_keys)


def json_body(found: Services, allowed: frozenset[str]) -> dict[str, Any]:
    """The request's JSON object, refusing anything else with a clear error."""
    # Read straight from the WSGI environ and json.loads the raw body: on the cache-hit token
    # path Flask's proxies and get_json machinery cost more than our own work (hot-paths.md).
    environ = request.environ
    limit = found.settings.max_body_bytes
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if mimetype != "application/json":
        raise UnsupportedMediaType("Send a JSON object with Content-Type: application/json.")
    try:
        raw = read_body(environ, limit)  # declared or chunked: 413 over the limit, never cut
        body = json.loads(raw)
    except (ValueError, RecursionError):  # malformed, not UTF-8, or absurdly nested
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    if not body.keys() <= allowed:
        unknown = sorted(set(body) - allowed)
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
    return body


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json"
    )


def plain_text(value: str, what: str) -> str:
    """Refuse text no database can store (NUL) or encode (lone surrogates) as a bad request,
    rather than letting it reach SQL or Redis and fail there as a server error."""
    if "\x00" in value:
        raise InvalidRequest(f"{what} must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what} is not valid Unicode text.") from None
    return value


def _storable(value: str) -> bool:
    try:
        plain_text(value, "value")
    except InvalidRequest:
        return False
    return True


@dataclass(frozen=True)
class ResolvedUser:
    key: str
    erid: str
    user: DirectoryUser | None  # None when the identity map alone answered (no directory query)


def refuse_inactive(found: Services, user_key: str, erid: str | None) -> NoReturn:
    """404 for a user the directory no longer has as active, after dropping (and revoking at
    DR) their cached tokens, so that no worker or replica keeps serving them."""
    if erid is None:
        erid = found.identities.find_erid(user_key)
    if erid is not None and found.tokens is not None:
        try:
            found.tokens.revoke(erid)
        except DrError as exc:  # dropped from the cache already; only DR's side failed
            log.warning("could not revoke an inactive user's tokens at DR: %s", exc.code)
    raise NotFound("No active user matches.")


def resolve_user(found: Services, body: dict[str, Any]) -> ResolvedUser:
    """The user named by exactly one of userKey / login / externalReferenceId, with their key
    and ERID. A known key or ERID is answered from the identity map's in-process cache alone
    (the token hot path): the directory is not consulted then (``ResolvedUser.user`` is None),
    and activity is checked later: by the broker's may_serve / may_mint for a token, by the
    view for a session. A user read from the directory here is active or refused.
    """
    given = [name for name in _USER_FIELDS if body.get(name) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            "Name the user with exactly one of userKey, login, externalReferenceId."
        )
    field = given[0]
    value = body[field]
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise InvalidRequest(f"{field} must be a non-empty string.")
    value = plain_text(str(value).strip(), field)
    if field == "externalReferenceId":
        user_key = found.identities.find_user_key(value)
        if user_key is None:
            raise NotFound("No user has this externalReferenceId.")
        return ResolvedUser(user_key, value, None)
    if field == "userKey":
        erid = found.identities.find_erid(value)
        if erid is not None:
            return ResolvedUser(value, erid, None)
        user = found.directory.find_by_key(value)
    else:
        try:
            user = found.directory.find_by_login(value)
        except AmbiguousLogin as exc:
            raise InvalidRequest("Several accounts match this login.") from exc
    if user is None:
        raise NotFound("No active user matches.")
    if not user.active:
        refuse_inactive(found, user.key, None)
    found.activity.saw_active(user.key)
    return ResolvedUser(user.key, found.identities.erid_for(user.key), user)


@blueprint.post("/tokens")
def create_token() -> Response:
    found: Services = g.services
    if found.tokens is None:
        raise DependencyUnavailable("Digital River is not configured (SSO_BRIDGE_DR_API_KEY).")
    body = json_body(found, _TOKEN_FIELDS)
    session_token = body.get("drSessionToken")
    if session_token is not None and (not isinstance(session_token, str) or not session_token):
        raise InvalidRequest("drSessionToken must be a non-empty string.")
    if session_token is not None:
        plain_text(session_token, "drSessionToken")
    resolved = resolve_user(found, body)
    # The broker asks ActivityCheck before serving a cached token (active as of at most
    # ACTIVE_RECHECK_SECONDS ago: a dict lookup on the hot path) and the directory before a mint.
    try:
        grant = found.tokens.get_token(
            resolved.erid, user_key=resolved.key, session_token=session_token
        )
    except UserRefused:
        refuse_inactive(found, resolved.key, resolved.erid)
    except TokenUnavailable as exc:
        raise DependencyUnavailable(
            f"No token available: {exc.reason}.", retry_after=exc.retry_after
        ) from exc
    except ShopperMismatch as exc:
        raise Conflict(str(exc)) from exc
    return json_response(
        {
            "access_token": grant.access_token,
            "token_type": grant.token_type,
            "expires_in": grant.expires_in,
            "externalReferenceId": grant.external_reference_id,
        }
    )


@blueprint.delete("/tokens/<erid>")
def delete_token(erid: str) -> Response:
    found = services()
    if found.tokens is None:
        raise DependencyUnavailable("Digital River is not configured (SSO_BRIDGE_DR_API_KEY).")
    if not _storable(erid) or found.identities.find_user_key(erid) is None:
        raise NotFound("No user has this externalReferenceId.")
    try:
        found.tokens.revoke(erid)
    except DrError as exc:
        # The cached copy is gone already; only DR's side could not be reached.
        raise DependencyUnavailable(
            "The token was dropped from the cache but Digital River "
            "could not be reached to revoke it."
        ) from exc
    return Response(status=204)


@blueprint.post("/sessions")
def create_session() -> Response:
    found: Services = g.services
    body = json_body(found, _SESSION_FIELDS)
    resolved = resolve_user(found, body)
    # A session is only for an active user: check the directory even when the map answered.
    user = resolved.user or found.directory.find_by_key(resolved.key)
    if user is None:
        raise NotFound("No active user matches.")
    if not user.active:
        refuse_inactive(found, user.key, resolved.erid)
    token = found.sessions.issue(user.key, resolved.erid)
    return json_response({"token": token, "expires_in": found.sessions.ttl}, 201)


@blueprint.delete("/sessions/<token>")
def delete_session(token: str) -> Response:
    # Idempotent: logging out twice, or with an expired token, is not an error.
    if _storable(token):
        services().sessions.revoke(token)
    return Response(status=204)
