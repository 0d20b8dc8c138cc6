"""The start-up contract: what every way of running the bridge checks before it serves.

`create_app()` (so gunicorn, Docker, any WSGI server and ``sso-bridge serve``), the gunicorn
master's ``on_starting`` hook and ``/readyz`` all ask the same questions here, so no path can
skip one: the settings are valid (loading them raises `SettingsError` otherwise), the bridge's
schema is not older than this release needs, and DR has credentials to call ``/rum`` with,
unless the configuration says this is a demo or a test (``mode``).
"""

from __future__ import annotations

from sqlalchemy import Engine

from sso_bridge.schema import HEAD, SchemaProblem, current_version
from sso_bridge.settings import Settings


class StartupRefused(Exception):
    """The bridge must not serve; the message is the operator's one line (what, why, fix)."""

    def __init__(self, what: str, why: str, fix: str) -> None:
        self.what, self.why, self.fix = what, why, fix
        super().__init__(f"{what}: {why}. {fix}")


def require_rum_credentials(settings: Settings) -> None:
    if settings.rum_users or settings.mode != "production":
        return
    raise StartupRefused(
        "start-up refused",
        "no RUM credentials, so every call DR makes to /rum would be refused",
        'Set SSO_BRIDGE_RUM_USERS, e.g. \'{"dr": "<password>"}\' '
        "(or SSO_BRIDGE_MODE=demo to try the bridge without them)",
    )


def require_schema(engine: Engine) -> None:
    # Older only: schema steps are additive, so the previous release keeps running on a newer
    # schema during a rolling deploy (`db upgrade` runs first, then the new pods roll out).
    from sso_bridge.identity_guarantees import require_supported_dialect, verify_guarantees

    try:
        require_supported_dialect(engine.dialect.name)
    except SchemaProblem as exc:
        raise StartupRefused(
            "start-up refused", str(exc), "Use SQLite, PostgreSQL or MySQL/MariaDB"
        ) from exc
    version = current_version(engine)
    if version < HEAD:
        raise StartupRefused(
            "start-up refused",
            f"the bridge's database schema is at version {version}, this release needs {HEAD}",
            "Run `sso-bridge db upgrade` first",
        )
    try:
        # The identity map's guarantees are the database's (binary keys, unique ERIDs,
        # immutability triggers): a lost trigger must stop the bridge, not be found later.
        verify_guarantees(engine)
    except SchemaProblem as exc:
        raise StartupRefused(
            "start-up refused", str(exc), "Run `sso-bridge db upgrade` to restore them"
        ) from exc


def check_startup(settings: Settings, engine: Engine) -> None:
    """Raise `StartupRefused` (or the database's own error) when the bridge must not start."""
    require_rum_credentials(settings)
    require_schema(engine)
