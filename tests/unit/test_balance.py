"""Workers' shared connection counts: a worker learns that another (alive) has fewer."""

from __future__ import annotations

import multiprocessing

from sso_bridge.server.balance import ConnectionCounts


def _other_worker(counts: ConnectionCounts, count: int, ready: object, done: object) -> None:
    counts.claim()
    counts.publish(count)
    ready.set()  # type: ignore[attr-defined]
    done.wait(10)  # type: ignore[attr-defined]
    counts.release()


def test_another_worker_with_fewer_connections_is_seen_while_it_lives() -> None:
    context = multiprocessing.get_context("fork")  # as gunicorn's workers: forked after import
    counts = ConnectionCounts(slots=4)
    counts.claim()
    ready, done = context.Event(), context.Event()
    other = context.Process(target=_other_worker, args=(counts, 1, ready, done))
    other.start()
    try:
        assert ready.wait(10)
        assert counts.another_has_fewer(3)
        assert not counts.another_has_fewer(1)  # equal is not fewer
        assert not counts.another_has_fewer(0)
    finally:
        done.set()
        other.join(10)
    assert not counts.another_has_fewer(3)  # released (and gone): not counted


def _claim_or_fail(counts: ConnectionCounts) -> None:
    raise SystemExit(0 if counts.claim() else 1)


def test_a_dead_workers_slot_is_ignored_and_reused() -> None:
    context = multiprocessing.get_context("fork")
    counts = ConnectionCounts(slots=2)
    counts.claim()
    crashed = context.Process(target=counts.claim)  # claims, then exits without releasing
    crashed.start()
    crashed.join(10)
    assert not counts.another_has_fewer(5)
    replacement = context.Process(target=_claim_or_fail, args=(counts,))
    replacement.start()
    replacement.join(10)
    assert replacement.exitcode == 0
