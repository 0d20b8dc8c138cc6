"""Hashes other implementations accept that the bridge refused (issue 11 item 3).

Uses only the hasher's original API, so the same file shows the refusals on the old code.
- {SSHA}/{SMD5}/{SSHA256}/{SSHA512} with 1-3 byte salts: OpenLDAP's chk_s* accept any salt of at
  least one byte (tests/vectors/other.json, made by generate.py after liblutil/passwd.c).
- md5-crypt salts with characters outside [./0-9A-Za-z]: PHP's crypt() made them
  (tests/vectors/php.json).
- bcrypt salts and digests with their unused padding bits set, as passlib < 1.5.3 wrote them:
  libpass test_handlers_bcrypt.py known_incorrect_padding.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sso_bridge.directory.passwords import PasswordHasher

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
_ALL: list[dict[str, Any]] = [
    *json.loads((VECTORS / "php.json").read_text())["vectors"],
    *json.loads((VECTORS / "other.json").read_text())["vectors"],
]
SHORT_SALT_LDAP = [v for v in _ALL if "-byte salt" in v["source"]]
_CRYPT_SALT = re.compile(r"[./0-9A-Za-z]+")
ODD_SALT_MD5_CRYPT = [
    v
    for v in _ALL
    if v["scheme"] == "md5_crypt" and not _CRYPT_SALT.fullmatch(v["hash"][3:].split("$")[0])
]
PADDED_BCRYPT = [
    ("$2a$04$oaQbBqq8JnSM1NHRPQGXORY4Vw3bdHKLIXTecPDRAcJ98cz1ilveO"),
    ("$2a$04$yjDgE74RJkeqC0/1NheSScrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIS"),
    ("$2a$04$yjDgE74RJkeqC0/1NheSSOrvKeu9IbKDpcQf/Ox3qsrRS/Kw42qIV"),
]


def test_the_vector_sets_are_not_empty() -> None:
    assert len(SHORT_SALT_LDAP) == 12 and len(ODD_SALT_MD5_CRYPT) == 3


@pytest.mark.parametrize("vector", SHORT_SALT_LDAP + ODD_SALT_MD5_CRYPT, ids=lambda v: v["hash"])
def test_accepted_elsewhere_verifies_here(vector: dict[str, Any]) -> None:
    hasher = PasswordHasher()
    assert hasher.scheme_of(vector["hash"]) == vector["scheme"]
    assert hasher.verify(vector["password"], vector["hash"])
    assert not hasher.verify(vector["password"] + "x", vector["hash"])


@pytest.mark.parametrize("stored", PADDED_BCRYPT)
def test_bcrypt_with_padding_bits_set_verifies(stored: str) -> None:
    hasher = PasswordHasher()
    assert hasher.verify("test", stored)
    assert not hasher.verify("tesT", stored)
