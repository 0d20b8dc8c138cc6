"""Django's password hashers, configured once per test process with every hasher any test uses.

Django's settings are process-global and can be configured only once: each test module that
configured its own list won or lost by collection order (under xdist, by which modules a worker
collected first), so they all configure through here.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib.auth import hashers

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]

if not django_settings.configured:
    django_settings.configure(PASSWORD_HASHERS=PASSWORD_HASHERS)

__all__ = ["hashers"]
