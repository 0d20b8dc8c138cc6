"""Column references of the directory mapping: a column of the user table or of a related one.

A reference is one of

* ``column``: a column of the user table;
* ``table.column``: a column of a related table, joined as ``DIRECTORY__JOINS`` says;
* ``table[key=value].column``: the same, from the related row whose ``key`` column holds
  ``value`` (key/value tables such as WordPress's ``wp_usermeta``).

``DIRECTORY__JOINS`` maps each related table to ``their_column=our_column``: the related rows
whose ``their_column`` equals the user row's ``our_column``. Sign-in stays one query: every
related table is a LEFT JOIN of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_REFERENCE = re.compile(
    r"(?:(?P<table>[^.\[\]=]+)(?:\[(?P<key>[^.\[\]=]+)=(?P<value>[^\[\]]*)\])?\.)?"
    r"(?P<column>[^.\[\]=]+)"
)
_JOIN = re.compile(r"(?P<theirs>[^=\s]+)\s*=\s*(?P<ours>[^=\s]+)")


@dataclass(frozen=True)
class ColumnRef:
    column: str
    table: str | None = None  # None: the user table
    key: str | None = None  # key/value form: the related row whose `key` column is `value`
    value: str | None = None

    @property
    def related(self) -> bool:
        return self.table is not None


@dataclass(frozen=True)
class Join:
    theirs: str  # the related table's column
    ours: str  # the user table's column


def parse_reference(text: str) -> ColumnRef:
    """The reference ``text`` names; ValueError (with the accepted forms) if malformed."""
    found = _REFERENCE.fullmatch(text.strip())
    if found is None:
        raise ValueError(
            f"{text!r} is not a column reference (column, table.column or table[key=value].column)"
        )
    return ColumnRef(
        column=found["column"], table=found["table"], key=found["key"], value=found["value"]
    )


def parse_join(text: str) -> Join:
    found = _JOIN.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a join (their_column=our_column)")
    return Join(theirs=found["theirs"], ours=found["ours"])


def reference_problem(text: str, joins: Mapping[str, str], *, related_ok: bool) -> str | None:
    """Why ``text`` cannot be used (None if it can), for the settings' one-line messages."""
    try:
        reference = parse_reference(text)
    except ValueError as exc:
        return str(exc)
    if reference.table is None:
        return None
    if not related_ok:
        return "must be a column of the user table (this column is written on sign-in)"
    if reference.table not in joins:
        return f"names table {reference.table!r}, which DIRECTORY__JOINS does not join"
    return None
