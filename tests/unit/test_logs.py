"""Log lines: RFC 3339 times with milliseconds and offset, repeated warnings rate-limited, and
the optional access log that never carries a token or a query string."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from sso_bridge import create_app
from sso_bridge.logs import JsonFormatter, RepeatFilter

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}([+-]\d\d:\d\d|Z)$")


def _record(msg: str, level: int = logging.WARNING, *args: object) -> logging.LogRecord:
    return logging.LogRecord("sso_bridge.x", level, __file__, 1, msg, args, None)


def test_times_are_rfc3339_with_milliseconds_and_offset() -> None:
    line = json.loads(JsonFormatter().format(_record("hello", logging.INFO)))
    assert RFC3339_MS.match(line["time"]), line["time"]
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_warning_is_one_line_per_interval_with_a_count() -> None:
    clock = _Clock()
    repeat = RepeatFilter(interval=60, clock=clock)
    passed = [repeat.filter(_record("store down: %s", logging.WARNING, "x")) for _ in range(4)]
    assert passed == [True, False, False, False]
    # The same template with other values is another warning, with its own line.
    assert repeat.filter(_record("store down: %s", logging.WARNING, "y"))
    clock.now += 61
    later = _record("store down: %s", logging.WARNING, "x")
    assert repeat.filter(later)
    assert later.repeated == 3  # type: ignore[attr-defined]
    # Another warning, and info events (sign-ins), are never held back.
    assert repeat.filter(_record("another warning"))
    assert all(repeat.filter(_record("signed in", logging.INFO)) for _ in range(5))


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_access_log_has_route_status_duration_and_request_id_never_a_token(
    sqlite_config: dict[str, Any],
) -> None:
    from tests.helpers import API_KEY

    client = create_app({**sqlite_config, "ACCESS_LOG": True}).test_client()
    keep = _Keep()
    logger = logging.getLogger("sso_bridge.access")
    logger.addHandler(keep)
    try:
        auth = {"Authorization": f"Bearer {API_KEY}", "X-Request-Id": "req-123"}
        token = client.post("/v1/sessions", json={"login": "demo@example.com"}, headers=auth)
        assert token.json is not None
        secret = token.json["token"]
        client.delete(f"/v1/sessions/{secret}?key=query-secret-1", headers=auth)
        client.get(f"/v1/sesions/{secret}")  # a typo: no route, and still no token logged
    finally:
        logger.removeHandler(keep)
    entries = [json.loads(JsonFormatter().format(r)) for r in keep.records]
    assert [e["event"] for e in entries] == ["access"] * 3
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/v1/sessions", 201),
        ("DELETE", "/v1/sessions/<token>", entries[1]["status"]),
        ("GET", "(no route)", 404),
    ]
    assert all(e["request_id"] for e in entries)
    assert entries[0]["request_id"] == "req-123"
    assert all(isinstance(e["duration_ms"], float) for e in entries)
    text = "\n".join(json.dumps(e) for e in entries)
    assert secret not in text and "query-secret-1" not in text


def test_no_access_log_unless_asked(sqlite_config: dict[str, Any]) -> None:
    client = create_app(sqlite_config).test_client()
    keep = _Keep()
    logger = logging.getLogger("sso_bridge.access")
    logger.addHandler(keep)
    try:
        client.get("/healthz")
    finally:
        logger.removeHandler(keep)
    assert keep.records == []
