"""Hashes the bridge writes (registrations, opt-in upgrades) are what the platform accepts, at a
cost no weaker than the platform's own; and the doctor classification of a table's hashes.

`test_written_hashes_pass_the_platforms_php_checks` runs PHP (Debian php-cli; scripts/test
installs it) on tests/vectors/verify.php: WordPress's wp_check_password, Magento's
Encryptor::isValidHash and PHP's password_verify, each transcribed in tests/vectors/platforms.php.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sso_bridge.directory.passwords import FirebaseScrypt, PasswordHasher, typical_sample
from tests.django_hashers import hashers as django_hashers

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
PASSWORDS = ["correct horse battery staple", "pässwörd ✓ 密码", "x" * 100]


def test_written_hashes_pass_the_platforms_php_checks() -> None:
    php = shutil.which("php")
    assert php is not None, "php is missing: run scripts/test, or apt-get install php-cli"
    items = []
    for scheme, check in (
        ("wordpress", "wordpress"),
        ("magento2", "magento2"),
        ("bcrypt", "bcrypt"),
        ("argon2", "argon2"),
    ):
        hasher = PasswordHasher(new_scheme=scheme)
        for password in PASSWORDS:
            if scheme == "bcrypt" and len(password.encode()) > 72:
                continue  # bcrypt refuses to write what it would truncate
            stored = hasher.hash_password(password)
            items.append({"scheme": check, "password": password, "hash": stored, "wrong": False})
            wrong = password[:-1] + ("#" if password[-1] != "#" else "!")
            items.append({"scheme": check, "password": wrong, "hash": stored, "wrong": True})
    done = subprocess.run(
        [php, str(VECTORS / "verify.php")],
        input=json.dumps([{k: v for k, v in item.items() if k != "wrong"} for item in items]),
        capture_output=True,
        text=True,
        check=True,
    )
    accepted = json.loads(done.stdout)
    assert accepted == [not item.get("wrong", False) for item in items], done.stdout


def test_wordpress_writes_the_current_format_at_php_s_current_cost() -> None:
    hasher = PasswordHasher(new_scheme="wordpress")
    stored = hasher.hash_password(PASSWORDS[0])
    assert stored.startswith("$wp$2y$12$")  # PHP 8.4's password_hash default cost
    assert hasher.needs_upgrade(stored) is False
    assert hasher.needs_upgrade("$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0") is True  # phpass
    # WordPress refuses passwords over 4096 bytes; so does the writer.
    with pytest.raises(ValueError, match="4096"):
        hasher.hash_password("p" * 4097)


def test_magento2_writes_argon2id13_as_magento_2_4_does() -> None:
    hasher = PasswordHasher(new_scheme="magento2")
    stored = hasher.hash_password(PASSWORDS[1])
    digest, salt, version = stored.split(":")
    assert version == "3_32_2_67108864" and len(salt) == 32 and len(digest) == 64
    assert hasher.needs_upgrade(stored) is False
    md5_hash = "0" * 32 + ":salt:0"
    assert hasher.needs_upgrade(md5_hash) is True


def test_aspnet_identity_v3_is_hmac_sha512_at_least_the_platform_s_iterations() -> None:
    hasher = PasswordHasher(new_scheme="aspnet_identity_v3")
    raw = base64.b64decode(hasher.hash_password(PASSWORDS[0]))
    marker, prf, iterations, salt_length = struct.unpack(">BIII", raw[:13])
    # ASP.NET Core 7+ writes prf 2 (HMAC-SHA512) with 100,000 iterations.
    assert (marker, prf, salt_length) == (1, 2, 16)
    assert iterations >= 100_000 and len(raw) == 13 + 16 + 32
    # Its own PasswordHasherTest vector (100,000 iterations) needs an upgrade to ours: ours is
    # never weaker, so no fresh hash of ours would ever be "upgraded" down to it.
    platform = (
        "AQAAAAIAAYagAAAAEAABAgMEBQYHCAkKCwwNDg/Q8A0WMKbtHQJQ2DHCdoEeeFBrgNlldq6vH4qX/CGqGQ=="
    )
    assert hasher.needs_upgrade(platform) is True


def test_django_pbkdf2_sha256_is_written_at_django_5_2_s_cost_and_django_accepts_it() -> None:
    hasher = PasswordHasher(new_scheme="django_pbkdf2_sha256")
    stored = hasher.hash_password(PASSWORDS[1])
    algorithm, iterations, _salt, _digest = stored.split("$")
    assert algorithm == "pbkdf2_sha256"
    assert int(iterations) >= 1_000_000  # Django 5.2's PBKDF2PasswordHasher.iterations
    assert django_hashers.check_password(PASSWORDS[1], stored)
    assert not django_hashers.check_password(PASSWORDS[0], stored)
    assert not django_hashers.PBKDF2PasswordHasher().must_update(stored)


# --- Strength: what doctor reports per hash ----------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "salt", "fmt", "reasons"),
    [
        ("5f4dcc3b5aa765d61d8327deb882cf99", None, "hex_md5", ("unsalted", "md5")),
        ("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", None, "mysql41", ("unsalted", "sha1")),
        ("rl.3StKT.4T8M", None, "des_crypt", ("DES",)),
        ("$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0", None, "phpass", ("md5",)),
        (
            "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==",
            None,
            "aspnet_identity_v2",
            ("low iterations",),
        ),
        (
            "{PKCS5S2}DQIXJU038u4P7FdsuFTY/+35bm41kfjZa57UrdxHp2Mu3qF2uy+ooD+jF5t1tb8J",
            None,
            "atlassian_pbkdf2_sha1",
            ("low iterations",),
        ),
        (
            "$2a$04$yjDgE74RJkeqC0/1NheSSOrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIS",
            None,
            "bcrypt",
            ("low iterations",),
        ),
        ("d3b07384d113edec49eaa6238ad5ff00", "s4lt", "hex_md5", ("unsalted", "md5")),
        ("0" * 40, "s4lt", "opencart_sha1", ("sha1",)),
        ("not a hash", None, None, ("unsupported",)),
    ],
)
def test_strength_names_format_cost_and_why_weak(
    stored: str, salt: str | None, fmt: str | None, reasons: tuple[str, ...]
) -> None:
    strength = PasswordHasher().strength(stored, salt=salt)
    assert (strength.format, strength.reasons, strength.weak) == (fmt, reasons, True)


@pytest.mark.parametrize("scheme", ["argon2", "wordpress", "magento2", "aspnet_identity_v3"])
def test_strength_of_a_fresh_hash_is_not_weak(scheme: str) -> None:
    hasher = PasswordHasher(new_scheme=scheme)
    strength = hasher.strength(hasher.hash_password(PASSWORDS[0]))
    assert strength.format == scheme and strength.cost
    assert (strength.weak, strength.reasons) == (False, ())


# --- Dummies for salt-column formats -----------------------------------------------------------


def test_dummy_for_a_salt_column_format_carries_its_own_salt() -> None:
    vectors = json.loads((VECTORS / "php.json").read_text())["vectors"]
    sample = next(v for v in vectors if v["scheme"] == "opencart_sha1")
    hasher = PasswordHasher()
    dummy = hasher.dummy_like(sample["hash"], salt=sample["salt"])
    assert dummy.salt is not None and dummy.salt != sample["salt"]
    assert hasher.scheme_of(dummy.hash, salt=dummy.salt) == "opencart_sha1"
    assert not hasher.verify(sample["password"], dummy.hash, salt=dummy.salt)


def test_firebase_dummy_costs_what_the_project_s_hashes_cost() -> None:
    params = FirebaseScrypt(signer_key=b"k" * 64, salt_separator=b"\x07", rounds=8, mem_cost=14)
    hasher = PasswordHasher(firebase=params)
    made = hasher.dummy_like(base64.b64encode(b"\x00" * 64).decode(), salt="AAAA")
    assert hasher.scheme_of(made.hash, salt=made.salt) == "firebase_scrypt"


def test_typical_sample_reads_salted_rows_with_their_salts() -> None:
    vectors = json.loads((VECTORS / "php.json").read_text())["vectors"]
    opencart = [(v["hash"], v["salt"]) for v in vectors if v["scheme"] == "opencart_sha1"]
    # An unsalted sha1 hex first: read without their salts, all three rows would look alike
    # (hex_sha1) and the first would be "typical"; with them, OpenCart's two rows win.
    rows = [("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", None), *opencart]
    hasher = PasswordHasher()
    assert typical_sample(rows, hasher) == opencart[0]
    assert typical_sample([], hasher) is None
