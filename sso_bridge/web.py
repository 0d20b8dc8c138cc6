"""HTTP plumbing shared by the blueprints: DR-format error responses and caller checks."""

from __future__ import annotations

import hmac
import logging
from typing import Any

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
    """DR-format errors for everything, and the connection policy that goes with early errors."""
    app.after_request(_close_unless_body_read)
    app.register_error_handler(BridgeError, _bridge_error)
    app.register_error_handler(HTTPException, _http_error)
    for kind in (DirectoryUnavailable, StoreUnavailable, OperationalError, VerificationBusy):
        app.register_error_handler(kind, _dependency_down)
    app.register_error_handler(Exception, _unexpected)


# Set in the WSGI environ once the whole request body has been consumed.
BODY_READ = "sso_bridge.body_read"


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole request body, refused with 413 if it is over ``limit`` bytes.

    Read from the server's input stream directly (Flask's request proxies cost more than this on
    the cache-hit path). A declared length over the limit is refused before a byte is read; a
    chunked body is read up to one byte past the limit, so an oversized one is refused whole
    instead of being cut at the limit and processed.
    """
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        if not length.isdigit():
            raise InvalidRequest("The Content-Length header is not a number.")
        size = int(length)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        body = bytes(stream.read(size)) if size else b""
    elif _chunked(environ):
        parts: list[bytes] = []
        received = 0
        while received <= limit:
            part = stream.read(limit + 1 - received)
            if not part:
                break
            parts.append(part)
            received += len(part)
        if received > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        body = b"".join(parts)
    else:
        body = b""
    environ[BODY_READ] = True
    return body


def _chunked(environ: dict[str, Any]) -> bool:
    return bool(environ.get("wsgi.input_terminated")) or "chunked" in environ.get(
        "HTTP_TRANSFER_ENCODING", ""
    ).lower()


def _close_unless_body_read(response: Response) -> Response:
    # An answer given before the body was read (401, 413, 415...) leaves that body on the
    # connection, where it would be taken for the next request: ask the server to close it.
    environ = request.environ
    if BODY_READ not in environ and (
        environ.get("CONTENT_LENGTH", "0") not in ("", "0") or _chunked(environ)
    ):
        response.headers["Connection"] = "close"
    return response


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
