"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, jsonify

from sso_bridge import metrics
from sso_bridge.services import services
from sso_bridge.startup import require_rum_credentials, require_schema

log = logging.getLogger(__name__)

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    # Imported on first use: the document is only ever read by humans and API tooling, so
    # workers do not pay for it (import time, memory) until someone asks.
    from sso_bridge.openapi import OPENAPI_DOCUMENT

    return jsonify(OPENAPI_DOCUMENT)


@blueprint.get("/metrics")
def metrics_endpoint() -> Response:
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    found = services()
    checks: dict[str, Callable[[], None]] = {
        # The start-up contract, asked again: a schema rolled back or credentials that vanished
        # since start-up must take the instance out of rotation, not answer 500 per request.
        "bridge_schema": lambda: require_schema(found.identities.engine),
        "rum_credentials": lambda: require_rum_credentials(found.settings),
        "user_database": found.directory.ping,
        "bridge_database": found.identities.ping,
        "cache": found.store.ping,
    }
    if found.tokens is not None:
        checks["digital_river"] = found.tokens.check_dr
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # readiness reports any failure, whatever its kind
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = "unavailable"
    ready = all(value == "ok" for value in results.values())
    return jsonify({"status": "ready" if ready else "unavailable", "checks": results}), (
        200 if ready else 503
    )
