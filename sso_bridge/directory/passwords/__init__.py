"""Verify shoppers' passwords against the hashes a merchant already stores, in whatever format.

The format is detected per hash (by prefix / shape), so one user table may mix formats, e.g. after a
platform migration. `PasswordHasher.verify` never raises for a bad hash: it answers False and logs a
WARNING that names only the detected scheme, never the hash or the password. Passwords are compared
exactly as received: no stripping, no truncation (bcrypt cannot hold more than 72 bytes, so a longer
password never matches a bcrypt hash instead of matching on its prefix).

Formats, by module (scheme names follow libpass where libpass has the format; README "Passwords"
has the table of prefixes, platforms and sources)::

    _common   argon2, bcrypt (padding bits tolerated), bcrypt_sha256, django_*, pbkdf2_*, scrypt,
              werkzeug_pbkdf2/scrypt, phpass, drupal7_sha512, md5_crypt / apr_md5_crypt (any salt
              characters), sha256/sha512_crypt, ldap_* (salts of any length >= 1 byte)
    _php      wordpress ($wp$), magento2, magento1_sha256, oscommerce_md5, joomla_md5,
              joomla_sha256, shopware5_sha256, shopware5_backend_md5, prestashop_md5 (pepper),
              opencart_sha1 (salt column), drupal7_md5_phpass (U$P$ / U$H$)
    _dotnet   aspnet_identity_v2 / v3, aspnet_membership (salt column)
    _other    werkzeug_legacy (< 2.3 "sha1$salt$hex" HMAC), keycloak_pbkdf2 / keycloak_argon2
              (JSON credential), firebase_scrypt (salt column + FirebaseScrypt project parameters)
    libpass   des_crypt, mysql41, atlassian_pbkdf2_sha1 (registered in _registry)

`cost_signature` names a scheme and its cost parameters ("bcrypt:12", "argon2:m=65536,t=3,p=4");
`dummy_like` makes a hash with the same signature, so that a login for an unknown user can be
made to cost as much as one for a real user (see `typical_hash`); `strength` says whether a hash
is weak and why (for `doctor`).
"""

from sso_bridge.directory.passwords._base import FirebaseScrypt
from sso_bridge.directory.passwords._other import keycloak_credential
from sso_bridge.directory.passwords._registry import NEW_SCHEMES
from sso_bridge.directory.passwords.hasher import (
    Dummy,
    PasswordHasher,
    typical_hash,
    typical_sample,
)
from sso_bridge.directory.passwords.strength import HashStrength

__all__ = [
    "NEW_SCHEMES",
    "Dummy",
    "FirebaseScrypt",
    "HashStrength",
    "PasswordHasher",
    "keycloak_credential",
    "typical_hash",
    "typical_sample",
]
