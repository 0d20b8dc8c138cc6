"""The OpenAPI 3.1 description of the ``/v1`` JSON API (plus the probes), served at
``GET /openapi.json``.

The document describes the API exactly as `sso_bridge.api` implements it, so that a
property-based test (tests/functional/test_openapi.py) can hold the two together: every body the
schema calls valid is accepted, every body it calls invalid is refused with a 4xx, and every
answer matches its documented status, headers and schema.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

__all__ = ["OPENAPI_DOCUMENT"]



def _package_version() -> str:
    try:
        return version("sso-bridge")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _python_whitespace() -> str:
    """Every character `str.strip()` removes, as ranges for a regex character class.

    The API strips user names and refuses blank ones; spelling Python's own notion of
    whitespace out (rather than ``\\S``, whose meaning differs between regex dialects) keeps
    the schema's "non-blank" identical to the implementation's.
    """
    spaces = [code for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    ranges: list[str] = []
    start = previous = spaces[0]
    for code in [*spaces[1:], -1]:
        if code == previous + 1:
            previous = code
            continue
        ranges.append(chr(start) if start == previous else f"{chr(start)}-{chr(previous)}")
        start = previous = code
    return "".join(ranges)


# A string with at least one character that is not whitespace. (The API also takes a JSON
# integer, as its decimal string, but refuses 2.0, which JSON Schema cannot tell from 2: the
# document promises strings only.)
# Text the bridge stores holds no NUL (refused with 400). `\x00` reads the same in the ECMA,
# Python and Rust regex dialects that validators use. (Lone surrogates cannot be valid UTF-8
# JSON, so no pattern mentions them; the API refuses them with 400 too.)
_STORABLE: Final = "\\x00"
_NOT_BLANK: Final = f"^[^{_STORABLE}]*[^{_python_whitespace()}{_STORABLE}][^{_STORABLE}]*$"

_USER_FIELDS: Final = ("userKey", "login", "externalReferenceId")

_JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(code: str, description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            _JSON: {
                "schema": {
                    "allOf": [
                        _ref("Error"),
                        {
                            "properties": {
                                "errors": {
                                    "properties": {
                                        "error": {
                                            "items": {"properties": {"code": {"const": code}}}
                                        }
                                    }
                                }
                            }
                        },
                    ]
                },
                "example": {"errors": {"error": [{"code": code, "description": description}]}},
            }
        },
    }
    if headers:
        response["headers"] = headers
    return response


def _user_naming(extra: dict[str, Any]) -> dict[str, Any]:
    """A request body naming one user: exactly one of the user fields is given (not null)."""
    nullable_name = {"anyOf": [_ref("UserName"), {"type": "null"}]}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {**{name: nullable_name for name in _USER_FIELDS}, **extra},
        "oneOf": [
            {
                "required": [given],
                "properties": {
                    name: _ref("UserName") if name == given else {"type": "null"}
                    for name in _USER_FIELDS
                },
            }
            for given in _USER_FIELDS
        ],
    }


def _body(schema_name: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {_JSON: {"schema": _ref(schema_name), "example": example}},
    }


_BEARER: Final[list[dict[str, list[str]]]] = [{"bearerAuth": []}]

_RESPONSES: Final[dict[str, Any]] = {
    "InvalidRequest": _error(
        "invalid-request",
        "The body is not a JSON object, has unknown fields, or does not name the user with "
        "exactly one non-blank userKey, login or externalReferenceId; or the login matches "
        "several accounts.",
    ),
    "Unauthenticated": _error(
        "invalid_token",
        "No bearer API key, or not one of SSO_BRIDGE_API_KEYS.",
        **{"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
    ),
    "NotFound": _error(
        "resource-not-found", "No active user matches, or no user has this externalReferenceId."
    ),
    "Conflict": _error(
        "conflict", "The Digital River shopper for this ERID belongs to someone else."
    ),
    "PayloadTooLarge": _error(
        "payload-too-large", "The body exceeds SSO_BRIDGE_MAX_BODY_BYTES (64 KiB by default)."
    ),
    "UnsupportedMediaType": _error(
        "unsupported-media-type", "The body is not sent as Content-Type: application/json."
    ),
    "ServiceUnavailable": _error(
        "service-unavailable",
        "A dependency (user database, the bridge's database, Redis, Digital River) is "
        "unavailable or not configured; retry after the given number of seconds.",
        **{"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
    ),
}


def _responses(ok: dict[str, dict[str, Any]], *errors: tuple[str, str]) -> dict[str, Any]:
    return {
        **ok,
        **{status: {"$ref": f"#/components/responses/{name}"} for status, name in errors},
    }


_AUTH = ("401", "Unauthenticated")
_BODY_ERRORS = (
    ("400", "InvalidRequest"),
    ("413", "PayloadTooLarge"),
    ("415", "UnsupportedMediaType"),
)
_UNAVAILABLE = ("503", "ServiceUnavailable")


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    # The route's default converter: one non-empty path segment.
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "pattern": f"^[^/{_STORABLE}]+$"},
    }


OPENAPI_DOCUMENT: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "sso-bridge",
        "version": _package_version(),
        "summary": "Single sign-on between a merchant's user accounts and Digital River.",
        "description": (
            "The `/v1` JSON API for the merchant's backend: Digital River Commerce API tokens "
            "and SSO session tokens for its signed-in users. Callers authenticate with "
            "`Authorization: Bearer <one of SSO_BRIDGE_API_KEYS>`. Request bodies are JSON "
            "objects that name the user with exactly one of `userKey` (the merchant's user "
            "key), `login` or `externalReferenceId` (the others absent or null). Errors use "
            "Digital River's format: "
            '`{"errors": {"error": [{"code": ..., "description": ...}]}}`.'
        ),
        "license": {"name": "MIT", "identifier": "MIT"},
    },
    "tags": [
        {"name": "tokens", "description": "Digital River Commerce API access tokens."},
        {"name": "sessions", "description": "SSO session tokens DR validates over RUM."},
        {"name": "operations", "description": "Probes and this document."},
    ],
    "paths": {
        "/v1/tokens": {
            "post": {
                "operationId": "createToken",
                "tags": ["tokens"],
                "summary": "A Digital River access token for the user",
                "description": (
                    "Served from the cache while it is fresh; otherwise minted once (the DR "
                    "shopper is created on first use). With `drSessionToken` the token is "
                    "session-aware."
                ),
                "security": _BEARER,
                "requestBody": _body("TokenRequest", {"login": "demo@example.com"}),
                "responses": _responses(
                    {
                        "200": {
                            "description": "The token.",
                            "content": {_JSON: {"schema": _ref("TokenGrant")}},
                        }
                    },
                    *_BODY_ERRORS,
                    _AUTH,
                    ("404", "NotFound"),
                    ("409", "Conflict"),
                    _UNAVAILABLE,
                ),
            }
        },
        "/v1/tokens/{erid}": {
            "delete": {
                "operationId": "revokeToken",
                "tags": ["tokens"],
                "summary": "Drop the user's cached token and revoke it at Digital River",
                "security": _BEARER,
                "parameters": [_path_parameter("erid", "The user's external reference ID (ERID).")],
                "responses": _responses(
                    {"204": {"description": "Revoked."}},
                    _AUTH,
                    ("404", "NotFound"),
                    _UNAVAILABLE,
                ),
            }
        },
        "/v1/sessions": {
            "post": {
                "operationId": "createSession",
                "tags": ["sessions"],
                "summary": "Open an SSO session for a signed-in, active user",
                "description": (
                    "An opaque 256-bit token to set as the cookie agreed with DR; DR validates "
                    "it with ValidateSessionRequest. Only its SHA-256 is stored."
                ),
                "security": _BEARER,
                "requestBody": _body("SessionRequest", {"userKey": "1"}),
                "responses": _responses(
                    {
                        "201": {
                            "description": "The session.",
                            "content": {_JSON: {"schema": _ref("Session")}},
                        }
                    },
                    *_BODY_ERRORS,
                    _AUTH,
                    ("404", "NotFound"),
                    _UNAVAILABLE,
                ),
            }
        },
        "/v1/sessions/{token}": {
            "delete": {
                "operationId": "closeSession",
                "tags": ["sessions"],
                "summary": "Log out (idempotent: an unknown or expired token is not an error)",
                "security": _BEARER,
                "parameters": [_path_parameter("token", "The SSO session token.")],
                "responses": _responses(
                    {"204": {"description": "Closed (or there was nothing to close)."}},
                    _AUTH,
                    _UNAVAILABLE,
                ),
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["operations"],
                "summary": "Liveness",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The process is alive.",
                        "content": {_JSON: {"schema": _ref("Health")}},
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["operations"],
                "summary": "Readiness: every dependency answers",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Ready.",
                        "content": {_JSON: {"schema": _ref("Readiness")}},
                    },
                    "503": {
                        "description": "At least one check failed.",
                        "content": {_JSON: {"schema": _ref("Readiness")}},
                    },
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["operations"],
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {_JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "One of the keys in SSO_BRIDGE_API_KEYS.",
            }
        },
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            },
            "WWW-Authenticate": {
                "description": "The expected scheme: `Bearer`.",
                "required": True,
                "schema": {"type": "string"},
            },
        },
        "responses": _RESPONSES,
        "schemas": {
            "UserName": {
                "description": (
                    "A user key, login or ERID: a string with a non-blank character (leading "
                    "and trailing whitespace is ignored)."
                ),
                "type": "string",
                "pattern": _NOT_BLANK,
            },
            "TokenRequest": _user_naming(
                {
                    "drSessionToken": {
                        "description": "DR's session token, for a session-aware access token.",
                        "type": ["string", "null"],
                        "minLength": 1,
                        "pattern": f"^[^{_STORABLE}]+$",
                    }
                }
            ),
            "SessionRequest": _user_naming({}),
            "TokenGrant": {
                "type": "object",
                "additionalProperties": False,
                "required": ["access_token", "token_type", "expires_in", "externalReferenceId"],
                "properties": {
                    "access_token": {"type": "string", "minLength": 1},
                    "token_type": {"type": "string", "examples": ["bearer"]},
                    "expires_in": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Seconds the token remains valid.",
                    },
                    "externalReferenceId": {
                        "type": "string",
                        "minLength": 1,
                        "description": "The user's ERID (DR's externalReferenceId).",
                    },
                },
            },
            "Session": {
                "type": "object",
                "additionalProperties": False,
                "required": ["token", "expires_in"],
                "properties": {
                    "token": {"type": "string", "minLength": 1},
                    "expires_in": {"type": "integer", "minimum": 1},
                },
            },
            "Error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["error"],
                        "properties": {
                            "error": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["code", "description"],
                                    "properties": {
                                        "code": {"type": "string"},
                                        "description": {"type": "string"},
                                    },
                                },
                            }
                        },
                    }
                },
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"const": "ok"}},
            },
            "Readiness": {
                "type": "object",
                "required": ["status", "checks"],
                "properties": {
                    "status": {"enum": ["ready", "unavailable"]},
                    "checks": {
                        "type": "object",
                        "required": ["user_database", "bridge_database", "cache"],
                        "additionalProperties": {"enum": ["ok", "unavailable"]},
                    },
                },
            },
        },
    },
}

