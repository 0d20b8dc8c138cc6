"""A Digital River Commerce API simulator, spoken to over real HTTP.

It implements the calls in ``shared/spec/commerce-api.md`` (token mint, inspect and revoke;
shopper create, update and read; purchase plan search and authorization) with DR's error formats,
and lets tests and merchants inject faults at runtime. It enforces the spec's authentication rules:
a mint without ``dr_external_reference_id`` gives the application's own token (no shopper), which
the plan search accepts ("any token") and the ``/me`` calls and plan authorization refuse (401);
the plan search refuses an ``?apiKey=`` without a token::

    POST /_sim/faults   {"status": 429, "retry_after": 1, "calls": 2, "paths": ["/oauth20/"]}
    GET  /_sim/faults   the faults in force
    POST /_sim/quirks   {"string_expires_in": true, "wrap_token": true, ...}
    GET  /_sim/stats    {"calls": {...}, "mints_by_erid": {...}, "shoppers": N,
                         "authorizations": [...], ...}
    POST /_sim/reset    forget tokens, shoppers and stats; clear faults and runtime quirks

State lives in the process: run it with one worker (threads are fine). The ``/_sim`` endpoints
are unauthenticated: never expose a simulator beyond the machine or test network using it.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

from .config import (
    DEFAULT_PURCHASE_PLANS,
    SimPurchasePlan,
    SimulatorConfig,
    SimulatorQuirks,
    StorefrontConfig,
)
from .server import SimulatorServer, serve_simulator
from .state import CALL_KINDS, Faults, SimulatorState
from .views import EXTENSION, SimError, admin, dr, handle_http_exception, handle_sim_error

__all__ = [
    "CALL_KINDS",
    "DEFAULT_PURCHASE_PLANS",
    "Faults",
    "SimPurchasePlan",
    "SimulatorConfig",
    "SimulatorQuirks",
    "SimulatorServer",
    "SimulatorState",
    "StorefrontConfig",
    "create_simulator_app",
    "serve_simulator",
]


def create_simulator_app(config: SimulatorConfig | None = None) -> Flask:
    """A Flask app simulating DR with ``config`` (defaults: `SimulatorConfig()`)."""
    config = config or SimulatorConfig()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = SimulatorState(config)
    app.register_blueprint(dr)
    app.register_blueprint(admin)
    if config.storefront is not None:
        _add_storefront(app, config.storefront)
    app.register_error_handler(SimError, handle_sim_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    return app


def _add_storefront(app: Flask, config: StorefrontConfig) -> None:
    import secrets

    from sso_bridge.rum.caller import RumCaller

    from . import storefront

    app.secret_key = config.secret_key or secrets.token_hex(32)
    app.config["SESSION_COOKIE_NAME"] = storefront.COOKIE_NAME
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.extensions[storefront.EXTENSION] = RumCaller(
        url=config.rum_url, username=config.rum_username, password=config.rum_password
    )
    app.extensions[storefront.EXTENSION + ".config"] = config
    app.register_blueprint(storefront.blueprint)
