"""The four RUM operations: what the bridge answers, decided without Flask, XML or SQL details.

Error codes in ``errorCode`` (DR documents only 5; the rest are ours, listed in the README):
  5  invalid login (unknown login, wrong password, inactive account with a wrong password) and
     "Email already used" on registration
  6  account not active (only once the password was proven correct)
  7  session not valid (unknown, expired or revoked token)
  8  registration refused as given: no email or no password, or an email or login with
     invisible or control characters, not in NFKC form, or mixing writing systems
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sso_bridge import canonical, metrics
from sso_bridge.directory.base import (
    AmbiguousLogin,
    DirectoryUnavailable,
    DirectoryUser,
    EmailTaken,
    NewUser,
    RegistrationClosed,
    UserDirectory,
)
from sso_bridge.directory.gate import VerificationBusy
from sso_bridge.identity import IdentityMap
from sso_bridge.registrations import Claim, ClaimLost, RegistrationLedger
from sso_bridge.rum.messages import (
    CreateUserProfileRequest,
    GetUserProfileRequest,
    GetUserProfileResponse,
    LoginRequest,
    LoginResponse,
    RumRequest,
    RumResponse,
    UserInfo,
    UserKey,
    ValidateSessionRequest,
    response_name,
)
from sso_bridge.rum.throttle import Attempt, LoginThrottle, Subject
from sso_bridge.rum.timing import FailureFloor
from sso_bridge.sessions import SessionStore

log = logging.getLogger(__name__)
audit = logging.getLogger("sso_bridge.audit")

INVALID_LOGIN = ("5", "Invalid login")
EMAIL_USED = ("5", "Email already used")
NOT_ACTIVE = ("6", "User not active")
SESSION_INVALID = ("7", "Session not valid")
REGISTRATION_INCOMPLETE = ("8", "Email and password are required")
# errorCode 8 with "<Email|Login> <reason>", reasons from sso_bridge.canonical.
REGISTRATION_REFUSED = "8"
EMAIL_TOO_LONG = ("8", "Email is too long")
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a path; the registrations key must fit too
PROFILE_NOT_ACTIVE = "User not active"


class PasswordDecoder(Protocol):
    def decrypt(self, text: str) -> str: ...


@dataclass(frozen=True)
class RumOptions:
    site_id: str | None = None
    session_attribute: str = "sessionToken"
    registration_retry_window: timedelta = timedelta(minutes=10)
    # How long a create waits for a concurrent create of the same email to finish; longer than
    # the registration lease, so a dead owner's claim is taken over within one request.
    registration_wait: float = 6.0
    shopper_ip_attribute: str | None = None


class RumService:
    def __init__(
        self,
        *,
        directory: UserDirectory,
        identities: IdentityMap,
        registrations: RegistrationLedger,
        sessions: SessionStore,
        password_decoder: PasswordDecoder,
        options: RumOptions,
        throttle: LoginThrottle | None = None,
        floor: FailureFloor | None = None,
    ) -> None:
        self._throttle = throttle
        self._floor = floor or FailureFloor()
        self._directory = directory
        self._identities = identities
        self._registrations = registrations
        self._sessions = sessions
        self._decoder = password_decoder
        self._options = options

    def handle(self, request: RumRequest) -> RumResponse:
        if isinstance(request, LoginRequest):
            return self.login(request)
        if isinstance(request, GetUserProfileRequest):
            return self.get_profile(request)
        if isinstance(request, ValidateSessionRequest):
            return self.validate_session(request)
        return self.create_user(request)

    # --- helpers ----------------------------------------------------------------------------

    def _user_key(self, user: DirectoryUser, erid: str, site_id: str | None) -> UserKey:
        return UserKey(
            external_reference_id=erid,
            login_id=user.login,
            site_id=site_id or self._options.site_id,
        )

    def _password(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        try:
            return self._decoder.decrypt(raw)
        except Exception:  # any decoder failure is the same business outcome: no sign-in
            log.warning("RUM password element could not be decrypted (check the shared key)")
            return None

    def _shopper_ip(
        self, request: LoginRequest | GetUserProfileRequest | CreateUserProfileRequest
    ) -> str | None:
        """The shopper's IP as DR reports it in a configured extended attribute (DR is an
        authenticated caller); never the address of the connection, which is DR's own."""
        name = self._options.shopper_ip_attribute
        if not name:
            return None
        for item in request.extended_attributes:
            if item.name == name and item.value:
                return item.value.strip()[:64]
        return None

    @staticmethod
    def _failure(name: str, error: tuple[str, str]) -> LoginResponse:
        return LoginResponse(
            successful=False, error_code=error[0], error_message=error[1], element_name=name
        )

    def _refused(self, name: str, since: float) -> LoginResponse:
        """A failed sign-in, answered no sooner than a real verification would be."""
        metrics.LOGIN_FAILURE_HOLDS.observe(self._floor.hold(since))
        return self._failure(name, INVALID_LOGIN)

    # --- 1. LoginRequest ----------------------------------------------------------------------

    def login(self, request: LoginRequest) -> LoginResponse:
        started = self._floor.now()
        name = response_name(request.element_name)
        login = (request.user_key.login_id or "").strip()
        password = self._password(request.password)
        if not login or password is None:
            audit.info("sign-in failed", extra={"event": "login_failed", "reason": "incomplete"})
            return self._refused(name, started)
        user = self._resolve(login)
        attempt = (
            self._throttle.begin(
                self._throttle.sign_in_subjects(
                    user.key if user else None, login, self._shopper_ip(request)
                )
            )
            if self._throttle is not None
            else None
        )
        # Time spent waiting for other attempts to settle is not part of a verification's cost.
        since = started + (attempt.waited if attempt else 0.0)
        if attempt is not None and attempt.throttled is not None:
            return self._throttled(name, attempt.throttled, password, since)
        try:
            proven = self._verify(user, password, since)
        except BaseException:
            if attempt is not None:
                attempt.cancel()
            raise
        if user is None or not proven:
            if attempt is not None:
                attempt.failed()
            audit.info("sign-in failed", extra={"event": "login_failed"})
            return self._refused(name, since)
        if attempt is not None:
            attempt.succeeded()
        if not user.active:
            audit.info(
                "sign-in refused: inactive", extra={"event": "login_inactive", "user_key": user.key}
            )
            return self._failure(name, NOT_ACTIVE)
        erid = self._identities.erid_for(user.key)
        audit.info("signed in", extra={"event": "login", "user_key": user.key, "erid": erid})
        return LoginResponse(
            successful=True,
            user_key=self._user_key(user, erid, request.user_key.site_id),
            element_name=name,
        )

    def _resolve(self, login: str) -> DirectoryUser | None:
        """The user a login names, before anything is counted: the account is the user,
        whichever column or spelling named it (the one indexed query sign-in needs anyway)."""
        try:
            return self._directory.find_by_login(login)
        except AmbiguousLogin:
            log.warning("sign-in refused: several accounts match one login")
            return None

    def _verify(self, user: DirectoryUser | None, password: str, since: float) -> bool:
        if user is None:
            self._spend_dummy(password)
            return False
        proven = self._directory.verify_password(user, password)
        self._floor.observe(since)  # a real user's verification: what failures must match
        return proven

    def _throttled(self, name: str, scope: str, password: str, since: float) -> LoginResponse:
        """Indistinguishable from a wrong password, in body and in time."""
        self._spend_dummy(password)
        audit.info("sign-in throttled", extra={"event": "login_throttled", "scope": scope})
        metrics.LOGIN_THROTTLED.labels(scope=scope).inc()
        if self._throttle is not None:
            self._throttle.record_global_failure()
        return self._refused(name, since)

    def _spend_dummy(self, password: str) -> None:
        """The dummy verification of an attempt that cannot succeed; skipped past the global
        failure ceiling, so a flood of hopeless attempts costs sleep (the floor), not CPU."""
        if self._throttle is not None and self._throttle.past_global_ceiling():
            return
        self._directory.dummy_verify(password)

    # --- 2. GetUserProfileRequest / GetUserRequest ----------------------------------------

    def get_profile(self, request: GetUserProfileRequest) -> GetUserProfileResponse:
        name = response_name(request.element_name)
        key = request.user_key
        user: DirectoryUser | None = None
        erid: str | None = None
        if key.external_reference_id:
            erid = key.external_reference_id.strip()
            user_key = self._identities.find_user_key(erid)
            user = self._directory.find_by_key(user_key) if user_key else None
        elif key.login_id:
            user = self._lookup(key.login_id, self._shopper_ip(request))
            erid = self._identities.erid_for(user.key) if user and user.active else None
        if user is None or not user.active or erid is None:
            return GetUserProfileResponse(
                user_info=None, error_message=PROFILE_NOT_ACTIVE, element_name=name
            )
        info = UserInfo(
            user_key=self._user_key(user, erid, key.site_id),
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            home_phone=user.phone,
            locale=user.locale,
        )
        return GetUserProfileResponse(user_info=info, element_name=name)

    def _lookup(self, login: str, ip: str | None) -> DirectoryUser | None:
        """A profile lookup by login, throttled per login and shopper IP on its misses (a miss
        is what tells a prober a login does not exist)."""
        throttle = self._throttle
        attempt = _admit(throttle, throttle.lookup_subjects(login, ip)) if throttle else None
        try:
            try:
                user = self._directory.find_by_login(login)
            except AmbiguousLogin:
                user = None
        except BaseException:
            if attempt is not None:
                attempt.cancel()
            raise
        if attempt is not None:
            if user is None or not user.active:
                attempt.failed(globally=False)
            else:
                attempt.succeeded()
        return user

    def _registration_attempt(self, request: CreateUserProfileRequest) -> Attempt | None:
        """Registrations are throttled per email on their "Email already used" answers (a prober
        of which emails exist gets many; DR retrying a shopper's registration gets the same ERID
        back and counts nothing there), and per shopper IP on every registration."""
        throttle = self._throttle
        info = request.user_info
        email = (info.email or info.user_key.login_id or "").strip()
        if throttle is None or not email:
            return None
        return _admit(throttle, throttle.registration_subjects(email, self._shopper_ip(request)))

    # --- 3. ValidateSessionRequest ----------------------------------------------------------

    def validate_session(self, request: ValidateSessionRequest) -> LoginResponse:
        name = response_name(request.element_name)
        tokens = [request.session_token] if request.session_token else []
        tokens += [
            item.value
            for item in request.extended_attributes
            if item.name == self._options.session_attribute and item.value
        ]
        site_id = request.user_key.site_id if request.user_key else None
        for token in tokens[:10]:
            session = self._sessions.resolve(token)
            if session is None:
                continue
            user = self._directory.find_by_key(session.user_key)
            if user is None or not user.active:
                continue
            return LoginResponse(
                successful=True,
                user_key=self._user_key(user, session.erid, site_id),
                element_name=name,
            )
        return self._failure(name, SESSION_INVALID)

    # --- 4. CreateUserProfileRequest --------------------------------------------------------

    def create_user(self, request: CreateUserProfileRequest) -> LoginResponse:
        attempt = self._registration_attempt(request)
        if attempt is None:
            return self._create_user(request)
        try:
            answer = self._create_user(request)
        except BaseException:
            attempt.cancel()  # no verdict (a dependency failed): count nothing
            raise
        if answer.error_message == EMAIL_USED[1]:
            attempt.failed(globally=False)
        else:
            attempt.counted_in({"registration_ip"})
        return answer

    def _create_user(self, request: CreateUserProfileRequest) -> LoginResponse:
        name = response_name(request.element_name)
        info = request.user_info
        email = (info.email or "").strip()
        if not email and info.user_key.login_id and "@" in info.user_key.login_id:
            email = info.user_key.login_id.strip()
        password = self._password(request.password)
        if not email or not password:
            return self._failure(name, REGISTRATION_INCOMPLETE)
        login = (info.user_key.login_id or email).strip()
        if len(email) > MAX_EMAIL_LENGTH:
            return self._failure(name, EMAIL_TOO_LONG)
        for label, value in (("Email", email), ("Login", login)):
            reason = canonical.problem(value)
            if reason is not None:
                return self._failure(name, (REGISTRATION_REFUSED, f"{label} {reason}"))
        new_user = NewUser(
            login=login,
            email=email,
            password=password,
            first_name=info.first_name,
            last_name=info.last_name,
            phone=info.home_phone,
            locale=info.locale,
        )
        site_id = info.user_key.site_id
        key = canonical.canonical(email)
        deadline = time.monotonic() + self._options.registration_wait
        pause = 0.05
        while True:
            existing = self._directory.find_by_email(email)
            if existing is not None:
                try:
                    erid = self._retried_registration(key, existing, password)
                except ClaimLost:  # taken over meanwhile: its new owner is adopting the account
                    if time.monotonic() > deadline:
                        raise DirectoryUnavailable(
                            "a registration of this email is in progress"
                        ) from None
                    time.sleep(0.05)
                    continue
                if erid is None:
                    return self._failure(name, EMAIL_USED)
                return self._created(name, existing, erid, site_id)
            claim, ours = self._registrations.claim(key)
            if ours:
                return self._register(name, claim, new_user, site_id)
            if claim.user_key is not None:
                # Complete, yet no account has this email any more (deleted or changed on the
                # merchant's side): still taken while the account exists, else free again.
                if self._directory.find_by_key(claim.user_key) is not None:
                    return self._failure(name, EMAIL_USED)
                self._registrations.drop_completed(claim)
                continue
            # Another request is creating this email right now and renews its lease while it
            # works; a dead one's lease runs out and `claim` takes it over. Never delete it.
            if time.monotonic() > deadline:
                raise DirectoryUnavailable("a registration of this email is in progress")
            # Backing off (with jitter) keeps a crowd of DR retries from loading both databases
            # while the owner works; a quarter of the lease bounds how late a takeover comes.
            time.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(pause * 1.5, self._registrations.lease / 4, 0.5)

    def _register(
        self, name: str, claim: Claim, new_user: NewUser, site_id: str | None
    ) -> LoginResponse:
        """Create the account under ``claim``, holding its lease (sso_bridge/registrations.py)."""
        with self._registrations.holding(claim) as lease:
            # A previous owner of this claim may have made the account before it died: adopt it
            # with the claim's ERID rather than make a second one.
            existing = self._directory.find_by_email(new_user.email)
            if existing is not None:
                erid = self._registrations.complete(claim, existing.key)
                if not self._directory.verify_password(existing, new_user.password):
                    return self._failure(name, EMAIL_USED)
                audit.info(
                    "user registered",
                    extra={"event": "registration", "user_key": existing.key, "erid": erid},
                )
                return self._created(name, existing, erid, site_id)
            try:
                user = self._directory.create_user(new_user, before_commit=lease.fence)
            except EmailTaken:
                self._registrations.release(claim)
                return self._failure(name, EMAIL_USED)
            except RegistrationClosed as exc:
                self._registrations.release(claim)
                return self._failure(name, (REGISTRATION_REFUSED, str(exc)))
            except ClaimLost:
                # The lease could not be renewed in time and another request took the claim
                # over; the insert was rolled back. DR's retry finds that request's account.
                raise DirectoryUnavailable("registration claim lost") from None
            except DirectoryUnavailable:
                # The outcome is unknown (a timeout may come after the account was made): keep
                # the claim and let its lease run out, so the next owner looks for the account
                # and adopts it with the same ERID, or creates it if nothing was made.
                raise
            except BaseException:
                self._registrations.release(claim)
                raise
            try:
                erid = self._registrations.complete(claim, user.key)
            except ClaimLost:
                log.error("registration claim lost after the account was committed")
                raise DirectoryUnavailable("registration claim lost") from None
        audit.info(
            "user registered", extra={"event": "registration", "user_key": user.key, "erid": erid}
        )
        return self._created(name, user, erid, site_id)

    def _retried_registration(
        self, email: str, existing: DirectoryUser, password: str
    ) -> str | None:
        """The ERID to answer for a create DR retried, or None when the email is simply taken.

        Also completes a registration whose owner made the account and died before recording
        it (ClaimLost if that claim changed hands meanwhile)."""
        registration = self._registrations.find(email)
        if registration is None or registration.user_key not in (None, existing.key):
            return None
        if not registration.is_recent(self._options.registration_retry_window):
            return None
        if not self._directory.verify_password(existing, password):
            return None
        if registration.user_key is None:
            return self._registrations.complete(registration, existing.key)
        return self._identities.erid_for(
            existing.key, origin="registration", erid=registration.erid
        )

    def _created(
        self, name: str, user: DirectoryUser, erid: str, site_id: str | None
    ) -> LoginResponse:
        return LoginResponse(
            successful=True, user_key=self._user_key(user, erid, site_id), element_name=name
        )


def _admit(throttle: LoginThrottle, subjects: tuple[Subject, ...]) -> Attempt:
    """Lookups and registrations, once throttled, answer 503 + Retry-After: an answer that does
    not depend on whether the login or email exists."""
    attempt = throttle.begin(subjects)
    if attempt.throttled is not None:
        audit.info("request throttled", extra={"event": "throttled", "scope": attempt.throttled})
        metrics.LOGIN_THROTTLED.labels(scope=attempt.throttled).inc()
        raise VerificationBusy()
    return attempt
