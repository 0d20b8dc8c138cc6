"""ASP.NET's formats: Identity v2/v3 (one base64 blob) and Membership (digest plus a salt column).

Identity: Microsoft.AspNetCore.Identity PasswordHasher<TUser> (src/Identity/Extensions.Core/src/
PasswordHasher.cs), tested against the vectors of its own PasswordHasherTest.cs. Membership:
System.Web.Security.SqlMembershipProvider.EncodePassword (PasswordFormat 1, "Hashed").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import Final

from sso_bridge.directory.passwords._base import Cost, Inputs, MalformedHashError, Scheme

# KeyDerivationPrf: HMACSHA1 = 0, HMACSHA256 = 1, HMACSHA512 = 2.
_PRF: Final = {0: "sha1", 1: "sha256", 2: "sha512"}
_V3_HEADER: Final = 13  # format marker, prf, iteration count, salt length (network byte order)
_MIN_BYTES: Final = 16  # PasswordHasher refuses salts and subkeys under 128 bits
_MAX_ITERATIONS: Final = 100_000_000


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedHashError("not base64") from exc


class AspNetIdentity(Scheme):
    """One of Identity's two layouts: v2 (0x00 | 16-byte salt | 32-byte PBKDF2-HMAC-SHA1 subkey,
    1000 iterations) or v3 (0x01 | prf | iterations | salt length | salt | subkey)."""

    def __init__(self, name: str, marker: int, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)
        self._marker = marker

    def _parse(self, stored: str) -> tuple[str, int, bytes, bytes]:
        raw = _b64(stored)
        if not raw or raw[0] != self._marker:
            raise MalformedHashError("not this identity version")
        if self._marker == 0:
            if len(raw) != 1 + 16 + 32:
                raise MalformedHashError("identity v2 blob has the wrong length")
            return "sha1", 1000, raw[1:17], raw[17:]
        if len(raw) < _V3_HEADER + 2 * _MIN_BYTES:
            raise MalformedHashError("identity v3 blob too short")
        prf, iterations, salt_length = struct.unpack(">III", raw[1:_V3_HEADER])
        if prf not in _PRF or not 1 <= iterations <= _MAX_ITERATIONS:
            raise MalformedHashError("identity v3 header out of range")
        if salt_length < _MIN_BYTES or len(raw) - _V3_HEADER - salt_length < _MIN_BYTES:
            raise MalformedHashError("identity v3 salt or subkey too short")
        salt = raw[_V3_HEADER : _V3_HEADER + salt_length]
        return _PRF[prf], iterations, salt, raw[_V3_HEADER + salt_length :]

    def identify(self, stored: str) -> bool:
        if len(stored) < 60 or stored.startswith(("$", "{")):
            return False
        try:
            self._parse(stored)
        except MalformedHashError:
            return False
        return True

    def check(self, password: str, stored: str) -> bool:
        prf, iterations, salt, subkey = self._parse(stored)
        secret = password.encode("utf-8")
        candidate = hashlib.pbkdf2_hmac(prf, secret, salt, iterations, len(subkey))
        return hmac.compare_digest(candidate, subkey)

    def cost(self, stored: str) -> Cost:
        prf, iterations, _, _ = self._parse(stored)
        return (("prf", prf), ("i", iterations))

    def generate(self, secret: str, like: str | None) -> str:
        if self._marker == 0:
            salt = os.urandom(16)
            subkey = hashlib.pbkdf2_hmac("sha1", secret.encode("utf-8"), salt, 1000, 32)
            return base64.b64encode(b"\x00" + salt + subkey).decode("ascii")
        # ASP.NET Core 7+ writes HMAC-SHA512 with 100,000 iterations; write OWASP's 210,000
        # for PBKDF2-HMAC-SHA512 (never less than the platform), which it verifies the same way.
        prf, iterations = "sha512", 210_000
        if like is not None:
            prf, iterations, _, _ = self._parse(like)
        salt = os.urandom(16)
        subkey = hashlib.pbkdf2_hmac(prf, secret.encode("utf-8"), salt, iterations, 32)
        code = {name: number for number, name in _PRF.items()}[prf]
        header = struct.pack(">BIII", 1, code, iterations, len(salt))
        return base64.b64encode(header + salt + subkey).decode("ascii")


class AspNetMembership(Scheme):
    """SqlMembershipProvider hashed passwords: base64(H(salt bytes + UTF-16LE password)) with
    H = SHA1 (20 bytes) or SHA256 (32 bytes); the base64 salt is the PasswordSalt column."""

    _SIZES: Final = {20: "sha1", 32: "sha256"}

    def identify(self, stored: str) -> bool:
        if len(stored) not in (28, 44):
            return False
        try:
            return len(_b64(stored)) in self._SIZES
        except MalformedHashError:
            return False

    def applies(self, stored: str, inputs: Inputs) -> bool:
        return bool(inputs.salt) and self.identify(stored)

    def _digest(self, password: str, salt: str, size: int) -> bytes:
        return hashlib.new(self._SIZES[size], _b64(salt) + password.encode("utf-16-le")).digest()

    def check_with(self, password: str, stored: str, inputs: Inputs) -> bool:
        if not inputs.salt:
            return False
        digest = _b64(stored)
        return hmac.compare_digest(self._digest(password, inputs.salt, len(digest)), digest)

    def cost(self, stored: str) -> Cost:
        return (("algorithm", self._SIZES[len(_b64(stored))]),)

    def generate(self, secret: str, like: str | None) -> str:
        raise NotImplementedError("membership hashes keep the salt in a column: see make()")

    def make(self, secret: str, like: str | None, inputs: Inputs) -> tuple[str, str | None]:
        size = len(_b64(like)) if like is not None else 32
        salt = base64.b64encode(os.urandom(16)).decode("ascii")
        digest = self._digest(secret, salt, size)
        return base64.b64encode(digest).decode("ascii"), salt
