"""What every stored-hash format shares: the scheme contract and the inputs a check may need.

A scheme sees the stored hash and, through `Inputs`, what some formats keep elsewhere: the row's
salt column (ASP.NET Membership, OpenCart, Firebase), the site-wide pepper (PrestaShop 1.6's
_COOKIE_KEY_) and Firebase's project hash parameters. Secrets among them never appear in a repr.
"""

from __future__ import annotations

import base64
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Final

# Cost parameters of one hash, in display order: ("rounds", 12) or ("m", 65536), ("t", 3), ...
Cost = tuple[tuple[str, int | str], ...]

ITOA64: Final = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX: Final = frozenset("0123456789abcdefABCDEF")


class MalformedHashError(ValueError):
    """The hash has a known prefix but cannot be parsed. Never carries the hash in its message."""


@dataclass(frozen=True)
class FirebaseScrypt:
    """A Firebase project's password hash parameters (Console: Authentication, "Password hash
    parameters"): base64 signer key and salt separator, rounds, mem_cost. The key is a secret."""

    signer_key: bytes = field(repr=False)
    salt_separator: bytes
    rounds: int
    mem_cost: int

    @classmethod
    def from_base64(
        cls, *, signer_key: str, salt_separator: str, rounds: int, mem_cost: int
    ) -> FirebaseScrypt:
        return cls(
            signer_key=base64.b64decode(signer_key, validate=True),
            salt_separator=base64.b64decode(salt_separator, validate=True),
            rounds=rounds,
            mem_cost=mem_cost,
        )


@dataclass(frozen=True)
class Inputs:
    """Everything besides the hash that a check may use. `pepper` is a secret: not in repr."""

    salt: str | None = None
    pepper: str | None = field(default=None, repr=False)
    firebase: FirebaseScrypt | None = None


NO_INPUTS: Final = Inputs()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality of two hashes (str compared as UTF-8)."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in HEX for c in text)


class Scheme(ABC):
    """One stored-hash format: how to spot it, check a password, read its cost, make a new one.

    Most formats need only the hash (`identify`, `check`, `generate`); formats that also need a
    salt column, a pepper or project parameters override `applies`, `check_with` and `make`.
    """

    prefixes: tuple[str, ...] = ()

    def __init__(self, name: str, *, new_ok: bool = False) -> None:
        self.name = name
        # Whether this format may be chosen for NEW users (modern, non-truncating, tunable).
        self.new_ok = new_ok

    def identify(self, stored: str) -> bool:
        return stored.startswith(self.prefixes)

    def applies(self, stored: str, inputs: Inputs) -> bool:
        """Whether this scheme can check `stored` with these inputs (shape plus what it needs)."""
        return self.identify(stored)

    def check(self, password: str, stored: str) -> bool:
        """True/False for a well-formed hash; raise (any exception) when it is malformed."""
        raise NotImplementedError

    def check_with(self, password: str, stored: str, inputs: Inputs) -> bool:
        return self.check(password, stored)

    def cost(self, stored: str) -> Cost:
        """Cost parameters of `stored`; raise when it is malformed. Fixed-cost formats: ()."""
        return ()

    @abstractmethod
    def generate(self, secret: str, like: str | None) -> str:
        """Hash `secret` with the cost parameters of `like`, or this format's defaults if None."""

    def make(self, secret: str, like: str | None, inputs: Inputs) -> tuple[str, str | None]:
        """(hash, salt column value or None): `generate` for formats that keep the salt inside."""
        return self.generate(secret, like), None

    def is_preferred_variant(self, stored: str) -> bool:
        """False for a legacy variant of this format that an upgrade should replace."""
        return True
