"""Structured JSON logs, one object per line, with the request id on every line.

Times are RFC 3339 with milliseconds and the UTC offset (``2026-12-01T17:32:26.123+00:00``), so
lines from several hosts sort and join. A warning repeated many times a second (Redis down: every
sign-in says so) is written once per `REPEAT_INTERVAL`; the next line of that kind carries
``"repeated": N``, the number held back since the last one.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def current_request_id() -> str | None:
    if not has_request_context():
        return None
    request_id: str | None = g.get("request_id")
    if request_id is None:
        incoming = request.headers.get("X-Request-Id", "")
        # Accept a caller's id only if it is short and plain, so it cannot inject log content.
        ok = 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum()
        request_id = incoming if ok else uuid.uuid4().hex
        g.request_id = request_id
    return request_id


#: Seconds between two lines of one repeated warning.
REPEAT_INTERVAL = 60.0


def rfc3339(created: float) -> str:
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class RepeatFilter(logging.Filter):
    """Lets one WARNING-or-worse line of a kind (logger, level, message) through per
    ``interval``; holds back the identical ones and counts them on the next line let through."""

    def __init__(
        self, interval: float = REPEAT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # info lines are events (sign-ins, registrations): every one counts
        # The message as written: "readiness check cache failed" and "... user_database ..."
        # are two different warnings, and each keeps its own line.
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        with self._lock:
            last, held = self._seen.get(key, (None, 0))
            if last is not None and now - last < self._interval:
                self._seen[key] = (last, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.repeated = held
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        entry.update(
            {
                key: value
                for key, value in vars(record).items()
                if key not in _STANDARD and not key.startswith("_")
            }
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Install the JSON handler on the package logger once (idempotent across app instances)."""
    logger = logging.getLogger("sso_bridge")
    logger.setLevel(level)
    if not any(getattr(handler, "_sso_bridge", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RepeatFilter())
        handler._sso_bridge = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = True
