"""sso_bridge.rum.password_cipher: decrypting the RUM password element DR may AES-encrypt."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sso_bridge.rum.password_cipher import (
    CipherSettings,
    PasswordCipher,
    PasswordDecryptionError,
    PlainPassword,
    decrypter,
    parse_iv,
    parse_key,
)

KEY16 = bytes(range(16))
KEY24 = bytes(range(100, 124))
KEY32 = bytes(range(200, 232))
FIXED_IV = bytes(range(50, 66))
PASSWORDS = ["123123", "", "pässwörd 李 😀", "  spaces kept  ", "x" * 16, "y" * 100]

OPTIONS = [
    pytest.param(key, mode, iv, encoding, id=f"{len(key) * 8}-{mode}-{label}-{encoding}")
    for key in (KEY16, KEY24, KEY32)
    for mode, iv, label in (
        ("cbc", "prefix", "prefix"),
        ("cbc", FIXED_IV, "fixed"),
        ("gcm", "prefix", "prefix"),
        ("ecb", "prefix", "none"),
    )
    for encoding in ("base64", "hex")
]


@pytest.mark.parametrize(("key", "mode", "iv", "encoding"), OPTIONS)
def test_round_trip(key: bytes, mode: str, iv: str | bytes, encoding: str) -> None:
    cipher = PasswordCipher(CipherSettings(key=key, mode=mode, iv=iv, encoding=encoding))  # type: ignore[arg-type]
    for password in PASSWORDS:
        token = cipher.encrypt(password)
        assert password.strip() == "" or password not in token
        if encoding == "hex":
            bytes.fromhex(token)
        else:
            base64.b64decode(token, validate=True)
        assert cipher.decrypt(token) == password


def test_prefixed_iv_and_nonce_are_random() -> None:
    for mode in ("cbc", "gcm"):
        cipher = PasswordCipher(CipherSettings(key=KEY16, mode=mode))
        assert cipher.encrypt("same") != cipher.encrypt("same")


def _pkcs7(data: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    return padder.update(data) + padder.finalize()


def test_independent_cbc_prefix_vector() -> None:
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(KEY32), modes.CBC(iv)).encryptor()
    blob = iv + encryptor.update(_pkcs7("Grüße!".encode())) + encryptor.finalize()
    cipher = PasswordCipher(CipherSettings(key=KEY32))
    assert cipher.decrypt(base64.b64encode(blob).decode()) == "Grüße!"
    # wrapped Base64 (line breaks), URL-safe alphabet and missing padding are tolerated
    wrapped = base64.encodebytes(blob).decode()
    assert "\n" in wrapped
    assert cipher.decrypt(wrapped) == "Grüße!"
    assert cipher.decrypt(base64.urlsafe_b64encode(blob).decode().rstrip("=")) == "Grüße!"


def test_independent_cbc_fixed_iv_hex_vector() -> None:
    encryptor = Cipher(algorithms.AES(KEY16), modes.CBC(FIXED_IV)).encryptor()
    blob = encryptor.update(_pkcs7(b"123123")) + encryptor.finalize()
    cipher = PasswordCipher(CipherSettings(key=KEY16, iv=FIXED_IV, encoding="hex"))
    assert cipher.decrypt(blob.hex().upper()) == "123123"


def test_independent_gcm_vector() -> None:
    nonce = os.urandom(12)
    blob = nonce + AESGCM(KEY24).encrypt(nonce, b"hunter2", None)
    cipher = PasswordCipher(CipherSettings(key=KEY24, mode="gcm"))
    assert cipher.decrypt(base64.b64encode(blob).decode()) == "hunter2"


def test_independent_ecb_vector() -> None:
    encryptor = Cipher(algorithms.AES(KEY16), modes.ECB()).encryptor()  # noqa: S305
    blob = encryptor.update(_pkcs7(b"legacy")) + encryptor.finalize()
    cipher = PasswordCipher(CipherSettings(key=KEY16, mode="ecb", encoding="hex"))
    assert cipher.decrypt(blob.hex()) == "legacy"


def test_known_answer_fips197() -> None:
    # FIPS-197 C.1: AES-128 of 00112233..ff under key 000102..0f; one ECB block plus a padding block
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    plaintext = bytes.fromhex("00112233445566778899aabbccddeeff")
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    blob = encryptor.update(_pkcs7(plaintext)) + encryptor.finalize()
    assert blob[:16].hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    cipher = PasswordCipher(CipherSettings(key=key, mode="ecb", encoding="hex"))
    with pytest.raises(PasswordDecryptionError):  # the plaintext is not UTF-8
        cipher.decrypt(blob.hex())


SECRET = "Sup3r-Secret-Pw"


@pytest.mark.parametrize(("key", "mode", "iv", "encoding"), OPTIONS)
def test_wrong_key_never_leaks(key: bytes, mode: str, iv: str | bytes, encoding: str) -> None:
    right = PasswordCipher(CipherSettings(key=key, mode=mode, iv=iv, encoding=encoding))  # type: ignore[arg-type]
    wrong_key = bytes(b ^ 0x5A for b in key)
    wrong = PasswordCipher(CipherSettings(key=wrong_key, mode=mode, iv=iv, encoding=encoding))  # type: ignore[arg-type]
    failures = 0
    for attempt in range(5):  # a wrong key yields valid padding about 1 time in 256
        token = right.encrypt(SECRET + "!" * attempt)
        try:
            wrong.decrypt(token)
        except PasswordDecryptionError as exc:
            failures += 1
            for text in (str(exc), repr(exc)):
                assert SECRET not in text
                assert token not in text
                assert key.hex() not in text
                assert wrong_key.hex() not in text
                assert base64.b64encode(key).decode() not in text
            assert exc.__cause__ is None
            assert exc.__suppress_context__
    assert failures >= 4
    assert key.hex() not in repr(right)


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        (CipherSettings(key=KEY16), ""),
        (CipherSettings(key=KEY16), "   "),
        (CipherSettings(key=KEY16), "not*base64!"),
        (CipherSettings(key=KEY16), "QUJD"),  # 3 bytes: shorter than an IV
        (CipherSettings(key=KEY16), base64.b64encode(b"\x00" * 33).decode()),  # not whole blocks
        (CipherSettings(key=KEY16, encoding="hex"), "zz"),
        (CipherSettings(key=KEY16, encoding="hex"), "abc"),
        (CipherSettings(key=KEY16, mode="gcm"), base64.b64encode(b"\x00" * 20).decode()),
        (CipherSettings(key=KEY16, mode="gcm"), base64.b64encode(b"\x00" * 40).decode()),
        (CipherSettings(key=KEY16, mode="ecb"), base64.b64encode(b"\x00" * 16).decode()),
        (CipherSettings(key=KEY16, mode="ecb"), "123123"),  # plain text sent by mistake
    ],
)
def test_garbage_is_refused(settings: CipherSettings, text: str) -> None:
    with pytest.raises(PasswordDecryptionError):
        PasswordCipher(settings).decrypt(text)


def test_tampered_ciphertext_is_refused() -> None:
    cipher = PasswordCipher(CipherSettings(key=KEY16, mode="gcm", encoding="hex"))
    blob = bytearray(bytes.fromhex(cipher.encrypt("123123")))
    blob[15] ^= 1
    with pytest.raises(PasswordDecryptionError):
        cipher.decrypt(blob.hex())


def test_plain_password_passthrough() -> None:
    plain = PlainPassword()
    assert plain.decrypt("  123 123 ") == "  123 123 "
    assert plain.encrypt("x") == "x"
    assert isinstance(decrypter(None), PlainPassword)
    assert isinstance(decrypter(""), PlainPassword)


def test_from_config_strings() -> None:
    cipher = decrypter(
        "hex:" + KEY16.hex(), mode="CBC", iv="base64:" + base64.b64encode(FIXED_IV).decode()
    )
    assert isinstance(cipher, PasswordCipher)
    assert cipher.settings == CipherSettings(key=KEY16, mode="cbc", iv=FIXED_IV)
    assert KEY16.hex() not in repr(cipher)
    assert KEY16.hex() not in repr(cipher.settings)
    assert str(KEY16) not in repr(cipher.settings)
    with pytest.raises(ValueError, match="mode"):
        decrypter(KEY16.hex(), mode="ctr")
    with pytest.raises(ValueError, match="encoding"):
        decrypter(KEY16.hex(), encoding="base32")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KEY16.hex(), KEY16),
        (KEY24.hex().upper(), KEY24),
        (KEY32.hex(), KEY32),
        ("hex:" + KEY16.hex(), KEY16),
        ("HEX:" + KEY32.hex(), KEY32),
        (base64.b64encode(KEY16).decode(), KEY16),
        (base64.b64encode(KEY24).decode(), KEY24),
        (base64.b64encode(KEY32).decode(), KEY32),
        ("base64:" + base64.b64encode(KEY32).decode(), KEY32),
        (base64.urlsafe_b64encode(KEY32).decode().rstrip("="), KEY32),
        ("  " + KEY16.hex() + "\n", KEY16),
    ],
)
def test_parse_key(text: str, expected: bytes) -> None:
    assert parse_key(text) == expected


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hex:" + bytes(15).hex(), 15),
        ("hex:" + bytes(17).hex(), 17),
        ("hex:" + bytes(64).hex(), 64),
        (base64.b64encode(b"k" * 20).decode(), 20),
        ("base64:" + base64.b64encode(b"k" * 8).decode(), 8),
        ("", 0),
    ],
)
def test_parse_key_length_errors(text: str, length: int) -> None:
    with pytest.raises(ValueError, match=f"got {length} bytes") as caught:
        parse_key(text)
    assert "16, 24 or 32" in str(caught.value)
    if len(text) > 8:
        assert text.removeprefix("hex:").removeprefix("base64:") not in str(caught.value)


@pytest.mark.parametrize("text", ["hex:zz", "base64:***", "not a key!", "hex:abc"])
def test_parse_key_encoding_errors(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_key(text)
    assert text not in str(caught.value)


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="got 5 bytes"):
        CipherSettings(key=b"short")
    with pytest.raises(ValueError, match="IV must be 16 bytes"):
        CipherSettings(key=KEY16, iv=b"\x00" * 12)
    with pytest.raises(ValueError, match="only supported with cbc"):
        CipherSettings(key=KEY16, mode="gcm", iv=FIXED_IV)
    with pytest.raises(ValueError, match="only supported with cbc"):
        CipherSettings(key=KEY16, mode="ecb", iv=FIXED_IV)
    assert KEY16.hex() not in repr(CipherSettings(key=KEY16))
    assert repr(KEY16) not in repr(CipherSettings(key=KEY16))


def test_parse_iv() -> None:
    assert parse_iv("prefix") == "prefix"
    assert parse_iv(" PREFIX ") == "prefix"
    assert parse_iv(FIXED_IV.hex()) == FIXED_IV
    assert parse_iv(base64.b64encode(FIXED_IV).decode()) == FIXED_IV
    with pytest.raises(ValueError, match="got 12 bytes"):
        parse_iv("hex:" + bytes(12).hex())
