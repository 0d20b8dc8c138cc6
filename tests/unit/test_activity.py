"""ActivityCheck: a per-process memo of "active" answers, re-asked at most once per bound."""

from __future__ import annotations

import pytest

from sso_bridge.activity import ActivityCheck
from sso_bridge.directory.base import DirectoryUnavailable, DirectoryUser
from sso_bridge.settings import SettingsError, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Directory:
    """The one lookup ActivityCheck makes, counting the calls."""

    def __init__(self) -> None:
        self.active: dict[str, bool] = {"1": True, "2": True}
        self.lookups: list[str] = []
        self.down = False

    def find_by_key(self, key: str) -> DirectoryUser | None:
        self.lookups.append(key)
        if self.down:
            raise DirectoryUnavailable("down")
        if key not in self.active:
            return None
        return DirectoryUser(key=key, login=f"user{key}", active=self.active[key])


def check(directory: Directory, clock: Clock, recheck: float = 30.0) -> ActivityCheck:
    return ActivityCheck(directory=directory, recheck_seconds=recheck, clock=clock)


def test_active_answer_is_reused_within_the_bound_then_asked_again() -> None:
    directory, clock = Directory(), Clock()
    activity = check(directory, clock)
    assert activity.is_active("1")
    clock.now += 29.9
    assert activity.is_active("1")
    assert directory.lookups == ["1"]
    clock.now += 0.2  # 30.1 s after the directory's answer
    directory.active["1"] = False
    assert not activity.is_active("1")
    assert directory.lookups == ["1", "1"]


def test_inactive_and_unknown_users_are_asked_every_time() -> None:
    directory, clock = Directory(), Clock()
    directory.active["1"] = False
    activity = check(directory, clock)
    assert not activity.is_active("1")
    assert not activity.is_active("1")
    assert not activity.is_active("404")
    assert directory.lookups == ["1", "1", "404"]
    directory.active["1"] = True  # reactivated: served again at once
    assert activity.is_active("1")


def test_active_now_always_asks_and_forgets_a_user_found_inactive() -> None:
    directory, clock = Directory(), Clock()
    activity = check(directory, clock)
    assert activity.is_active("1")
    directory.active["1"] = False
    assert not activity.active_now("1")  # a mint: the memo does not answer for the directory
    directory.active["1"] = True
    assert activity.is_active("1")
    assert directory.lookups == ["1", "1", "1"]


def test_saw_active_counts_as_an_answer() -> None:
    directory, clock = Directory(), Clock()
    activity = check(directory, clock)
    activity.saw_active("2")
    assert activity.is_active("2")
    assert directory.lookups == []


def test_a_zero_bound_asks_every_time() -> None:
    directory, clock = Directory(), Clock()
    activity = check(directory, clock, recheck=0)
    for _ in range(3):
        assert activity.is_active("1")
    assert directory.lookups == ["1", "1", "1"]


def test_a_directory_that_cannot_answer_is_not_taken_for_active() -> None:
    directory, clock = Directory(), Clock()
    activity = check(directory, clock)
    assert activity.is_active("1")
    directory.down = True
    assert activity.is_active("1")  # within the bound: no question asked
    clock.now += 31
    with pytest.raises(DirectoryUnavailable):
        activity.is_active("1")


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    directory, clock = Directory(), Clock()
    activity = check(directory, clock)
    monkeypatch.setattr(ActivityCheck, "_LIMIT", 3)
    for key in ("a", "b", "c", "d"):
        activity.saw_active(key)
    assert activity.is_active("d")
    assert directory.lookups == []
    assert activity.is_active("1") and directory.lookups == ["1"]
    activity.saw_active("e")
    assert not activity.is_active("a")  # forgotten when the memo was cleared: asked again
    assert directory.lookups == ["1", "a"]


@pytest.mark.parametrize(("value", "accepted"), [(0, True), (30, True), (60, True), (61, False)])
def test_the_bound_is_a_setting_of_at_most_sixty_seconds(value: int, accepted: bool) -> None:
    raw = {"DIRECTORY": {"URL": "sqlite:///merchant.sqlite3"}, "ACTIVE_RECHECK_SECONDS": value}
    if accepted:
        assert load_settings(raw).active_recheck_seconds == value
    else:
        with pytest.raises(SettingsError) as error:
            load_settings(raw)
        assert any("SSO_BRIDGE_ACTIVE_RECHECK_SECONDS" in p for p in error.value.problems)


def test_the_default_bound_is_thirty_seconds() -> None:
    settings = load_settings({"DIRECTORY": {"URL": "sqlite:///merchant.sqlite3"}})
    assert settings.active_recheck_seconds == 30
