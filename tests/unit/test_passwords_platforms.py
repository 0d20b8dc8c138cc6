"""The merchant platforms' hash formats, checked against hashes their owners' code made.

- tests/vectors/php.json: WordPress, Magento 1/2, osCommerce, Joomla, Shopware 5, PrestaShop,
  OpenCart, Drupal 7, ASP.NET Membership and PHP's crypt(), made by tests/vectors/generate.php
  (each platform function transcribed there, named in each vector's "source").
- tests/vectors/other.json: Apache htpasswd, MariaDB PASSWORD(), Werkzeug 2.2.3, Keycloak's
  JCA PBKDF2, OpenLDAP's salted-digest rule with 1-3 byte salts, made by tests/vectors/generate.py.
- PUBLISHED below: vectors from the owners' own test suites and documentation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sso_bridge.directory.passwords import FirebaseScrypt, PasswordHasher, keycloak_credential

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def _load(name: str) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["vectors"]
    return vectors


GENERATED = _load("php.json") + _load("other.json")


def _wrong(password: str, scheme: str) -> list[str]:
    """Near misses: another first character (DES keeps only 8) and, where the format keeps the
    whole password, one more or one less at the end."""
    first = ("X" if password[:1] != "X" else "Y") + password[1:]
    if scheme == "des_crypt":
        return [first]
    return [first, password + "x", password[:-1], password.upper()]


@pytest.mark.parametrize(
    "vector", GENERATED, ids=[f"{v['scheme']}-{i}" for i, v in enumerate(GENERATED)]
)
def test_platform_hash_verifies(vector: dict[str, Any]) -> None:
    scheme, password, stored = vector["scheme"], vector["password"], vector["hash"]
    salt, pepper = vector.get("salt"), vector.get("pepper")
    # Formats sharing a shape are all tried; `prefer` makes the platform's one name the hash.
    hasher = PasswordHasher(pepper=pepper, prefer=(scheme,))
    assert hasher.scheme_of(stored, salt=salt) == scheme, vector["source"]
    assert hasher.verify(password, stored, salt=salt), vector["source"]
    for wrong in _wrong(password, scheme):
        if wrong != password:
            assert not hasher.verify(wrong, stored, salt=salt), (wrong, vector["source"])
    # Without a preference the hash verifies too (detection never depends on it).
    assert PasswordHasher(pepper=pepper).verify(password, stored, salt=salt)


NEEDS_SALT = [v for v in GENERATED if "salt" in v]
NEEDS_PEPPER = [v for v in GENERATED if "pepper" in v]


@pytest.mark.parametrize("vector", NEEDS_SALT, ids=lambda v: v["scheme"])
def test_salt_column_formats_need_the_rows_salt(vector: dict[str, Any]) -> None:
    hasher = PasswordHasher()
    assert not hasher.verify(vector["password"], vector["hash"])
    assert not hasher.verify(vector["password"], vector["hash"], salt="c29tZXRoaW5nIGVsc2U=")


@pytest.mark.parametrize("vector", NEEDS_PEPPER, ids=lambda v: v["scheme"])
def test_peppered_formats_need_the_right_pepper(vector: dict[str, Any]) -> None:
    assert not PasswordHasher().verify(vector["password"], vector["hash"])
    assert not PasswordHasher(pepper="not the cookie key").verify(
        vector["password"], vector["hash"]
    )


# --- Published vectors: (scheme, password, hash, source) -------------------------------------

ASPNET_TEST = "aspnetcore src/Identity/test/Identity.Test/PasswordHasherTest.cs"
PUBLISHED: list[tuple[str, str, str, str]] = [
    (
        "aspnet_identity_v2",
        "my password",
        "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==",
        f"{ASPNET_TEST} V2_SHA1_1000iter_128salt_256subkey",
    ),
    (
        "aspnet_identity_v3",
        "my password",
        "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M",
        f"{ASPNET_TEST} V3_SHA1_250iter_128salt_128subkey",
    ),
    (
        "aspnet_identity_v3",
        "my password",
        "AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72r4C08OLvplNlCDc3oQZ8efcW+jQ=",
        f"{ASPNET_TEST} V3_SHA256_250000iter_256salt_256subkey",
    ),
    (
        "aspnet_identity_v3",
        "my password",
        "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw",
        f"{ASPNET_TEST} V3_SHA512_50iter_128salt_128subkey",
    ),
    (
        "aspnet_identity_v3",
        "my password",
        "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==",
        f"{ASPNET_TEST} V3_SHA512_250iter_256salt_512subkey",
    ),
    (
        "aspnet_identity_v3",
        "my password",
        "AQAAAAIAAYagAAAAEAABAgMEBQYHCAkKCwwNDg/Q8A0WMKbtHQJQ2DHCdoEeeFBrgNlldq6vH4qX/CGqGQ==",
        f"{ASPNET_TEST} V3_SHA512_100000iter_128salt_256subkey (HashPassword_Version3)",
    ),
    (
        "atlassian_pbkdf2_sha1",
        "password",
        "{PKCS5S2}DQIXJU038u4P7FdsuFTY/+35bm41kfjZa57UrdxHp2Mu3qF2uy+ooD+jF5t1tb8J",
        "libpass docs, passlib.hash.atlassian_pbkdf2_sha1 (also John the Ripper's pbkdf2 tests)",
    ),
    # libpass tests/test_handlers_bcrypt.py known_incorrect_padding: passlib < 1.5.3 set the
    # unused bits of the salt's last character; every bcrypt decodes only the 16 salt bytes.
    (
        "bcrypt",
        "test",
        "$2a$04$oaQbBqq8JnSM1NHRPQGXORY4Vw3bdHKLIXTecPDRAcJ98cz1ilveO",
        "libpass test_handlers_bcrypt.py known_incorrect_padding (2 salt padding bits set)",
    ),
    (
        "bcrypt",
        "test",
        "$2a$04$yjDgE74RJkeqC0/1NheSScrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIS",
        "libpass test_handlers_bcrypt.py known_incorrect_padding (all 4 salt padding bits set)",
    ),
    (
        "bcrypt",
        "test",
        "$2a$04$yjDgE74RJkeqC0/1NheSSOrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIV",
        "libpass test_handlers_bcrypt.py known_incorrect_padding (digest padding bits set)",
    ),
    (
        "bcrypt",
        "test",
        "$2a$04$yjDgE74RJkeqC0/1NheSSOrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIS",
        "libpass test_handlers_bcrypt.py known_incorrect_padding (the corrected hash)",
    ),
]


# Rows of Keycloak's CREDENTIAL table (SECRET_DATA, CREDENTIAL_DATA) that Keycloak itself wrote,
# as quoted with their passwords by other projects' migration tests and seed data.
KEYCLOAK_ROWS = [
    (
        "keycloak_argon2",
        "testpassword",
        '{"value":"O7vS90g14jWr4ESbUpJ3KX5y1NMZcMgjuqPHrZ4Eq8U=","salt":"LgSKeCa5qZH6Dh0PE17AwQ==",'
        '"additionalParameters":{}}',
        '{"hashIterations":5,"algorithm":"argon2","additionalParameters":{"hashLength":["32"],'
        '"memory":["7168"],"type":["id"],"version":["1.3"],"parallelism":["1"]}}',
    ),
    (
        "keycloak_argon2",
        "manager",
        '{"value":"EnDApHjOOFUBdPCpGIuC6IadN4J96U5dfWp/4iap5w0=","salt":"hIO6r09/QlCLPsBNdVEr9A==",'
        '"additionalParameters":{}}',
        '{"hashIterations":5,"algorithm":"argon2","additionalParameters":{"hashLength":["32"],'
        '"memory":["7168"],"type":["id"],"version":["1.3"],"parallelism":["1"]}}',
    ),
    (
        "keycloak_pbkdf2",
        "test123",
        '{"value":"9yUI9up7DA09THuasmN5Z9pN+X5GUvJZY3lnXZYNB/gsGBtL8PjHANnR/H1G3IhhipUr27sBNJ4eek7AMP5'
        'UBw==","salt":"VUBELKb6poajPUjlaK1zCQ==","additionalParameters":{}}',
        '{"hashIterations":27500,"algorithm":"pbkdf2-sha256","additionalParameters":{}}',
    ),
    (
        "keycloak_pbkdf2",
        "testpassword",
        '{"value":"x4QqNb57CHVDsuIM+UMaOeryY7WsOGhxPFzjhEQgoisZ2hrviOSvuokCIXFXHkvBF47BLXDj2MA/g4vUB'
        'MuJcw==","salt":"IQU7tTvDbMtynBAFmSOrpA==","additionalParameters":{}}',
        '{"hashIterations":210000,"algorithm":"pbkdf2-sha512","additionalParameters":{}}',
    ),
]
PUBLISHED += [
    (scheme, password, keycloak_credential(secret, credential), "Keycloak CREDENTIAL row")
    for scheme, password, secret, credential in KEYCLOAK_ROWS
]


@pytest.mark.parametrize(("scheme", "password", "stored", "source"), PUBLISHED, ids=lambda v: v)
def test_published_vector(scheme: str, password: str, stored: str, source: str) -> None:
    hasher = PasswordHasher()
    assert hasher.scheme_of(stored) == scheme, source
    assert hasher.verify(password, stored), source
    for wrong in _wrong(password, scheme):
        assert not hasher.verify(wrong, stored), source


# aspnetcore PasswordHasherTest.VerifyHashedPassword_FailureCases: wrong, short, extra data.
ASPNET_FAILURES = [
    "AAABAgMEBQYHCAkKCwwNDg+uAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALtH1uJg==",
    "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=",
    "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJgAAAAAAAAAAAAA=",
    "AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M",
    "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=",
    "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHwAAAAAAAAAAAA",
]


@pytest.mark.parametrize("stored", ASPNET_FAILURES)
def test_aspnet_identity_failure_cases(stored: str) -> None:
    assert not PasswordHasher().verify("my password", stored)


# github.com/firebase/scrypt README "Password hashing" example (the project parameters a
# Firebase console shows, and one exported user).
FIREBASE = FirebaseScrypt.from_base64(
    signer_key="jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
    salt_separator="Bw==",
    rounds=8,
    mem_cost=14,
)
FIREBASE_SALT = "42xEC+ixf3L2lw=="
FIREBASE_HASH = (
    "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
)


def test_firebase_scrypt_readme_vector() -> None:
    hasher = PasswordHasher(firebase=FIREBASE)
    assert hasher.scheme_of(FIREBASE_HASH, salt=FIREBASE_SALT) == "firebase_scrypt"
    assert hasher.verify("user1password", FIREBASE_HASH, salt=FIREBASE_SALT)
    for wrong in _wrong("user1password", "firebase_scrypt"):
        assert not hasher.verify(wrong, FIREBASE_HASH, salt=FIREBASE_SALT)
    # Another project's signer key, or no parameters / no salt: never a match.
    other = FirebaseScrypt(signer_key=bytes(64), salt_separator=b"\x07", rounds=8, mem_cost=14)
    assert not PasswordHasher(firebase=other).verify(
        "user1password", FIREBASE_HASH, salt=FIREBASE_SALT
    )
    assert not PasswordHasher().verify("user1password", FIREBASE_HASH, salt=FIREBASE_SALT)
    assert not hasher.verify("user1password", FIREBASE_HASH)


def test_secrets_are_not_in_reprs() -> None:
    hasher = PasswordHasher(pepper="cookie-key-SECRET", firebase=FIREBASE)
    assert "cookie-key-SECRET" not in repr(hasher)
    assert "jxspr8" not in repr(FIREBASE) and "signer_key" not in repr(FIREBASE)
    assert str(FIREBASE.signer_key) not in repr(hasher)


@pytest.mark.parametrize(
    "stored",
    [
        '{"secretData": "{}", "credentialData": "{}"}',
        '{"secretData": {"value": "AA==", "salt": "AA=="}, "credentialData": {"algorithm": '
        '"md5", "hashIterations": 1}}',
        '{"secretData": {"value": "AA==", "salt": "AA=="}, "credentialData": {"algorithm": '
        '"pbkdf2-sha256", "hashIterations": 0}}',
        '{"secretData": "not json", "credentialData": "{}"}',
        "$wp$2y$10$short",
        "0123456789abcdef0123456789abcdef:salt:9",
        "1000:salt:nothex",
        "99999999999:salt:" + "0" * 64,
        "$1$123456789$" + "a" * 22,
    ],
)
def test_malformed_platform_hashes_are_false(stored: str) -> None:
    assert PasswordHasher().verify("password", stored) is False


def test_shared_shapes_name_real_schemes_and_unshared_ones_stop_at_the_first() -> None:
    from sso_bridge.directory.passwords._base import Inputs
    from sso_bridge.directory.passwords._registry import BY_NAME, SHARED, candidates

    assert all(name in BY_NAME for group in SHARED for name in group)
    found, _ = candidates("$2a$04$yjDgE74RJkeqC0/1NheSSOrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIS", Inputs())
    assert [s.name for s in found] == ["bcrypt"]
    found, _ = candidates("sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8", Inputs())
    assert [s.name for s in found] == ["django_salted_sha1", "werkzeug_legacy"]
