"""Tests for sso_bridge.directory.passwords.

Every format is checked against hashes made by that ecosystem's own code (Django's make_password,
werkzeug, the bcrypt and argon2-cffi packages, openssl passwd) or against vectors published by the
reference implementations (phpass's test.php, PHP's manual, the argon2 reference README, libpass's
test suite, Drupal 7 ports), never only against hashes this module wrote itself. Hashes generated
here use low cost parameters where the producing library allows it, to keep the file fast.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable

import argon2
import bcrypt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.security import generate_password_hash

from sso_bridge.directory.passwords import NEW_SCHEMES, PasswordHasher, typical_hash
from tests.django_hashers import hashers as django_hashers

PW = "correct horse battery staple"
WRONG = "correct horse battery stapl3"
UNICODE_PW = "pässwörd ✓ 密码"

HASHER = PasswordHasher()


class _FastPBKDF2(django_hashers.PBKDF2PasswordHasher):
    iterations = 1000


class _FastBCryptSHA256(django_hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class _FastBCrypt(django_hashers.BCryptPasswordHasher):
    rounds = 4


def _django(algorithm: str) -> Callable[[str], str]:
    """Django's make_password with one of the configured hashers, at Django's default cost."""
    return lambda password: django_hashers.make_password(password, hasher=algorithm)


def _django_fast(hasher: django_hashers.BasePasswordHasher) -> Callable[[str], str]:
    """Django's make_password with a lower-cost subclass of one of its hashers."""
    return lambda password: django_hashers.make_password(password, hasher=hasher)


def _werkzeug(method: str) -> Callable[[str], str]:
    return lambda password: generate_password_hash(password, method=method)


def _bcrypt_2b(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _argon2_default(password: str) -> str:
    return argon2.PasswordHasher().hash(password)


def _argon2_cheap(password: str, kind: argon2.Type = argon2.Type.ID) -> str:
    return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=kind).hash(
        password
    )


def _openssl(flag: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        if shutil.which("openssl") is None:
            pytest.skip("openssl not installed")
        done = subprocess.run(
            ["openssl", "passwd", flag, "-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    return make


def _ldap(prefix: str, algorithm: str, salt: bytes) -> Callable[[str], str]:
    """RFC 2307 practice, independently of the module: {SCHEME}base64(H(password + salt) + salt)."""

    def make(password: str) -> str:
        digest = hashlib.new(algorithm, password.encode() + salt).digest()
        return prefix + base64.b64encode(digest + salt).decode()

    return make


# --- Ecosystem-produced hashes: (expected scheme, password, maker) --------------------------------

GENERATED: list[tuple[str, str, Callable[[str], str]]] = [
    # Django, default hashers and costs as configured above.
    ("django_pbkdf2_sha256", UNICODE_PW, _django("pbkdf2_sha256")),
    ("django_pbkdf2_sha1", PW, _django("pbkdf2_sha1")),
    ("django_argon2", UNICODE_PW, _django("argon2")),
    ("django_bcrypt_sha256", PW, _django("bcrypt_sha256")),
    ("django_bcrypt", UNICODE_PW, _django("bcrypt")),
    ("django_scrypt", UNICODE_PW, _django("scrypt")),
    ("django_salted_md5", PW, _django("md5")),
    # Werkzeug.
    ("werkzeug_pbkdf2", UNICODE_PW, _werkzeug("pbkdf2:sha256")),
    ("werkzeug_pbkdf2", PW, _werkzeug("pbkdf2:sha512:2000")),
    ("werkzeug_scrypt", UNICODE_PW, _werkzeug("scrypt")),
    # The bcrypt and argon2-cffi packages.
    ("bcrypt", UNICODE_PW, _bcrypt_2b),
    ("argon2", UNICODE_PW, _argon2_default),
    ("argon2", PW, lambda password: _argon2_cheap(password, argon2.Type.I)),
    ("argon2", PW, lambda password: _argon2_cheap(password, argon2.Type.D)),
    # crypt(3) as written by openssl passwd.
    ("md5_crypt", PW, _openssl("-1")),
    ("sha256_crypt", PW, _openssl("-5")),
    ("sha512_crypt", PW, _openssl("-6")),
    ("ldap_sha512_crypt", PW, lambda password: "{CRYPT}" + _openssl("-6")(password)),
    # LDAP SHA-2 digests, built here with hashlib.
    ("ldap_salted_sha256", UNICODE_PW, _ldap("{SSHA256}", "sha256", os.urandom(8))),
    ("ldap_salted_sha384", UNICODE_PW, _ldap("{SSHA384}", "sha384", os.urandom(8))),
    ("ldap_salted_sha512", UNICODE_PW, _ldap("{SSHA512}", "sha512", os.urandom(8))),
    ("ldap_salted_sha1", PW, _ldap("{SSHA}", "sha1", os.urandom(4))),
    ("ldap_sha256", PW, _ldap("{SHA256}", "sha256", b"")),
    ("ldap_sha384", PW, _ldap("{SHA384}", "sha384", b"")),
    ("ldap_sha512", PW, _ldap("{SHA512}", "sha512", b"")),
    ("ldap_salted_sha1", PW, lambda password: _ldap("{ssha}", "sha1", b"salt")(password)),
]

# Published vectors: (expected scheme, password, hash, where it comes from).
PUBLISHED: list[tuple[str, str, str]] = [
    # bcrypt: PHP manual, crypt() and password_verify() examples ($2a$ and PHP's own $2y$).
    ("bcrypt", "rasmuslerdorf", "$2a$07$usesomesillystringfore2uDLvp1Ii2e./U9C8sBjqp8I90dH6hi"),
    ("bcrypt", "rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
    # argon2i: the argon2 reference implementation's README (`argon2 somesalt -t 2 -m 16 -p 4`).
    (
        "argon2",
        "password",
        "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    ),
    # phpass: test.php of the reference phpass distribution, and phpBB3 ($H$) vectors from the
    # passlib/libpass test suite.
    ("phpass", "test12345", "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0"),
    ("phpass", "test1", "$H$9aaaaaSXBjgypwqm.JsMssPLiS8YQ00"),
    ("phpass", "123456", "$H$9PE8jEklgZhgLmZl5.HYJAzfGCQtzi1"),
    ("phpass", "JohnRipper", "$P$612345678si5M0DDyPpmRCmcltU/YW/"),
    # Drupal 7 $S$: examples from independent ports of includes/password.inc (a PHP class port,
    # a Ruby gem, a Django hasher's tests).
    ("drupal7_sha512", "password", "$S$DI7p94K2RG7Nq2OJp2/T55TfjT/K8UYdDVSUELOgCNbNoHU2sdtq"),
    ("drupal7_sha512", "password1234", "$S$DeIZ1KTE.VzRvudZ5.xgOakipuMFrVyPmRdWTjAdYieWj27NMglI"),
    (
        "drupal7_sha512",
        "DifficultPassword123",
        "$S$5FIcboyzv1ZD/OZDb4w/4HSlnsPlwbr/PWLWrHPWrJp8eXOQQaWJ",
    ),
    # LDAP: SHA-1 of "password" (OpenLDAP FAQ), real slappasswd output, libpass test vectors.
    ("ldap_sha1", "password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="),
    ("ldap_salted_sha1", "tony", "{SSHA}rj5qElfD1JK7PCKSLZzxIldkREeFW2Dv"),
    ("ldap_salted_sha1", "testing123", "{SSHA}0c0blFTXXNuAMHECS4uxrj3ZieMoWImr"),
    ("ldap_salted_sha1", "test", "{SSHA}Pfx6Vf48AT9x3FVv8znbo8WQkEVSipHSWovxXmvNWUvp/d/7"),
    ("ldap_md5", "helloworld", "{MD5}/F4DjTilcDIIVEHn/nAQsA=="),
    ("ldap_salted_md5", "testing1234", "{SMD5}UjFY34os/pnZQ3oQOzjqGu4yeXE="),
    (
        "ldap_salted_sha512",
        "password",
        "{SSHA512}f/lFQskkl7PdMsTGJxHZq8LDt/l+UqRMm6/pj4pV7/xZkcOaKCgvQqp+KCeXc/Vd4RY6vEHWn4y0DnFcQ6wgyv9fyxk=",
    ),
    # Django's removed SHA1 / unsalted MD5 hashers: vectors from Django's own test_hashers.py
    # (the hashers left Django in 5.1, but old user tables still hold their output).
    ("django_salted_sha1", "lètmein", "sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8"),
    ("django_salted_md5", "lètmein", "md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3"),
    ("hex_md5", "lètmein", "88a434c88cca4e900f7874cd98123f43"),
    ("django_salted_md5", "lètmein", "md5$$88a434c88cca4e900f7874cd98123f43"),
]


@pytest.fixture(scope="module", params=GENERATED, ids=lambda row: f"{row[0]}")
def generated(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    scheme, password, make = request.param
    return scheme, password, make(password)


def test_ecosystem_hash_verifies(generated: tuple[str, str, str]) -> None:
    scheme, password, stored = generated
    assert HASHER.scheme_of(stored) == scheme
    assert HASHER.verify(password, stored)
    assert not HASHER.verify(WRONG, stored)
    assert not HASHER.verify(password + " ", stored)  # no stripping
    assert HASHER.cost_signature(stored).startswith(scheme)


@pytest.mark.parametrize(("scheme", "password", "stored"), PUBLISHED, ids=lambda v: str(v)[:14])
def test_published_vector_verifies(scheme: str, password: str, stored: str) -> None:
    assert HASHER.scheme_of(stored) == scheme
    assert HASHER.verify(password, stored)
    assert not HASHER.verify(password + "x", stored)
    assert not HASHER.verify(password.upper() + "!", stored)


# --- Truncation ----------------------------------------------------------------------------------


def test_bcrypt_does_not_match_a_longer_password_on_its_72_byte_prefix() -> None:
    real = "p" * 72
    stored = bcrypt.hashpw(real.encode(), bcrypt.gensalt(4)).decode()
    assert HASHER.verify(real, stored)
    assert not HASHER.verify(real + "EXTRA123", stored)  # 80 bytes, 72-byte prefix is `real`
    assert not HASHER.verify(real + "EXTRA123", "bcrypt$" + stored)  # Django's plain bcrypt too


def test_an_80_byte_password_round_trips_through_bcrypt_sha256_only() -> None:
    long_pw = "q" * 72 + "8 more b"
    with pytest.raises(ValueError, match="72 bytes"):
        PasswordHasher(new_scheme="bcrypt").hash_password(long_pw)
    # Django's BCryptSHA256 pre-hashes, so the whole password counts and its prefix does not match.
    stored = django_hashers.make_password(long_pw, hasher=_FastBCryptSHA256())
    assert HASHER.verify(long_pw, stored)
    assert not HASHER.verify(long_pw[:72], stored)


# --- Malformed and unknown hashes -----------------------------------------------------------------

MALFORMED = [
    "",
    "garbage",
    "$",
    "$2b$",
    "$2b$12$tooShort",
    "$2y$1x$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
    "$argon2id$v=19$m=65536",
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$",
    "argon2$argon2id$nonsense",
    "pbkdf2_sha256$",
    "pbkdf2_sha256$notanumber$salt$hash",
    "scrypt$16384$salt$8$5",
    "scrypt$x$salt$8$5$abc",
    "scrypt$1073741824$salt$8$1$abc",  # absurd memory: refused, not attempted
    "bcrypt$$2b$",
    "bcrypt_sha256$$2b$12$",
    "md5$",
    "pbkdf2:sha256:xyz$salt$00",
    "pbkdf2:nosuchdigest:1000$salt$00",
    "scrypt:1:2$salt$00",
    "$pbkdf2-sha256$x$y$z",
    "$scrypt$ln=x",
    "$P$",
    "$P$9IQRaTwm",
    "$S$",
    "$S$!bad",
    "$1$",
    "$6$rounds=x$salt$",
    "{SSHA}",
    "{SSHA}!!!not base64!!!",
    "{SSHA256}AAAA",
    "{SHA512}AAAA",
    "{CRYPT}$6$",
    "\x00\x01\x02",
    "é" * 60,
]


@pytest.mark.parametrize("stored", MALFORMED)
def test_malformed_hash_is_false_without_exception(stored: str) -> None:
    assert HASHER.verify(PW, stored) is False
    assert HASHER.verify("", stored) is False
    assert isinstance(HASHER.cost_signature(stored), str)


@pytest.mark.parametrize("make", [_bcrypt_2b, _argon2_cheap, _django_fast(_FastPBKDF2())])
def test_truncated_real_hash_is_false(make: Callable[[str], str]) -> None:
    stored = make(PW)
    for cut in (1, 5, len(stored) // 2):
        assert HASHER.verify(PW, stored[:-cut]) is False


@pytest.mark.parametrize("stored", ["", "garbage", "{FOO}bar", "$9$abc", "md4$salt$hash", "abc$"])
def test_unknown_scheme(stored: str) -> None:
    assert HASHER.scheme_of(stored) is None
    assert HASHER.cost_signature(stored) == "unknown"


def test_verify_rejects_a_password_no_client_could_send() -> None:
    stored = _argon2_cheap(PW)
    assert HASHER.verify("\ud800", stored) is False


def test_logs_name_the_scheme_but_never_the_hash_or_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "Hunter2-SECRET-PASSWORD"
    malformed = [
        "$2b$12$SECRETHASHMATERIALSECRETHASHMATERIAL",
        "pbkdf2_sha256$1000$SECRETSALT$SECRETCHECKSUM!!",
        "scrypt$16384$SECRETSALT$8$5",
        "{SSHA}SECRETSECRETSECRET!!",
        "$argon2id$v=19$m=65536,t=3,p=4$SECRETSALT",
        "totally-unknown-SECRET-format",
    ]
    with caplog.at_level(logging.DEBUG):
        for stored in malformed:
            assert HASHER.verify(password, stored) is False
    assert caplog.records, "expected warnings for malformed hashes"
    text = "\n".join(
        record.getMessage() + (record.exc_text or "") + str(record.exc_info or "")
        for record in caplog.records
    )
    assert "SECRET" not in text
    assert "Hunter2" not in text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("bcrypt" in r.getMessage() for r in warnings)
    assert any("unrecognised" in r.getMessage() for r in warnings)


# --- New hashes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", NEW_SCHEMES)
def test_hash_password_round_trip(scheme: str) -> None:
    hasher = PasswordHasher(new_scheme=scheme)
    stored = hasher.hash_password(UNICODE_PW)
    assert hasher.scheme_of(stored) == scheme
    assert hasher.verify(UNICODE_PW, stored)
    assert not hasher.verify(UNICODE_PW[:-1], stored)


@pytest.mark.parametrize("name", ["", "argon2i", "md5_crypt", "phpass", "ldap_salted_sha1", "nope"])
def test_unknown_or_legacy_new_scheme_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unsupported password scheme"):
        PasswordHasher(new_scheme=name)


def test_default_new_scheme_is_argon2id_with_argon2_cffi_defaults() -> None:
    stored = HASHER.hash_password(PW)
    assert stored.startswith("$argon2id$")
    params = argon2.extract_parameters(stored)
    defaults = argon2.PasswordHasher()
    assert (params.memory_cost, params.time_cost, params.parallelism) == (
        defaults.memory_cost,
        defaults.time_cost,
        defaults.parallelism,
    )
    assert HASHER.needs_upgrade(stored) is False


def test_needs_upgrade() -> None:
    assert HASHER.needs_upgrade(_argon2_cheap(PW)) is True  # weaker argon2id
    assert HASHER.needs_upgrade(_argon2_cheap(PW, argon2.Type.I)) is True  # not argon2id
    assert HASHER.needs_upgrade(_bcrypt_2b(PW)) is True  # another scheme
    assert HASHER.needs_upgrade("garbage") is True
    bcrypt_hasher = PasswordHasher(new_scheme="bcrypt")
    assert bcrypt_hasher.needs_upgrade(_bcrypt_2b(PW)) is True  # 4 rounds < 12
    strong = bcrypt.hashpw(b"x", bcrypt.gensalt(13)).decode()
    assert bcrypt_hasher.needs_upgrade(strong) is False


# --- Dummy hashes and typical_hash ---------------------------------------------------------------

DUMMY_SAMPLES: list[tuple[str, Callable[[str], str]]] = [
    ("bcrypt", _bcrypt_2b),
    ("bcrypt_2y", lambda password: "$2y$" + _bcrypt_2b(password)[4:]),
    ("argon2id", _argon2_cheap),
    ("argon2i", lambda password: _argon2_cheap(password, argon2.Type.I)),
    ("django_pbkdf2_sha256", _django_fast(_FastPBKDF2())),
    ("django_bcrypt", _django_fast(_FastBCrypt())),
    ("werkzeug_pbkdf2", _werkzeug("pbkdf2:sha256:1000")),
    ("werkzeug_scrypt", _werkzeug("scrypt:1024:8:1")),
    ("md5_crypt", _openssl("-1")),
    ("sha512_crypt", _openssl("-6")),
    ("phpass", lambda _: "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0"),
    ("ldap_salted_sha1", _ldap("{SSHA}", "sha1", b"salt")),
]


@pytest.mark.parametrize(("label", "make"), DUMMY_SAMPLES, ids=[s[0] for s in DUMMY_SAMPLES])
def test_dummy_hash_has_the_sample_cost_but_not_its_password(
    label: str, make: Callable[[str], str]
) -> None:
    sample = make("test12345")
    dummy = HASHER.dummy_hash_like(sample)
    assert HASHER.cost_signature(dummy) == HASHER.cost_signature(sample) != "unknown"
    assert dummy != sample
    assert HASHER.verify("test12345", sample)
    assert not HASHER.verify("test12345", dummy)


def test_dummy_hash_keeps_the_argon2_type() -> None:
    dummy = HASHER.dummy_hash_like(_argon2_cheap(PW, argon2.Type.I))
    assert dummy.startswith("$argon2i$")


def test_dummy_hash_for_an_unknown_sample_falls_back_to_the_new_scheme() -> None:
    hasher = PasswordHasher(new_scheme="pbkdf2_sha512")
    assert hasher.scheme_of(hasher.dummy_hash_like("garbage")) == "pbkdf2_sha512"


def test_typical_hash_picks_the_majority_signature() -> None:
    cheap = [_bcrypt_2b(f"user{i}") for i in range(3)]
    other = [bcrypt.hashpw(b"x", bcrypt.gensalt(5)).decode(), _argon2_cheap("y"), "garbage"]
    picked = typical_hash([other[0], *cheap, *other[1:]], HASHER)
    assert picked in cheap
    assert HASHER.cost_signature(picked) == "bcrypt:4"
    assert typical_hash([], HASHER) is None
    assert typical_hash(iter(["garbage"]), HASHER) == "garbage"


# --- Properties ----------------------------------------------------------------------------------

# Text a client can send: any characters except lone surrogates (not encodable as UTF-8).
passwords = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=passwords)
def test_property_hash_password_round_trip(password: str) -> None:
    # The default scheme at its real cost, hence the tiny example count.
    stored = HASHER.hash_password(password)
    assert HASHER.verify(password, stored)
    assert not HASHER.verify(password + "x", stored)


@settings(max_examples=25, deadline=None)
@given(password=passwords)
def test_property_ecosystem_hashes_verify(password: str) -> None:
    # Cheap hashes from the other libraries, so many more passwords can be tried.
    for stored in (
        _argon2_cheap(password),
        _bcrypt_2b(password) if len(password.encode()) <= 72 else _argon2_cheap(password),
        generate_password_hash(password, method="pbkdf2:sha256:1000"),
        django_hashers.make_password(password, hasher=_FastPBKDF2()),
        _ldap("{SSHA512}", "sha512", b"saltsalt")(password),
    ):
        assert HASHER.verify(password, stored)
        assert not HASHER.verify(password + "x", stored)
