"""The ``/v1`` JSON API for the merchant's backend: SSO sessions (and tokens, see dr/views)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sso_bridge.directory.base import AmbiguousLogin, DirectoryUser
from sso_bridge.dr.broker import TokenUnavailable
from sso_bridge.dr.client import DrError
from sso_bridge.dr.provisioning import ShopperMismatch
from sso_bridge.errors import (
    Conflict,
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    UnsupportedMediaType,
)
from sso_bridge.services import Services, services
from sso_bridge.web import require_bearer, require_body_limit

blueprint = Blueprint("api", __name__, url_prefix="/v1")

_USER_FIELDS = ("userKey", "login", "externalReferenceId")


@blueprint.before_request
def _authenticate() -> None:
    require_bearer(services().api_keys)


def json_body(allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object, refusing anything else with a clear error."""
    require_body_limit(services().settings.max_body_bytes)
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send a JSON object with Content-Type: application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
    return body


def resolve_user(found: Services, body: dict[str, Any]) -> tuple[DirectoryUser | None, str]:
    """The user named by exactly one of userKey / login / externalReferenceId, and their ERID.

    With an ERID the directory is not consulted (the token hot path): the user is None then.
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
    value = str(value).strip()
    if field == "externalReferenceId":
        if found.identities.find_user_key(value) is None:
            raise NotFound("No user has this externalReferenceId.")
        return None, value
    if field == "userKey":
        erid = found.identities.find_erid(value)
        if erid is not None:
            return None, erid
        user = found.directory.find_by_key(value)
    else:
        try:
            user = found.directory.find_by_login(value)
        except AmbiguousLogin as exc:
            raise InvalidRequest("Several accounts match this login.") from exc
    if user is None or not user.active:
        raise NotFound("No active user matches.")
    return user, found.identities.erid_for(user.key)


@blueprint.post("/tokens")
def create_token() -> Response:
    found = services()
    if found.tokens is None:
        raise DependencyUnavailable("Digital River is not configured (SSO_BRIDGE_DR_API_KEY).")
    body = json_body({*_USER_FIELDS, "drSessionToken"})
    session_token = body.get("drSessionToken")
    if session_token is not None and (not isinstance(session_token, str) or not session_token):
        raise InvalidRequest("drSessionToken must be a non-empty string.")
    user, erid = resolve_user(found, body)
    user_key = user.key if user else found.identities.find_user_key(erid)
    if user_key is None:
        raise NotFound("No user has this externalReferenceId.")
    try:
        grant = found.tokens.get_token(erid, user_key=user_key, session_token=session_token)
    except TokenUnavailable as exc:
        raise DependencyUnavailable(
            f"No token available: {exc.reason}.", retry_after=exc.retry_after
        ) from exc
    except ShopperMismatch as exc:
        raise Conflict(str(exc)) from exc
    return jsonify(
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
    if found.identities.find_user_key(erid) is None:
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
def create_session() -> tuple[Response, int]:
    found = services()
    body = json_body(set(_USER_FIELDS))
    user, erid = resolve_user(found, body)
    user_key = user.key if user else found.identities.find_user_key(erid)
    if user is None and user_key is not None:
        user = found.directory.find_by_key(user_key)
    if user is None or not user.active:
        raise NotFound("No active user matches.")
    token = found.sessions.issue(user.key, erid)
    return jsonify({"token": token, "expires_in": found.sessions.ttl}), 201


@blueprint.delete("/sessions/<token>")
def delete_session(token: str) -> Response:
    # Idempotent: logging out twice, or with an expired token, is not an error.
    services().sessions.revoke(token)
    return Response(status=204)
