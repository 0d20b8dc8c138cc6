"""Formats of identity services and old framework versions: Werkzeug before 2.3, Keycloak's
PBKDF2 credentials and Firebase Authentication's modified scrypt."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import string
from typing import Any, Final

import argon2
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sso_bridge.directory.passwords._base import (
    Cost,
    FirebaseScrypt,
    Inputs,
    MalformedHashError,
    Scheme,
    is_hex,
)

_WERKZEUG_SALT_CHARS: Final = string.ascii_letters + string.digits


class WerkzeugLegacy(Scheme):
    """werkzeug.security before 2.3: "<method>$<salt>$<hex>", the hex being HMAC-<method>(key=salt,
    msg=password), or the plain digest when the salt is empty (werkzeug 2.2 _hash_internal)."""

    _METHODS: Final = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")

    def _parse(self, stored: str) -> tuple[str, str, str]:
        parts = stored.split("$")
        if len(parts) != 3 or parts[0] not in self._METHODS:
            raise MalformedHashError("werkzeug legacy hash needs method$salt$hex")
        method, salt, digest = parts
        if not is_hex(digest, hashlib.new(method, usedforsecurity=False).digest_size * 2):
            raise MalformedHashError("werkzeug legacy digest has the wrong length")
        return method, salt, digest

    def identify(self, stored: str) -> bool:
        try:
            self._parse(stored)
        except MalformedHashError:
            return False
        return True

    @staticmethod
    def _digest(method: str, salt: str, password: str) -> str:
        secret = password.encode("utf-8")
        if not salt:
            return hashlib.new(method, secret, usedforsecurity=False).hexdigest()
        return hmac.new(salt.encode("utf-8"), secret, method).hexdigest()

    def check(self, password: str, stored: str) -> bool:
        method, salt, digest = self._parse(stored)
        return hmac.compare_digest(self._digest(method, salt, password), digest.lower())

    def cost(self, stored: str) -> Cost:
        return (("method", self._parse(stored)[0]),)

    def generate(self, secret: str, like: str | None) -> str:
        method = self._parse(like)[0] if like is not None else "sha1"
        salt = "".join(secrets.choice(_WERKZEUG_SALT_CHARS) for _ in range(8))  # gen_salt(8)
        return f"{method}${salt}${self._digest(method, salt, secret)}"


# Keycloak's Pbkdf2PasswordHashProvider algorithms and the JCA PRF each names.
_KEYCLOAK_PRF: Final = {"pbkdf2": "sha1", "pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512"}
_KEYCLOAK_MAX_ITERATIONS: Final = 100_000_000


def keycloak_credential(secret_data: str, credential_data: str) -> str:
    """The one stored form the bridge reads for a Keycloak password: Keycloak keeps
    CREDENTIAL.SECRET_DATA ({"value", "salt", ...}) and CREDENTIAL_DATA ({"hashIterations",
    "algorithm", ...}) in two columns (and a realm export as two JSON strings): join them so."""
    return json.dumps(
        {"secretData": secret_data, "credentialData": credential_data}, separators=(",", ":")
    )


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise MalformedHashError("keycloak credential part is not a JSON object")
    return value


def _keycloak_parse(stored: str) -> tuple[str, int, bytes, bytes, dict[str, Any]]:
    """(algorithm, hashIterations, salt, value, additionalParameters) of a joined credential."""
    try:
        whole = json.loads(stored)
        secret = _json_object(whole["secretData"])
        credential = _json_object(whole["credentialData"])
        algorithm = credential["algorithm"]
        iterations = credential["hashIterations"]
        extra = credential.get("additionalParameters") or {}
        salt = base64.b64decode(secret["salt"], validate=True)
        value = base64.b64decode(secret["value"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise MalformedHashError("not a keycloak password credential") from exc
    if not isinstance(algorithm, str) or not isinstance(extra, dict):
        raise MalformedHashError("keycloak credential data malformed")
    if not isinstance(iterations, int) or not 1 <= iterations <= _KEYCLOAK_MAX_ITERATIONS:
        raise MalformedHashError("keycloak iteration count out of range")
    if not salt or not value:
        raise MalformedHashError("keycloak salt or value empty")
    return algorithm, iterations, salt, value, extra


def _keycloak_json(
    value: bytes, salt: bytes, iterations: int, algorithm: str, extra: dict[str, Any]
) -> str:
    secret_data = {
        "value": base64.b64encode(value).decode("ascii"),
        "salt": base64.b64encode(salt).decode("ascii"),
        "additionalParameters": {},
    }
    credential_data = {
        "hashIterations": iterations,
        "algorithm": algorithm,
        "additionalParameters": extra,
    }
    return keycloak_credential(json.dumps(secret_data), json.dumps(credential_data))


class _KeycloakCredential(Scheme):
    """A Keycloak password credential whose algorithm is one of `algorithms`."""

    algorithms: tuple[str, ...] = ()

    def identify(self, stored: str) -> bool:
        if not stored.startswith("{") or '"credentialData"' not in stored:
            return False
        try:
            return _keycloak_parse(stored)[0] in self.algorithms
        except MalformedHashError:
            return False


class KeycloakPbkdf2(_KeycloakCredential):
    """Keycloak's PBKDF2 credentials (the default before Keycloak 25).

    Pbkdf2PasswordHashProvider.verify: PBEKeySpec(password, salt, iterations, value length in
    bits) through PBKDF2WithHmacSHA1/256/512; the derived key length is the stored value's.
    """

    algorithms = tuple(_KEYCLOAK_PRF)

    def check(self, password: str, stored: str) -> bool:
        algorithm, iterations, salt, value, _ = _keycloak_parse(stored)
        secret = password.encode("utf-8")
        candidate = hashlib.pbkdf2_hmac(
            _KEYCLOAK_PRF[algorithm], secret, salt, iterations, len(value)
        )
        return hmac.compare_digest(candidate, value)

    def cost(self, stored: str) -> Cost:
        algorithm, iterations, _, _, _ = _keycloak_parse(stored)
        return (("algorithm", algorithm), ("i", iterations))

    def generate(self, secret: str, like: str | None) -> str:
        # Keycloak 24's default: pbkdf2-sha512, 210,000 iterations, 512-bit key, 16-byte salt.
        algorithm, iterations, length = "pbkdf2-sha512", 210_000, 64
        if like is not None:
            algorithm, iterations, _, value, _ = _keycloak_parse(like)
            length = len(value)
        salt = os.urandom(16)
        prf = _KEYCLOAK_PRF[algorithm]
        value = hashlib.pbkdf2_hmac(prf, secret.encode("utf-8"), salt, iterations, length)
        return _keycloak_json(value, salt, iterations, algorithm, {})


_ARGON2_TYPES: Final = {"id": argon2.Type.ID, "i": argon2.Type.I, "d": argon2.Type.D}
_ARGON2_VERSIONS: Final = {"1.3": 0x13, "1.0": 0x10}


class KeycloakArgon2(_KeycloakCredential):
    """Keycloak 25+'s default: "argon2" credentials (Argon2PasswordHashProvider), the raw hash
    and salt in secretData, hashLength/memory (KiB)/type/version/parallelism as one-element
    string lists in additionalParameters and the passes in hashIterations."""

    algorithms = ("argon2",)

    @staticmethod
    def _params(stored: str) -> tuple[bytes, bytes, int, int, int, str, str]:
        _, iterations, salt, value, extra = _keycloak_parse(stored)

        def one(key: str, default: str) -> str:
            item = extra.get(key, [default])
            text = item[0] if isinstance(item, list) and item else item
            return str(text)

        memory, parallelism = int(one("memory", "7168")), int(one("parallelism", "1"))
        kind, version = one("type", "id"), one("version", "1.3")
        if kind not in _ARGON2_TYPES or version not in _ARGON2_VERSIONS:
            raise MalformedHashError("unsupported keycloak argon2 type or version")
        if not 8 <= memory <= 4 * 1024 * 1024 or not 1 <= parallelism <= 64:
            raise MalformedHashError("keycloak argon2 parameters out of range")
        return salt, value, iterations, memory, parallelism, kind, version

    def check(self, password: str, stored: str) -> bool:
        salt, value, iterations, memory, parallelism, kind, version = self._params(stored)
        candidate = argon2.low_level.hash_secret_raw(
            password.encode("utf-8"),
            salt,
            time_cost=iterations,
            memory_cost=memory,
            parallelism=parallelism,
            hash_len=len(value),
            type=_ARGON2_TYPES[kind],
            version=_ARGON2_VERSIONS[version],
        )
        return hmac.compare_digest(candidate, value)

    def cost(self, stored: str) -> Cost:
        _, _, iterations, memory, parallelism, _, _ = self._params(stored)
        return (("m", memory), ("t", iterations), ("p", parallelism))

    def generate(self, secret: str, like: str | None) -> str:
        # Keycloak 25's defaults: argon2id v1.3, 5 passes, 7168 KiB, 1 lane, 32-byte hash.
        iterations, memory, parallelism, kind, version, length = 5, 7168, 1, "id", "1.3", 32
        if like is not None:
            _, value, iterations, memory, parallelism, kind, version = self._params(like)
            length = len(value)
        salt = os.urandom(16)
        value = argon2.low_level.hash_secret_raw(
            secret.encode("utf-8"),
            salt,
            time_cost=iterations,
            memory_cost=memory,
            parallelism=parallelism,
            hash_len=length,
            type=_ARGON2_TYPES[kind],
            version=_ARGON2_VERSIONS[version],
        )
        extra = {
            "hashLength": [str(length)],
            "memory": [str(memory)],
            "type": [kind],
            "version": [version],
            "parallelism": [str(parallelism)],
        }
        return _keycloak_json(value, salt, iterations, "argon2", extra)


class FirebaseModifiedScrypt(Scheme):
    """Firebase Authentication's scrypt (github.com/firebase/scrypt): key = scrypt(password,
    salt + salt separator, N=2**mem_cost, r=rounds, p=1); the stored hash is the project's signer
    key encrypted with AES-256-CTR under the key's first 32 bytes and a zero IV. The salt comes
    from its own column (the export's "salt"), the project parameters from `FirebaseScrypt`."""

    _MAX_MEM_COST: Final = 20

    def identify(self, stored: str) -> bool:
        return 40 <= len(stored) <= 200 and not stored.startswith(("$", "{"))

    def applies(self, stored: str, inputs: Inputs) -> bool:
        if inputs.firebase is None or not inputs.salt or not self.identify(stored):
            return False
        try:
            raw = base64.b64decode(stored, validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(raw) == len(inputs.firebase.signer_key)

    @classmethod
    def _encrypt(cls, password: str, salt: bytes, params: FirebaseScrypt) -> bytes:
        if not 1 <= params.mem_cost <= cls._MAX_MEM_COST or not 1 <= params.rounds <= 32:
            raise MalformedHashError("firebase scrypt parameters out of range")
        n, r = 1 << params.mem_cost, params.rounds
        key = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt + params.salt_separator,
            n=n,
            r=r,
            p=1,
            maxmem=128 * r * (n + 2) + 1024 * 1024,
            dklen=32,
        )
        encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
        return encryptor.update(params.signer_key) + encryptor.finalize()

    def check_with(self, password: str, stored: str, inputs: Inputs) -> bool:
        if inputs.firebase is None or not inputs.salt:
            return False
        salt = base64.b64decode(inputs.salt, validate=True)
        expected = base64.b64decode(stored, validate=True)
        return hmac.compare_digest(self._encrypt(password, salt, inputs.firebase), expected)

    def generate(self, secret: str, like: str | None) -> str:
        raise NotImplementedError("firebase hashes need the project parameters: see make()")

    def make(self, secret: str, like: str | None, inputs: Inputs) -> tuple[str, str | None]:
        if inputs.firebase is None:
            raise ValueError("firebase_scrypt needs the project's hash parameters")
        salt = os.urandom(12)
        digest = self._encrypt(secret, salt, inputs.firebase)
        return base64.b64encode(digest).decode("ascii"), base64.b64encode(salt).decode("ascii")
