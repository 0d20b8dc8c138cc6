"""The rules of `sso-bridge identity import`, before the database is asked.

An imported pair must name a user the way the directory names him (``007`` is user ``7`` when
the key column is an integer: the key the directory returns is the one stored, or that user
would have two ERIDs depending on the path that resolves him), and carry an ERID DR can tell
apart from every other one: DR ERIDs are opaque strings, but one that differs from another only
by letter case, or that hides whitespace or invisible characters, is a cross-linked shopper
waiting to happen. The database checks (already present, held by someone else) follow in
`IdentityMap.import_pairs`, inside the transaction that writes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

#: The ERID column's width (schema.identities.erid).
ERID_MAX_LENGTH = 64

Outcome = Literal["add", "present", "refused"]


@dataclass(frozen=True)
class ImportItem:
    position: int  # 1-based, in input order
    given_key: str
    erid: str
    user_key: str | None = None  # the directory's (canonical) key, once found
    outcome: Outcome = "add"
    reason: str = ""

    def refuse(self, reason: str) -> ImportItem:
        return replace(self, outcome="refused", reason=reason)


@dataclass(frozen=True)
class ImportReport:
    items: tuple[ImportItem, ...]
    written: bool  # False for a dry run and for any refused import

    def _count(self, outcome: Outcome) -> int:
        return sum(item.outcome == outcome for item in self.items)

    @property
    def added(self) -> int:
        return self._count("add")

    @property
    def already_present(self) -> int:
        return self._count("present")

    @property
    def refused(self) -> int:
        return self._count("refused")


def erid_problem(erid: str) -> str | None:
    """Why ``erid`` is not an acceptable ERID, or None.

    Any printable character is allowed (DR's ERIDs are opaque); refused are: empty, longer than
    the column, leading/trailing whitespace, and any Unicode space, line/paragraph separator,
    control, format (zero-width and bidirectional marks), private-use, surrogate or unassigned
    character, because two ERIDs that look the same to a person must not be two shoppers.
    """
    if not erid:
        return "empty ERID"
    if len(erid) > ERID_MAX_LENGTH:
        return f"ERID longer than {ERID_MAX_LENGTH} characters"
    if erid != erid.strip():
        return "ERID has leading or trailing whitespace"
    for character in erid:
        if character.isspace() or unicodedata.category(character)[0] in "CZ":
            name = unicodedata.name(character, "an unnamed character")
            return f"ERID contains {name} (U+{ord(character):04X})"
    return None


def check_input(
    pairs: Iterable[tuple[str, str]], canonical_key: Callable[[str], str | None]
) -> list[ImportItem]:
    """Each pair checked on its own and against the others; every problem kept, none raised.

    ``canonical_key`` looks a key up in the user directory and returns the key it has there,
    or None when no user has it.
    """
    items: list[ImportItem] = []
    keys: dict[str, int] = {}  # canonical key -> first position
    erids: dict[str, tuple[int, str]] = {}  # folded ERID -> (first position, ERID)
    for position, (given_key, erid) in enumerate(pairs, start=1):
        item = ImportItem(position=position, given_key=given_key, erid=erid)
        problem = erid_problem(erid)
        user_key = canonical_key(given_key) if given_key else None
        if not given_key:
            item = item.refuse("empty user key")
        elif user_key is None:
            hint = " (an email is not a user key)" if "@" in given_key else ""
            item = item.refuse(f"no user has this key ({given_key!r}) in the user directory{hint}")
        elif problem:
            item = item.refuse(f"{problem}: {erid!r}")
        if user_key is not None:
            item = replace(item, user_key=user_key)
        if item.outcome != "refused" and user_key is not None:
            spelled = "" if user_key == given_key else f" (given as {given_key!r})"
            if user_key in keys:
                item = item.refuse(
                    f"user {user_key} appears twice in the input{spelled} (first at pair "
                    f"{keys[user_key]})"
                )
            else:
                folded = erid.casefold()
                if folded in erids:
                    first, first_erid = erids[folded]
                    same = "" if first_erid == erid else " ignoring case"
                    item = item.refuse(
                        f"ERID {erid!r} appears twice in the input{same} (first at pair {first}, "
                        f"{first_erid!r})"
                    )
        if item.outcome != "refused" and item.user_key is not None:
            keys.setdefault(item.user_key, position)
            erids.setdefault(erid.casefold(), (position, erid))
        items.append(item)
    return items
