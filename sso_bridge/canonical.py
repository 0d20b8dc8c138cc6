"""One canonical form for logins and emails, and the checks a new one must pass.

`canonical` is the form the bridge compares logins and emails in, everywhere: the registrations
ledger keys on it and the SQL directory compares candidate rows with it. It has to be at least
as coarse as the case-insensitive matching of the databases merchants use, or the bridge would
call an email new that the merchant's own site finds an account for: PostgreSQL's ``lower('İ')``
is ``i``, Python's is ``i`` + U+0307; MySQL's usual collations also ignore accents. So it is
NFKC, then case folding, then without the combining accents U+0300-U+036F, with dotless i (U+0131)
as ``i``. Being coarser than one database is the safe side: two emails that share a canonical
form count as one (a registration is refused, a sign-in matches both and the exact one wins).

`problem` says why a new email or login is refused: invisible, bidirectional-control or other
control characters; not in NFKC form (fullwidth letters, ligatures, odd spaces); or letters of
several writing systems in one label (a Cyrillic a, U+0430, inside a Latin address), following the
"highly restrictive" level of Unicode TS #39 (Latin with Han and Japanese kana, Bopomofo or
Hangul is allowed). Script data comes from ``unicodedataplus`` (current Unicode), not from the
older tables of the running Python.

Nothing here imports Flask or SQLAlchemy.
"""

from __future__ import annotations

import re

import unicodedataplus

# Invisible although their category is Lo: Hangul fillers (Unicode "default ignorable").
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
# Cc controls, Cf format (zero-width, bidirectional controls, BOM), Co private use, Cs
# surrogates, Cn unassigned, Zl/Zp line and paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_NEUTRAL_SCRIPTS = frozenset({"Common", "Inherited", "Unknown"})
# UTS #39 "highly restrictive": one script, or one of these combinations.
_ALLOWED_MIXES = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)
_LABEL_SEPARATORS = re.compile(r"[@.\s_+\-]")
_ACCENTS = re.compile("[\u0300-\u036f]")

INVISIBLE = "contains invisible or control characters"
NOT_NFKC = "is not in Unicode normal form NFKC"
MIXED_SCRIPTS = "mixes writing systems"


def canonical(text: str) -> str:
    """The form two logins or emails are compared in (see the module docstring)."""
    folded: str = unicodedataplus.normalize("NFKC", text.strip()).casefold()
    bare = _ACCENTS.sub("", str(unicodedataplus.normalize("NFD", folded)))
    composed: str = unicodedataplus.normalize("NFC", bare)
    return composed.replace("\u0131", "i")  # dotless i


def _invisible(character: str) -> bool:
    if character in _INVISIBLE_LETTERS:
        return True
    category = unicodedataplus.category(character)
    # Any space but the plain one: NBSP and friends look like nothing or like a space.
    return category in _INVISIBLE_CATEGORIES or (category == "Zs" and character != " ")


def _mixes_scripts(label: str) -> bool:
    scripts = {unicodedataplus.script(c) for c in label} - _NEUTRAL_SCRIPTS
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES)


def problem(text: str) -> str | None:
    """Why ``text`` may not be a new login or email (one of the constants above), or None."""
    if any(_invisible(c) for c in text):
        return INVISIBLE
    if not unicodedataplus.is_normalized("NFKC", text):
        return NOT_NFKC
    if any(_mixes_scripts(label) for label in _LABEL_SEPARATORS.split(text)):
        return MIXED_SCRIPTS
    return None
