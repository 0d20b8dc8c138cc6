"""The one canonical form for logins and emails, and what a new one may not contain."""

from __future__ import annotations

import pytest

from sso_bridge.canonical import INVISIBLE, MIXED_SCRIPTS, NOT_NFKC, canonical, problem


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice@example.com", "ALICE@EXAMPLE.COM"),
        ("alice@example.com", "AL\u0130CE@example.com"),  # PostgreSQL: lower('İ') = 'i'
        ("alice@example.com", "al\u0131ce@example.com"),  # dotless i
        ("jose@example.com", "Jos\u00e9@example.com"),  # MySQL's collations ignore accents
        ("jose@example.com", "Jose\u0301@example.com"),  # the same accent, decomposed
        ("strasse@example.com", "STRA\u00dfE@example.com"),  # case folding: ß is ss
        ("bob@example.com", "\uff42ob@example.com"),  # fullwidth b
        ("office@example.com", "o\ufb03ce@example.com"),  # ffi ligature
        ("bob@example.com", "  bob@example.com "),
    ],
)
def test_forms_a_database_could_match_share_one_canonical_form(one: str, other: str) -> None:
    assert canonical(one) == canonical(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice@example.com", "alice@example.org"),
        ("alice@example.com", "\u0430lice@example.com"),  # Cyrillic a: refused, not merged
        ("bob", "bob2"),
    ],
)
def test_different_names_stay_different(one: str, other: str) -> None:
    assert canonical(one) != canonical(other)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("alice@example.com", None),
        ("AL\u0130CE@example.com", None),  # a real letter; it collides, it is not refused
        ("jos\u00e9.n\u00fa\u00f1ez@example.com", None),
        ("\u5c71\u7530\u305f\u308d\u3046@example.jp", None),  # Han + Hiragana is one writing
        ("\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", None),
        ("John Smith", None),  # a plain space in a login
        ("demo@example.com\u200b", INVISIBLE),  # zero-width space
        ("de\u202emo@example.com", INVISIBLE),  # right-to-left override
        ("de\u200dmo@example.com", INVISIBLE),  # zero-width joiner
        ("demo\x00@example.com", INVISIBLE),
        ("demo\t@example.com", INVISIBLE),
        ("de\u00a0mo@example.com", INVISIBLE),  # no-break space
        ("\ufeffdemo@example.com", INVISIBLE),  # byte order mark
        ("de\u3164mo@example.com", INVISIBLE),  # Hangul filler
        ("\uff42ob@example.com", NOT_NFKC),  # fullwidth b
        ("o\ufb03ce@example.com", NOT_NFKC),  # ligature
        ("Jose\u0301@example.com", NOT_NFKC),  # decomposed accent
        ("\u0430lice@example.com", MIXED_SCRIPTS),  # Cyrillic a in a Latin label
        ("alice@ex\u0430mple.com", MIXED_SCRIPTS),  # in the domain
        ("p\u0430ypal", MIXED_SCRIPTS),
        ("\u03b1lice@example.com", MIXED_SCRIPTS),  # Greek alpha
    ],
)
def test_problem_names_why_a_new_login_or_email_is_refused(text: str, reason: str | None) -> None:
    assert problem(text) == reason
