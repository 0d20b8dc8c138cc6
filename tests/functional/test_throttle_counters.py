"""Failure throttling under concurrency, the same contract on the real Redis and in-process."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import redis

from sso_bridge.directory.gate import VerificationBusy
from sso_bridge.rum.throttle import LoginThrottle, ThrottleCounters, ThrottlePolicy, Window
from sso_bridge.throttle_counters import InMemoryThrottleCounters, RedisThrottleCounters
from tests.conftest import REDIS_URL

KEY = b"k" * 32


@pytest.fixture(params=["redis", "memory"])
def counters(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[ThrottleCounters]:
    if request.param == "memory":
        yield InMemoryThrottleCounters()
        return
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    yield RedisThrottleCounters(client=client, prefix=redis_prefix)
    client.close()


def make(counters: ThrottleCounters, **policy: object) -> LoginThrottle:
    options: dict[str, object] = {"account": (Window(60, 5),), "wait": 2.0, "poll": 0.005}
    options.update(policy)
    return LoginThrottle(
        counters=counters,
        fallback=InMemoryThrottleCounters(),
        key=KEY,
        policy=ThrottlePolicy(**options),  # type: ignore[arg-type]
    )


def burst(
    throttle: LoginThrottle, attempts: int, correct: Callable[[int], bool], verify_seconds: float
) -> Counter[str]:
    """``attempts`` sign-ins of one account at once; each verification takes ``verify_seconds``."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(attempts)

    def one(n: int) -> None:
        start.wait()
        try:
            attempt = throttle.begin(throttle.sign_in_subjects("42", "victim@example.com", None))
        except VerificationBusy:
            outcome = "busy"
        else:
            if attempt.throttled:
                outcome = "throttled"
            else:
                time.sleep(verify_seconds)
                if correct(n):
                    attempt.succeeded()
                    outcome = "signed in"
                else:
                    attempt.failed()
                    outcome = "verified, wrong"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_ten_concurrent_correct_passwords_all_sign_in(counters: ThrottleCounters) -> None:
    outcomes = burst(make(counters), 10, correct=lambda _: True, verify_seconds=0.05)
    assert outcomes == Counter({"signed in": 10})


def test_correct_passwords_still_sign_in_when_verifications_outlast_the_wait(
    counters: ThrottleCounters,
) -> None:
    outcomes = burst(make(counters, wait=0.05), 10, correct=lambda _: True, verify_seconds=0.3)
    assert outcomes == Counter({"signed in": 10})


def test_parallel_wrong_guesses_get_exactly_the_limit_when_they_settle_in_time(
    counters: ThrottleCounters,
) -> None:
    outcomes = burst(make(counters), 50, correct=lambda _: False, verify_seconds=0.02)
    assert outcomes == Counter({"verified, wrong": 5, "throttled": 45})


def test_parallel_wrong_guesses_stay_bounded_when_verifications_outlast_the_wait(
    counters: ThrottleCounters,
) -> None:
    throttle = make(counters, wait=0.02, max_in_flight=8)
    outcomes = burst(throttle, 60, correct=lambda _: False, verify_seconds=0.3)
    # Never more than limit - 1 + max_in_flight guesses, however many arrive at once; the rest
    # are shed (503) or refused as throttled, never verified.
    assert outcomes["verified, wrong"] <= 5 - 1 + 8
    assert outcomes["verified, wrong"] + outcomes["busy"] + outcomes["throttled"] == 60


def test_settled_failures_throttle_even_the_right_password_and_a_success_clears_them(
    counters: ThrottleCounters,
) -> None:
    throttle = make(counters)
    subjects = throttle.sign_in_subjects("42", "victim@example.com", "198.51.100.7")
    for _ in range(4):
        throttle.begin(subjects).failed()
    throttle.begin(subjects).succeeded()  # the real user: the account's windows are cleared
    for _ in range(5):
        attempt = throttle.begin(subjects)
        assert attempt.throttled is None
        attempt.failed()
    assert throttle.begin(subjects).throttled == "account"


def test_the_ip_scope_is_not_cleared_by_a_success(counters: ThrottleCounters) -> None:
    throttle = make(counters, ip=(Window(60, 3),), account=(Window(60, 100),))
    for n in range(3):
        throttle.begin(throttle.sign_in_subjects(None, f"nobody{n}", "198.51.100.7")).failed()
    assert throttle.begin(throttle.sign_in_subjects("1", "real", "198.51.100.7")).throttled == "ip"
    assert throttle.begin(throttle.sign_in_subjects("1", "real", "203.0.113.1")).throttled is None


def test_the_window_expires_and_the_real_user_gets_back_in(counters: ThrottleCounters) -> None:
    throttle = make(counters, account=(Window(1, 3),))
    subjects = throttle.sign_in_subjects(None, "victim@example.com", None)
    for _ in range(3):
        throttle.begin(subjects).failed()
    assert throttle.begin(subjects).throttled == "account"
    time.sleep(1.2)
    assert throttle.begin(subjects).throttled is None


def test_a_cancelled_attempt_counts_nothing(counters: ThrottleCounters) -> None:
    throttle = make(counters, account=(Window(60, 1),), wait=0.0)
    subjects = throttle.sign_in_subjects("42", "x", None)
    for _ in range(5):
        throttle.begin(subjects).cancel()
    assert throttle.begin(subjects).throttled is None


def test_the_global_count_of_failures(counters: ThrottleCounters) -> None:
    throttle = make(counters, global_failures_per_minute=3)
    for n in range(3):
        assert not throttle.past_global_ceiling()
        throttle.begin(throttle.sign_in_subjects(None, f"ghost{n}", None)).failed()
    assert throttle.past_global_ceiling()


def test_subjects_are_keyed_digests_of_the_canonical_login() -> None:
    throttle = make(InMemoryThrottleCounters())
    other = LoginThrottle(
        counters=InMemoryThrottleCounters(), fallback=InMemoryThrottleCounters(), key=b"o" * 32
    )
    (plain,) = throttle.sign_in_subjects(None, "victim@example.com", None)
    for spelling in (" Victim@Example.COM", "ｖｉｃｔｉｍ@example.com"):  # noqa: RUF001
        assert throttle.sign_in_subjects(None, spelling, None)[0].digest == plain.digest
    assert other.sign_in_subjects(None, "victim@example.com", None)[0].digest != plain.digest
    unsalted = hashlib.sha256(b"victim@example.com").hexdigest()
    assert plain.digest not in unsalted
    # The resolved user is the account, not the login that named it.
    assert throttle.sign_in_subjects("42", "a", None) == throttle.sign_in_subjects("42", "b", None)
