"""Has enough of an HTTP/1.x request arrived to hand it to the WSGI server whole?

The bridge's worker (`sso_bridge.server.worker`) buffers each request in its event loop and gives
it to a thread only when this says so, so a thread never waits on a slow client. This is not a
parser: gunicorn parses the same bytes afterwards and stays the authority on what they mean
(malformed framing is handed over at once and refused there with 400). It only answers "wait",
"ready" (headers and whole body here), "early" (hand over now, the body will not be read in
full, so the connection must close after the answer) or "refuse" (headers too large).
"""

from __future__ import annotations

import enum

# Request headers larger than this are refused (431) without waiting for their end.
HEADER_CAP = 64 * 1024
# A chunk-size line (hex size plus extensions) is never anywhere near this long.
_CHUNK_LINE_CAP = 1024
_HEX = frozenset(b"0123456789abcdefABCDEF")


class Verdict(enum.Enum):
    WAIT = "wait"
    READY = "ready"
    EARLY = "early"
    REFUSE = "refuse"


class RequestProgress:
    """What is known about one request's bytes so far (fed the whole buffer each time)."""

    def __init__(self, max_body: int, header_cap: int = HEADER_CAP) -> None:
        self.max_body = max_body
        self.header_cap = header_cap
        self.header_end = -1  # offset just past the blank line once it has arrived
        self.expects_continue = False
        self._body_length: int | None = None  # Content-Length framing
        self._chunk_at = -1  # chunked framing: offset of the next chunk-size line
        self._decoded = 0  # chunked framing: body bytes in the chunks walked so far

    @property
    def waiting_for_body(self) -> bool:
        return self.header_end >= 0

    def feed(self, data: bytes | bytearray) -> Verdict:
        if self.header_end < 0:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                return Verdict.REFUSE if len(data) > self.header_cap else Verdict.WAIT
            if end > self.header_cap:
                return Verdict.REFUSE
            self.header_end = end + 4
            verdict = self._framing(bytes(data[:end]))
            if verdict is not None:
                return verdict
        if self._body_length is not None:
            complete = len(data) >= self.header_end + self._body_length
            return Verdict.READY if complete else Verdict.WAIT
        return self._walk_chunks(data)

    def _framing(self, head: bytes) -> Verdict | None:
        lower = head.lower()
        if b"transfer-encoding" not in lower and b"expect" not in lower:
            # The common case (the hot path: one small JSON or XML body) without a line split.
            count = lower.count(b"\ncontent-length:")
            if count == 0:
                return Verdict.READY
            if count == 1:
                start = lower.index(b"\ncontent-length:") + 16
                end = lower.find(b"\r", start)
                return self._sized(head[start : end if end >= 0 else len(head)].strip())
        return self._each_field(head)

    def _sized(self, length: bytes) -> Verdict | None:
        if not length.isdigit():
            return Verdict.EARLY
        if int(length) > self.max_body:
            return Verdict.EARLY  # the app refuses it (413) from the declared length alone
        self._body_length = int(length)
        return None

    def _each_field(self, head: bytes) -> Verdict | None:
        length: bytes | None = None
        encodings: list[bytes] = []
        for line in head.split(b"\r\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                if length is not None and length != value:
                    return Verdict.EARLY  # conflicting lengths: gunicorn refuses them
                length = value
            elif name == b"transfer-encoding":
                encodings += [part.strip().lower() for part in value.split(b",")]
            elif name == b"expect":
                self.expects_continue = value.lower() == b"100-continue"
        if encodings:
            if encodings[-1] != b"chunked" or length is not None:
                return Verdict.EARLY  # framing gunicorn refuses (RFC 9112 6.1, 6.3)
            self._chunk_at = self.header_end
            return None
        if length is None:
            return Verdict.READY  # no body
        return self._sized(length)

    def _walk_chunks(self, data: bytes | bytearray) -> Verdict:
        position = self._chunk_at
        while True:
            line_end = data.find(b"\r\n", position)
            if line_end < 0:
                too_long = len(data) - position > _CHUNK_LINE_CAP
                return Verdict.EARLY if too_long else Verdict.WAIT
            size_text = bytes(data[position:line_end]).split(b";", 1)[0].strip()
            if not size_text or not _HEX.issuperset(size_text):
                return Verdict.EARLY
            size = int(size_text, 16)
            start = line_end + 2
            if size == 0:  # last chunk, then trailer fields up to an empty line
                if data[start : start + 2] == b"\r\n" or data.find(b"\r\n\r\n", line_end) >= 0:
                    return Verdict.READY
                return Verdict.REFUSE if len(data) - start > self.header_cap else Verdict.WAIT
            if self._decoded + size > self.max_body:
                # Over the limit: hand over once more than the limit is buffered, so the app's
                # read of limit + 1 bytes (web.read_body) is served from memory and refused.
                if len(data) - start > self.max_body - self._decoded:
                    return Verdict.EARLY
                return Verdict.WAIT
            following = start + size + 2
            if following > len(data):
                return Verdict.WAIT
            self._decoded += size
            self._chunk_at = position = following
