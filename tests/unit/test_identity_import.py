"""The ERID alphabet of `identity import`: opaque printable strings, nothing invisible."""

from __future__ import annotations

import pytest

from sso_bridge.identity_import import check_input, erid_problem


@pytest.mark.parametrize(
    "erid",
    ["0B5E2C7A-1D3F-4E5A-9B8C-7D6E5F4A3B2C", "dr-shopper_42", "ÉRID.ünïcode", "x" * 64, "a:b/c"],
)
def test_printable_erids_are_accepted(erid: str) -> None:
    assert erid_problem(erid) is None


@pytest.mark.parametrize(
    ("erid", "expected"),
    [
        ("", "empty ERID"),
        ("x" * 65, "longer than 64"),
        (" ABC", "leading or trailing whitespace"),
        ("ABC\n", "leading or trailing whitespace"),
        ("AB C", "SPACE (U+0020)"),
        ("AB\u00a0C", "NO-BREAK SPACE (U+00A0)"),
        ("AB\tC", "U+0009"),
        ("AB\u200bC", "ZERO WIDTH SPACE (U+200B)"),
        ("AB\u200fC", "RIGHT-TO-LEFT MARK (U+200F)"),
        ("AB\u202eC", "RIGHT-TO-LEFT OVERRIDE (U+202E)"),
        ("AB\u2028C", "LINE SEPARATOR (U+2028)"),
        ("AB\ufeffC", "ZERO WIDTH NO-BREAK SPACE (U+FEFF)"),
        ("AB\ue000C", "U+E000"),  # private use
        ("AB\u0378C", "U+0378"),  # unassigned
    ],
)
def test_invisible_or_blank_erids_are_refused(erid: str, expected: str) -> None:
    problem = erid_problem(erid)
    assert problem is not None and expected in problem, problem


def test_input_checks_run_on_every_pair_and_keep_going() -> None:
    directory = {"7": "7", "007": "7", "Bob": "Bob"}
    items = check_input(
        [("007", "E1"), ("7", "E2"), ("Bob", "e1"), ("nobody", "E3"), ("", "E4"), ("Bob", "E 5")],
        directory.get,
    )
    assert [(item.outcome, item.user_key) for item in items] == [
        ("add", "7"),
        ("refused", "7"),
        ("refused", "Bob"),
        ("refused", None),
        ("refused", None),
        ("refused", "Bob"),
    ]
    assert "user 7 appears twice in the input (first at pair 1)" in items[1].reason
    assert "ignoring case" in items[2].reason
    assert "no user has this key ('nobody')" in items[3].reason
    assert items[4].reason == "empty user key"
    assert "SPACE" in items[5].reason
