"""AES-GCM sealing of cached tokens: round trip, key rotation, tampering, context binding, keys."""

from __future__ import annotations

import base64
import os

import pytest

from sso_bridge.dr.sealing import Sealer, SealError, derive_key, parse_token_key

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_C = os.urandom(32)
CONTEXT = "tok:{ERID-A}"
SECRET_VALUE = b'["access-token-value","bearer",1.0,3601.0]'


def test_round_trip() -> None:
    sealer = Sealer([KEY_A])
    sealed = sealer.seal(SECRET_VALUE, context=CONTEXT)
    assert sealer.open(sealed, context=CONTEXT) == SECRET_VALUE


def test_sealed_value_does_not_contain_the_plaintext_and_is_randomised() -> None:
    sealer = Sealer([KEY_A])
    first = sealer.seal(SECRET_VALUE, context=CONTEXT)
    second = sealer.seal(SECRET_VALUE, context=CONTEXT)
    assert b"access-token-value" not in first
    assert first != second  # fresh nonce each time
    assert sealer.open(second, context=CONTEXT) == SECRET_VALUE


def test_empty_plaintext_round_trips() -> None:
    sealer = Sealer([KEY_A])
    assert sealer.open(sealer.seal(b"", context=CONTEXT), context=CONTEXT) == b""


def test_rotation_old_value_opens_with_new_key_first() -> None:
    old = Sealer([KEY_A]).seal(SECRET_VALUE, context=CONTEXT)
    rotated = Sealer([KEY_B, KEY_A])
    assert rotated.open(old, context=CONTEXT) == SECRET_VALUE


def test_rotation_seals_with_the_first_key() -> None:
    sealed = Sealer([KEY_B, KEY_A]).seal(SECRET_VALUE, context=CONTEXT)
    assert Sealer([KEY_B]).open(sealed, context=CONTEXT) == SECRET_VALUE
    with pytest.raises(SealError):
        Sealer([KEY_A]).open(sealed, context=CONTEXT)


def test_value_sealed_under_a_dropped_key_fails() -> None:
    old = Sealer([KEY_A]).seal(SECRET_VALUE, context=CONTEXT)
    with pytest.raises(SealError):
        Sealer([KEY_B]).open(old, context=CONTEXT)
    with pytest.raises(SealError):
        Sealer([KEY_C, KEY_B]).open(old, context=CONTEXT)


def test_no_keys_is_refused() -> None:
    with pytest.raises(ValueError):
        Sealer([])


@pytest.mark.parametrize("position", [0, 1, 4, 5, 16, 17, 30, -1])
def test_any_tampered_byte_fails(position: int) -> None:
    sealer = Sealer([KEY_A])
    sealed = bytearray(sealer.seal(SECRET_VALUE, context=CONTEXT))
    sealed[position] ^= 0x01
    with pytest.raises(SealError):
        sealer.open(bytes(sealed), context=CONTEXT)


@pytest.mark.parametrize(
    "garbage", [b"", b"\x01", b"\x01" + b"\x00" * 31, b"not sealed at all, just text", b"[1,2]"]
)
def test_garbage_fails_with_seal_error(garbage: bytes) -> None:
    with pytest.raises(SealError):
        Sealer([KEY_A]).open(garbage, context=CONTEXT)


def test_truncated_value_fails() -> None:
    sealer = Sealer([KEY_A])
    sealed = sealer.seal(SECRET_VALUE, context=CONTEXT)
    with pytest.raises(SealError):
        sealer.open(sealed[:-1], context=CONTEXT)


def test_context_is_bound() -> None:
    sealer = Sealer([KEY_A])
    sealed = sealer.seal(SECRET_VALUE, context="tok:{A}")
    with pytest.raises(SealError):
        sealer.open(sealed, context="tok:{B}")
    with pytest.raises(SealError):
        sealer.open(sealed, context="tok:{A}:s:0123")
    assert sealer.open(sealed, context="tok:{A}") == SECRET_VALUE


# --------------------------------------------------------------------------- key parsing


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(KEY_B).decode(),
        base64.b64encode(KEY_B).decode().rstrip("="),
        base64.urlsafe_b64encode(KEY_B).decode(),
        base64.urlsafe_b64encode(KEY_B).decode().rstrip("="),
        KEY_B.hex(),
        KEY_B.hex().upper(),
        "  " + KEY_B.hex() + "\n",
    ],
)
def test_parse_token_key_accepts_32_byte_keys(text: str) -> None:
    assert parse_token_key(text) == KEY_B


def test_parse_token_key_accepts_standard_base64_with_plus_and_slash() -> None:
    key = bytes([0xFB, 0xFF, 0xBF] * 10 + [0xFB, 0xFF])
    text = base64.b64encode(key).decode()
    assert "+" in text and "/" in text
    assert parse_token_key(text) == key
    assert parse_token_key(base64.urlsafe_b64encode(key).decode()) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "short",
        base64.b64encode(bytes(range(16))).decode(),  # 16 bytes
        base64.b64encode(bytes(range(31))).decode(),
        base64.b64encode(bytes(range(33))).decode(),
        base64.b64encode(bytes(range(64))).decode(),
        bytes(range(16)).hex(),  # 32 hex digits = 16 bytes
        bytes(range(31)).hex(),
        "zz" * 32,  # 64 characters, not hex (and 48 bytes as base64)
    ],
)
def test_parse_token_key_rejects_other_lengths_and_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_token_key(text)


def test_parsed_key_seals() -> None:
    key = parse_token_key(base64.b64encode(KEY_C).decode())
    sealed = Sealer([key]).seal(SECRET_VALUE, context=CONTEXT)
    assert Sealer([KEY_C]).open(sealed, context=CONTEXT) == SECRET_VALUE


# --------------------------------------------------------------------------- derived keys


def test_derive_key_is_deterministic_and_32_bytes() -> None:
    first = derive_key("dr-api-secret-1")
    assert len(first) == 32
    assert derive_key("dr-api-secret-1") == first


def test_derive_key_differs_per_secret() -> None:
    keys = {derive_key(secret) for secret in ["a", "b", "dr-api-secret-1", "dr-api-secret-2"]}
    assert len(keys) == 4


def test_derive_key_is_not_the_secret_itself() -> None:
    secret = "x" * 32
    assert derive_key(secret) != secret.encode()


def test_value_sealed_under_derived_key_opens_only_with_the_same_secret() -> None:
    sealed = Sealer([derive_key("secret-one")]).seal(SECRET_VALUE, context=CONTEXT)
    assert Sealer([derive_key("secret-one")]).open(sealed, context=CONTEXT) == SECRET_VALUE
    with pytest.raises(SealError):
        Sealer([derive_key("secret-two")]).open(sealed, context=CONTEXT)
