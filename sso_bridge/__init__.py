"""sso-bridge: single sign-on between a merchant's own user accounts and Digital River."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from sso_bridge.settings import Settings, load_settings

__all__ = ["create_app"]


def create_app(test_config: Mapping[str, Any] | Settings | None = None) -> Flask:
    """Build the app: settings -> start-up checks -> services -> blueprints.

    ``test_config`` (a mapping of the same keys as the environment, or ready `Settings`)
    replaces the environment and TOML file, so tests and the demo are hermetic; without it the
    app reads ``SSO_BRIDGE_*`` and ``SSO_BRIDGE_CONFIG``. Either way the start-up contract
    (sso_bridge.startup) holds: invalid settings raise `SettingsError`, an out-of-date schema or
    missing RUM credentials (outside ``mode`` demo/test) raise `StartupRefused`.
    """
    from sso_bridge import api, ops
    from sso_bridge.logs import configure_logging
    from sso_bridge.rum import views as rum_views
    from sso_bridge.services import EXTENSION, build_services
    from sso_bridge.startup import check_startup
    from sso_bridge.web import register_error_handlers

    settings = test_config if isinstance(test_config, Settings) else load_settings(test_config)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    # Werkzeug enforces this on streamed bodies too; /rum also checks Content-Length up front.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    found = build_services(settings)
    check_startup(settings, found.identities.engine)
    app.extensions[EXTENSION] = found
    register_error_handlers(app)
    if settings.access_log:
        from sso_bridge.access_log import register_access_log

        register_access_log(app)
    app.register_blueprint(rum_views.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(ops.blueprint)
    return app
