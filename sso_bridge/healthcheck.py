"""``sso-bridge healthcheck``: ask the bridge on its configured bind whether it is alive.

The container's HEALTHCHECK runs it, so it follows SSO_BRIDGE_BIND instead of a port written
into the Dockerfile. A wildcard bind is asked on the loopback address of its family.
"""

from __future__ import annotations

import urllib.error
import urllib.request

# A wildcard bind (every interface) is reachable on loopback: ask there.
_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def health_url(bind: str) -> str:
    """The /healthz URL of gunicorn's ``bind`` (HOST:PORT, [V6]:PORT or a bare :PORT)."""
    if bind.startswith(("unix:", "fd://")):
        raise ValueError(f"cannot check a {bind.split(':')[0]} bind over TCP: {bind}")
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"SSO_BRIDGE_BIND is not HOST:PORT: {bind!r}")
    host = host.strip("[]")
    host = _LOOPBACK.get(host, host)
    return f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"


def check(bind: str, timeout: float) -> tuple[bool, str]:
    try:
        url = health_url(bind)
    except ValueError as exc:
        return False, f"unhealthy: {exc}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return False, f"unhealthy: {url}: {exc}"
    return status == 200, f"{'healthy' if status == 200 else 'unhealthy'}: {url} answered {status}"
