"""PasswordHasher: verify any supported format, write new hashes in one, judge a table's hashes."""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sso_bridge.directory.passwords._base import Cost, FirebaseScrypt, Inputs, Scheme
from sso_bridge.directory.passwords._registry import BY_NAME, NEW_SCHEMES, SCHEMES, candidates
from sso_bridge.directory.passwords.strength import HashStrength, judge

_LOG = logging.getLogger("sso_bridge.directory.passwords")


class Dummy(NamedTuple):
    """A hash of a random secret (and the salt column value it needs, if any)."""

    hash: str
    salt: str | None


def _render(cost: Cost) -> str:
    if len(cost) == 1:
        return str(cost[0][1])
    return ",".join(f"{key}={value}" for key, value in cost)


def _weaker(have: Cost, want: Cost) -> bool:
    """True if any parameter of `have` is below (or, for a text parameter, differs from) `want`."""
    present = dict(have)
    for key, target in want:
        value = present.get(key)
        if isinstance(target, int):
            if not isinstance(value, int) or value < target:
                return True
        elif value != target:
            return True
    return False


class PasswordHasher:
    """Verifies merchant password hashes of any supported format; writes new ones in one format.

    `new_scheme` is the format `hash_password` writes (and `needs_upgrade` aims at); one of
    `NEW_SCHEMES`. Legacy formats (md5_crypt, phpass, LDAP digests, ...) can be verified but are
    refused here with ValueError, as is an unknown name. `pepper` is the site-wide secret some
    platforms mix into every hash (PrestaShop 1.6's _COOKIE_KEY_); `firebase` a Firebase
    project's hash parameters; `prefer` names schemes to try first where formats share a shape
    (e.g. ("joomla_md5",) for a Joomla table), so that `scheme_of` names them. A per-row salt
    column is the `salt` argument of each method.
    """

    def __init__(
        self,
        *,
        new_scheme: str = "argon2",
        pepper: str | None = None,
        firebase: FirebaseScrypt | None = None,
        prefer: Sequence[str] = (),
    ) -> None:
        scheme = BY_NAME.get(new_scheme)
        if scheme is None or not scheme.new_ok:
            raise ValueError(
                f"unsupported password scheme for new hashes: {new_scheme!r}; "
                f"choose one of {', '.join(NEW_SCHEMES)}"
            )
        unknown = [name for name in prefer if name not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown password scheme(s) in prefer: {', '.join(unknown)}")
        self.new_scheme = new_scheme
        self._new = scheme
        self._pepper = pepper
        self._firebase = firebase
        first = tuple(BY_NAME[name] for name in prefer)
        self._order = first + tuple(s for s in SCHEMES if s not in first)
        self._target_cost: Cost | None = None  # cost of a fresh new_scheme hash, computed lazily

    def __repr__(self) -> str:
        # Never the pepper or the Firebase signer key; only whether they are set.
        return (
            f"PasswordHasher(new_scheme={self.new_scheme!r}, "
            f"pepper={'set' if self._pepper is not None else None}, "
            f"firebase={'set' if self._firebase is not None else None})"
        )

    def _inputs(self, salt: str | None) -> Inputs:
        return Inputs(salt=salt, pepper=self._pepper, firebase=self._firebase)

    def _lookup(self, stored: str, salt: str | None) -> tuple[list[Scheme], str, Inputs]:
        inputs = self._inputs(salt)
        found, normalised = candidates(stored, inputs, self._order)
        return found, normalised, inputs

    def verify(self, password: str, stored_hash: str, *, salt: str | None = None) -> bool:
        """True iff `password` (exactly as given) matches `stored_hash`. Never raises.

        `salt` is the row's salt column, for the formats that keep it outside the hash.
        """
        found, normalised, inputs = self._lookup(stored_hash, salt)
        if not found:
            _LOG.warning("password hash in an unrecognised format; treated as not matching")
            return False
        try:
            password.encode("utf-8")
        except (AttributeError, UnicodeEncodeError):
            # Not text any client could have typed (e.g. a lone surrogate decoded from JSON): no
            # stored password can match it, and it says nothing about the hash.
            return False
        malformed: list[tuple[str, str]] = []
        for scheme in found:
            try:
                if scheme.check_with(password, normalised, inputs):
                    return True
            except Exception as exc:
                malformed.append((scheme.name, type(exc).__name__))
        if len(malformed) == len(found):
            # Only the scheme and the exception type: messages may quote parts of the hash.
            name, kind = malformed[0]
            _LOG.warning("malformed %s password hash (%s); treated as not matching", name, kind)
        return False

    def scheme_of(self, stored_hash: str, *, salt: str | None = None) -> str | None:
        found, _, _ = self._lookup(stored_hash, salt)
        return found[0].name if found else None

    def _first_cost(self, stored_hash: str, salt: str | None) -> tuple[Scheme, Cost] | None:
        found, normalised, _ = self._lookup(stored_hash, salt)
        if not found:
            return None
        try:
            return found[0], found[0].cost(normalised)
        except Exception:
            return None

    def cost_signature(self, stored_hash: str, *, salt: str | None = None) -> str:
        """Scheme plus cost, e.g. "bcrypt:12" or "ldap_salted_sha1"; "unknown" if not usable."""
        result = self._first_cost(stored_hash, salt)
        if result is None:
            return "unknown"
        scheme, cost = result
        return f"{scheme.name}:{_render(cost)}" if cost else scheme.name

    def strength(self, stored_hash: str, *, salt: str | None = None) -> HashStrength:
        """Format, cost parameters and whether the hash is weak (with the reasons), for doctor."""
        result = self._first_cost(stored_hash, salt)
        if result is None:
            return HashStrength(format=None, cost=(), weak=True, reasons=("unsupported",))
        scheme, cost = result
        return judge(scheme.name, cost)

    def hash_password(self, password: str) -> str:
        """A new hash of `password` in `new_scheme` with its default cost.

        Raises ValueError for a password the scheme cannot hold (bcrypt: over 72 bytes).
        """
        return self._new.generate(password, None)

    def needs_upgrade(self, stored_hash: str, *, salt: str | None = None) -> bool:
        """True if `stored_hash` is not a `new_scheme` hash at least as costly as a fresh one."""
        found, normalised, _ = self._lookup(stored_hash, salt)
        if not found:
            return True
        scheme = found[0]
        if scheme is not self._new or not scheme.is_preferred_variant(normalised):
            return True
        try:
            cost = scheme.cost(normalised)
        except Exception:
            return True
        return _weaker(cost, self._target())

    def dummy_like(self, sample_hash: str, *, salt: str | None = None) -> Dummy:
        """A hash of a random secret with the scheme and cost parameters of `sample_hash` (and
        its salt column value, for formats that need one: verify it with `salt=dummy.salt`).

        Verifying against it costs what verifying a real user of that kind costs. Falls back to
        `hash_password` of a random secret when the sample cannot be reproduced.
        """
        secret = secrets.token_urlsafe(24)
        found, normalised, inputs = self._lookup(sample_hash, salt)
        if found:
            scheme = found[0]
            try:
                made, made_salt = scheme.make(secret, normalised, inputs)
                return Dummy(made, made_salt)
            except Exception as exc:
                _LOG.warning(
                    "cannot reproduce %s hash parameters (%s); dummy hash uses %s",
                    scheme.name,
                    type(exc).__name__,
                    self.new_scheme,
                )
        return Dummy(self.hash_password(secret), None)

    def dummy_hash_like(self, sample_hash: str) -> str:
        """`dummy_like(sample_hash).hash`, for formats that keep the salt inside the hash."""
        return self.dummy_like(sample_hash).hash

    def _target(self) -> Cost:
        if self._target_cost is None:
            # Hash once rather than restating every scheme's defaults in a second table.
            self._target_cost = self._new.cost(self.hash_password(secrets.token_urlsafe(16)))
        return self._target_cost


def typical_hash(sample_hashes: Iterable[str], hasher: PasswordHasher) -> str | None:
    """One of `sample_hashes` with the most common cost signature (first seen wins a tie)."""
    samples = list(sample_hashes)
    if not samples:
        return None
    signatures = [hasher.cost_signature(sample) for sample in samples]
    commonest, _ = Counter(signatures).most_common(1)[0]
    return samples[signatures.index(commonest)]


def typical_sample(
    samples: Sequence[tuple[str, str | None]], hasher: PasswordHasher
) -> tuple[str, str | None] | None:
    """`typical_hash` for tables with a salt column: (hash, salt) pairs in, one pair out."""
    if not samples:
        return None
    signatures = [hasher.cost_signature(stored, salt=salt) for stored, salt in samples]
    commonest, _ = Counter(signatures).most_common(1)[0]
    return samples[signatures.index(commonest)]
