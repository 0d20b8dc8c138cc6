"""Private stores: authorize a newly minted token for the purchase plans its user belongs to.

In two halves, so that the broker can overlap them with the mint: `prepare` finds the user's plans
(rules, then the cached search, else a search with the application's own token: DR accepts any
token there) without the shopper's token; the step it returns authorizes a given token.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from sso_bridge import metrics
from sso_bridge.directory.base import DirectoryUser
from sso_bridge.dr.app_token import AppToken
from sso_bridge.dr.client import DrError, DrToken, PurchasePlan
from sso_bridge.settings import PrivateStoreRule
from sso_bridge.store import KeyValueStore, StoreUnavailable

log = logging.getLogger(__name__)

# DR advises caching plan ids rather than searching each time. Past half its life a cached
# answer is renewed in the background (one search, claimed through the store across processes)
# while it keeps being used, so only a rule never searched before has a search on a token's path.
SEARCH_CACHE_SECONDS = 3600.0
SEARCH_FRESH_SECONDS = SEARCH_CACHE_SECONDS / 2
RENEWAL_CLAIM_SECONDS = 60.0  # a renewal that failed is tried again after this long


class PlanClient(Protocol):
    """The DR calls made here (`CommerceClient` has them)."""

    def mint_app_token(self, *, deadline: float | None = None) -> DrToken: ...

    def search_purchase_plans(self, access_token: str, **rules: str) -> list[PurchasePlan]: ...

    def authorize_purchase_plan(
        self, access_token: str, plan_id: str, target_market_id: str | None, **rule: str
    ) -> None: ...


class UserLookup(Protocol):
    """The one directory call made here (every `UserDirectory` has it)."""

    def find_by_key(self, key: str) -> DirectoryUser | None: ...


# Authorizes one freshly minted token (its access token is the argument).
AuthorizeStep = Callable[[str], None]


@dataclass(frozen=True)
class PlanGrant:
    plan_id: str
    target_market_id: str | None
    rule: dict[str, str]


def matches(rule: PrivateStoreRule, email: str | None, ip: str | None) -> dict[str, str] | None:
    """The access rule DR should check (e.g. ``{"emailDomain": ...}``) if the user fits it."""
    email = (email or "").strip().lower()
    if rule.email_address and email == rule.email_address.lower():
        return {"emailAddress": email}
    if rule.email_domain and email.endswith("@" + rule.email_domain.lower()):
        return {"emailDomain": rule.email_domain.lower()}
    if rule.ip_range and ip:
        try:
            if ipaddress.ip_address(ip) in ipaddress.ip_network(rule.ip_range, strict=False):
                return {"ipAddress": ip}
        except ValueError:
            return None
    return None


class PrivateStoreAuthorizer:
    def __init__(
        self,
        *,
        rules: tuple[PrivateStoreRule, ...],
        client: PlanClient,
        store: KeyValueStore,
        directory: UserLookup,
        app_token: AppToken | None = None,
        warm_app_token: bool = True,
    ) -> None:
        self._rules = rules
        self._client = client
        self._app_token = app_token or AppToken(client)
        if warm_app_token and any(rule.search or not rule.purchase_plan_id for rule in rules):
            # Ready before the first cold user, whose search then costs one DR call, overlapped
            # with its mint: the cold path stays the mint plus one call even for that user.
            self._app_token.warm_in_background()
        self._store = store
        self._directory = directory
        self.failures = 0
        # One search per access rule at a time in this process: cold users arriving together
        # share the first one's answer (through the cache) instead of each searching.
        self._searching: dict[str, threading.Lock] = {}
        self._searching_lock = threading.Lock()
        self._renewals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-search")

    def __call__(self, erid: str, user_key: str, access_token: str) -> None:
        """Both halves in a row, for a caller that has nothing to overlap them with."""
        step = self.prepare(erid, user_key)
        if step is not None:
            step(access_token)

    def prepare(self, erid: str, user_key: str) -> AuthorizeStep | None:
        """The user's plans, found without the shopper's token; None if there is nothing to
        authorize. A failed search is counted and logged here, never raised: the token is still
        served (the shopper sees the public store meanwhile)."""
        if not self._rules:
            return None
        user = self._directory.find_by_key(user_key)
        email = user.email if user else None
        grants: list[PlanGrant] = []
        for rule in self._rules:
            access = matches(rule, email, None)
            if access is None:
                continue
            try:
                grants.extend(self._plans(rule, access))
            except DrError as exc:
                self._failed(erid, exc)
        if not grants:
            return None
        return lambda access_token: self._authorize(erid, access_token, grants)

    def _authorize(self, erid: str, access_token: str, grants: list[PlanGrant]) -> None:
        for grant in grants:
            try:
                self._client.authorize_purchase_plan(
                    access_token, grant.plan_id, grant.target_market_id, **grant.rule
                )
            except DrError as exc:
                self._failed(erid, exc)
                continue
            metrics.PRIVATE_STORE_AUTHORIZATIONS.labels(outcome="authorized").inc()
            log.info(
                "token authorized for a private store",
                extra={"erid": erid, "purchase_plan": grant.plan_id},
            )

    def _failed(self, erid: str, exc: DrError) -> None:
        self.failures += 1
        metrics.PRIVATE_STORE_AUTHORIZATIONS.labels(outcome="failed").inc()
        log.warning("private store authorization failed: %s", exc.code, extra={"erid": erid})

    def _plans(self, rule: PrivateStoreRule, access: dict[str, str]) -> list[PlanGrant]:
        if not rule.search and rule.purchase_plan_id:
            return [PlanGrant(rule.purchase_plan_id, rule.target_market_id, access)]
        cache_key = "plans:" + json.dumps(access, sort_keys=True)
        cached = self._cached(cache_key, access)
        if cached is not None:
            self._renew_if_ageing(cache_key, access)
            return cached
        with self._searching_lock:
            searching = self._searching.setdefault(cache_key, threading.Lock())
        with searching:
            cached = self._cached(cache_key, access)  # found by the search we waited for
            if cached is not None:
                return cached
            return self._search(cache_key, access)

    def _cached(self, cache_key: str, access: dict[str, str]) -> list[PlanGrant] | None:
        try:
            cached = self._store.get(cache_key)
        except StoreUnavailable:
            return None
        if cached is None:
            return None
        return [PlanGrant(item[0], item[1], access) for item in json.loads(cached)]

    @staticmethod
    def _fresh_key(cache_key: str) -> str:
        return cache_key.replace("plans:", "plans-fresh:", 1)

    def _renew_if_ageing(self, cache_key: str, access: dict[str, str]) -> None:
        try:
            # Claiming the marker is the renewal's single flight across processes; a success
            # extends it to SEARCH_FRESH_SECONDS, a failure lets it lapse soon for a retry.
            claimed = self._store.set(
                self._fresh_key(cache_key), b"1", RENEWAL_CLAIM_SECONDS, only_if_absent=True
            )
        except StoreUnavailable:
            return
        if claimed:
            self._renewals.submit(self._renew, cache_key, access)

    def _renew(self, cache_key: str, access: dict[str, str]) -> None:
        try:
            self._search(cache_key, access)
        except DrError as exc:
            log.warning("renewing a cached purchase-plan search failed: %s", exc.code)
        except Exception:
            log.exception("renewing a cached purchase-plan search failed")

    def _search(self, cache_key: str, access: dict[str, str]) -> list[PlanGrant]:
        access_token = self._app_token.get()
        try:
            plans = self._client.search_purchase_plans(access_token, **access)
        except DrError as exc:
            if exc.status != 401:
                raise
            # Our own token was revoked or expired early at DR: once more with a fresh one.
            self._app_token.discard(access_token)
            plans = self._client.search_purchase_plans(self._app_token.get(), **access)
        found = [[plan.id, plan.target_market_id] for plan in plans if plan.id]
        with contextlib.suppress(StoreUnavailable):
            self._store.set(cache_key, json.dumps(found).encode(), SEARCH_CACHE_SECONDS)
            self._store.set(self._fresh_key(cache_key), b"1", SEARCH_FRESH_SECONDS)
        return [PlanGrant(str(item[0]), item[1], access) for item in found]
