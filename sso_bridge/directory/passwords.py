"""Verify shoppers' passwords against the hashes a merchant already stores, in whatever format.

The format is detected per hash (by prefix / shape), so one user table may mix formats, e.g. after a
platform migration. `PasswordHasher.verify` never raises for a bad hash: it answers False and logs a
WARNING that names only the detected scheme, never the hash or the password. Passwords are compared
exactly as received: no stripping, no truncation (bcrypt cannot hold more than 72 bytes, so a longer
password never matches a bcrypt hash instead of matching on its prefix).

Formats (scheme names follow libpass where libpass has the format)::

    argon2                $argon2id$ / $argon2i$ / $argon2d$          argon2-cffi
    bcrypt                $2a$ / $2b$ / $2y$                          bcrypt
    bcrypt_sha256         $bcrypt-sha256$                             libpass
    django_*              pbkdf2_sha256$ pbkdf2_sha1$ argon2$ bcrypt_sha256$ bcrypt$ scrypt$
                          sha1$ md5$ (salted and "md5$$" unsalted)    libpass / argon2-cffi /
                                                                      bcrypt / hashlib (scrypt)
    hex_md5, hex_sha1     bare hex digests (Django's UnsaltedMD5...)  libpass
    pbkdf2_sha1/256/512   $pbkdf2$ $pbkdf2-sha256$ $pbkdf2-sha512$    libpass
    scrypt                $scrypt$                                    libpass
    werkzeug_pbkdf2       pbkdf2:<digest>:<iterations>$salt$hex       werkzeug
    werkzeug_scrypt       scrypt:<n>:<r>:<p>$salt$hex                 werkzeug
    phpass                $P$ / $H$ (WordPress, phpBB, Drupal 7)      libpass
    drupal7_sha512        $S$ and U$S$ (Drupal 7)                     hashlib (+ libpass h64)
    md5/sha256/sha512_crypt  $1$ / $5$ / $6$                          libpass
    ldap_*                {SHA} {SSHA} {MD5} {SMD5} {SSHA256} {SSHA512}   libpass
                          {SHA256} {SHA384} {SHA512} {SSHA384}        hashlib
                          {CRYPT}$1$ / $5$ / $6$ / $2?$               as the wrapped format

`cost_signature` names a scheme and its cost parameters ("bcrypt:12", "argon2:m=65536,t=3,p=4");
`dummy_hash_like` makes a hash with the same signature, so that a login for an unknown user can be
made to cost as much as one for a real user (see `typical_hash`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import string
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import argon2
import bcrypt
from argon2.exceptions import VerifyMismatchError
from werkzeug.security import (
    DEFAULT_PBKDF2_ITERATIONS,
    check_password_hash,
    generate_password_hash,
)

# libpass inspects the installed bcrypt package when its bcrypt backend first loads and may warn
# (or log) about its version or about quirks we do not depend on: we call `bcrypt` directly for
# plain bcrypt and libpass only wraps it behind a SHA-256 pre-hash. Keep that noise out of the logs.
warnings.filterwarnings("ignore", module=r"passlib\.handlers\.bcrypt")
logging.getLogger("passlib.handlers.bcrypt").setLevel(logging.ERROR)

import passlib.hash as lp  # noqa: E402  (libpass's import name; after the filters above)
from passlib.utils.binary import h64  # noqa: E402

__all__ = ["NEW_SCHEMES", "PasswordHasher", "typical_hash"]

_LOG = logging.getLogger(__name__)

# Cost parameters of one hash, in display order: ("rounds", 12) or ("m", 65536), ("t", 3), ...
Cost = tuple[tuple[str, int | str], ...]

_BCRYPT_MAX_BYTES: Final = 72
_ITOA64: Final = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DJANGO_SALT_CHARS: Final = string.ascii_letters + string.digits


class _MalformedHashError(ValueError):
    """The hash has a known prefix but cannot be parsed. Never carries the hash in its message."""


class _Scheme(ABC):
    """One stored-hash format: how to spot it, check a password, read its cost, make a new one."""

    prefixes: tuple[str, ...] = ()

    def __init__(self, name: str, *, new_ok: bool = False) -> None:
        self.name = name
        # Whether this format may be chosen for NEW users (modern, non-truncating, tunable).
        self.new_ok = new_ok

    def identify(self, stored: str) -> bool:
        return stored.startswith(self.prefixes)

    @abstractmethod
    def check(self, password: str, stored: str) -> bool:
        """True/False for a well-formed hash; raise (any exception) when it is malformed."""

    def cost(self, stored: str) -> Cost:
        """Cost parameters of `stored`; raise when it is malformed. Fixed-cost formats: ()."""
        return ()

    @abstractmethod
    def generate(self, secret: str, like: str | None) -> str:
        """Hash `secret` with the cost parameters of `like`, or this format's defaults if None."""

    def is_preferred_variant(self, stored: str) -> bool:
        """False for a legacy variant of this format that an upgrade should replace."""
        return True


class _Libpass(_Scheme):
    """A format libpass implements: detection, verification, parsing and generation are its own."""

    def __init__(
        self,
        name: str,
        handler: Any,
        *,
        params: tuple[tuple[str, str], ...] = (("rounds", "rounds"),),
        defaults: dict[str, int] | None = None,
        new_ok: bool = False,
    ) -> None:
        super().__init__(name, new_ok=new_ok)
        self._handler = handler
        self._params = params  # (display key, libpass attribute) pairs
        self._defaults = defaults or {}

    def identify(self, stored: str) -> bool:
        return bool(self._handler.identify(stored))

    def check(self, password: str, stored: str) -> bool:
        return bool(self._handler.verify(password, stored))

    def cost(self, stored: str) -> Cost:
        parsed = self._handler.from_string(stored)
        return tuple((key, int(getattr(parsed, attr))) for key, attr in self._params)

    def generate(self, secret: str, like: str | None) -> str:
        settings: dict[str, int] = dict(self._defaults)
        if like is not None:
            parsed = self._handler.from_string(like)
            settings = {attr: int(getattr(parsed, attr)) for _, attr in self._params}
        handler = self._handler.using(**settings) if settings else self._handler
        return str(handler.hash(secret))


class _Argon2(_Scheme):
    """PHC-format argon2 via argon2-cffi, which reads type and parameters from the hash itself."""

    prefixes = ("$argon2id$", "$argon2i$", "$argon2d$")

    def __init__(self, name: str, defaults: argon2.PasswordHasher, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)
        self._defaults = defaults

    def check(self, password: str, stored: str) -> bool:
        try:
            return self._defaults.verify(stored, password)
        except VerifyMismatchError:
            return False

    def cost(self, stored: str) -> Cost:
        params = argon2.extract_parameters(stored)
        return (("m", params.memory_cost), ("t", params.time_cost), ("p", params.parallelism))

    def generate(self, secret: str, like: str | None) -> str:
        if like is None:
            return self._defaults.hash(secret)
        # Same type, lengths and costs as the sample: verifying costs exactly the same.
        return argon2.PasswordHasher.from_parameters(argon2.extract_parameters(like)).hash(secret)

    def is_preferred_variant(self, stored: str) -> bool:
        return stored.startswith("$argon2id$")


class _Bcrypt(_Scheme):
    """Modular-crypt bcrypt via the `bcrypt` package; never truncates the password."""

    prefixes = ("$2a$", "$2b$", "$2y$")

    def __init__(self, name: str, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)

    def check(self, password: str, stored: str) -> bool:
        secret = password.encode("utf-8")
        if len(secret) > _BCRYPT_MAX_BYTES:
            # bcrypt only ever saw the first 72 bytes of whatever it hashed, so a longer password
            # could match on its prefix alone (bcrypt < 5 truncates silently; 5 raises).
            return False
        # $2y$ (PHP's crypt_blowfish) is the same algorithm as $2b$; the package knows only $2b$.
        normalised = "$2b$" + stored[4:] if stored.startswith("$2y$") else stored
        return bcrypt.checkpw(secret, normalised.encode("ascii"))

    def cost(self, stored: str) -> Cost:
        rounds = stored[4:6]
        if not rounds.isdigit() or stored[6:7] != "$":
            raise _MalformedHashError("bad bcrypt cost field")
        return (("rounds", int(rounds)),)

    def generate(self, secret: str, like: str | None) -> str:
        raw = secret.encode("utf-8")
        if len(raw) > _BCRYPT_MAX_BYTES:
            raise ValueError("bcrypt cannot store a password longer than 72 bytes")
        rounds = int(self.cost(like)[0][1]) if like is not None else 12
        return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode("ascii")


class _Prefixed(_Scheme):
    """Another format behind a literal prefix: Django's "bcrypt$" / "argon2", LDAP's "{CRYPT}"."""

    def __init__(self, name: str, prefix: str, inner: _Scheme, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)
        self._prefix = prefix
        self._inner = inner

    def _strip(self, stored: str) -> str:
        return stored[len(self._prefix) :]

    def identify(self, stored: str) -> bool:
        return stored.startswith(self._prefix) and self._inner.identify(self._strip(stored))

    def check(self, password: str, stored: str) -> bool:
        return self._inner.check(password, self._strip(stored))

    def cost(self, stored: str) -> Cost:
        return self._inner.cost(self._strip(stored))

    def generate(self, secret: str, like: str | None) -> str:
        inner_like = self._strip(like) if like is not None else None
        return self._prefix + self._inner.generate(secret, inner_like)

    def is_preferred_variant(self, stored: str) -> bool:
        return self._inner.is_preferred_variant(self._strip(stored))


def _scrypt_maxmem(n: int, r: int, p: int) -> int:
    """The `maxmem` for hashlib.scrypt: Django's own value where it suffices.

    Django passes maxmem=0, i.e. OpenSSL's 32 MiB default, which fits its n=2**14, r=8. A merchant
    who raised the work factor must also have raised maxmem in a subclass, so allow what the
    parameters need (OpenSSL needs 128*r*(n+2) + 128*r*p bytes), up to a cap against absurd costs.
    The derived key does not depend on maxmem; only whether OpenSSL agrees to compute it.
    """
    needed = 128 * r * (n + 2) + 128 * r * p + 64 * 1024
    if needed <= 32 * 1024 * 1024:
        return 0
    if needed > 1024 * 1024 * 1024:
        raise _MalformedHashError("scrypt parameters beyond the memory cap")
    return needed


class _DjangoScrypt(_Scheme):
    """Django's ScryptPasswordHasher, not in libpass: scrypt$<n>$<salt>$<r>$<p>$<b64 digest>."""

    prefixes = ("scrypt$",)

    @staticmethod
    def _parse(stored: str) -> tuple[int, str, int, int]:
        parts = stored.split("$")
        if len(parts) != 6:
            raise _MalformedHashError("django scrypt hash needs 6 fields")
        _, n, salt, r, p, _digest = parts
        return int(n), salt, int(r), int(p)

    @staticmethod
    def _encode(password: str, salt: str, n: int, r: int, p: int) -> str:
        # Byte for byte what Django's ScryptPasswordHasher.encode produces.
        derived = hashlib.scrypt(
            password.encode(),
            salt=salt.encode(),
            n=n,
            r=r,
            p=p,
            maxmem=_scrypt_maxmem(n, r, p),
            dklen=64,
        )
        digest = base64.b64encode(derived).decode("ascii").strip()
        return f"scrypt${n}${salt}${r}${p}${digest}"

    def check(self, password: str, stored: str) -> bool:
        n, salt, r, p = self._parse(stored)
        candidate = self._encode(password, salt, n, r, p)
        return hmac.compare_digest(candidate.encode(), stored.encode())

    def cost(self, stored: str) -> Cost:
        n, _, r, p = self._parse(stored)
        return (("n", n), ("r", r), ("p", p))

    def generate(self, secret: str, like: str | None) -> str:
        # Django's defaults: work_factor 2**14, block_size 8, parallelism 5.
        n, r, p = 2**14, 8, 5
        if like is not None:
            n, _, r, p = self._parse(like)
        salt = "".join(secrets.choice(_DJANGO_SALT_CHARS) for _ in range(22))
        return self._encode(secret, salt, n, r, p)


class _Werkzeug(_Scheme):
    """werkzeug.security hashes: "<method>:<args>$<salt>$<hex>" for method pbkdf2 or scrypt."""

    def __init__(self, name: str, method: str, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)
        self._method = method
        self.prefixes = (method + ":",)

    def _args(self, stored: str) -> list[str]:
        method, sep, _ = stored.partition("$")
        if not sep or stored.count("$") < 2:
            raise _MalformedHashError("werkzeug hash needs method$salt$hash")
        return method.split(":")[1:]

    def check(self, password: str, stored: str) -> bool:
        self.cost(stored)  # reject malformed parameters here rather than deep inside werkzeug
        return check_password_hash(stored, password)

    def cost(self, stored: str) -> Cost:
        args = self._args(stored)
        if self._method == "scrypt":
            n, r, p = (int(a) for a in args)
            return (("n", n), ("r", r), ("p", p))
        if len(args) > 2 or not args:
            raise _MalformedHashError("werkzeug pbkdf2 takes a digest and iterations")
        # Werkzeug fills in its current default when the iterations were left out.
        iterations = int(args[1]) if len(args) == 2 else DEFAULT_PBKDF2_ITERATIONS
        return (("digest", args[0]), ("i", iterations))

    def generate(self, secret: str, like: str | None) -> str:
        method = self._method
        if like is not None:
            method = ":".join([self._method, *(str(value) for _, value in self.cost(like))])
        return generate_password_hash(secret, method=method)


class _Drupal7(_Scheme):
    """Drupal 7's password.inc "$S$": phpass-style iterated SHA-512, cut to 55 characters.

    "U$S$" hashes are MD5 hashes from Drupal 6 re-hashed by Drupal 7's update: the secret is
    md5(password) in hex.
    """

    prefixes = ("$S$", "U$S$")
    _LENGTH: Final = 55

    @staticmethod
    def _log2(setting: str) -> int:
        log2 = _ITOA64.find(setting[3:4]) if len(setting) >= 12 else -1
        if not 7 <= log2 <= 30:  # Drupal's DRUPAL_MIN_HASH_COUNT .. DRUPAL_MAX_HASH_COUNT
            raise _MalformedHashError("bad drupal7 iteration count")
        return log2

    def _crypt(self, secret: bytes, setting: str) -> str:
        log2 = self._log2(setting)
        salt = setting[4:12].encode("ascii")
        digest = hashlib.sha512(salt + secret).digest()
        for _ in range(1 << log2):
            digest = hashlib.sha512(digest + secret).digest()
        encoded: str = h64.encode_bytes(digest).decode("ascii")
        return (setting[:12] + encoded)[: self._LENGTH]

    def check(self, password: str, stored: str) -> bool:
        secret = password.encode("utf-8")
        if stored.startswith("U$"):
            secret = hashlib.md5(secret, usedforsecurity=False).hexdigest().encode("ascii")
            stored = stored[1:]
        return hmac.compare_digest(self._crypt(secret, stored).encode(), stored.encode())

    def cost(self, stored: str) -> Cost:
        return (("rounds", self._log2(stored.removeprefix("U"))),)

    def generate(self, secret: str, like: str | None) -> str:
        log2 = int(self.cost(like)[0][1]) if like is not None else 15  # DRUPAL_HASH_COUNT
        salt: str = h64.encode_bytes(os.urandom(6)).decode("ascii")
        return self._crypt(secret.encode("utf-8"), "$S$" + _ITOA64[log2] + salt)


class _LdapDigest(_Scheme):
    """RFC 2307-style {SCHEME}base64(digest + salt) for the SHA-2 variants libpass lacks."""

    def __init__(self, name: str, prefix: str, algorithm: str, *, salted: bool) -> None:
        super().__init__(name)
        self.prefixes = (prefix,)
        self._algorithm = algorithm
        self._salted = salted

    def _split(self, stored: str) -> tuple[bytes, bytes]:
        raw = base64.b64decode(stored[len(self.prefixes[0]) :], validate=True)
        size = hashlib.new(self._algorithm).digest_size
        # The salt is whatever follows the digest; unsalted variants have nothing after it.
        if (len(raw) <= size) if self._salted else (len(raw) != size):
            raise _MalformedHashError("ldap digest has the wrong length")
        return raw[:size], raw[size:]

    def check(self, password: str, stored: str) -> bool:
        digest, salt = self._split(stored)
        candidate = hashlib.new(self._algorithm, password.encode("utf-8") + salt).digest()
        return hmac.compare_digest(candidate, digest)

    def generate(self, secret: str, like: str | None) -> str:
        salt = os.urandom(8) if self._salted else b""
        digest = hashlib.new(self._algorithm, secret.encode("utf-8") + salt).digest()
        return self.prefixes[0] + base64.b64encode(digest + salt).decode("ascii")


def _build_schemes() -> tuple[_Scheme, ...]:
    """Every supported format, most specific first (the first whose `identify` accepts wins)."""
    rounds_only: tuple[tuple[str, str], ...] = (("rounds", "rounds"),)
    fixed: tuple[tuple[str, str], ...] = ()
    bcrypt_scheme = _Bcrypt("bcrypt", new_ok=True)
    md5_crypt = _Libpass("md5_crypt", lp.md5_crypt, params=fixed)
    sha256_crypt = _Libpass("sha256_crypt", lp.sha256_crypt, new_ok=True)
    sha512_crypt = _Libpass("sha512_crypt", lp.sha512_crypt, new_ok=True)
    # Django 5.2's own defaults, so new hashes look like the ones Django would write.
    django_argon2 = _Argon2(
        "argon2", argon2.PasswordHasher(time_cost=2, memory_cost=102400, parallelism=8)
    )
    return (
        _Argon2("argon2", argon2.PasswordHasher(), new_ok=True),
        bcrypt_scheme,
        _Libpass("bcrypt_sha256", lp.bcrypt_sha256, defaults={"rounds": 12}, new_ok=True),
        # Django ("<algorithm>$...").
        _Libpass(
            "django_pbkdf2_sha256",
            lp.django_pbkdf2_sha256,
            defaults={"rounds": 1_000_000},
            new_ok=True,
        ),
        _Libpass("django_pbkdf2_sha1", lp.django_pbkdf2_sha1),
        _Prefixed("django_argon2", "argon2", django_argon2, new_ok=True),
        _Libpass(
            "django_bcrypt_sha256",
            lp.django_bcrypt_sha256,
            defaults={"rounds": 12},
            new_ok=True,
        ),
        _Prefixed("django_bcrypt", "bcrypt$", _Bcrypt("bcrypt")),
        _DjangoScrypt("django_scrypt", new_ok=True),
        _Libpass("django_salted_sha1", lp.django_salted_sha1, params=fixed),
        _Libpass("django_salted_md5", lp.django_salted_md5, params=fixed),  # also "md5$$<hex>"
        # Plain libpass modular-crypt formats.
        _Libpass("pbkdf2_sha256", lp.pbkdf2_sha256, defaults={"rounds": 600_000}, new_ok=True),
        _Libpass("pbkdf2_sha512", lp.pbkdf2_sha512, defaults={"rounds": 210_000}, new_ok=True),
        _Libpass("pbkdf2_sha1", lp.pbkdf2_sha1),
        _Libpass(
            "scrypt",
            lp.scrypt,
            params=(("ln", "rounds"), ("r", "block_size"), ("p", "parallelism")),
            new_ok=True,
        ),
        # Werkzeug.
        _Werkzeug("werkzeug_pbkdf2", "pbkdf2", new_ok=True),
        _Werkzeug("werkzeug_scrypt", "scrypt", new_ok=True),
        # PHP applications.
        _Libpass("phpass", lp.phpass, params=rounds_only),
        _Drupal7("drupal7_sha512"),
        # crypt(3).
        md5_crypt,
        sha256_crypt,
        sha512_crypt,
        # LDAP (RFC 2307 and the common SHA-2 extensions); prefixes are upper-cased before lookup.
        _Libpass("ldap_sha1", lp.ldap_sha1, params=fixed),
        _Libpass("ldap_salted_sha1", lp.ldap_salted_sha1, params=fixed),
        _Libpass("ldap_md5", lp.ldap_md5, params=fixed),
        _Libpass("ldap_salted_md5", lp.ldap_salted_md5, params=fixed),
        _Libpass("ldap_salted_sha256", lp.ldap_salted_sha256, params=fixed),
        _Libpass("ldap_salted_sha512", lp.ldap_salted_sha512, params=fixed),
        _LdapDigest("ldap_salted_sha384", "{SSHA384}", "sha384", salted=True),
        _LdapDigest("ldap_sha256", "{SHA256}", "sha256", salted=False),
        _LdapDigest("ldap_sha384", "{SHA384}", "sha384", salted=False),
        _LdapDigest("ldap_sha512", "{SHA512}", "sha512", salted=False),
        _Prefixed("ldap_md5_crypt", "{CRYPT}", md5_crypt),
        _Prefixed("ldap_sha256_crypt", "{CRYPT}", sha256_crypt),
        _Prefixed("ldap_sha512_crypt", "{CRYPT}", sha512_crypt),
        _Prefixed("ldap_bcrypt", "{CRYPT}", bcrypt_scheme),
        # Bare hex digests last: they have no prefix, only a length and an alphabet.
        _Libpass("hex_md5", lp.hex_md5, params=fixed),
        _Libpass("hex_sha1", lp.hex_sha1, params=fixed),
    )


_SCHEMES: Final = _build_schemes()
_BY_NAME: Final = {scheme.name: scheme for scheme in _SCHEMES}
NEW_SCHEMES: Final = tuple(sorted(s.name for s in _SCHEMES if s.new_ok))


def _normalise(stored: str) -> str:
    """Upper-case an LDAP "{scheme}" prefix: directories write {ssha} as often as {SSHA}."""
    if stored.startswith("{"):
        end = stored.find("}")
        if end > 0:
            return stored[: end + 1].upper() + stored[end + 1 :]
    return stored


def _resolve(stored: str) -> tuple[_Scheme, str] | None:
    """The scheme of `stored` and the form of the hash that scheme expects; None if unknown."""
    if not isinstance(stored, str) or not stored:
        return None
    normalised = _normalise(stored)
    for scheme in _SCHEMES:
        try:
            if scheme.identify(normalised):
                return scheme, normalised
        except Exception:  # noqa: S112  (a detector choking on odd input just means "not mine")
            continue
    return None


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
    refused here with ValueError, as is an unknown name.
    """

    def __init__(self, *, new_scheme: str = "argon2") -> None:
        scheme = _BY_NAME.get(new_scheme)
        if scheme is None or not scheme.new_ok:
            raise ValueError(
                f"unsupported password scheme for new hashes: {new_scheme!r}; "
                f"choose one of {', '.join(NEW_SCHEMES)}"
            )
        self.new_scheme = new_scheme
        self._new = scheme
        self._target_cost: Cost | None = None  # cost of a fresh new_scheme hash, computed lazily

    def verify(self, password: str, stored_hash: str) -> bool:
        """True iff `password` (exactly as given) matches `stored_hash`. Never raises."""
        found = _resolve(stored_hash)
        if found is None:
            _LOG.warning("password hash in an unrecognised format; treated as not matching")
            return False
        scheme, normalised = found
        try:
            password.encode("utf-8")
        except (AttributeError, UnicodeEncodeError):
            # Not text any client could have typed (e.g. a lone surrogate decoded from JSON): no
            # stored password can match it, and it says nothing about the hash.
            return False
        try:
            return scheme.check(password, normalised)
        except Exception as exc:
            # Only the scheme and the exception type: messages may quote parts of the hash.
            _LOG.warning(
                "malformed %s password hash (%s); treated as not matching",
                scheme.name,
                type(exc).__name__,
            )
            return False

    def scheme_of(self, stored_hash: str) -> str | None:
        found = _resolve(stored_hash)
        return found[0].name if found is not None else None

    def cost_signature(self, stored_hash: str) -> str:
        """Scheme plus cost, e.g. "bcrypt:12" or "ldap_salted_sha1"; "unknown" if not usable."""
        found = _resolve(stored_hash)
        if found is None:
            return "unknown"
        scheme, normalised = found
        try:
            cost = scheme.cost(normalised)
        except Exception:
            return "unknown"
        return f"{scheme.name}:{_render(cost)}" if cost else scheme.name

    def hash_password(self, password: str) -> str:
        """A new hash of `password` in `new_scheme` with its default cost.

        Raises ValueError for a password the scheme cannot hold (bcrypt: over 72 bytes).
        """
        return self._new.generate(password, None)

    def needs_upgrade(self, stored_hash: str) -> bool:
        """True if `stored_hash` is not a `new_scheme` hash at least as costly as a fresh one."""
        found = _resolve(stored_hash)
        if found is None:
            return True
        scheme, normalised = found
        if scheme is not self._new or not scheme.is_preferred_variant(normalised):
            return True
        try:
            cost = scheme.cost(normalised)
        except Exception:
            return True
        return _weaker(cost, self._target())

    def dummy_hash_like(self, sample_hash: str) -> str:
        """A hash of a random secret, in the scheme and with the cost parameters of `sample_hash`.

        Verifying against it costs what verifying a real user of that kind costs. Falls back to
        `hash_password` of a random secret when the sample cannot be reproduced.
        """
        secret = secrets.token_urlsafe(24)
        found = _resolve(sample_hash)
        if found is not None:
            scheme, normalised = found
            try:
                return scheme.generate(secret, normalised)
            except Exception as exc:
                _LOG.warning(
                    "cannot reproduce %s hash parameters (%s); dummy hash uses %s",
                    scheme.name,
                    type(exc).__name__,
                    self.new_scheme,
                )
        return self.hash_password(secret)

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
