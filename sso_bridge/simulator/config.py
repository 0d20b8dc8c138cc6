"""What a simulated Digital River looks like: credentials, token lifetime, quirks, stores."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

#: The access rules a purchase plan search or authorization may carry (DR's query/body names).
ACCESS_RULES = ("emailDomain", "emailAddress", "ipAddress", "referralUrl")


@dataclass(frozen=True)
class SimPurchasePlan:
    """A private store and the access rules that reach it (any one rule matching is enough)."""

    id: str
    target_market_id: str
    name: str
    target_market_name: str = ""
    authentication_required: bool = True
    email_domains: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    #: Single addresses or CIDR ranges.
    ip_addresses: tuple[str, ...] = ()
    #: Prefixes of the referring URL.
    referral_urls: tuple[str, ...] = ()

    def matches(self, rule: str, value: str) -> bool:
        """Whether the access rule ``rule`` (one of `ACCESS_RULES`) with ``value`` reaches it."""
        value = value.strip()
        if not value:
            return False
        if rule == "emailDomain":
            return value.lower().lstrip("@") in {d.lower().lstrip("@") for d in self.email_domains}
        if rule == "emailAddress":
            lowered = value.lower()
            domain = lowered.rpartition("@")[2]
            return lowered in {a.lower() for a in self.email_addresses} or (
                "@" in lowered and domain in {d.lower().lstrip("@") for d in self.email_domains}
            )
        if rule == "ipAddress":
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                return False
            for entry in self.ip_addresses:
                try:
                    if address in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
            return False
        if rule == "referralUrl":
            return any(value.startswith(prefix) for prefix in self.referral_urls)
        return False

    def matches_any(self, rules: Mapping[str, str]) -> bool:
        return any(self.matches(rule, value) for rule, value in rules.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimPurchasePlan:
        """From a TOML/JSON table with this class's field names (lists for the rule fields)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown purchase plan settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in {"email_domains", "email_addresses", "ip_addresses", "referral_urls"}:
                if isinstance(value, str) or not isinstance(value, Sequence):
                    raise ValueError(f"purchase plan {key} must be a list of strings")
                values[key] = tuple(str(item) for item in value)
            elif key == "authentication_required":
                values[key] = bool(value)
            else:
                values[key] = str(value)
        return cls(**values)


DEFAULT_PURCHASE_PLANS: tuple[SimPurchasePlan, ...] = (
    SimPurchasePlan(
        id="11858700",
        target_market_id="35100",
        name="Student Discounts",
        target_market_name="Students",
        authentication_required=True,
        email_domains=("university.edu",),
    ),
    SimPurchasePlan(
        id="11858800",
        target_market_id="35200",
        name="Employee Store",
        target_market_name="Employees",
        authentication_required=True,
        email_domains=("example.com",),
        ip_addresses=("10.0.0.0/8",),
    ),
)


@dataclass(frozen=True)
class SimulatorQuirks:
    """Variations seen in DR's answers, each off by default (the documented shape)."""

    #: ``"expires_in": "86400"`` instead of an integer.
    string_expires_in: bool = False
    #: ``{"token": {...}}`` around the token answer.
    wrap_token: bool = False
    #: Purchase plan search answers with lower-cased keys (DR's own sample).
    lowercase_plan_keys: bool = False
    #: A single plan as an object instead of a one-element list (DR's own sample).
    single_plan_object: bool = False
    #: ``"error": {...}`` instead of ``"error": [{...}]`` in Shopper API errors.
    single_error_object: bool = False

    def updated(self, data: Mapping[str, Any]) -> SimulatorQuirks:
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown quirks: {', '.join(sorted(unknown))}")
        for key, value in data.items():
            if not isinstance(value, bool):
                raise ValueError(f"quirk {key} must be true or false")
        return replace(self, **dict(data))

    def to_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class StorefrontConfig:
    """DR's side of RUM: where the simulated store sends its call-outs, and where shoppers go to
    sign out (the merchant's logout, which sends them back to ``logout_return``)."""

    #: The bridge's RUM endpoint, e.g. ``http://127.0.0.1:8080/rum``.
    rum_url: str
    rum_username: str
    rum_password: str = field(repr=False)
    #: The merchant's logout URL; the store appends ``?return_to=<store home>``.
    merchant_logout_url: str | None = None
    #: Signs the store's own shopper cookie (random per process when not given).
    secret_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StorefrontConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown storefront settings: {', '.join(sorted(unknown))}")
        missing = {"rum_url", "rum_username", "rum_password"} - set(data)
        if missing:
            raise ValueError(f"storefront needs {', '.join(sorted(missing))}")
        return cls(**{key: str(value) for key, value in data.items()})


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulated DR. Faults are not configuration: set them through ``/_sim``."""

    api_key: str = "sim-api-key"
    api_secret: str = "sim-api-secret"  # noqa: S105 (the simulator's own, not a real secret)
    #: Lifetime of minted tokens, in seconds.
    token_lifetime: int = 86400
    quirks: SimulatorQuirks = field(default_factory=SimulatorQuirks)
    purchase_plans: Sequence[SimPurchasePlan] = DEFAULT_PURCHASE_PLANS
    #: DR's per-key rate limit (calls/s, bursts of up to one second's worth); None: unlimited.
    rate_limit: float | None = None
    #: Upper bound of an injected ``hang``, in seconds.
    max_hang: float = 30.0
    #: Seed for ``error_rate`` draws (None: unpredictable).
    seed: int | None = None
    #: The store's pages at ``/store/`` (sign-in, SSO entry, checkout registration, sign-out),
    #: calling the bridge's RUM endpoint as DR does; None: no storefront.
    storefront: StorefrontConfig | None = None

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise ValueError("api_key and api_secret must not be empty")
        if self.token_lifetime <= 0:
            raise ValueError("token_lifetime must be positive")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive (or None)")
        if self.max_hang < 0:
            raise ValueError("max_hang must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulatorConfig:
        """From a TOML/JSON table: this class's field names, ``quirks`` and ``purchase_plans``
        as nested tables."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown simulator settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = dict(data)
        if "quirks" in values:
            quirks = values["quirks"]
            if not isinstance(quirks, Mapping):
                raise ValueError("quirks must be a table")
            values["quirks"] = SimulatorQuirks().updated(quirks)
        if "purchase_plans" in values:
            plans = values["purchase_plans"]
            if isinstance(plans, (str, Mapping)) or not isinstance(plans, Sequence):
                raise ValueError("purchase_plans must be a list of tables")
            values["purchase_plans"] = tuple(SimPurchasePlan.from_dict(p) for p in plans)
        if "storefront" in values:
            storefront = values["storefront"]
            if not isinstance(storefront, Mapping):
                raise ValueError("storefront must be a table")
            values["storefront"] = StorefrontConfig.from_dict(storefront)
        return cls(**values)
