"""The one-user-one-ERID invariant, checked on live data (for `sso-bridge doctor`).

The databases refuse new violations; these queries find old ones (rows from before the
guarantees, imports of non-canonical keys, a merchant table without a unique email): user keys
with several ERIDs, ERIDs with several user keys (also ignoring case), keys in the map that the
directory resolves to one user (``007`` and ``7``; ``Bob`` and ``bob`` where the merchant's key
column compares case-insensitively), emails with several merchant accounts, and login values
that match several rows. Findings name user keys and counts only: never a password or hash, and
not the emails or logins either (the keys lead to them).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnClause, Connection, Engine, Select, column, func, select, table

from sso_bridge.canonical import canonical
from sso_bridge.directory.mapping import parse_join, parse_reference
from sso_bridge.schema import identities
from sso_bridge.settings import DirectorySettings

#: Groups listed in one finding; the count covers them all.
LISTED = 10


@dataclass(frozen=True)
class Finding:
    what: str  # e.g. "ERIDs held by several user keys"
    groups: tuple[tuple[str, ...], ...]  # the user keys of each offending group

    def describe(self) -> str:
        shown = "; ".join(
            "user keys " + ", ".join(repr(key) for key in group) for group in self.groups[:LISTED]
        )
        more = f"; and {len(self.groups) - LISTED} more" if len(self.groups) > LISTED else ""
        return f"{self.what} ({len(self.groups)}): {shown}{more}"


def _groups(pairs: Iterable[tuple[Any, Any]]) -> tuple[tuple[str, ...], ...]:
    """(group value, user key) rows -> the sorted user keys of each group with several."""
    grouped: dict[Any, set[str]] = defaultdict(set)
    for value, key in pairs:
        grouped[value].add(str(key))
    return tuple(
        sorted(tuple(sorted(keys)) for keys in grouped.values() if len(keys) > 1)  # stable
    )


def _folded(key: str) -> str:
    """A loose form under which keys a directory might treat as one user collide: letter case,
    accents, trailing spaces, leading zeros. Only a candidate: the directory decides."""
    decomposed = unicodedata.normalize("NFKD", key.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).rstrip()
    return (bare.lstrip("0") or "0") if bare.isdigit() else bare


def identity_map_findings(
    engine: Engine, canonical_key: Callable[[str], str | None]
) -> tuple[int, list[Finding]]:
    """(number of identities, findings) for the bridge's identity map."""
    erid, key = identities.c.erid, identities.c.user_key
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(identities)).scalar_one())
        rows = connection.execute(select(key, erid)).all()
    findings = [
        Finding("user keys with several ERIDs", _groups((k, e) for k, e in rows)),
        Finding("ERIDs held by several user keys", _groups((e, k) for k, e in rows)),
        Finding(
            "ERIDs held by several user keys ignoring case",
            _groups((e.casefold(), k) for k, e in rows),
        ),
    ]
    # The first three hold key -> erid pairs; the same-user check needs the keys only.
    candidates = _groups((_folded(k), k) for k, _ in rows)
    same_user: list[tuple[str, ...]] = []
    for group in candidates:
        resolved: dict[str, list[str]] = defaultdict(list)
        for candidate in group:
            canonical = canonical_key(candidate)
            if canonical is not None:
                resolved[canonical].append(candidate)
        same_user += [tuple(keys) for keys in resolved.values() if len(keys) > 1]
    findings.append(Finding("keys that are one directory user", tuple(same_user)))
    return total, [finding for finding in findings if finding.groups]


def _duplicates(connection: Connection, mapping: DirectorySettings, name: str) -> Finding:
    """Rows of the merchant table whose ``name`` column is one login in the bridge's canonical
    form (what sign-in and registration compare: NFKC, casefold, accents folded), so that
    ``straße`` and ``STRASSE`` count as the same login, as sign-in treats them. SQL cannot
    compute that form, so the column is streamed and grouped here (one dict entry per row)."""
    query = _login_values(mapping, name)
    rows = connection.execution_options(stream_results=True, yield_per=10_000).execute(query)
    pairs = ((canonical(str(row[0]).strip()), row[1]) for row in rows)
    what = (
        "email addresses with several accounts"
        if name == mapping.email_column
        else f"ambiguous logins in column {name}"
    )
    return Finding(what, _groups((login, user) for login, user in pairs if login))


def _login_values(mapping: DirectorySettings, name: str) -> Select[Any]:
    """(value, user key) of every row with a ``name`` value; ``name`` may be a column of a
    related table (``aspnet_Users.UserName``, ``wp_usermeta[meta_key=nickname].meta_value``),
    joined as the directory joins it."""
    ref = parse_reference(name)
    key: ColumnClause[Any] = column(mapping.key_column)
    if not ref.related:
        value: ColumnClause[Any] = column(ref.column)
        users = table(mapping.table, key, value)
        return select(value, key).select_from(users).where(value.is_not(None))
    assert ref.table is not None  # related
    join = parse_join(mapping.joins[ref.table])
    ours: ColumnClause[Any] = column(join.ours)
    users = table(mapping.table, key, ours) if join.ours != mapping.key_column else table(
        mapping.table, key
    )
    wanted = {ref.column, join.theirs, *([ref.key] if ref.key else [])}
    other = table(ref.table, *(column(c) for c in wanted))
    query = (
        select(other.c[ref.column], users.c[mapping.key_column])
        .select_from(users.join(other, other.c[join.theirs] == users.c[join.ours]))
        .where(other.c[ref.column].is_not(None))
    )
    return query.where(other.c[ref.key] == ref.value) if ref.key else query


def merchant_findings(engine: Engine, mapping: DirectorySettings) -> tuple[Finding, list[Finding]]:
    """(emails with several accounts, ambiguous logins per other login column)."""
    with engine.connect() as connection:
        emails = (
            _duplicates(connection, mapping, mapping.email_column)
            if mapping.email_column
            else Finding("email addresses with several accounts", ())
        )
        logins = [
            _duplicates(connection, mapping, name)
            for name in mapping.login_columns
            if name != mapping.email_column  # reported as emails
        ]
    return emails, [finding for finding in logins if finding.groups]
