"""sso-bridge: single sign-on between a merchant's own user accounts and Digital River."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from sso_bridge.settings import Settings, load_settings

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | Settings | None = None) -> Flask:
    """Build the app: settings -> services -> blueprints.

    ``config`` (a mapping of the same keys as the environment, or ready `Settings`) replaces
    the environment and TOML file, so tests are hermetic; without it the app reads
    ``SSO_BRIDGE_*`` and ``SSO_BRIDGE_CONFIG``.
    """
    from sso_bridge import api, ops
    from sso_bridge.logs import configure_logging
    from sso_bridge.rum import views as rum_views
    from sso_bridge.services import EXTENSION, build_services
    from sso_bridge.web import register_error_handlers

    settings = config if isinstance(config, Settings) else load_settings(config)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    # Werkzeug enforces this on streamed bodies too; /rum also checks Content-Length up front.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[EXTENSION] = build_services(settings)
    register_error_handlers(app)
    app.register_blueprint(rum_views.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(ops.blueprint)
    return app
