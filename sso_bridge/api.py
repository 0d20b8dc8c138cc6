"""The ``/v1`` JSON API for the merchant's backend: SSO sessions (and tokens, see dr/views)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sso_bridge.directory.base import AmbiguousLogin, DirectoryUser
from sso_bridge.errors import InvalidRequest, NotFound, UnsupportedMediaType
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
