"""TokenBroker: DR full-access tokens from the shared cache, minted at most once per user at a time.

Policy, in order:
- A cached token that is still valid (expiry minus a safety margin) is served at once. Past the
  refresh point (a fraction of its life) one process, holding the user's lock, mints a successor
  in the background while every request keeps getting the current token.
- On a miss, one request across every process and replica takes the user's Redis lock (``SET NX``
  with an owner token, released by compare-and-delete, renewed between steps and sized so that
  it cannot lapse inside any single step, each of which has its own deadline) and mints; the
  others wait briefly for the new token instead of minting.
- After a DR failure a short negative entry makes followers fail fast (503 + Retry-After) rather
  than pile onto a DR that is down.
- Revocation wins every race. A revocation first marks itself in progress (``revoking:{ERID}``),
  then replaces the user's generation (``rev:{ERID}``, a random value, so that one expiring and
  being set again can never bring back a value a mint read), then drops and revokes what is
  cached. A mint reads the generation, then the mark: with a revocation running it does not
  start (503), and its result is cached only by compare-and-set against the generation it read,
  so a mint that a revocation overtook caches nothing, hands nothing out (503, Retry-After 1:
  the caller asks again and goes through every check afresh) and revokes its own token at DR.
  Every cached value was therefore written before the revocation's new generation, and is
  dropped by it.
- The user must still be allowed a token: ``may_serve`` is asked before a cached token is
  served (a cheap, bounded answer: the cache-hit path stays free of SQL) and ``may_mint`` before
  any DR mint (the directory's word, now).
Values are sealed (AES-GCM) and keys carry the ERID in a Redis Cluster hash tag, so a user's token,
lock, negative entry, generation and revocation mark live in one slot; session-aware tokens are
keyed by a hash of the DR session token, never the token itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from sso_bridge import metrics
from sso_bridge.dr.client import (
    DrConfigurationError,
    DrError,
    DrRateLimited,
    DrToken,
    DrUnavailable,
)
from sso_bridge.dr.sealing import Sealer, SealError
from sso_bridge.store import KeyValueStore, StoreUnavailable

log = logging.getLogger(__name__)
audit = logging.getLogger("sso_bridge.audit")


class UserRefused(Exception):
    """``may_serve`` or ``may_mint`` refused: this user gets no token (e.g. no longer active)."""


class TokenUnavailable(Exception):
    """No token can be served now; ``retry_after`` seconds is a fair wait."""

    def __init__(self, reason: str, *, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class TokenGrant:
    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    external_reference_id: str


@dataclass(frozen=True)
class CachedToken:
    access_token: str = field(repr=False)
    token_type: str
    issued_at: float
    expires_at: float

    # A compact line format, token last so it may hold any character: decoding it is a
    # split, cheaper than JSON on the cache-hit path.
    def encode(self) -> bytes:
        head = f"{self.issued_at:.3f}\n{self.expires_at:.3f}\n{self.token_type}\n"
        return (head + self.access_token).encode()

    @classmethod
    def decode(cls, raw: bytes) -> CachedToken:
        issued_at, expires_at, token_type, access_token = raw.decode().split("\n", 3)
        return cls(access_token, token_type, float(issued_at), float(expires_at))


@dataclass(frozen=True)
class BrokerPolicy:
    safety_margin: float = 60.0  # never serve a token closer than this to its expiry...
    max_margin_fraction: float = 0.2  # ...or than this fraction of its life, if smaller
    refresh_fraction: float = 0.5  # mint a successor once this much of the life has passed
    mint_deadline: float = 1.5  # seconds one DR call (with its retries) may take
    wait_budget: float = 1.8  # how long a follower waits for another request's mint
    negative_ttl: float = 2.0  # fail fast for this long after DR failed
    circuit_threshold: int = 5  # DR failures within circuit_window that open the circuit
    circuit_window: float = 10.0
    circuit_open_seconds: float = 5.0
    poll_interval: float = 0.02
    # Threads per process for the calls overlapped with and after a mint: each mint in flight
    # uses up to three at once (plan lookup, shopper, authorization) and a process has at most
    # one mint in flight per request thread, so 8 made a stampede on 4 request threads queue
    # (12 wanted). Threads start only when needed, so a roomy bound costs nothing idle.
    after_mint_workers: int = 32

    @property
    def lock_ttl(self) -> float:
        # Longer than any single step (each bounded by mint_deadline); renewed between steps.
        return 2 * self.mint_deadline + 1.0

    @property
    def after_mint_deadline(self) -> float:
        # Shopper provisioning and plan authorization are each at most two DR calls in a row
        # (create then read back on a conflict; search then authorize), each bounded by the
        # DR call deadline, which is mint_deadline.
        return 2 * self.mint_deadline


_OPENED_LIMIT = 10_000  # opened cache values kept per process (a few MiB at most)

# A generation only needs to outlive any mint that read it (each step of a mint has a deadline;
# one expiring mid-mint makes that mint refuse its result, never accept a stale one);
# a revocation mark outlives the revocation that crashed holding it by at most this long.
GENERATION_TTL = 86_400.0
REVOKING_TTL = 30.0

CIRCUIT_OPEN_KEY = "cb:dr:open"
CIRCUIT_FAILURES_KEY = "cb:dr:failures"

# Shopper provisioning, run after the mint on the broker's pool while the lock is held (so at
# most once at a time per user); the token is cached once it is done:
# (erid, user_key, access_token) -> None
FirstMintHook = Callable[[str, str, str], None]


class MintAuthorization(Protocol):
    """Work done for every new token in two halves. ``prepare(erid, user_key)`` needs no token
    and runs alongside the mint (e.g. the purchase-plan search); the step it returns (None:
    nothing to do) gets the new access token and runs beside the shopper provisioning."""

    def prepare(self, erid: str, user_key: str) -> Callable[[str], None] | None: ...


class BrokerClient(Protocol):
    """The DR calls the broker makes (`CommerceClient` has them)."""

    def mint_token(
        self,
        external_reference_id: str,
        *,
        dr_session_token: str | None = None,
        deadline: float | None = None,
    ) -> DrToken: ...

    def revoke_token(self, access_token: str) -> None: ...

    def ping(self, timeout: float = 1.0) -> None: ...

# user_key -> whether the user may have a token: a cached one (may_serve), a new one (may_mint)
UserCheck = Callable[[str], bool]


def _session_suffix(session_token: str | None) -> str:
    if not session_token:
        return ""
    return ":s:" + hashlib.sha256(session_token.encode()).hexdigest()[:32]


class TokenBroker:
    def __init__(
        self,
        *,
        store: KeyValueStore,
        sealer: Sealer,
        client: BrokerClient,
        policy: BrokerPolicy,
        ensure_shopper: FirstMintHook | None = None,
        on_minted: MintAuthorization | None = None,
        may_serve: UserCheck | None = None,
        may_mint: UserCheck | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._client = client
        self._policy = policy
        self._ensure_shopper = ensure_shopper
        self._on_minted = on_minted
        self._may_serve = may_serve
        self._may_mint = may_mint
        self._clock = clock
        self._opened: dict[tuple[str, bytes], CachedToken] = {}
        self._refreshing: set[str] = set()
        self._refreshing_lock = threading.Lock()
        # Notified whenever a lock this process held is released (minted, failed or given
        # up): a follower in the same process wakes at once instead of at its next poll; one
        # in another process still polls (poll_interval).
        self._released = threading.Condition()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="token-refresh")
        # Separate from the refresh pool: a refresh's mint submits here and waits, so sharing
        # one bounded pool could deadlock it.
        self._after_mint = ThreadPoolExecutor(
            max_workers=policy.after_mint_workers, thread_name_prefix="token-after-mint"
        )

    # --- keys ---------------------------------------------------------------------------------

    @staticmethod
    def _keys(erid: str, session_token: str | None) -> tuple[str, str, str]:
        tag = "{" + erid + "}"
        suffix = _session_suffix(session_token)
        return f"tok:{tag}{suffix}", f"lock:{tag}{suffix}", f"neg:{tag}{suffix}"

    # --- reading ------------------------------------------------------------------------------

    def _read(self, key: str) -> CachedToken | None:
        raw = self._store.get(key)
        if raw is None:
            return None
        # The same sealed bytes always open to the same token: remember the opened value so a
        # cache hit costs one Redis GET and a dict lookup, not a decryption. Redis stays the
        # source of truth (a revoked or replaced token is a different or missing value, and
        # sealing uses a fresh nonce, so a revoked token's bytes never come back: this memo
        # cannot resurrect it).
        opened = self._opened.get((key, raw))
        if opened is not None:
            return opened
        try:
            opened = CachedToken.decode(self._sealer.open(raw, context=key))
        except (SealError, ValueError, UnicodeDecodeError):
            log.warning("cached token could not be opened; treating it as a miss")
            return None
        if len(self._opened) >= _OPENED_LIMIT:
            self._opened.clear()
        self._opened[(key, raw)] = opened
        return opened

    def _margin(self, entry: CachedToken) -> float:
        life = entry.expires_at - entry.issued_at
        return min(self._policy.safety_margin, life * self._policy.max_margin_fraction)

    def _usable(self, entry: CachedToken, now: float) -> bool:
        return now < entry.expires_at - self._margin(entry)

    def _refresh_due(self, entry: CachedToken, now: float) -> bool:
        life = entry.expires_at - entry.issued_at
        return now >= entry.issued_at + life * self._policy.refresh_fraction

    def _grant(self, entry: CachedToken, erid: str, now: float) -> TokenGrant:
        remaining = int(entry.expires_at - self._margin(entry) - now)
        return TokenGrant(entry.access_token, entry.token_type, max(remaining, 1), erid)

    # --- the request path -----------------------------------------------------------------------

    def get_token(
        self, erid: str, *, user_key: str, session_token: str | None = None
    ) -> TokenGrant:
        key = self._keys(erid, session_token)[0]
        try:
            entry = self._read(key)
            now = self._clock()
            if entry is not None and self._usable(entry, now):
                if self._may_serve is not None and not self._may_serve(user_key):
                    raise UserRefused("no active user matches")
                metrics.TOKEN_HITS.inc()
                if self._refresh_due(entry, now):
                    self._refresh_in_background(erid, user_key, session_token)
                return self._grant(entry, erid, now)
            metrics.TOKEN_MISSES.inc()
            return self._mint_or_wait(erid, user_key, session_token)
        except StoreUnavailable as exc:
            # Without the shared cache there is no single flight across processes: minting
            # anyway would multiply DR calls exactly when things are already going wrong.
            raise TokenUnavailable("the token cache is unavailable") from exc

    def _mint_or_wait(self, erid: str, user_key: str, session_token: str | None) -> TokenGrant:
        key, lock_key, negative_key = self._keys(erid, session_token)
        give_up = time.monotonic() + self._policy.wait_budget
        while True:
            negative = self._store.get(negative_key)
            if negative is not None:
                raise TokenUnavailable(
                    "Digital River failed moments ago", retry_after=int(negative)
                )
            if self._store.get(CIRCUIT_OPEN_KEY) is not None:
                raise TokenUnavailable(
                    "Digital River is failing; calls paused",
                    retry_after=int(self._policy.circuit_open_seconds),
                )
            owner = secrets.token_bytes(16)
            if self._store.set(lock_key, owner, self._policy.lock_ttl, only_if_absent=True):
                try:
                    entry = self._read(key)  # another holder may have minted just before us
                    now = self._clock()
                    if entry is not None and self._usable(entry, now):
                        return self._grant(entry, erid, now)
                    entry = self._mint(erid, user_key, session_token, lock_key, owner)
                    return self._grant(entry, erid, self._clock())
                finally:
                    self._store.delete_if_equals(lock_key, owner)
                    with self._released:
                        self._released.notify_all()
            # Someone else is minting: wait for their token rather than minting a second one.
            metrics.LOCK_WAITS.inc()
            while True:
                if time.monotonic() >= give_up:
                    raise TokenUnavailable("timed out waiting for a token from Digital River")
                with self._released:
                    self._released.wait(self._policy.poll_interval)
                entry = self._read(key)
                now = self._clock()
                if entry is not None and self._usable(entry, now):
                    return self._grant(entry, erid, now)
                if self._store.get(lock_key) is None:
                    break  # the holder gave up or failed: check the negative entry, try again

    def _mint(
        self, erid: str, user_key: str, session_token: str | None, lock_key: str, owner: bytes
    ) -> CachedToken:
        key, _, negative_key = self._keys(erid, session_token)
        generation_key = self._generation_key(erid)
        # The generation first, then the mark: a revocation marks before it renews the
        # generation, so either we see its mark, or we read the generation it then replaces
        # and our result is refused.
        generation = self._store.get(generation_key)
        if self._store.members(self._revoking_key(erid)):
            raise TokenUnavailable("the user's tokens are being revoked", retry_after=1)
        if self._may_mint is not None and not self._may_mint(user_key):
            raise UserRefused("no active user matches")
        # Started before the mint, so the plan search (if any) overlaps it; left to finish
        # (and fill its cache) even if the mint fails.
        prepared = self._prepare(erid, user_key)
        started = time.monotonic()
        try:
            token = self._client.mint_token(
                erid, dr_session_token=session_token, deadline=self._policy.mint_deadline
            )
        except DrError as exc:
            metrics.TOKEN_MINTS.labels(outcome="failed").inc()
            metrics.DR_ERRORS.labels(kind=type(exc).__name__).inc()
            self._remember_failure(negative_key, exc)
            transient = isinstance(exc, DrUnavailable | DrRateLimited | DrConfigurationError)
            reason = (
                "Digital River could not issue a token"
                if transient
                else "Digital River refused to issue a token"
            )
            raise TokenUnavailable(reason, retry_after=self._retry_after(exc)) from exc
        metrics.TOKEN_MINTS.labels(outcome="minted").inc()
        metrics.MINT_SECONDS.observe(time.monotonic() - started)
        log.info(
            "minted a DR token",
            extra={
                "erid": erid,
                "session_aware": bool(session_token),
                "mint_ms": round((time.monotonic() - started) * 1000),
            },
        )
        entry = self._entry(token)  # stamped now: its expiry counts from the mint
        self._after_mint_calls(erid, user_key, token.access_token, lock_key, owner, prepared)
        self._store.extend_if_equals(lock_key, owner, self._policy.lock_ttl)
        ttl = entry.expires_at - self._margin(entry) - entry.issued_at
        if ttl > 0:
            if session_token:
                # Session-aware tokens are indexed per user (by the hash in their key, never the
                # session itself) so that revoking the user reaches every one of them. Indexed
                # before the value is written: a revocation that finds the value finds its index.
                self._store.add_member(self._index_key(erid), _session_suffix(session_token), ttl)
            sealed = self._sealer.seal(entry.encode(), context=key)
            kept = self._store.set_if_unchanged(
                key, sealed, ttl, guard=generation_key, expected=generation
            )
        else:  # too short-lived to cache: still never hand out what a revocation overtook
            kept = self._store.get(generation_key) == generation
        if not kept:
            self._discard_overtaken(erid, token.access_token)
            raise TokenUnavailable("the user's tokens were revoked during this request")
        return entry

    def _prepare(self, erid: str, user_key: str) -> Future[Callable[[str], None] | None] | None:
        if self._on_minted is None:
            return None
        context = contextvars.copy_context()
        return self._after_mint.submit(context.run, self._on_minted.prepare, erid, user_key)

    def _after_mint_calls(
        self,
        erid: str,
        user_key: str,
        access_token: str,
        lock_key: str,
        owner: bytes,
        prepared: Future[Callable[[str], None] | None] | None,
    ) -> None:
        """Shopper provisioning and plan authorization at once: both need only the token (DR does
        not ask for the shopper to exist before authorizing its session), and the plan search
        the authorization needs was started with the mint, so the cold path costs the mint (or
        the search, if slower) plus the slower of the two. The lock is renewed while they run
        and stays held until both finish or are abandoned at their deadline. A failed or
        abandoned provisioning fails the mint (no token without its shopper); a failed or
        abandoned authorization does not (the shopper sees the public store meanwhile)."""
        shopper = self._submit(self._ensure_shopper, erid, user_key, access_token)
        authorization = (
            self._submit(functools.partial(self._authorize, prepared), erid, user_key, access_token)
            if prepared is not None
            else None
        )
        pending = {f for f in (shopper, authorization) if f is not None}
        give_up = time.monotonic() + self._policy.after_mint_deadline
        renew_every = self._policy.lock_ttl / 3
        while pending:
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                break
            self._store.extend_if_equals(lock_key, owner, self._policy.lock_ttl)
            _, pending = wait(pending, timeout=min(renew_every, remaining))
        self._store.extend_if_equals(lock_key, owner, self._policy.lock_ttl)
        for future in pending:
            future.cancel()  # only stops one still queued; a running call ends at its deadline
        if authorization is not None:
            self._settle_authorization(erid, authorization)
        if shopper is not None:
            if shopper.cancelled() or not shopper.done():
                log.warning("shopper provisioning passed its deadline", extra={"erid": erid})
                raise TokenUnavailable("could not provision the DR shopper in time")
            shopper.result()  # re-raises its failure

    def _authorize(
        self,
        prepared: Future[Callable[[str], None] | None],
        erid: str,
        user_key: str,
        access_token: str,
    ) -> None:
        # Waiting here cannot deadlock the pool: ``prepared`` was queued before this task (the
        # pool is first in, first out), so it is running or done by the time this one runs.
        step = prepared.result(timeout=self._policy.after_mint_deadline)
        if step is not None:
            step(access_token)

    def _submit(
        self, hook: FirstMintHook | None, erid: str, user_key: str, access_token: str
    ) -> Future[None] | None:
        if hook is None:
            return None
        # The caller's context (request id for the logs) goes along to the pool thread.
        context = contextvars.copy_context()
        return self._after_mint.submit(context.run, hook, erid, user_key, access_token)

    @staticmethod
    def _settle_authorization(erid: str, authorization: Future[None]) -> None:
        if authorization.cancelled() or not authorization.done():
            metrics.PRIVATE_STORE_AUTHORIZATIONS.labels(outcome="failed").inc()
            log.warning(
                "private store authorization passed its deadline; token served without it",
                extra={"erid": erid},
            )
        elif authorization.exception() is not None:
            log.warning(
                "private store authorization failed: %s",
                type(authorization.exception()).__name__,
                extra={"erid": erid},
            )

    def _discard_overtaken(self, erid: str, access_token: str) -> None:
        metrics.TOKEN_MINTS.labels(outcome="overtaken").inc()
        audit.info(
            "a mint overtaken by a revocation was discarded",
            extra={"event": "token_mint_overtaken", "erid": erid},
        )
        try:
            self._client.revoke_token(access_token)
        except DrError as exc:
            log.warning("could not revoke an overtaken token at DR: %s", exc.code)

    def _entry(self, token: DrToken) -> CachedToken:
        issued = self._clock()
        return CachedToken(
            token.access_token,
            token.token_type or "bearer",
            issued,
            issued + max(int(token.expires_in), 1),
        )

    def _remember_failure(self, negative_key: str, exc: DrError) -> None:
        if isinstance(exc, DrConfigurationError):
            log.error("Digital River rejected the API key/secret (invalid_client)")
        else:
            log.warning("Digital River token call failed: %s", exc.code)
        if isinstance(exc, DrUnavailable | DrRateLimited):
            self._count_toward_circuit()
        ttl = max(self._policy.negative_ttl, float(exc.retry_after or 0))
        with contextlib.suppress(StoreUnavailable):
            self._store.set(negative_key, str(max(1, round(ttl))).encode(), ttl)

    def _count_toward_circuit(self) -> None:
        """Several DR failures in a short window open the circuit for every worker and replica
        (the state lives in the shared store): misses then fail fast until it closes again."""
        try:
            failures = self._store.increment(CIRCUIT_FAILURES_KEY, self._policy.circuit_window)
            if failures >= self._policy.circuit_threshold and self._store.set(
                CIRCUIT_OPEN_KEY, b"1", self._policy.circuit_open_seconds, only_if_absent=True
            ):
                metrics.CIRCUIT_OPEN.inc()
                log.warning("Digital River circuit opened after %d failures", failures)
        except StoreUnavailable:
            pass

    def check_dr(self) -> None:
        """Readiness: DR's token endpoint answers (raises DrError otherwise)."""
        self._client.ping()

    @staticmethod
    def _retry_after(exc: DrError) -> int:
        return max(1, round(exc.retry_after or 1))

    # --- refresh ahead --------------------------------------------------------------------------

    def _refresh_in_background(self, erid: str, user_key: str, session_token: str | None) -> None:
        key = self._keys(erid, session_token)[0]
        with self._refreshing_lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
        metrics.TOKEN_REFRESHES.inc()
        self._executor.submit(self._refresh, erid, user_key, session_token)

    def _refresh(self, erid: str, user_key: str, session_token: str | None) -> None:
        key, lock_key, negative_key = self._keys(erid, session_token)
        owner = secrets.token_bytes(16)
        try:
            if self._store.get(negative_key) is not None:
                return
            if not self._store.set(lock_key, owner, self._policy.lock_ttl, only_if_absent=True):
                return  # another process is refreshing this user
            try:
                entry = self._read(key)
                if entry is not None and not self._refresh_due(entry, self._clock()):
                    return  # refreshed by someone else a moment ago
                self._mint(erid, user_key, session_token, lock_key, owner)
            finally:
                self._store.delete_if_equals(lock_key, owner)
        except UserRefused:
            log.info("background token refresh refused: the user is not active")
        except (TokenUnavailable, StoreUnavailable) as exc:
            log.warning("background token refresh failed: %s", type(exc).__name__)
        except Exception:
            log.exception("background token refresh failed")
        finally:
            with self._refreshing_lock:
                self._refreshing.discard(key)

    # --- revocation ---------------------------------------------------------------------------

    @staticmethod
    def _index_key(erid: str) -> str:
        return "tokidx:{" + erid + "}"

    @staticmethod
    def _generation_key(erid: str) -> str:
        return "rev:{" + erid + "}"

    @staticmethod
    def _revoking_key(erid: str) -> str:
        return "revoking:{" + erid + "}"

    def revoke(self, erid: str) -> int:
        """Revoke every cached token of the user (plain and session-aware) at DR and drop them
        from the cache. Returns how many there were. Each is dropped before DR is asked, so a
        DR failure (raised after the others were tried) never leaves a revoked user served.
        While it runs no mint for the user starts, and any mint already under way caches and
        hands out nothing (see the module docstring)."""
        revoking_key = self._revoking_key(erid)
        revoker = secrets.token_hex(8)
        # Mark, then renew the generation: the order _mint relies on.
        self._store.add_member(revoking_key, revoker, REVOKING_TTL)
        try:
            self._store.set(
                self._generation_key(erid), secrets.token_hex(16).encode(), GENERATION_TTL
            )
            return self._drop_and_revoke(erid, revoking_key, revoker)
        finally:
            with contextlib.suppress(StoreUnavailable):
                self._store.remove_member(revoking_key, revoker)

    def _drop_and_revoke(self, erid: str, revoking_key: str, revoker: str) -> int:
        tag = "{" + erid + "}"
        keys = [f"tok:{tag}"] + [
            f"tok:{tag}{suffix}" for suffix in sorted(self._store.members(self._index_key(erid)))
        ]
        tokens = []
        for key in keys:
            entry = self._read(key)
            self._store.delete(key)
            if entry is not None:
                tokens.append(entry.access_token)
        self._store.delete(self._index_key(erid))
        failure: DrError | None = None
        for access_token in tokens:
            self._store.add_member(revoking_key, revoker, REVOKING_TTL)  # still running
            try:
                self._client.revoke_token(access_token)
            except DrError as exc:
                failure = exc
        if tokens:
            audit.info(
                "tokens revoked",
                extra={"event": "token_revoked", "erid": erid, "count": len(tokens)},
            )
        if failure is not None:
            raise failure
        return len(tokens)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._after_mint.shutdown(wait=False, cancel_futures=True)
