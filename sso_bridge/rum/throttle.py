"""Brute-force protection: throttling of FAILED attempts, with back-off, never a hard lockout.

What is counted (NIST 800-63B counts failed attempts, so successes never use up a budget):

- Sign-in (LoginRequest), per account: the RESOLVED user (``user:<key>``), whichever login column
  or spelling named it; a login that names nobody is counted under its canonical form (NFKC,
  stripped, casefolded). 5 failures a minute, 20 in 15 minutes, 100 an hour (the NIST ceiling);
  the growing windows are the back-off. A success clears the account's windows.
- Sign-in per shopper IP, only when DR passes it in a configured extended attribute (DR's own
  address is every shopper's, so it is never used): 30 failures a minute, 300 an hour.
- Registration (CreateUserProfileRequest) per email, counting "Email already used" answers (DR
  retrying a shopper's registration gets its ERID back and counts nothing), and per shopper IP,
  counting every registration (accounts made included: a shopper registers once); profile
  lookups by login (GetUserProfileRequest) per login and per shopper IP, counting misses. These
  answer 503 + Retry-After once throttled (an answer that does not depend on whether the email
  or login exists).
- A deployment-wide count of failures a minute. Passing it refuses nobody: it only stops the
  attempts that cannot succeed anyway (unknown or ambiguous logins, throttled attempts) from
  spending CPU on a dummy verification; they still wait for the failure time floor.

Why concurrency cannot be turned against the real user, nor multiply an attacker's guesses.
Each scope keeps SETTLED failures per window and a count of attempts IN FLIGHT (verifying now):

1. An attempt is refused ("throttled") only when settled failures already reached a window's limit.
   In-flight attempts never refuse anyone: they may all be the real user's correct password.
2. While failures + in-flight is below every limit, the attempt reserves an in-flight slot and
   goes on: even if every attempt in flight fails, the limit is not passed.
3. Otherwise the attempt waits (polling, at most ``wait`` seconds) for in-flight attempts to
   settle. Failures settle as failures (and the next check may refuse); successes settle as
   nothing. When the wait is over it decides on settled failures alone (rule 1), so a correct
   password is never refused because other attempts were in flight, however many arrive at once.
4. To keep that last step from multiplying guesses without bound, at most ``max_in_flight``
   attempts of one scope may be in flight at once past the point of rule 2; beyond that the
   attempt is shed with 503 + Retry-After (DR shows "try again"), never with "Invalid login".
   So one window admits at most ``limit - 1 + max_in_flight`` failures, whatever the concurrency.

Counter key names are keyed digests (HMAC-SHA256 under a secret from configuration), so a dump of
the store and a list of emails do not tell who is being attacked. If the shared store is down,
counting falls back to this process's memory (documented policy: sign-in stays available, limits
are then per process).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from sso_bridge.directory.gate import VerificationBusy
from sso_bridge.store import StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    seconds: int
    limit: int


@dataclass(frozen=True)
class ThrottlePolicy:
    account: tuple[Window, ...] = (Window(60, 5), Window(900, 20), Window(3600, 100))
    ip: tuple[Window, ...] = (Window(60, 30), Window(3600, 300))
    registration_email: tuple[Window, ...] = (Window(60, 5), Window(3600, 20))
    registration_ip: tuple[Window, ...] = (Window(60, 10), Window(3600, 50))
    lookup_login: tuple[Window, ...] = (Window(60, 10), Window(3600, 100))
    lookup_ip: tuple[Window, ...] = (Window(60, 30), Window(3600, 300))
    # Failures a minute across the deployment past which hopeless attempts skip the dummy hash.
    global_failures_per_minute: int = 6000
    # Rule 3 and 4 of the module docstring.
    wait: float = 2.0
    max_in_flight: int = 16
    poll: float = 0.025
    # A reservation left by a process that died mid-attempt stops counting after this long.
    in_flight_ttl: float = 60.0


class Admission(Enum):
    RESERVED = "reserved"
    THROTTLED = "throttled"
    WAIT = "wait"
    BUSY = "busy"


@dataclass(frozen=True)
class Subject:
    """One throttled scope of one attempt: its name, keyed digest and windows."""

    scope: str
    digest: str
    windows: tuple[Window, ...]
    clears_on_success: bool = False


class ThrottleCounters(Protocol):
    """Where settled failures and in-flight reservations live (Redis, or this process)."""

    def admit(self, subject: Subject, *, force: bool, max_in_flight: int, ttl: float) -> Admission:
        """Atomically: THROTTLED if settled failures reached a limit; else reserve an in-flight
        slot (RESERVED) if failures + in flight stay below every limit, or if ``force`` and
        fewer than ``max_in_flight`` are in flight; else WAIT (not forced) or BUSY (forced)."""

    def settle(self, subject: Subject, *, failed: bool, clear: bool) -> None:
        """Release one reservation; count a failure in every window, or clear them."""

    def release(self, subject: Subject) -> None:
        """Release one reservation, counting nothing."""

    def count_global_failure(self) -> int: ...

    def global_failures(self) -> int: ...


def canonical(value: str) -> str:
    """How a login or email is counted when it names nobody: every spelling of it alike."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def throttle_key(configured: str | None, fallbacks: Iterable[str | None]) -> bytes:
    """The HMAC key for counter names: ``THROTTLE_KEY``, else derived from the first configured
    secret among ``fallbacks`` (every process of a deployment derives the same key), else a random
    one (a single process only: counters are then not shared, which the caller warns about)."""
    for secret in (configured, *fallbacks):
        if secret:
            return hmac.new(b"sso-bridge throttle key v1", secret.encode(), "sha256").digest()
    log.warning("no secret configured to key throttle counters: using a per-process key")
    return secrets.token_bytes(32)


def secret_of_rum_users(users: Mapping[str, str] | None) -> str | None:
    """The RUM credentials as one stable text, to derive the throttle key from."""
    return json.dumps(sorted(users.items())) if users else None


@dataclass
class Attempt:
    """Reservations held by one attempt until it settles."""

    throttle: LoginThrottle
    held: list[tuple[Subject, ThrottleCounters]] = field(default_factory=list)
    throttled: str | None = None
    waited: float = 0.0

    def succeeded(self) -> None:
        for subject, counters in self.held:
            self.throttle.settle(counters, subject, failed=False)
        self.held = []

    def failed(self, *, globally: bool = True) -> None:
        """Count a failure in every scope (and, for sign-ins, in the deployment-wide count)."""
        for subject, counters in self.held:
            self.throttle.settle(counters, subject, failed=True)
        if self.held and globally:
            self.throttle.record_global_failure()
        self.held = []

    def counted_in(self, scopes: Collection[str]) -> None:
        """Count the attempt in the scopes named, as nothing in the others (a registration that
        made an account counts per shopper IP, never against its email)."""
        for subject, counters in self.held:
            self.throttle.settle(counters, subject, failed=subject.scope in scopes)
        self.held = []

    def cancel(self) -> None:
        """The attempt ended without a verdict (a dependency failed): count nothing."""
        for subject, counters in self.held:
            self.throttle.release(counters, subject)
        self.held = []


class LoginThrottle:
    def __init__(
        self,
        *,
        counters: ThrottleCounters,
        fallback: ThrottleCounters,
        key: bytes,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._counters = counters
        self._fallback = fallback
        self._key = key
        self._policy = policy or ThrottlePolicy()
        self._clock = clock
        self._sleep = sleep

    @property
    def policy(self) -> ThrottlePolicy:
        return self._policy

    # --- subjects ---------------------------------------------------------------------------

    def _subject(
        self, scope: str, value: str, windows: tuple[Window, ...], *, clears: bool = False
    ) -> Subject:
        # Keyed: without the key a digest cannot be matched against a list of logins or IPs.
        mac = hmac.new(self._key, f"{scope}\0{value}".encode(), hashlib.sha256)
        return Subject(scope, mac.hexdigest()[:32], windows, clears)

    def sign_in_subjects(
        self, user_key: str | None, login: str, ip: str | None
    ) -> tuple[Subject, ...]:
        account = f"user:{user_key}" if user_key is not None else f"login:{canonical(login)}"
        subjects = [self._subject("account", account, self._policy.account, clears=True)]
        if ip:
            subjects.append(self._subject("ip", ip, self._policy.ip))
        return tuple(subjects)

    def registration_subjects(self, email: str, ip: str | None) -> tuple[Subject, ...]:
        subjects = [
            self._subject("registration_email", canonical(email), self._policy.registration_email)
        ]
        if ip:
            subjects.append(self._subject("registration_ip", ip, self._policy.registration_ip))
        return tuple(subjects)

    def lookup_subjects(self, login: str, ip: str | None) -> tuple[Subject, ...]:
        subjects = [self._subject("lookup_login", canonical(login), self._policy.lookup_login)]
        if ip:
            subjects.append(self._subject("lookup_ip", ip, self._policy.lookup_ip))
        return tuple(subjects)

    # --- attempts ---------------------------------------------------------------------------

    def begin(self, subjects: Sequence[Subject]) -> Attempt:
        """Reserve every subject (see the module docstring); ``throttled`` names the scope that
        refuses the attempt. Raises VerificationBusy past the in-flight cap."""
        started = self._clock()
        deadline = started + self._policy.wait
        while True:
            force = self._clock() >= deadline
            attempt = Attempt(self)
            verdict = Admission.RESERVED
            for subject in subjects:
                verdict, counters = self._admit(subject, force)
                if verdict is not Admission.RESERVED:
                    attempt.throttled = subject.scope
                    break
                attempt.held.append((subject, counters))
            attempt.waited = self._clock() - started
            if verdict is Admission.RESERVED:
                return attempt
            attempt.cancel()
            if verdict is Admission.THROTTLED:
                return attempt
            if verdict is Admission.BUSY:
                raise VerificationBusy()
            self._sleep(self._policy.poll)

    def past_global_ceiling(self) -> bool:
        try:
            count = self._counters.global_failures()
        except StoreUnavailable:
            count = self._fallback.global_failures()
        return count >= self._policy.global_failures_per_minute

    def record_global_failure(self) -> None:
        try:
            self._counters.count_global_failure()
        except StoreUnavailable:
            self._fallback.count_global_failure()

    # --- store access -----------------------------------------------------------------------

    def _admit(self, subject: Subject, force: bool) -> tuple[Admission, ThrottleCounters]:
        policy = self._policy
        try:
            verdict = self._counters.admit(
                subject, force=force, max_in_flight=policy.max_in_flight, ttl=policy.in_flight_ttl
            )
            return verdict, self._counters
        except StoreUnavailable:
            log.warning("login throttle: shared store unavailable, counting in-process")
            verdict = self._fallback.admit(
                subject, force=force, max_in_flight=policy.max_in_flight, ttl=policy.in_flight_ttl
            )
            return verdict, self._fallback

    def settle(self, counters: ThrottleCounters, subject: Subject, *, failed: bool) -> None:
        clear = not failed and subject.clears_on_success
        try:
            counters.settle(subject, failed=failed, clear=clear)
        except StoreUnavailable:
            log.warning("login throttle: shared store unavailable, counting in-process")
            self._fallback.settle(subject, failed=failed, clear=clear)

    def release(self, counters: ThrottleCounters, subject: Subject) -> None:
        try:
            counters.release(subject)
        except StoreUnavailable:
            self._fallback.release(subject)
