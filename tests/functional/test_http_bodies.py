"""Request bodies through real `sso-bridge serve`: an answer given before the body was read
closes the connection (a pooled client's next request still works), and a chunked body over
the limit is refused whole, never cut at the limit and processed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.helpers import API_KEY, dr_login_request, with_simulator
from tests.serve_process import RUM_AUTH, BridgeServe

pytestmark = pytest.mark.slow

LIMIT = 65536


@pytest.fixture
def bridge(real_config: dict[str, Any]) -> Iterator[BridgeServe]:
    # DR is configured (so /v1/tokens reaches its body) but never called: every answer here
    # comes before any DR call.
    with BridgeServe(with_simulator(real_config, "http://127.0.0.1:9")) as server:
        yield server


def _response_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed without a response: {head!r}"
        head += chunk
    return head


def _read_to_eof(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def test_answer_before_the_body_closes_the_connection(bridge: BridgeServe) -> None:
    body = b"<" * (LIMIT + 40000)
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as sock:
        sock.sendall(
            b"POST /rum HTTP/1.1\r\nHost: bridge\r\nContent-Type: text/xml\r\n"
            + f"Authorization: {RUM_AUTH}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = _response_head(sock).lower()
        assert head.startswith(b"http/1.1 413"), head
        assert b"\r\nconnection: close\r\n" in head, head
        assert _read_to_eof(sock), "the server kept the connection with the unread body in it"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/rum", {"Authorization": RUM_AUTH, "Content-Type": "text/xml"}),
        ("/rum", {"Content-Type": "text/xml"}),  # 401 before the body is read
        ("/v1/tokens", {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}),
    ],
)
def test_pooled_client_survives_an_early_answer(
    bridge: BridgeServe, path: str, headers: dict[str, str]
) -> None:
    with requests.Session() as http:
        early = http.post(bridge.url + path, data=b"x" * (LIMIT * 2), headers=headers, timeout=10)
        assert early.status_code in (401, 413)
        assert early.headers.get("Connection", "").lower() == "close"
        assert http.get(bridge.url + "/healthz", timeout=10).status_code == 200


def _chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_rum_body_over_the_limit_is_refused(bridge: BridgeServe) -> None:
    login = dr_login_request("bcrypt@example.com", "bcrypt-pw-1")
    padded = login + b" " * (LIMIT + 100_000 - len(login)) + b"<garbage/>" * 10
    with requests.Session() as http:
        response = http.post(
            bridge.url + "/rum",
            data=_chunks(padded),  # a generator: requests sends it chunked, with no length
            headers={"Authorization": RUM_AUTH, "Content-Type": "text/xml"},
            timeout=10,
        )
        assert response.status_code == 413, response.text
        assert response.json()["errors"]["error"][0]["code"] == "payload-too-large"
        # The same message within the limit, chunked, signs in: only the size was refused.
        small = http.post(
            bridge.url + "/rum",
            data=_chunks(login, 64),
            headers={"Authorization": RUM_AUTH, "Content-Type": "text/xml"},
            timeout=10,
        )
        assert b"<successful>true</successful>" in small.content


def test_chunked_json_body_over_the_limit_is_refused(bridge: BridgeServe) -> None:
    body = b'{"login": "bcrypt@example.com", "pad": "' + b"x" * (LIMIT * 2) + b'"}'
    response = requests.post(
        bridge.url + "/v1/tokens",
        data=_chunks(body),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413, response.text


def test_expect_continue_gets_one_interim_answer_then_the_response(bridge: BridgeServe) -> None:
    # curl and many HTTP clients wait for "100 Continue" before sending a body: the worker
    # reads bodies in its event loop, so it answers that itself, once.
    login = dr_login_request("bcrypt@example.com", "bcrypt-pw-1")
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as sock:
        sock.sendall(
            b"POST /rum HTTP/1.1\r\nHost: bridge\r\nContent-Type: text/xml\r\n"
            + f"Authorization: {RUM_AUTH}\r\nContent-Length: {len(login)}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        interim = _response_head(sock)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        sock.sendall(login)
        answer = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        while b"</ns1:LoginResponse>" not in answer:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b"<successful>true</successful>" in answer
