"""Every supported format in detection order, and the lookup of a stored hash's candidates.

Most shapes belong to one format: the first scheme that accepts a hash is its only candidate.
A few shapes are shared (a bare 32-hex md5, "<hex>:<salt>" with the salt before or after the
password, Django's and old Werkzeug's "sha1$salt$hex", a bare base64 blob): `SHARED` lists them,
and every scheme of the group whose inputs (salt column, pepper, project parameters) are present
is a candidate; a password matches if any accepts it. That widens nothing an attacker can use:
each candidate still needs a preimage of the same stored digest.
"""

from __future__ import annotations

import re
from typing import Final

import argon2
import passlib.hash as lp  # lazy: handlers load at first use, after _common's log filters

from sso_bridge.directory.passwords._base import Inputs, Scheme
from sso_bridge.directory.passwords._common import (
    Argon2Scheme,
    BcryptScheme,
    DjangoScrypt,
    Drupal7,
    LdapDigest,
    Libpass,
    Md5Crypt,
    Prefixed,
    WerkzeugScheme,
)
from sso_bridge.directory.passwords._dotnet import AspNetIdentity, AspNetMembership
from sso_bridge.directory.passwords._other import (
    FirebaseModifiedScrypt,
    KeycloakArgon2,
    KeycloakPbkdf2,
    WerkzeugLegacy,
)
from sso_bridge.directory.passwords._php import (
    ColonSalted,
    FixedSaltMd5,
    Magento2,
    Md5Prehashed,
    OpenCartSha1,
    PepperedMd5,
    Shopware5Sha256,
    WordPressBcrypt,
)

_FIXED: Final[tuple[tuple[str, str], ...]] = ()


def _build() -> tuple[Scheme, ...]:
    """Most specific first: the first candidate names the hash (scheme_of, cost_signature)."""
    bcrypt_scheme = BcryptScheme("bcrypt", new_ok=True)
    md5_crypt = Md5Crypt("md5_crypt", "$1$")
    sha256_crypt = Libpass("sha256_crypt", lp.sha256_crypt, new_ok=True)
    sha512_crypt = Libpass("sha512_crypt", lp.sha512_crypt, new_ok=True)
    phpass = Libpass("phpass", lp.phpass)
    # Django 5.2's own defaults, so new hashes look like the ones Django would write.
    django_argon2 = Argon2Scheme(
        "argon2", argon2.PasswordHasher(time_cost=2, memory_cost=102400, parallelism=8)
    )
    return (
        Argon2Scheme("argon2", argon2.PasswordHasher(), new_ok=True),
        bcrypt_scheme,
        Libpass("bcrypt_sha256", lp.bcrypt_sha256, defaults={"rounds": 12}, new_ok=True),
        WordPressBcrypt("wordpress", new_ok=True),
        # Django ("<algorithm>$...").
        Libpass(
            "django_pbkdf2_sha256",
            lp.django_pbkdf2_sha256,
            # Django 5.2's PBKDF2PasswordHasher: 1,000,000 iterations, 22-char (128-bit) salts
            # (libpass's 12-char default makes Django's must_update() ask for a rehash).
            defaults={"rounds": 1_000_000, "salt_size": 22},
            new_ok=True,
        ),
        Libpass("django_pbkdf2_sha1", lp.django_pbkdf2_sha1),
        Prefixed("django_argon2", "argon2", django_argon2, new_ok=True),
        Libpass(
            "django_bcrypt_sha256", lp.django_bcrypt_sha256, defaults={"rounds": 12}, new_ok=True
        ),
        Prefixed("django_bcrypt", "bcrypt$", BcryptScheme("bcrypt")),
        DjangoScrypt("django_scrypt", new_ok=True),
        Libpass("django_salted_sha1", lp.django_salted_sha1, params=_FIXED),
        Libpass("django_salted_md5", lp.django_salted_md5, params=_FIXED),  # also "md5$$<hex>"
        WerkzeugLegacy("werkzeug_legacy"),  # same shape as the two above: tried after them
        # Plain libpass modular-crypt formats.
        Libpass("pbkdf2_sha256", lp.pbkdf2_sha256, defaults={"rounds": 600_000}, new_ok=True),
        Libpass("pbkdf2_sha512", lp.pbkdf2_sha512, defaults={"rounds": 210_000}, new_ok=True),
        Libpass("pbkdf2_sha1", lp.pbkdf2_sha1),
        Libpass(
            "scrypt",
            lp.scrypt,
            params=(("ln", "rounds"), ("r", "block_size"), ("p", "parallelism")),
            new_ok=True,
        ),
        # Werkzeug 2.3+.
        WerkzeugScheme("werkzeug_pbkdf2", "pbkdf2", new_ok=True),
        WerkzeugScheme("werkzeug_scrypt", "scrypt", new_ok=True),
        # PHP applications.
        phpass,
        Drupal7("drupal7_sha512"),
        Md5Prehashed("drupal7_md5_phpass", phpass),  # U$P$ / U$H$
        Magento2("magento2", new_ok=True),
        Shopware5Sha256("shopware5_sha256"),
        ColonSalted("joomla_sha256", "sha256", salt_first=False, prefix="{SHA256}"),
        ColonSalted("oscommerce_md5", "md5", salt_first=True),  # also Magento 1 CE
        ColonSalted("joomla_md5", "md5", salt_first=False),  # also Shopware 5's Md5 encoder
        ColonSalted("magento1_sha256", "sha256", salt_first=True),
        # crypt(3) and Apache.
        md5_crypt,
        Md5Crypt("apr_md5_crypt", "$apr1$"),
        sha256_crypt,
        sha512_crypt,
        Libpass("des_crypt", lp.des_crypt, params=_FIXED),
        # Databases and Java identity products.
        Libpass("mysql41", lp.mysql41, params=_FIXED),
        Libpass("atlassian_pbkdf2_sha1", lp.atlassian_pbkdf2_sha1, params=_FIXED),  # 10,000
        KeycloakPbkdf2("keycloak_pbkdf2"),
        KeycloakArgon2("keycloak_argon2"),
        # LDAP (RFC 2307 and the common SHA-2 extensions); prefixes are upper-cased before lookup.
        # Salted digests take any salt of at least one byte, as OpenLDAP does.
        Libpass("ldap_sha1", lp.ldap_sha1, params=_FIXED),
        Libpass("ldap_md5", lp.ldap_md5, params=_FIXED),
        LdapDigest("ldap_salted_sha1", "{SSHA}", "sha1", salted=True),
        LdapDigest("ldap_salted_md5", "{SMD5}", "md5", salted=True),
        LdapDigest("ldap_salted_sha256", "{SSHA256}", "sha256", salted=True),
        LdapDigest("ldap_salted_sha384", "{SSHA384}", "sha384", salted=True),
        LdapDigest("ldap_salted_sha512", "{SSHA512}", "sha512", salted=True),
        LdapDigest("ldap_sha256", "{SHA256}", "sha256", salted=False),
        LdapDigest("ldap_sha384", "{SHA384}", "sha384", salted=False),
        LdapDigest("ldap_sha512", "{SHA512}", "sha512", salted=False),
        Prefixed("ldap_md5_crypt", "{CRYPT}", md5_crypt),
        Prefixed("ldap_sha256_crypt", "{CRYPT}", sha256_crypt),
        Prefixed("ldap_sha512_crypt", "{CRYPT}", sha512_crypt),
        Prefixed("ldap_bcrypt", "{CRYPT}", bcrypt_scheme),
        # Bare base64 blobs: ASP.NET and Firebase (the last two need a salt column).
        AspNetIdentity("aspnet_identity_v3", 1, new_ok=True),
        AspNetIdentity("aspnet_identity_v2", 0),
        AspNetMembership("aspnet_membership"),
        FirebaseModifiedScrypt("firebase_scrypt"),
        # Bare hex digests last: they have no prefix, only a length and an alphabet.
        PepperedMd5("prestashop_md5"),  # only with a pepper (the shop's _COOKIE_KEY_)
        Libpass("hex_md5", lp.hex_md5, params=_FIXED),
        FixedSaltMd5("shopware5_backend_md5"),
        OpenCartSha1("opencart_sha1"),  # only with a salt column
        Libpass("hex_sha1", lp.hex_sha1, params=_FIXED),
    )


SCHEMES: Final = _build()
BY_NAME: Final = {scheme.name: scheme for scheme in SCHEMES}

# Formats whose hashes can look alike: once one accepts a hash, the others are candidates too.
SHARED: Final = (
    ("prestashop_md5", "hex_md5", "shopware5_backend_md5"),
    ("opencart_sha1", "hex_sha1"),
    ("oscommerce_md5", "joomla_md5"),
    ("django_salted_sha1", "django_salted_md5", "werkzeug_legacy"),
    ("aspnet_identity_v3", "aspnet_identity_v2", "aspnet_membership", "firebase_scrypt"),
)
_GROUP: Final = {name: frozenset(group) for group in SHARED for name in group}
NEW_SCHEMES: Final = tuple(sorted(s.name for s in SCHEMES if s.new_ok))

# An RFC 2307 scheme tag: "{ssha}" is as common as "{SSHA}". JSON ("{"...) is not one.
_LDAP_TAG: Final = re.compile(r"\{[A-Za-z0-9.-]{1,16}\}")


def normalise(stored: str) -> str:
    """Upper-case an LDAP "{scheme}" prefix: directories write {ssha} as often as {SSHA}."""
    tag = _LDAP_TAG.match(stored)
    if tag is None:
        return stored
    return tag.group(0).upper() + stored[tag.end() :]


def candidates(
    stored: str, inputs: Inputs, order: tuple[Scheme, ...] = SCHEMES
) -> tuple[list[Scheme], str]:
    """The schemes that may have written `stored` (in `order`), and the normalised hash."""
    if not isinstance(stored, str) or not stored:
        return [], ""
    normalised = normalise(stored)
    found: list[Scheme] = []
    group: frozenset[str] | None = None
    for scheme in order:
        if found and (group is None or scheme.name not in group):
            continue  # after the first match, only the rest of its shared-shape group
        try:
            if scheme.applies(normalised, inputs):
                found.append(scheme)
                group = group if group is not None else _GROUP.get(scheme.name)
        except Exception:  # noqa: S112  (a detector choking on odd input just means "not mine")
            continue
        if found and group is None:
            break
    return found, normalised
