"""How hard a stored hash is to brute-force once the table leaks: weak or not, and why.

Thresholds follow the OWASP Password Storage Cheat Sheet's minimums where it names the algorithm:
bcrypt cost 10; PBKDF2-HMAC-SHA1/256/512 1,300,000/600,000/210,000 iterations; argon2id one of
its five equivalent configurations (m=47104 KiB t=1 ... m=7168 KiB t=5, see `_ARGON2_MIN_MEMORY`);
scrypt with r=8 one of N=2**17 p=1 ... N=2**13 p=10 (`_SCRYPT_MIN_N`). Elsewhere the algorithm's
own default is the floor (sha-crypt 5,000 rounds, Drupal 7's 2**15). The platforms' current
defaults pass: PHP's argon2id (m=65536 t=4), argon2-cffi's, Django's (argon2 m=102400 t=2,
scrypt N=2**14 r=8 p=5, PBKDF2 1,000,000), Keycloak 25's argon2 (m=7168 t=5), Magento 2's
argon2id13 (64 MiB, 2 passes), bcrypt at PHP's 10 or 12. Some do not, and doctor says so:
ASP.NET Core's 100,000 PBKDF2-HMAC-SHA512 iterations and Werkzeug's scrypt N=2**15 p=1 are below
OWASP's minimums.
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
LOW_MEMORY: Final = "low memory or passes"  # memory-hard formats below OWASP's configurations

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

# OWASP's argon2id configurations, all equivalent: passes -> the least memory (KiB) at that many
# passes; five or more passes need 7 MiB. (A product m*t is no rule: m=4096 t=9 is not among them.)
_ARGON2_MIN_MEMORY: Final = {1: 47104, 2: 19456, 3: 12288, 4: 9216}
_ARGON2_FLOOR_MEMORY: Final = 7168
_ARGON2_NAMES: Final = frozenset({"argon2", "django_argon2", "magento2", "keycloak_argon2"})

# OWASP's scrypt configurations at r=8: parallelism -> the least N at that parallelism (more
# lanes never make a smaller N acceptable than the table lists). Memory grows with N*r.
_SCRYPT_MIN_N: Final = ((10, 1 << 13), (5, 1 << 14), (3, 1 << 15), (2, 1 << 16), (1, 1 << 17))
_SCRYPT_NAMES: Final = frozenset({"scrypt", "django_scrypt", "werkzeug_scrypt"})


@dataclass(frozen=True)
class HashStrength:
    """`format` is the scheme name (None: unsupported); `reasons` is empty when not weak."""

    format: str | None
    cost: Cost
    weak: bool
    reasons: tuple[str, ...]


def _int(params: dict[str, int | str], key: str) -> int | None:
    value = params.get(key)
    return value if isinstance(value, int) else None


def _weak_argon2(params: dict[str, int | str]) -> bool:
    memory, passes = _int(params, "m"), _int(params, "t")
    if memory is None or passes is None:
        return False
    return memory < _ARGON2_MIN_MEMORY.get(passes, _ARGON2_FLOOR_MEMORY)


def _weak_scrypt(params: dict[str, int | str]) -> bool:
    n = _int(params, "n")
    if n is None:
        log2 = _int(params, "ln")  # libpass's $scrypt$ records log2(N)
        n = None if log2 is None else 1 << log2
    block, lanes = _int(params, "r"), _int(params, "p") or 1
    if n is None or block is None:
        return False
    needed = next((least for p, least in _SCRYPT_MIN_N if lanes >= p), 1 << 17)
    return n * block < needed * 8  # a smaller block size is proportionally less memory


def _low_cost(name: str, cost: Cost) -> bool:
    params = dict(cost)
    minimum = _MINIMUM.get(name)
    if minimum is not None:
        value = params.get(minimum[0])
        return isinstance(value, int) and value < minimum[1]
    prf, iterations = params.get("prf", params.get("digest")), params.get("i")
    if name in ("aspnet_identity_v2", "aspnet_identity_v3", "werkzeug_pbkdf2"):
        return isinstance(iterations, int) and iterations < _PBKDF2_BY_PRF.get(str(prf), 600_000)
    if name == "keycloak_pbkdf2":
        algorithm = str(params.get("algorithm", "pbkdf2")).removeprefix("pbkdf2").lstrip("-")
        floor = _PBKDF2_BY_PRF.get(algorithm or "sha1", 600_000)
        return isinstance(iterations, int) and iterations < floor
    return False


def _low_memory(name: str, cost: Cost) -> bool:
    params = dict(cost)
    if name in _ARGON2_NAMES:
        return _weak_argon2(params)
    if name in _SCRYPT_NAMES:
        return _weak_scrypt(params)
    return False


def judge(name: str, cost: Cost) -> HashStrength:
    reasons = list(_FIXED_REASONS.get(name, ()))
    if name == "magento2" and "algorithm" in dict(cost):
        reasons.append(MD5 if dict(cost)["algorithm"] == "md5" else FAST_DIGEST)
    if name == "aspnet_membership":
        reasons.append(SHA1 if dict(cost).get("algorithm") == "sha1" else FAST_DIGEST)
    if name == "werkzeug_legacy":
        reasons.append({"md5": MD5, "sha1": SHA1}.get(str(dict(cost).get("method")), FAST_DIGEST))
    if _low_cost(name, cost):
        reasons.append(LOW_COST)
    if _low_memory(name, cost):
        reasons.append(LOW_MEMORY)
    return HashStrength(format=name, cost=cost, weak=bool(reasons), reasons=tuple(reasons))
