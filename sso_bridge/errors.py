"""The bridge's error tree and its rendering in DR's error format.

    BridgeError                      code, description, status (class attributes)
     ├── InvalidRequest              400 invalid-request
     ├── Unauthenticated             401 invalid_token (the caller, not a shopper)
     ├── Forbidden                   403 forbidden
     ├── NotFound                    404 resource-not-found
     ├── MethodNotAllowed            405 method-not-allowed
     ├── Conflict                    409 conflict
     ├── PayloadTooLarge             413 payload-too-large
     ├── UnsupportedMediaType        415 unsupported-media-type
     └── DependencyUnavailable       503 service-unavailable (+ Retry-After)

Business outcomes of RUM calls (wrong password, email already used) are not errors: they are
``successful=false`` answers. Descriptions are shown to callers, so they never hold a secret.
"""

from __future__ import annotations

import json
from typing import ClassVar


class BridgeError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "system-error"
    default_description: ClassVar[str] = "Internal error."

    def __init__(self, description: str | None = None, *, retry_after: int | None = None) -> None:
        self.description = description or self.default_description
        self.retry_after = retry_after
        super().__init__(self.description)


class InvalidRequest(BridgeError):
    status = 400
    code = "invalid-request"
    default_description = "The request is malformed."


class Unauthenticated(BridgeError):
    status = 401
    code = "invalid_token"
    default_description = "Authentication required."


class Forbidden(BridgeError):
    status = 403
    code = "forbidden"
    default_description = "Not allowed from this address."


class NotFound(BridgeError):
    status = 404
    code = "resource-not-found"
    default_description = "No such resource."


class MethodNotAllowed(BridgeError):
    status = 405
    code = "method-not-allowed"
    default_description = "Method not allowed on this resource."


class Conflict(BridgeError):
    status = 409
    code = "conflict"
    default_description = "The request conflicts with existing data."


class PayloadTooLarge(BridgeError):
    status = 413
    code = "payload-too-large"
    default_description = "The request body is too large."


class UnsupportedMediaType(BridgeError):
    status = 415
    code = "unsupported-media-type"
    default_description = "Unsupported content type."


class DependencyUnavailable(BridgeError):
    status = 503
    code = "service-unavailable"
    default_description = "A dependency is unavailable; retry later."

    def __init__(self, description: str | None = None, *, retry_after: int | None = 1) -> None:
        super().__init__(description, retry_after=retry_after)


def error_body(code: str, description: str) -> bytes:
    """DR's Shopper API error shape: ``{"errors":{"error":[{"code","description"}]}}``."""
    return json.dumps({"errors": {"error": [{"code": code, "description": description}]}}).encode()
