"""The formats of the general-purpose libraries: argon2, bcrypt, Django, Werkzeug, phpass-era PHP,
crypt(3) and LDAP digests. Each class wraps the library that owns the format where one exists.
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
from typing import Any, Final

import argon2
import bcrypt
from argon2.exceptions import VerifyMismatchError
from werkzeug.security import (
    DEFAULT_PBKDF2_ITERATIONS,
    check_password_hash,
    generate_password_hash,
)

from sso_bridge.directory.passwords._base import ITOA64, Cost, MalformedHashError, Scheme

# libpass inspects the installed bcrypt package when its bcrypt backend first loads and may warn
# (or log) about its version or about quirks we do not depend on: we call `bcrypt` directly for
# plain bcrypt and libpass only wraps it behind a SHA-256 pre-hash. Keep that noise out of the logs.
warnings.filterwarnings("ignore", module=r"passlib\.handlers\.bcrypt")
logging.getLogger("passlib.handlers.bcrypt").setLevel(logging.ERROR)

from passlib.handlers.md5_crypt import _transpose_map  # noqa: E402  (after the filters above)
from passlib.utils.binary import h64  # noqa: E402

BCRYPT_MAX_BYTES: Final = 72
_DJANGO_SALT_CHARS: Final = string.ascii_letters + string.digits


class Libpass(Scheme):
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
            settings.update({attr: int(getattr(parsed, attr)) for _, attr in self._params})
        handler = self._handler.using(**settings) if settings else self._handler
        return str(handler.hash(secret))


class Argon2Scheme(Scheme):
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


_BCRYPT_B64: Final = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _clear_padding_bits(stored: str) -> str:
    """Zero the unused low bits of the salt's and the digest's last characters.

    22 characters carry the 16 salt bytes (4 bits spare) and 31 the 23 digest bytes (2 spare).
    Every bcrypt decodes only the bytes, so the spare bits change nothing; passlib before 1.5.3
    wrote salts with them set, and the `bcrypt` package, which re-encodes and compares whole
    strings, would refuse such a hash that every other implementation verifies.
    """
    if len(stored) != 60:
        return stored  # malformed: let the bcrypt package refuse it
    salt_last, digest_last = stored[28], stored[59]
    if salt_last not in _BCRYPT_B64 or digest_last not in _BCRYPT_B64:
        return stored
    salt_last = _BCRYPT_B64[_BCRYPT_B64.index(salt_last) & 0x30]
    digest_last = _BCRYPT_B64[_BCRYPT_B64.index(digest_last) & 0x3C]
    return stored[:28] + salt_last + stored[29:59] + digest_last


class BcryptScheme(Scheme):
    """Modular-crypt bcrypt via the `bcrypt` package; never truncates the password."""

    prefixes = ("$2a$", "$2b$", "$2y$")

    def __init__(self, name: str, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)

    def check(self, password: str, stored: str) -> bool:
        secret = password.encode("utf-8")
        if len(secret) > BCRYPT_MAX_BYTES:
            # bcrypt only ever saw the first 72 bytes of whatever it hashed, so a longer password
            # could match on its prefix alone (bcrypt < 5 truncates silently; 5 raises).
            return False
        # $2y$ (PHP's crypt_blowfish) is the same algorithm as $2b$; the package knows only $2b$.
        normalised = "$2b$" + stored[4:] if stored.startswith("$2y$") else stored
        return bcrypt.checkpw(secret, _clear_padding_bits(normalised).encode("ascii"))

    def cost(self, stored: str) -> Cost:
        rounds = stored[4:6]
        if not rounds.isdigit() or stored[6:7] != "$":
            raise MalformedHashError("bad bcrypt cost field")
        return (("rounds", int(rounds)),)

    def generate(self, secret: str, like: str | None) -> str:
        raw = secret.encode("utf-8")
        if len(raw) > BCRYPT_MAX_BYTES:
            raise ValueError("bcrypt cannot store a password longer than 72 bytes")
        rounds = int(self.cost(like)[0][1]) if like is not None else 12
        return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode("ascii")


class Prefixed(Scheme):
    """Another format behind a literal prefix: Django's "bcrypt$" / "argon2", LDAP's "{CRYPT}"."""

    def __init__(self, name: str, prefix: str, inner: Scheme, *, new_ok: bool = False) -> None:
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
        raise MalformedHashError("scrypt parameters beyond the memory cap")
    return needed


class DjangoScrypt(Scheme):
    """Django's ScryptPasswordHasher, not in libpass: scrypt$<n>$<salt>$<r>$<p>$<b64 digest>."""

    prefixes = ("scrypt$",)

    @staticmethod
    def _parse(stored: str) -> tuple[int, str, int, int]:
        parts = stored.split("$")
        if len(parts) != 6:
            raise MalformedHashError("django scrypt hash needs 6 fields")
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


class WerkzeugScheme(Scheme):
    """werkzeug.security hashes: "<method>:<args>$<salt>$<hex>" for method pbkdf2 or scrypt."""

    def __init__(self, name: str, method: str, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)
        self._method = method
        self.prefixes = (method + ":",)

    def _args(self, stored: str) -> list[str]:
        method, sep, _ = stored.partition("$")
        if not sep or stored.count("$") < 2:
            raise MalformedHashError("werkzeug hash needs method$salt$hash")
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
            raise MalformedHashError("werkzeug pbkdf2 takes a digest and iterations")
        # Werkzeug fills in its current default when the iterations were left out.
        iterations = int(args[1]) if len(args) == 2 else DEFAULT_PBKDF2_ITERATIONS
        return (("digest", args[0]), ("i", iterations))

    def generate(self, secret: str, like: str | None) -> str:
        method = self._method
        if like is not None:
            method = ":".join([self._method, *(str(value) for _, value in self.cost(like))])
        return generate_password_hash(secret, method=method)


class Drupal7(Scheme):
    """Drupal 7's password.inc "$S$": phpass-style iterated SHA-512, cut to 55 characters.

    "U$S$" hashes are MD5 hashes from Drupal 6 re-hashed by Drupal 7's update: the secret is
    md5(password) in hex.
    """

    prefixes = ("$S$", "U$S$")
    _LENGTH: Final = 55

    @staticmethod
    def _log2(setting: str) -> int:
        log2 = ITOA64.find(setting[3:4]) if len(setting) >= 12 else -1
        if not 7 <= log2 <= 30:  # Drupal's DRUPAL_MIN_HASH_COUNT .. DRUPAL_MAX_HASH_COUNT
            raise MalformedHashError("bad drupal7 iteration count")
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
        return self._crypt(secret.encode("utf-8"), "$S$" + ITOA64[log2] + salt)


class LdapDigest(Scheme):
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
            raise MalformedHashError("ldap digest has the wrong length")
        return raw[:size], raw[size:]

    def check(self, password: str, stored: str) -> bool:
        digest, salt = self._split(stored)
        candidate = hashlib.new(self._algorithm, password.encode("utf-8") + salt).digest()
        return hmac.compare_digest(candidate, digest)

    def generate(self, secret: str, like: str | None) -> str:
        salt = os.urandom(8) if self._salted else b""
        digest = hashlib.new(self._algorithm, secret.encode("utf-8") + salt).digest()
        return self.prefixes[0] + base64.b64encode(digest + salt).decode("ascii")


def _md5_crypt(secret: bytes, salt: bytes, magic: bytes) -> str:
    """The md5-crypt digest (Poul-Henning Kamp's algorithm, as glibc and PHP compute it).

    libpass has the same core but takes only ASCII salts; PHP and glibc take any bytes up to
    the next "$", at most 8, so this takes bytes. Output encoding is libpass's.
    """
    alternate = hashlib.md5(secret + salt + secret, usedforsecurity=False).digest()
    context = hashlib.md5(secret + magic + salt, usedforsecurity=False)
    context.update((alternate * (len(secret) // 16 + 1))[: len(secret)])
    length = len(secret)
    while length:
        context.update(b"\x00" if length & 1 else secret[:1])
        length >>= 1
    digest = context.digest()
    for i in range(1000):
        step = hashlib.md5(secret if i & 1 else digest, usedforsecurity=False)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(secret)
        step.update(digest if i & 1 else secret)
        digest = step.digest()
    encoded: bytes = h64.encode_transposed_bytes(digest, _transpose_map)
    return encoded.decode("ascii")


class Md5Crypt(Scheme):
    """md5-crypt "$1$salt$digest" and Apache's "$apr1$salt$digest".

    The salt is whatever stands between the magic and the next "$", cut to 8 bytes, as glibc,
    PHP's crypt() and Apache do: libpass's parser accepts only [./0-9A-Za-z] salts and so refused
    hashes those implementations wrote with other salt characters.
    """

    def __init__(self, name: str, magic: str) -> None:
        super().__init__(name)
        self.prefixes = (magic,)
        self._magic = magic

    def _parse(self, stored: str) -> tuple[bytes, str]:
        salt, sep, digest = stored[len(self._magic) :].partition("$")
        raw_salt = salt.encode("utf-8")
        if not sep or not raw_salt or len(raw_salt) > 8 or len(digest) != 22 or "$" in digest:
            raise MalformedHashError("md5-crypt hash needs magic, a salt of 1-8 bytes, a digest")
        return raw_salt, digest

    def check(self, password: str, stored: str) -> bool:
        salt, digest = self._parse(stored)
        candidate = _md5_crypt(password.encode("utf-8"), salt, self._magic.encode("ascii"))
        return hmac.compare_digest(candidate.encode(), digest.encode())

    def generate(self, secret: str, like: str | None) -> str:
        salt: str = h64.encode_bytes(os.urandom(6)).decode("ascii")
        digest = _md5_crypt(secret.encode("utf-8"), salt.encode(), self._magic.encode("ascii"))
        return f"{self._magic}{salt}${digest}"
