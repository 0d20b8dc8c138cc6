"""HTTP plumbing shared by the blueprints: DR-format error responses and caller checks."""

from __future__ import annotations

import hmac
import logging

from flask import Flask, Response, request
from sqlalchemy.exc import OperationalError
from werkzeug import exceptions as werkzeug_errors
from werkzeug.exceptions import HTTPException

from sso_bridge.directory.base import DirectoryUnavailable
from sso_bridge.directory.gate import VerificationBusy
from sso_bridge.errors import (
    BridgeError,
    DependencyUnavailable,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    error_body,
)
from sso_bridge.store import StoreUnavailable

log = logging.getLogger(__name__)

_HTTP_ERRORS: dict[int, type[BridgeError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def error_response(error: BridgeError) -> Response:
    response = Response(
        error_body(error.code, error.description), status=error.status, mimetype="application/json"
    )
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = (
            'Basic realm="sso-bridge"' if request.path.startswith("/rum") else "Bearer"
        )
    return response


def _bridge_error(error: BridgeError) -> Response:
    return error_response(error)


def _http_error(error: HTTPException) -> Response:
    kind = _HTTP_ERRORS.get(error.code or 500)
    if kind is None:
        return error_response(BridgeError())
    response = error_response(kind())
    if isinstance(error, werkzeug_errors.MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _dependency_down(error: Exception) -> Response:
    log.warning("dependency unavailable: %s", type(error).__name__)
    return error_response(DependencyUnavailable())


def _unexpected(error: Exception) -> Response:
    # Log the type and traceback; the body says nothing about internals.
    log.exception("unhandled error: %s", type(error).__name__)
    return error_response(BridgeError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(BridgeError, _bridge_error)
    app.register_error_handler(HTTPException, _http_error)
    for kind in (DirectoryUnavailable, StoreUnavailable, OperationalError, VerificationBusy):
        app.register_error_handler(kind, _dependency_down)
    app.register_error_handler(Exception, _unexpected)


def require_body_limit(limit: int) -> None:
    """Refuse an oversized body from its declared length, before reading or parsing it."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")


def require_bearer(api_keys: frozenset[bytes]) -> None:
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("A bearer API key is required.")
    given = token.strip().encode()
    matched = False
    for key in api_keys:  # all keys compared, in constant time each
        matched |= hmac.compare_digest(key, given)
    if not matched:
        raise Unauthenticated("The API key is not valid.")
