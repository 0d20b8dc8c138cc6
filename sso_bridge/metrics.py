"""Prometheus metrics. Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (``sso-bridge serve`` and
config/gunicorn.conf.py do) so /metrics aggregates every worker, not just the one answering."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

RUM_REQUESTS = Counter(
    "sso_bridge_rum_requests_total", "RUM calls answered", ["operation", "outcome"]
)
TOKEN_REQUESTS = Counter(
    "sso_bridge_token_requests_total", "Token requests by cache result (hit, miss)", ["result"]
)
TOKEN_REFRESHES = Counter(
    "sso_bridge_token_refreshes_total", "Background refreshes started ahead of expiry"
)
TOKEN_MINTS = Counter("sso_bridge_token_mints_total", "Token mints at DR", ["outcome"])
MINT_SECONDS = Histogram(
    "sso_bridge_token_mint_seconds",
    "Time to mint a token at DR",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
LOCK_WAITS = Counter(
    "sso_bridge_token_lock_waits_total", "Requests that waited for another request's mint"
)
DR_ERRORS = Counter("sso_bridge_dr_errors_total", "Failed DR calls by kind", ["kind"])
CIRCUIT_OPEN = Counter("sso_bridge_dr_circuit_opened_total", "Times the DR circuit opened")
LOGIN_THROTTLED = Counter(
    "sso_bridge_login_throttled_total", "Throttled sign-in attempts", ["scope"]
)
LOGIN_FAILURE_HOLDS = Histogram(
    "sso_bridge_login_failure_hold_seconds",
    "How long failed sign-ins slept to reach the failure time floor",
    buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
)
PRIVATE_STORE_AUTHORIZATIONS = Counter(
    "sso_bridge_private_store_authorizations_total", "Purchase-plan authorizations", ["outcome"]
)


# Children bound once: ``.labels(...)`` on every hit costs a lock and a dict lookup.
TOKEN_HITS = TOKEN_REQUESTS.labels(result="hit")
TOKEN_MISSES = TOKEN_REQUESTS.labels(result="miss")


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
