"""Which address a /rum caller has: X-Forwarded-For walked from the right, hop by trusted hop."""

from __future__ import annotations

import pytest

from sso_bridge.rum.auth import CallerCheck
from sso_bridge.settings import SettingsError, load_settings
from tests.helpers import bridge_config

BASE = bridge_config(merchant_url="sqlite://", bridge_url="sqlite://")


def _check(trusted: int, proxies: tuple[str, ...] = ("10.0.0.0/24",)) -> CallerCheck:
    return CallerCheck(
        users={}, allowed_networks=(), trusted_proxies=trusted, proxy_networks=proxies
    )


@pytest.mark.parametrize(
    ("trusted", "peer", "header", "expected"),
    [
        (0, "10.0.0.5", "198.51.100.7", "10.0.0.5"),  # no proxies configured: the peer
        (1, "203.0.113.1", "10.1.1.1", "203.0.113.1"),  # direct client: its header is ignored
        (1, "10.0.0.5", "198.51.100.7", "198.51.100.7"),  # through our proxy
        (1, "10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # forged left part ignored
        (1, "10.0.0.5", None, "10.0.0.5"),  # the proxy sent no header: the proxy itself
        (2, "10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two proxies
        # Two allowed, but the hop the first proxy reports is not a proxy: stop there.
        (2, "10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        (2, "10.0.0.5", "198.51.100.7", "198.51.100.7"),  # fewer hops than proxies
        (1, "10.0.0.5", "not-an-ip", "not-an-ip"),  # kept as given: no allowlist matches it
    ],
)
def test_client_address(trusted: int, peer: str, header: str | None, expected: str) -> None:
    assert _check(trusted).client_address(peer, header) == expected


def test_forged_hop_never_passes_the_allowlist() -> None:
    check = CallerCheck(
        users={}, allowed_networks=("10.0.0.0/8",), trusted_proxies=1,
        proxy_networks=("192.0.2.1",),
    )
    assert not check.address_allowed(check.client_address("203.0.113.1", "10.1.1.1"))
    assert not check.address_allowed(check.client_address("192.0.2.1", "not-an-ip"))
    assert check.address_allowed(check.client_address("192.0.2.1", "10.1.1.1"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["10.0.0.1", "192.168.0.0/16"], ("10.0.0.1", "192.168.0.0/16")),
        ("10.0.0.1, 10.0.0.2", ("10.0.0.1", "10.0.0.2")),  # gunicorn's own comma form
    ],
)
def test_forwarded_allow_ips_setting(value: object, expected: tuple[str, ...]) -> None:
    assert load_settings({**BASE, "FORWARDED_ALLOW_IPS": value}).forwarded_allow_ips == expected


def test_forwarded_allow_ips_default_is_loopback() -> None:
    assert load_settings(BASE).forwarded_allow_ips == ("127.0.0.1", "::1")


@pytest.mark.parametrize("value", ["*", ["10.0.0.1", "nope"]])
def test_forwarded_allow_ips_refuses_anything_but_addresses(value: object) -> None:
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
        load_settings({**BASE, "FORWARDED_ALLOW_IPS": value})


def test_gunicorn_config_file_reads_the_same_setting() -> None:
    from sso_bridge.settings import forwarded_allow_ips_setting

    assert forwarded_allow_ips_setting({"FORWARDED_ALLOW_IPS": "10.0.0.1"}) == ("10.0.0.1",)
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
        forwarded_allow_ips_setting({"FORWARDED_ALLOW_IPS": "*"})
