"""Encryption at rest for cached DR tokens: AES-256-GCM under rotating keys.

The first key seals; every key opens (rotation: add the new key first, drop the old one after a
token lifetime). Each value names its key by a short fingerprint, and the cache key is bound in
as associated data, so a value copied under another user's key does not open.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE = 12
_KEY_ID = 4


class SealError(Exception):
    """A cached value could not be opened (unknown key, tampered, or not ours)."""


def parse_token_key(text: str) -> bytes:
    """A 32-byte key given as base64 (standard or URL-safe) or 64 hex digits."""
    raw = text.strip()
    candidates: list[bytes] = []
    if len(raw) == 64:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(raw))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    for key in candidates:
        if len(key) == 32:
            return key
    raise ValueError("a token encryption key must be 32 bytes, as base64 or 64 hex digits")


def derive_key(secret: str) -> bytes:
    """A cache key derived from a shared secret (the DR API secret) when none is configured."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"sso-bridge", info=b"token-cache-v1"
    ).derive(secret.encode())


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"sso-bridge-key-id" + key).digest()[:_KEY_ID]


class Sealer:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        self._sealing = (_key_id(keys[0]), AESGCM(keys[0]))
        self._opening = {_key_id(key): AESGCM(key) for key in keys}

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        key_id, aead = self._sealing
        nonce = os.urandom(_NONCE)
        return _VERSION + key_id + nonce + aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, *, context: str) -> bytes:
        if len(sealed) < 1 + _KEY_ID + _NONCE + 16 or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        aead = self._opening.get(sealed[1 : 1 + _KEY_ID])
        if aead is None:
            raise SealError("sealed with a key no longer configured")
        nonce = sealed[1 + _KEY_ID : 1 + _KEY_ID + _NONCE]
        try:
            return aead.decrypt(nonce, sealed[1 + _KEY_ID + _NONCE :], context.encode())
        except InvalidTag as exc:
            raise SealError("tampered or foreign value") from exc
