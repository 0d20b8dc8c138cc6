"""Who may call /rum: HTTP Basic credentials (several, for rotation) and an IP allowlist."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping, Sequence


class CallerCheck:
    def __init__(
        self,
        *,
        users: Mapping[str, str],
        allowed_networks: Sequence[str],
        trusted_proxies: int,
        proxy_networks: Sequence[str] = (),
    ) -> None:
        # Compare digests of equal length so neither the user name nor the password leaks
        # through timing; every configured pair is checked, whatever matched.
        self._users = [(name.encode(), password.encode()) for name, password in users.items()]
        self._networks = [ipaddress.ip_network(cidr, strict=False) for cidr in allowed_networks]
        self._trusted_proxies = trusted_proxies
        self._proxies = [ipaddress.ip_network(cidr, strict=False) for cidr in proxy_networks]

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
        """The caller's address, believing X-Forwarded-For only as far as our own proxies.

        Each proxy appends the address it received the request from, so the list is walked from
        the right: a hop is believed only while the address that wrote it (first the TCP peer,
        then the hop just believed) is one of the configured proxies, and at most
        ``trusted_proxies`` hops. A client reaching the bridge directly gets its own address,
        whatever header it sends; anything left of our outermost proxy could be forged.
        """
        address = remote_addr
        hops = [part.strip() for part in forwarded_for.split(",")] if forwarded_for else []
        for _ in range(self._trusted_proxies):
            if not hops or not self._is_proxy(address):
                break
            address = hops.pop()
        return address

    def _is_proxy(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    def address_allowed(self, address: str | None) -> bool:
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self._networks)
