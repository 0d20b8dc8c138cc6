"""Who may call /rum: HTTP Basic credentials (several, for rotation) and an IP allowlist."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping, Sequence


class CallerCheck:
    def __init__(
        self, *, users: Mapping[str, str], allowed_networks: Sequence[str], trusted_proxies: int
    ) -> None:
        # Compare digests of equal length so neither the user name nor the password leaks
        # through timing; every configured pair is checked, whatever matched.
        self._users = [(name.encode(), password.encode()) for name, password in users.items()]
        self._networks = [ipaddress.ip_network(cidr, strict=False) for cidr in allowed_networks]
        self._trusted_proxies = trusted_proxies

    @property
    def has_credentials(self) -> bool:
        return bool(self._users)

    def credentials_ok(self, username: str | None, password: str | None) -> bool:
        if username is None or password is None:
            return False
        given_user, given_password = username.encode(), password.encode()
        ok = False
        for user, secret in self._users:
            user_ok = hmac.compare_digest(user, given_user)
            password_ok = hmac.compare_digest(secret, given_password)
            ok |= user_ok and password_ok
        return ok

    def client_address(self, remote_addr: str | None, forwarded_for: str | None) -> str | None:
        """The caller's address, believing X-Forwarded-For only as far as the trusted proxies.

        With N trusted proxies in front of us, the N-th address from the right of
        X-Forwarded-For was written by our outermost proxy; anything left of it could be forged.
        """
        if self._trusted_proxies == 0:
            return remote_addr
        hops = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
        if len(hops) < self._trusted_proxies:
            return remote_addr
        return hops[-self._trusted_proxies]

    def address_allowed(self, address: str | None) -> bool:
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self._networks)
