"""Structured JSON logs, one object per line, with the request id on every line."""

from __future__ import annotations

import json
import logging
import sys
import uuid
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
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
        handler._sso_bridge = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = True
