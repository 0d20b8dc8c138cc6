"""When the worker hands a request to a thread: only whole, or early when it will close."""

from __future__ import annotations

import pytest

from sso_bridge.server.framing import RequestProgress, Verdict
from sso_bridge.server.worker import _without_expect

HEAD = b"POST /rum HTTP/1.1\r\nHost: b\r\n"


def _feed_in_pieces(data: bytes, piece: int, max_body: int = 100) -> list[Verdict]:
    progress = RequestProgress(max_body)
    return [progress.feed(data[: end]) for end in range(piece, len(data) + piece, piece)]


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n", Verdict.READY),
        (b"GET /healthz HTTP/1.1\r\nHost: b\r\n", Verdict.WAIT),  # half a header
        (HEAD + b"Content-Length: 5\r\n\r\nabc", Verdict.WAIT),  # partial body
        (HEAD + b"Content-Length: 5\r\n\r\nabcde", Verdict.READY),
        (HEAD + b"Content-Length: 5\r\n\r\nabcdeGET / HTTP/1.1", Verdict.READY),  # pipelined
        (HEAD + b"content-length: 101\r\n\r\n", Verdict.EARLY),  # over the limit: 413, close
        (HEAD + b"Content-Length: x\r\n\r\n", Verdict.EARLY),  # gunicorn refuses it
        (HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", Verdict.EARLY),
        (HEAD + b"Transfer-Encoding: gzip\r\n\r\n", Verdict.EARLY),
        (HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", Verdict.EARLY),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", Verdict.WAIT),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Verdict.READY),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
         Verdict.READY),  # extension and trailer
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", Verdict.EARLY),  # bad size line
        # Over the limit in chunks: handed over only once more than the limit is in memory.
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"65\r\n" + b"a" * 100, Verdict.WAIT),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"65\r\n" + b"a" * 101, Verdict.EARLY),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000, Verdict.REFUSE),  # headers without end
    ],
)
def test_verdict(data: bytes, verdict: Verdict) -> None:
    assert RequestProgress(100).feed(data) is verdict


def test_a_body_arriving_byte_by_byte_is_ready_exactly_at_its_end() -> None:
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * 50 + b"0\r\n\r\n"
    verdicts = _feed_in_pieces(chunked, 1)
    assert verdicts[-1] is Verdict.READY
    assert set(verdicts[:-1]) == {Verdict.WAIT}
    sized = HEAD + b"Content-Length: 50\r\n\r\n" + b"y" * 50
    verdicts = _feed_in_pieces(sized, 7)
    assert verdicts[-1] is Verdict.READY and set(verdicts[:-1]) == {Verdict.WAIT}


def test_many_small_chunks_over_the_limit_are_early() -> None:
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * 150
    assert Verdict.EARLY in _feed_in_pieces(chunked, 64)


def test_expect_is_noticed_and_taken_out_once_answered() -> None:
    data = HEAD + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    progress = RequestProgress(100)
    assert progress.feed(data) is Verdict.WAIT and progress.expects_continue
    stripped = _without_expect(data + b"abc", progress.header_end)
    assert b"expect" not in stripped.lower() and stripped.endswith(b"\r\n\r\nabc")
