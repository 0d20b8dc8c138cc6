"""The PHP shop platforms' own formats: WordPress 6.8+, Magento 1 and 2, Shopware 5, PrestaShop,
Joomla, OpenCart, osCommerce and Drupal's re-hashed MD5 (U$P$).

Each class transcribes the platform's code (named in its docstring); tests check them against
hashes that code produced in PHP (tests/vectors/php.json, tests/vectors/generate.php).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from typing import Final

import argon2
import bcrypt

from sso_bridge.directory.passwords._base import (
    Cost,
    Inputs,
    MalformedHashError,
    Scheme,
    is_hex,
    same,
)
from sso_bridge.directory.passwords._common import BcryptScheme

_ALNUM: Final = string.ascii_letters + string.digits


def _hexdigest(algorithm: str, data: str) -> str:
    return hashlib.new(algorithm, data.encode("utf-8"), usedforsecurity=False).hexdigest()


class WordPressBcrypt(Scheme):
    """WordPress 6.8+ "$wp$2y$...": bcrypt over base64(HMAC-SHA384(password, key "wp-sha384")).

    wp-includes/pluggable.php, wp_hash_password / wp_check_password. The pre-hash lets the whole
    password count (bcrypt alone sees 72 bytes). wp_check_password refuses passwords over 4096
    bytes and does not trim; wp_hash_password trims, so the writer hashes the password as given,
    which is what wp_check_password will compare.
    """

    prefixes = ("$wp$2y$", "$wp$2b$", "$wp$2a$")
    _MAX_BYTES: Final = 4096

    def __init__(self, name: str, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)
        self._bcrypt = BcryptScheme("bcrypt")

    @staticmethod
    def prehash(password: str) -> str:
        digest = hmac.new(b"wp-sha384", password.encode("utf-8"), hashlib.sha384).digest()
        return base64.b64encode(digest).decode("ascii")

    def check(self, password: str, stored: str) -> bool:
        if len(password.encode("utf-8")) > self._MAX_BYTES:
            return False
        return self._bcrypt.check(self.prehash(password), stored[3:])

    def cost(self, stored: str) -> Cost:
        return self._bcrypt.cost(stored[3:])

    def generate(self, secret: str, like: str | None) -> str:
        if len(secret.encode("utf-8")) > self._MAX_BYTES:
            raise ValueError("WordPress refuses passwords longer than 4096 bytes")
        # PHP 8.4's password_hash default cost (WordPress passes no options), written as PHP does.
        rounds = int(self.cost(like)[0][1]) if like is not None else 12
        inner = bcrypt.hashpw(self.prehash(secret).encode("ascii"), bcrypt.gensalt(rounds))
        return "$wp$2y$" + inner.decode("ascii")[4:]


# Magento\Framework\Encryption\Encryptor: HASH_VERSION_MD5 0, SHA256 1, ARGON2ID13 2 and the
# "agnostic" ARGON2ID13 3 that records its parameters: 3_<seed bytes>_<opslimit>_<memlimit>.
_MAGENTO_SIMPLE: Final = {"0": "md5", "1": "sha256"}
# SODIUM_CRYPTO_SIGN_SEEDBYTES, SODIUM_CRYPTO_PWHASH_OPSLIMIT/MEMLIMIT_INTERACTIVE.
_MAGENTO_ARGON_DEFAULT: Final = (32, 2, 67108864)
_SODIUM_SALTBYTES: Final = 16


def _magento_argon(secret: str, salt: str, seed: int, ops: int, mem: int) -> str:
    """Encryptor::getArgonHash: sodium_crypto_pwhash(ARGON2ID13), salt fitted to 16 bytes, hex."""
    raw_salt = salt.encode("utf-8")
    if len(raw_salt) < _SODIUM_SALTBYTES:  # PHP's str_pad($salt, 16, $salt)
        raw_salt = (raw_salt * _SODIUM_SALTBYTES)[:_SODIUM_SALTBYTES]
    raw_salt = raw_salt[:_SODIUM_SALTBYTES]
    if not 1 <= ops <= 16 or not 8192 <= mem <= 1 << 30 or not 16 <= seed <= 64:
        raise MalformedHashError("magento argon2 parameters out of range")
    derived = argon2.low_level.hash_secret_raw(
        secret.encode("utf-8"),
        raw_salt,
        time_cost=ops,
        memory_cost=mem // 1024,  # libsodium's memlimit is bytes, argon2's m is KiB
        parallelism=1,  # libsodium always computes one lane
        hash_len=seed,
        type=argon2.Type.ID,
        version=19,
    )
    return derived.hex()


class Magento2(Scheme):
    """Magento 2 "hash:salt:version[:version...]" (Encryptor::getHash / isValidHash).

    Versions list every algorithm applied, oldest first (Magento's upgrade re-hashes the old hash
    rather than the password): 0 md5(salt . x), 1 sha256(salt . x), 2 and "3_32_2_67108864"
    argon2id13 with libsodium. New hashes are what Magento 2.4 writes: 3_32_2_67108864.
    """

    def __init__(self, name: str, *, new_ok: bool = False) -> None:
        super().__init__(name, new_ok=new_ok)

    @staticmethod
    def _argon_params(version: str) -> tuple[int, int, int] | None:
        if version == "2":
            return _MAGENTO_ARGON_DEFAULT
        parts = version.split("_")
        if len(parts) == 4 and parts[0] == "3" and all(p.isdigit() for p in parts[1:]):
            return int(parts[1]), int(parts[2]), int(parts[3])
        return None

    def _parse(self, stored: str) -> tuple[str, str, list[str]]:
        digest, salt, versions = [*stored.split(":", 2), "", ""][:3]
        chain = versions.split(":")
        if not digest or not all(c in "0123456789abcdef" for c in digest):
            raise MalformedHashError("magento2 hash must be lower-case hex")
        for version in chain:
            if version not in _MAGENTO_SIMPLE and self._argon_params(version) is None:
                raise MalformedHashError("unknown magento2 hash version")
        return digest, salt, chain

    def identify(self, stored: str) -> bool:
        if stored.count(":") < 2:
            return False
        try:
            self._parse(stored)
        except MalformedHashError:
            return False
        return True

    def _compute(self, password: str, salt: str, chain: list[str]) -> str:
        recreated = password
        for version in chain:
            params = self._argon_params(version)
            if params is None:
                recreated = _hexdigest(_MAGENTO_SIMPLE[version], salt + recreated)
            else:
                recreated = _magento_argon(recreated, salt, *params)
        return recreated

    def check(self, password: str, stored: str) -> bool:
        digest, salt, chain = self._parse(stored)
        return same(self._compute(password, salt, chain), digest)

    def cost(self, stored: str) -> Cost:
        _, _, chain = self._parse(stored)
        params = self._argon_params(chain[-1])
        if params is None:
            return (("algorithm", _MAGENTO_SIMPLE[chain[-1]]),)
        seed, ops, mem = params
        return (("m", mem // 1024), ("t", ops), ("p", 1), ("len", seed))

    def generate(self, secret: str, like: str | None) -> str:
        chain = ["_".join(["3", *(str(v) for v in _MAGENTO_ARGON_DEFAULT)])]
        if like is not None:
            chain = self._parse(like)[2]
        # Magento\Framework\Math\Random::getRandomString(32): letters and digits.
        salt = "".join(secrets.choice(_ALNUM) for _ in range(32))
        return ":".join([self._compute(secret, salt, chain), salt, *chain])

    def is_preferred_variant(self, stored: str) -> bool:
        chain = self._parse(stored)[2]
        return len(chain) == 1 and chain[0].startswith("3_")


class ColonSalted(Scheme):
    """ "<hex digest>:<salt>" with the salt before or after the password, one format per order.

    salt first, md5: osCommerce tep_encrypt_password, Magento 1 CE; sha256: Magento 1 EE.
    password first, md5: Joomla 1.5-3 (UserHelper::verifyPassword's md5-hex branch), Shopware 5's
    Md5 encoder. Joomla's "{SHA256}<hex>:<salt>" is sha256(password . salt) behind a prefix.
    Both orders share one shape; the hasher tries each candidate (see PasswordHasher).
    """

    def __init__(self, name: str, algorithm: str, *, salt_first: bool, prefix: str = "") -> None:
        super().__init__(name)
        self._algorithm = algorithm
        self._salt_first = salt_first
        self._prefix = prefix
        self._hex_length = hashlib.new(algorithm, usedforsecurity=False).digest_size * 2

    def _parse(self, stored: str) -> tuple[str, str]:
        digest, sep, salt = stored[len(self._prefix) :].partition(":")
        if not sep or not salt or ":" in salt or not is_hex(digest, self._hex_length):
            raise MalformedHashError("salted digest needs <hex>:<salt>")
        return digest, salt

    def identify(self, stored: str) -> bool:
        if not stored.startswith(self._prefix):
            return False
        try:
            self._parse(stored)
        except MalformedHashError:
            return False
        return True

    def _digest(self, password: str, salt: str) -> str:
        data = salt + password if self._salt_first else password + salt
        return _hexdigest(self._algorithm, data)

    def check(self, password: str, stored: str) -> bool:
        digest, salt = self._parse(stored)
        return same(self._digest(password, salt), digest.lower())

    def generate(self, secret: str, like: str | None) -> str:
        salt = "".join(secrets.choice(_ALNUM) for _ in range(32))
        return f"{self._prefix}{self._digest(secret, salt)}:{salt}"


class Shopware5Sha256(Scheme):
    """Shopware 5's Sha256 encoder "<iterations>:<salt>:<hex>": iterations+1 rounds of
    sha256(previous . password . salt) (engine/Shopware/Components/Password/Encoder/Sha256.php)."""

    _MAX_ITERATIONS: Final = 10_000_000

    def _parse(self, stored: str) -> tuple[int, str, str]:
        parts = stored.split(":")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1] or not is_hex(parts[2], 64):
            raise MalformedHashError("shopware5 sha256 needs <iterations>:<salt>:<hex>")
        iterations = int(parts[0])
        if iterations > self._MAX_ITERATIONS:
            raise MalformedHashError("shopware5 sha256 iteration count beyond the cap")
        return iterations, parts[1], parts[2]

    def identify(self, stored: str) -> bool:
        try:
            self._parse(stored)
        except MalformedHashError:
            return False
        return True

    @staticmethod
    def _compute(password: str, salt: str, iterations: int) -> str:
        digest = ""
        for _ in range(iterations + 1):
            digest = hashlib.sha256((digest + password + salt).encode("utf-8")).hexdigest()
        return digest

    def check(self, password: str, stored: str) -> bool:
        iterations, salt, digest = self._parse(stored)
        return same(self._compute(password, salt, iterations), digest)

    def cost(self, stored: str) -> Cost:
        return (("i", self._parse(stored)[0]),)

    def generate(self, secret: str, like: str | None) -> str:
        iterations = self._parse(like)[0] if like is not None else 1000
        salt = "".join(secrets.choice(_ALNUM) for _ in range(22))
        return f"{iterations}:{salt}:{self._compute(secret, salt, iterations)}"


class FixedSaltMd5(Scheme):
    """Shopware 5's LegacyBackendMd5: md5(<published constant> . md5(password)), bare hex."""

    _SALT: Final = "A9ASD:_AD!_=%a8nx0asssblPlasS$"  # a constant in Shopware's source, not a secret

    def identify(self, stored: str) -> bool:
        return is_hex(stored, 32)

    def _digest(self, password: str) -> str:
        return _hexdigest("md5", self._SALT + _hexdigest("md5", password))

    def check(self, password: str, stored: str) -> bool:
        return same(self._digest(password), stored.lower())

    def generate(self, secret: str, like: str | None) -> str:
        return self._digest(secret)


class PepperedMd5(Scheme):
    """PrestaShop 1.6 (and 1.7's legacy check): md5(_COOKIE_KEY_ . password), bare hex.

    classes/Tools.php Tools::encrypt / src/Core/Crypto/Hashing.php. The cookie key is the
    hasher's pepper; without one this scheme does not apply (a bare hex_md5 is tried instead).
    """

    def identify(self, stored: str) -> bool:
        return is_hex(stored, 32)

    def applies(self, stored: str, inputs: Inputs) -> bool:
        return inputs.pepper is not None and self.identify(stored)

    def check_with(self, password: str, stored: str, inputs: Inputs) -> bool:
        if inputs.pepper is None:
            return False
        return same(_hexdigest("md5", inputs.pepper + password), stored.lower())

    def generate(self, secret: str, like: str | None) -> str:
        raise NotImplementedError("a peppered hash needs the pepper: see make()")

    def make(self, secret: str, like: str | None, inputs: Inputs) -> tuple[str, str | None]:
        if inputs.pepper is None:
            raise ValueError("prestashop_md5 needs the shop's cookie key as the pepper")
        return _hexdigest("md5", inputs.pepper + secret), None


class OpenCartSha1(Scheme):
    """OpenCart 1.5-3: sha1(salt . sha1(salt . sha1(password))) in hex, the salt in its own
    column (catalog/model/account/customer.php, the login query's SHA1(CONCAT(...)) form)."""

    def identify(self, stored: str) -> bool:
        return is_hex(stored, 40)

    def applies(self, stored: str, inputs: Inputs) -> bool:
        return bool(inputs.salt) and self.identify(stored)

    @staticmethod
    def _digest(password: str, salt: str) -> str:
        inner = _hexdigest("sha1", salt + _hexdigest("sha1", password))
        return _hexdigest("sha1", salt + inner)

    def check_with(self, password: str, stored: str, inputs: Inputs) -> bool:
        if not inputs.salt:
            return False
        return same(self._digest(password, inputs.salt), stored.lower())

    def generate(self, secret: str, like: str | None) -> str:
        raise NotImplementedError("opencart hashes keep the salt in a column: see make()")

    def make(self, secret: str, like: str | None, inputs: Inputs) -> tuple[str, str | None]:
        salt = "".join(secrets.choice(_ALNUM) for _ in range(9))  # token(9), as OpenCart does
        return self._digest(secret, salt), salt


class Md5Prehashed(Scheme):
    """Drupal 7's "U$P$" / "U$H$" (and U$S$): a Drupal 6 md5(password) hex, re-hashed by the D7
    update with the inner format (includes/password.inc, user_check_password)."""

    def __init__(self, name: str, inner: Scheme) -> None:
        super().__init__(name)
        self._inner = inner

    def identify(self, stored: str) -> bool:
        return stored.startswith("U$") and self._inner.identify(stored[1:])

    def check(self, password: str, stored: str) -> bool:
        return self._inner.check(_hexdigest("md5", password), stored[1:])

    def cost(self, stored: str) -> Cost:
        return self._inner.cost(stored[1:])

    def generate(self, secret: str, like: str | None) -> str:
        inner_like = like[1:] if like is not None else None
        return "U" + self._inner.generate(_hexdigest("md5", secret), inner_like)
