"""Decrypting the RUM ``password`` element when DR encrypts it with a pre-agreed AES key.

DR does not publish the cipher, so every knob is configuration (``CipherSettings``):

- ``cbc`` (default): AES-CBC with PKCS7 padding; the 16-byte IV is either the first 16 bytes of
  the decoded ciphertext (``iv="prefix"``) or a fixed, configured IV.
- ``gcm``: AES-GCM, 12-byte nonce prefix, 16-byte tag suffix, no associated data.
- ``ecb``: legacy AES-ECB with PKCS7 padding, no IV.

The ciphertext travels as Base64 (standard or URL-safe alphabet, padding optional, line breaks
allowed) or hex. The plaintext must be UTF-8.

Nothing secret ever reaches an exception message: `PasswordDecryptionError` says only which stage
failed, and is raised ``from None`` so no chained exception (whose message or attributes could carry
the ciphertext or plaintext) travels with it. Every failure after decoding (wrong key, bad padding,
failed tag, non-UTF-8 plaintext) gets the same message, so callers cannot build a padding oracle.
`PlainPassword` is the "no key configured" pass-through with the same interface.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CipherMode = Literal["cbc", "gcm", "ecb"]
CipherEncoding = Literal["base64", "hex"]

KEY_SIZES = (16, 24, 32)
BLOCK = 16
GCM_NONCE = 12
GCM_TAG = 16

_UNDECRYPTABLE = "the password could not be decrypted (wrong key or settings, or corrupted data)"
_HEX = re.compile(r"[0-9a-fA-F]+")


class PasswordDecryptionError(Exception):
    """The encrypted password could not be decoded or decrypted. Never carries secret data."""


@dataclass(frozen=True)
class CipherSettings:
    key: bytes = field(repr=False)
    mode: CipherMode = "cbc"
    iv: Literal["prefix"] | bytes = field(default="prefix", repr=False)
    encoding: CipherEncoding = "base64"

    def __post_init__(self) -> None:
        _check_key_length(len(self.key))
        if self.mode not in ("cbc", "gcm", "ecb"):
            raise ValueError("mode must be cbc, gcm or ecb")
        if self.encoding not in ("base64", "hex"):
            raise ValueError("encoding must be base64 or hex")
        if isinstance(self.iv, bytes):
            if self.mode != "cbc":
                raise ValueError(f"a fixed IV is only supported with cbc (mode is {self.mode})")
            if len(self.iv) != BLOCK:
                raise ValueError(f"the IV must be {BLOCK} bytes; got {len(self.iv)} bytes")
        elif self.iv != "prefix":
            raise ValueError('iv must be "prefix" or 16 bytes')


def _check_key_length(length: int) -> None:
    if length not in KEY_SIZES:
        raise ValueError(
            f"the key must be 16, 24 or 32 bytes (AES-128/192/256); got {length} bytes"
        )


def _decode_text(text: str, what: str) -> bytes:
    """Base64 or hex, with an optional ``hex:``/``base64:`` prefix; hex wins when ambiguous."""
    text = "".join(text.split())
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() == "hex":
        try:
            return bytes.fromhex(rest)
        except ValueError:
            raise ValueError(f"the {what} is not valid hex") from None
    if sep and prefix.lower() == "base64":
        decoded = _b64decode(rest)
        if decoded is None:
            raise ValueError(f"the {what} is not valid base64")
        return decoded
    if _HEX.fullmatch(text) and len(text) // 2 in (*KEY_SIZES, BLOCK) and len(text) % 2 == 0:
        return bytes.fromhex(text)
    decoded = _b64decode(text)
    if decoded is None:
        raise ValueError(f"the {what} is neither valid hex nor valid base64")
    return decoded


def parse_key(text: str) -> bytes:
    """An AES key written as hex or Base64 (optionally prefixed ``hex:`` / ``base64:``).

    Unprefixed text that is all hex digits and 32, 48 or 64 characters long is read as hex.
    Raises ValueError naming only the problem (never the key).
    """
    key = _decode_text(text, "key")
    _check_key_length(len(key))
    return key


def parse_iv(text: str) -> Literal["prefix"] | bytes:
    """``"prefix"`` (IV carried in front of the ciphertext) or a fixed 16-byte IV (hex/Base64)."""
    if text.strip().lower() == "prefix":
        return "prefix"
    iv = _decode_text(text, "IV")
    if len(iv) != BLOCK:
        raise ValueError(f"the IV must be {BLOCK} bytes; got {len(iv)} bytes")
    return iv


def _b64decode(text: str) -> bytes | None:
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    if len(text) % 4 == 1:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


class PlainPassword:
    """No key configured: the ``password`` element is the password."""

    def decrypt(self, text: str) -> str:
        return text

    def encrypt(self, plaintext: str) -> str:
        return plaintext


class PasswordCipher:
    """AES decryption (and, for tests and the demo, encryption) of the ``password`` element."""

    __slots__ = ("_settings",)

    def __init__(self, settings: CipherSettings) -> None:
        self._settings = settings

    def __repr__(self) -> str:
        s = self._settings
        iv = "prefix" if s.iv == "prefix" else "fixed"
        return f"PasswordCipher(mode={s.mode!r}, iv={iv!r}, encoding={s.encoding!r})"

    @property
    def settings(self) -> CipherSettings:
        return self._settings

    @classmethod
    def from_config(
        cls, key: str, mode: str = "cbc", iv: str = "prefix", encoding: str = "base64"
    ) -> PasswordCipher:
        """Build from configuration strings (key and fixed IV as hex or Base64)."""
        mode_l = mode.strip().lower()
        encoding_l = encoding.strip().lower()
        if mode_l not in ("cbc", "gcm", "ecb"):
            raise ValueError("mode must be cbc, gcm or ecb")
        if encoding_l not in ("base64", "hex"):
            raise ValueError("encoding must be base64 or hex")
        return cls(
            CipherSettings(
                key=parse_key(key),
                mode=mode_l,  # type: ignore[arg-type]  # checked above
                iv=parse_iv(iv),
                encoding=encoding_l,  # type: ignore[arg-type]  # checked above
            )
        )

    # --- decrypt -------------------------------------------------------------------------------

    def decrypt(self, text: str) -> str:
        data = self._decode(text)
        plaintext = self._decrypt_bytes(data)
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise PasswordDecryptionError(_UNDECRYPTABLE) from None

    def _decode(self, text: str) -> bytes:
        compact = "".join(text.split())
        if not compact:
            raise PasswordDecryptionError("the encrypted password is empty")
        if self._settings.encoding == "hex":
            try:
                return bytes.fromhex(compact)
            except ValueError:
                raise PasswordDecryptionError("the encrypted password is not valid hex") from None
        decoded = _b64decode(compact)
        if decoded is None:
            raise PasswordDecryptionError("the encrypted password is not valid base64")
        return decoded

    def _decrypt_bytes(self, data: bytes) -> bytes:
        s = self._settings
        if s.mode == "gcm":
            if len(data) < GCM_NONCE + GCM_TAG:
                raise PasswordDecryptionError("the encrypted password is too short")
            try:
                return AESGCM(s.key).decrypt(data[:GCM_NONCE], data[GCM_NONCE:], None)
            except InvalidTag:
                raise PasswordDecryptionError(_UNDECRYPTABLE) from None
        if s.mode == "cbc":
            if s.iv == "prefix":
                iv, data = data[:BLOCK], data[BLOCK:]
                if len(iv) < BLOCK:
                    raise PasswordDecryptionError("the encrypted password is too short")
            else:
                iv = s.iv
            mode: modes.CBC | modes.ECB = modes.CBC(iv)
        else:
            mode = modes.ECB()  # noqa: S305 - legacy option, only if DR's integration uses it
        if not data or len(data) % BLOCK:
            raise PasswordDecryptionError(
                "the encrypted password is not a whole number of AES blocks"
            )
        decryptor = Cipher(algorithms.AES(s.key), mode).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(BLOCK * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise PasswordDecryptionError(_UNDECRYPTABLE) from None

    # --- encrypt (tests, demo, "what DR would send") --------------------------------------------

    def encrypt(self, plaintext: str) -> str:
        s = self._settings
        raw = plaintext.encode("utf-8")
        if s.mode == "gcm":
            nonce = os.urandom(GCM_NONCE)
            data = nonce + AESGCM(s.key).encrypt(nonce, raw, None)
        else:
            padder = padding.PKCS7(BLOCK * 8).padder()
            padded = padder.update(raw) + padder.finalize()
            prefix = b""
            if s.mode == "cbc":
                if s.iv == "prefix":
                    iv = prefix = os.urandom(BLOCK)
                else:
                    iv = s.iv
                mode: modes.CBC | modes.ECB = modes.CBC(iv)
            else:
                mode = modes.ECB()  # noqa: S305
            encryptor = Cipher(algorithms.AES(s.key), mode).encryptor()
            data = prefix + encryptor.update(padded) + encryptor.finalize()
        if s.encoding == "hex":
            return data.hex()
        return base64.b64encode(data).decode("ascii")


def decrypter(
    key: str | None, mode: str = "cbc", iv: str = "prefix", encoding: str = "base64"
) -> PasswordCipher | PlainPassword:
    """`PlainPassword` without a key, else a `PasswordCipher` (ValueError if misconfigured)."""
    if not key:
        return PlainPassword()
    return PasswordCipher.from_config(key, mode, iv, encoding)
