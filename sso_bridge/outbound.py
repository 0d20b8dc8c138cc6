"""Outbound HTTP shared by the DR client and the HTTP user directory.

One pooled `requests.Session` per client, with no automatic retries (each caller decides what
may be retried: a login POST never is) and no cookie jar (one session serves every shopper, so
no cookie set for one may ride along on another's call). urllib3 logs every request line at
DEBUG, query string included, and both clients carry secrets there (DR's token inspection takes
``?token=``; directory lookups take ``?login=``): a filter on urllib3's logger strips queries
before any handler sees them.
"""

from __future__ import annotations

import http.cookiejar
import logging
import threading

import requests
import requests.adapters

REDACTED = "[redacted]"


def pooled_session(*, pool_connections: int, pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def strip_query(text: str) -> str:
    head, sep, _ = text.partition("?")
    return f"{head}?{REDACTED}" if sep else text


class _RedactQueryFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                strip_query(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


_QUERY_FILTER = _RedactQueryFilter()
_filter_lock = threading.Lock()


def install_log_redaction() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    with _filter_lock:
        if _QUERY_FILTER not in logger.filters:
            logger.addFilter(_QUERY_FILTER)
