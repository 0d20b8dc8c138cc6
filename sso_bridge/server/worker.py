"""The bridge's gunicorn worker: gthread, except that no thread ever waits on a client.

Stock gthread (gunicorn 26) hands a connection to a thread as soon as its first byte arrives and
the thread then reads headers and body with a blocking socket and no deadline: a few clients that
send half a request hold every thread, and /healthz, logins and tokens all stop (issue 9). Here
the event loop reads each request (headers, then a body up to MAX_BODY_BYTES) without blocking,
under REQUEST_HEADER_TIMEOUT and REQUEST_BODY_TIMEOUT; a client past its deadline is dropped, and
only a request that is all in memory reaches a thread, where gunicorn parses it as usual.

Also, because the stock worker cannot do either:
- an application's ``Connection: close`` is honoured (gunicorn drops hop-by-hop headers): the
  bridge sends it when it answered without reading the body, and the connection really closes;
- closing lingers in the event loop (stock gthread lingers up to 2 s in it, blocking);
- a worker steps aside from accepting while another has fewer open connections (counts shared
  by the workers, `sso_bridge.server.balance`), so a client's keep-alive connections spread
  over the workers instead of piling into one (both cores busy: issue 14).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from sso_bridge.server.balance import COUNTS
from sso_bridge.server.framing import RequestProgress, Verdict

# Accept balancing: while another worker has fewer connections, look again this often, and
# take the connection anyway once this long has passed (the other may be busy or stuck).
ACCEPT_POLL = 0.002
ACCEPT_CAP = 0.05
# A closing connection's unread input is drained for at most this long, so the peer gets the
# last answer instead of a reset.
LINGER = 1.0

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n"
)

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Limits:
    def __init__(self, header_timeout: float, body_timeout: float, max_body: int) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_body = max_body

    @classmethod
    def of(cls, app: Any) -> Limits:
        """The bridge's settings when the app is the bridge, the same defaults otherwise."""
        extensions = getattr(app, "extensions", {})
        found = extensions.get("sso_bridge") if isinstance(extensions, dict) else None
        settings = getattr(found, "settings", None)
        if settings is None:
            return cls(5.0, 10.0, 65536)
        return cls(
            settings.request_header_timeout,
            settings.request_body_timeout,
            settings.max_body_bytes,
        )


class _Incoming:
    """A connection whose next request is being read in the event loop."""

    def __init__(self, conn: TConn, data: bytes, deadline: float, idle: bool, max_body: int):
        self.conn = conn
        self.buffer = bytearray(data)
        self.deadline = deadline
        self.idle = idle  # a kept-alive connection between requests: no byte of the next yet
        self.progress = RequestProgress(max_body)
        self.continued = False


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._incoming: dict[TConn, _Incoming] = {}
        self._lingering: dict[socket.socket, float] = {}
        self._accept_resume = 0.0
        self._stepping_since: float | None = None
        self._limits = Limits(5.0, 10.0, 65536)

    # --- application ------------------------------------------------------------------------

    def load_wsgi(self) -> None:
        if self.cfg.is_ssl:  # the event loop reads plain HTTP/1.x bytes
            raise RuntimeError("TLS terminates in front of the bridge (see the README)")
        super().load_wsgi()
        app: Wsgi = self.wsgi  # type: ignore[has-type]
        self._limits = Limits.of(app)
        self.wsgi = _honour_connection_close(app)

    # --- accepting ----------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self._accept_resume:
            enabled = False  # stepping aside for a less busy worker (see accept)
        if enabled != self._accepting:
            super().set_accept_enabled(enabled)

    def init_process(self) -> None:
        COUNTS.claim()
        try:
            super().init_process()  # runs the worker until it exits
        finally:
            COUNTS.release()

    def accept(self, listener: socket.socket) -> None:
        # The listener is shared by every worker and all of them are woken for a new connection:
        # leave it to one with fewer connections, for at most ACCEPT_CAP.
        now = time.monotonic()
        if self._stepping_since is not None and now - self._accept_resume > ACCEPT_CAP:
            self._stepping_since = None  # an earlier connection, taken by another worker
        if COUNTS.another_has_fewer(self.nr_conns):
            if self._stepping_since is None:
                self._stepping_since = now
            if now - self._stepping_since < ACCEPT_CAP:
                self._accept_resume = now + ACCEPT_POLL
                self.set_accept_enabled(False)
                return
        self._stepping_since = None
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        COUNTS.publish(self.nr_conns)
        conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking now
        self._read_request(conn, b"", idle=False)

    # --- reading a request in the event loop --------------------------------------------------

    def _read_request(self, conn: TConn, data: bytes, *, idle: bool) -> None:
        limits = self._limits
        timeout = self.cfg.keepalive if idle and not data else limits.header_timeout
        incoming = _Incoming(
            conn, data, time.monotonic() + timeout, idle and not data, limits.max_body
        )
        try:
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._readable, incoming)
            )
        except (OSError, ValueError):  # the peer is already gone
            self._close(conn)
            return
        self._incoming[conn] = incoming
        if data:
            self._advance(incoming)

    def _readable(self, incoming: _Incoming, _sock: Any) -> None:
        try:
            data = incoming.conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._forget(incoming)
            self._close(incoming.conn)
            return
        if incoming.idle:  # the next request has begun: its headers are on the clock now
            incoming.idle = False
            incoming.deadline = time.monotonic() + self._limits.header_timeout
        incoming.buffer += data
        self._advance(incoming)

    def _advance(self, incoming: _Incoming) -> None:
        progress = incoming.progress
        had_headers = progress.waiting_for_body
        verdict = progress.feed(incoming.buffer)
        if verdict is Verdict.WAIT:
            if progress.waiting_for_body and not had_headers:
                incoming.deadline = time.monotonic() + self._limits.body_timeout
                if progress.expects_continue:
                    self._send_continue(incoming)
            return
        self._forget(incoming)
        if verdict is Verdict.REFUSE:
            _send_quietly(incoming.conn.sock, _TOO_LARGE)
            self._close(incoming.conn)
            return
        self._dispatch(incoming, whole=verdict is Verdict.READY)

    def _send_continue(self, incoming: _Incoming) -> None:
        # The client waits for this before sending its body; gunicorn would send it only once a
        # thread had the request, which here is after the body. Its Expect header is taken out
        # of what gunicorn sees, so it does not send a second one.
        if _send_quietly(incoming.conn.sock, _CONTINUE):
            incoming.continued = True

    def _dispatch(self, incoming: _Incoming, *, whole: bool) -> None:
        conn = incoming.conn
        data = bytes(incoming.buffer)
        if incoming.continued:
            data = _without_expect(data, incoming.progress.header_end)
        conn.init()  # the parser (plain HTTP/1.x: TLS terminates in front of the bridge)
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        conn.sso_must_close = not whole  # the rest of the body stays unread: close afterwards
        self.enqueue_req(conn)

    def _forget(self, incoming: _Incoming) -> None:
        self._incoming.pop(incoming.conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(incoming.conn.sock)

    # --- after a request ------------------------------------------------------------------------

    def handle_request(self, req: Any, conn: TConn) -> bool:
        keep = bool(super().handle_request(req, conn))
        return keep and not getattr(conn, "sso_must_close", False)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result and self.alive:
            # Bytes the client pipelined behind the request are the next request's start.
            leftover = conn.parser.unreader.take_buffered()
            conn.sock.setblocking(False)
            self._read_request(conn, leftover, idle=True)
        else:
            self._close(conn)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        sock = conn.sock
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self._lingering[sock] = time.monotonic() + LINGER
        self.poller.register(sock, selectors.EVENT_READ, self._drain)

    def _drain(self, sock: socket.socket) -> None:
        try:
            if sock.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._end_linger(sock)

    def _end_linger(self, sock: socket.socket) -> None:
        self._lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        sock.close()

    # --- deadlines ------------------------------------------------------------------------------

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        # Shutting down: a kept-alive connection with no request under way goes at once.
        expired = [
            i for i in self._incoming.values() if i.deadline <= now or (i.idle and not self.alive)
        ]
        for incoming in expired:
            self._forget(incoming)
            self._close(incoming.conn)  # slow or stalled: dropped
        for sock in [s for s, deadline in self._lingering.items() if deadline <= now]:
            self._end_linger(sock)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        now = time.monotonic()
        if self._accept_resume > now:
            timeout = min(timeout, self._accept_resume - now)
        super().wait_for_and_dispatch_events(timeout)
        COUNTS.publish(self.nr_conns)
        if self._accept_resume and time.monotonic() >= self._accept_resume:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)


def _send_quietly(sock: socket.socket, data: bytes) -> bool:
    try:
        return sock.send(data) == len(data)
    except OSError:
        return False


def _without_expect(data: bytes, header_end: int) -> bytes:
    head, body = data[:header_end], data[header_end:]
    lines = head.split(b"\r\n")
    kept = [line for line in lines if line.partition(b":")[0].strip().lower() != b"expect"]
    return b"\r\n".join(kept) + body


def _honour_connection_close(app: Wsgi) -> Wsgi:
    """Let the application's ``Connection: close`` close the connection (gunicorn would drop the
    header as hop-by-hop and keep the connection, with an unread body still in it)."""

    def closing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            for name, value in headers:
                if len(name) == 10 and name.lower() == "connection" and value.lower() == "close":
                    response = getattr(start_response, "__self__", None)
                    force_close = getattr(response, "force_close", None)
                    if force_close is not None:
                        force_close()
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return closing
