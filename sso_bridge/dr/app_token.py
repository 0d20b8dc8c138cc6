"""The application's own DR token (client credentials, no shopper), for calls that accept any token.

The purchase-plan search is such a call (commerce-api.md: "any token"), so with this token it no
longer waits for the shopper's mint. One token per process, minted ahead of need
(`warm_in_background`, at start-up) or on first use, by one thread at a time, and replaced once
past its refresh point (the caller that finds it ageing mints the next one; the others keep
using the current one meanwhile). It is never cached in the shared store: it is a credential,
it costs one DR call per process per token life, and no shopper's data sits behind it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sso_bridge.dr.client import DrError, DrToken

log = logging.getLogger(__name__)


class AppTokenMinter(Protocol):
    def mint_app_token(self, *, deadline: float | None = None) -> DrToken: ...


@dataclass(frozen=True)
class _Held:
    access_token: str = field(repr=False)
    refresh_at: float
    expires_at: float


class AppToken:
    def __init__(
        self,
        client: AppTokenMinter,
        *,
        deadline: float | None = None,
        safety_margin: float = 60.0,
        refresh_fraction: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._deadline = deadline
        self._safety_margin = safety_margin
        self._refresh_fraction = refresh_fraction
        self._clock = clock
        self._held: _Held | None = None
        self._minting = threading.Lock()

    def get(self) -> str:
        """A usable token (raises `DrError` when one has to be minted and DR refuses)."""
        held = self._held
        now = self._clock()
        if held is not None and now < held.refresh_at:
            return held.access_token
        if held is not None and now < held.expires_at:
            # Ageing but usable: whoever gets the lock renews it; nobody waits for that.
            if not self._minting.acquire(blocking=False):
                return held.access_token
            try:
                return self._mint().access_token
            except DrError as exc:
                log.warning("renewing the application's DR token failed: %s", exc.code)
                return held.access_token
            finally:
                self._minting.release()
        with self._minting:
            held = self._held  # minted by the thread we waited for
            if held is not None and self._clock() < held.expires_at:
                return held.access_token
            return self._mint().access_token

    def warm_in_background(self) -> None:
        """Mint now, off the caller's path, so the first search does not wait for it (a plain
        daemon thread: nothing to shut down, and no pool to be left broken by a fork)."""
        threading.Thread(target=self._warm, name="dr-app-token", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.get()
        except DrError as exc:  # the first search mints it instead
            log.warning("minting the application's DR token failed: %s", exc.code)

    def discard(self, access_token: str) -> None:
        """DR refused this token (revoked, expired early): the next `get` mints a fresh one."""
        held = self._held
        if held is not None and held.access_token == access_token:
            self._held = None

    def _mint(self) -> _Held:
        token = self._client.mint_app_token(deadline=self._deadline)
        now = self._clock()
        life = max(float(token.expires_in), 1.0)
        margin = min(self._safety_margin, life * 0.2)
        held = _Held(
            token.access_token, now + life * self._refresh_fraction, now + life - margin
        )
        self._held = held
        return held
