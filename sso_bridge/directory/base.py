"""The UserDirectory contract: where the merchant's users live (SQL table or login API)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

_TRUE_WORDS = frozenset({"1", "true", "t", "y", "yes", "active", "enabled"})


def is_truthy(value: object) -> bool:
    """An active flag as merchants store it: booleans, 0/1, or words like "Y" and "active"."""
    if isinstance(value, bool | int):
        return bool(value)
    return str(value).strip().lower() in _TRUE_WORDS


class DirectoryUnavailable(Exception):
    """The merchant's user store did not answer; callers answer 503 and change nothing."""


class EmailTaken(Exception):
    """A create was refused because the email already belongs to an account."""


class RegistrationClosed(Exception):
    """This directory does not take registrations (its platform's accounts need more than one
    row); the message is for DR, nothing was written."""


class AmbiguousLogin(Exception):
    """More than one account matches a login: refusing is safer than signing in the wrong one."""


@dataclass(frozen=True)
class DirectoryUser:
    key: str
    login: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    locale: str | None = None
    active: bool = True
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NewUser:
    login: str
    email: str
    password: str = field(repr=False)
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    locale: str | None = None


class UserDirectory(Protocol):
    def authenticate(self, login: str, password: str) -> DirectoryUser | None:
        """The user if ``password`` is theirs (active or not), else None.

        An unknown login costs the same time as a known one with a wrong password.
        """

    def find_by_login(self, login: str) -> DirectoryUser | None: ...

    def find_by_key(self, key: str) -> DirectoryUser | None: ...

    def find_by_email(self, email: str) -> DirectoryUser | None: ...

    def create_user(
        self, new_user: NewUser, *, before_commit: Callable[[], None] | None = None
    ) -> DirectoryUser:
        """Create the account (password hashed in the configured scheme); EmailTaken if the
        email (or login) could collide with an account's, compared in canonical form.

        ``before_commit`` runs as late as the backend allows before the account becomes
        durable (the SQL backend: inside the insert transaction, before COMMIT); whatever it
        raises aborts the create. Registrations renew their claim's lease there."""

    def verify_password(self, user: DirectoryUser, password: str) -> bool:
        """True iff ``password`` is the user's. A user without a usable hash costs a dummy
        verification, never less (the caller's failure floor relies on every failure paying)."""

    def dummy_verify(self, password: str) -> None:
        """Cost what verifying a typical user costs (throttled and unknown logins)."""

    def ping(self) -> None: ...
