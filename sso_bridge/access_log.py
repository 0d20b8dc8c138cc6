"""The optional JSON access log (setting ``access_log``): one ``"event": "access"`` line per
request with method, route, status, duration and the request id.

The path logged is the route's template (``/v1/sessions/<token>``), never the path as sent: a
session token in the URL, or any query string, must not reach the logs. A request that matched
no route is logged as ``(no route)`` for the same reason (a mistyped path may carry a token).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from sso_bridge.logs import current_request_id

log = logging.getLogger("sso_bridge.access")

UNMATCHED = "(no route)"


def _started() -> None:
    g.access_started = time.perf_counter()


def _finished(response: Response) -> Response:
    started = g.get("access_started")
    rule = request.url_rule
    log.info(
        "%s %s %s",
        request.method,
        rule.rule if rule is not None else UNMATCHED,
        response.status_code,
        extra={
            "event": "access",
            "method": request.method,
            "path": rule.rule if rule is not None else UNMATCHED,
            "status": response.status_code,
            # Explicit, so the line keeps it wherever it is formatted (queues, test capture).
            "request_id": current_request_id(),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        },
    )
    return response


def register_access_log(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_finished)
