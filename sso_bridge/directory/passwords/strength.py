"""How hard a stored hash is to brute-force once the table leaks: weak or not, and why.

Thresholds follow the OWASP Password Storage Cheat Sheet's minimums (argon2id m=19 MiB t=2,
scrypt N=2**17 r=8, bcrypt cost 10, PBKDF2-HMAC-SHA1/256/512 1,300,000/600,000/210,000) where it
names the algorithm, and the algorithm's own default elsewhere (sha-crypt 5,000 rounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sso_bridge.directory.passwords._base import Cost

# Reasons, in the words doctor prints.
UNSALTED: Final = "unsalted"
MD5: Final = "md5"
SHA1: Final = "sha1"
FAST_DIGEST: Final = "single fast digest"
DES: Final = "DES"
LOW_COST: Final = "low iterations"

# Formats whose weakness does not depend on their cost parameters.
_FIXED_REASONS: Final[dict[str, tuple[str, ...]]] = {
    "hex_md5": (UNSALTED, MD5),
    "hex_sha1": (UNSALTED, SHA1),
    "ldap_md5": (UNSALTED, MD5),
    "ldap_sha1": (UNSALTED, SHA1),
    "ldap_sha256": (UNSALTED, FAST_DIGEST),
    "ldap_sha384": (UNSALTED, FAST_DIGEST),
    "ldap_sha512": (UNSALTED, FAST_DIGEST),
    "mysql41": (UNSALTED, SHA1),
    "prestashop_md5": (UNSALTED, MD5),  # one pepper for the whole shop is no salt
    "shopware5_backend_md5": (UNSALTED, MD5),
    "ldap_salted_md5": (MD5,),
    "ldap_salted_sha1": (SHA1,),
    "ldap_salted_sha256": (FAST_DIGEST,),
    "ldap_salted_sha384": (FAST_DIGEST,),
    "ldap_salted_sha512": (FAST_DIGEST,),
    "django_salted_md5": (MD5,),
    "django_salted_sha1": (SHA1,),
    "oscommerce_md5": (MD5,),
    "joomla_md5": (MD5,),
    "joomla_sha256": (FAST_DIGEST,),
    "magento1_sha256": (FAST_DIGEST,),
    "opencart_sha1": (SHA1,),
    "aspnet_membership": (FAST_DIGEST,),
    "md5_crypt": (MD5,),
    "apr_md5_crypt": (MD5,),
    "ldap_md5_crypt": (MD5,),
    "phpass": (MD5,),
    "drupal7_md5_phpass": (MD5,),
    "des_crypt": (DES,),
    "atlassian_pbkdf2_sha1": (LOW_COST,),  # always 10,000 iterations of PBKDF2-HMAC-SHA1
}

# (cost key, minimum) for iterated formats: below the minimum is "low iterations".
_MINIMUM: Final[dict[str, tuple[str, int]]] = {
    "bcrypt": ("rounds", 10),
    "ldap_bcrypt": ("rounds", 10),
    "django_bcrypt": ("rounds", 10),
    "bcrypt_sha256": ("rounds", 10),
    "django_bcrypt_sha256": ("rounds", 10),
    "wordpress": ("rounds", 10),
    "django_pbkdf2_sha256": ("rounds", 600_000),
    "django_pbkdf2_sha1": ("rounds", 1_300_000),
    "pbkdf2_sha256": ("rounds", 600_000),
    "pbkdf2_sha512": ("rounds", 210_000),
    "pbkdf2_sha1": ("rounds", 1_300_000),
    "sha256_crypt": ("rounds", 5000),
    "sha512_crypt": ("rounds", 5000),
    "ldap_sha256_crypt": ("rounds", 5000),
    "ldap_sha512_crypt": ("rounds", 5000),
    "shopware5_sha256": ("i", 600_000),
    "drupal7_sha512": ("rounds", 15),  # log2 of the count; Drupal 7's own default
}
_PBKDF2_BY_PRF: Final = {"sha1": 1_300_000, "sha256": 600_000, "sha512": 210_000}


@dataclass(frozen=True)
class HashStrength:
    """`format` is the scheme name (None: unsupported); `reasons` is empty when not weak."""

    format: str | None
    cost: Cost
    weak: bool
    reasons: tuple[str, ...]


def _low_cost(name: str, cost: Cost) -> bool:
    params = dict(cost)
    minimum = _MINIMUM.get(name)
    if minimum is not None:
        value = params.get(minimum[0])
        return isinstance(value, int) and value < minimum[1]
    if name in ("argon2", "django_argon2", "magento2", "keycloak_argon2") and "m" in params:
        # OWASP's argon2id configurations run from m=47104 KiB, t=1 to m=7168, t=5: m*t >= 35840.
        m, t = params.get("m"), params.get("t")
        return isinstance(m, int) and isinstance(t, int) and m * t < 35840
    if name in ("scrypt", "django_scrypt", "werkzeug_scrypt"):
        n = params.get("n", 1 << int(params.get("ln", 0)))
        return isinstance(n, int) and n < 1 << 14
    prf, iterations = params.get("prf", params.get("digest")), params.get("i")
    if name in ("aspnet_identity_v2", "aspnet_identity_v3", "werkzeug_pbkdf2"):
        return isinstance(iterations, int) and iterations < _PBKDF2_BY_PRF.get(str(prf), 600_000)
    if name == "keycloak_pbkdf2":
        algorithm = str(params.get("algorithm", "pbkdf2")).removeprefix("pbkdf2").lstrip("-")
        floor = _PBKDF2_BY_PRF.get(algorithm or "sha1", 600_000)
        return isinstance(iterations, int) and iterations < floor
    return False


def judge(name: str, cost: Cost) -> HashStrength:
    reasons = list(_FIXED_REASONS.get(name, ()))
    if name == "magento2" and "algorithm" in dict(cost):
        reasons.append(MD5 if dict(cost)["algorithm"] == "md5" else FAST_DIGEST)
    if name == "werkzeug_legacy":
        reasons.append({"md5": MD5, "sha1": SHA1}.get(str(dict(cost).get("method")), FAST_DIGEST))
    if _low_cost(name, cost):
        reasons.append(LOW_COST)
    return HashStrength(format=name, cost=cost, weak=bool(reasons), reasons=tuple(reasons))
