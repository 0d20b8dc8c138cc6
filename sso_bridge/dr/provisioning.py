"""Make sure the DR shopper exists before a user's first token is handed out."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from sso_bridge.dr.broker import TokenUnavailable
from sso_bridge.dr.client import DrConflict, DrError, Shopper
from sso_bridge.dr.private_stores import UserLookup
from sso_bridge.identity import IdentityMap

log = logging.getLogger(__name__)
audit = logging.getLogger("sso_bridge.audit")


class ShopperClient(Protocol):
    """The DR calls made here (`CommerceClient` has them)."""

    def create_shopper(
        self,
        access_token: str,
        shopper: Shopper,
        *,
        locale: str | None = None,
        currency: str | None = None,
    ) -> None: ...

    def get_shopper(self, access_token: str) -> Shopper: ...


class ShopperMismatch(Exception):
    """DR holds a shopper for this token whose ERID is not the one we minted for."""


class ShopperProvisioner:
    """Creates the DR shopper on first mint; records it in the identity map so it happens once.

    Called by the broker while it holds the user's mint lock, so concurrent first mints of one
    user cannot both create. A 409 means the shopper exists (an earlier run, or an import): it is
    then read back and its ERID must match, else the token is refused loudly.
    """

    def __init__(
        self, *, client: ShopperClient, identities: IdentityMap, directory: UserLookup
    ) -> None:
        self._client = client
        self._identities = identities
        self._directory = directory
        self._known: set[str] = set()
        self._known_lock = threading.Lock()

    def __call__(self, erid: str, user_key: str, access_token: str) -> None:
        if erid in self._known:
            return
        if not self._identities.is_provisioned(erid):
            self._provision(erid, user_key, access_token)
        with self._known_lock:
            self._known.add(erid)

    def _provision(self, erid: str, user_key: str, access_token: str) -> None:
        user = self._directory.find_by_key(user_key)
        shopper = Shopper(
            external_reference_id=erid,
            first_name=user.first_name if user else None,
            last_name=user.last_name if user else None,
            email=user.email if user else None,
        )
        try:
            try:
                self._client.create_shopper(
                    access_token, shopper, locale=user.locale if user else None
                )
                audit.info("DR shopper created", extra={"event": "shopper_created", "erid": erid})
            except DrConflict:
                existing = self._client.get_shopper(access_token)
                if existing.external_reference_id != erid:
                    log.error("DR shopper ERID mismatch: refusing the token", extra={"erid": erid})
                    raise ShopperMismatch(
                        "the DR shopper behind this token has another externalReferenceId"
                    ) from None
        except DrError as exc:
            raise TokenUnavailable(
                "could not provision the DR shopper", retry_after=max(1, int(exc.retry_after or 1))
            ) from exc
        self._identities.mark_provisioned(erid)
