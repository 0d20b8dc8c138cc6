"""DR's side of RUM: the four calls as Digital River sends them, and their answers read back.

The DR simulator's storefront signs shoppers in through this, and `sso-bridge probe` uses it to
check a deployment the way DR will call it. Requests follow DR's documented shape (prefixed root,
``xsi:type`` on leaves, ``xsi:nil`` for absent values; see ``shared/spec/rum.md``); answers are
parsed with defusedxml on local names, as leniently as the bridge parses requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import requests
from defusedxml.ElementTree import fromstring

from sso_bridge.outbound import pooled_session
from sso_bridge.rum.messages import COMMON_NAMESPACE, RUM_NAMESPACE
from sso_bridge.rum.samples import dr_login_request

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_HEAD = (
    f'<ns1:{{name}} xmlns:ns1="{RUM_NAMESPACE}" xmlns:ns2="{COMMON_NAMESPACE}" '
    f'xmlns:xsi="{_XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
)


def _leaf(name: str, value: str | None) -> str:
    if value is None:
        return f'<{name} xsi:type="xsd:string" xsi:nil="true"/>'
    return f'<{name} xsi:type="xsd:string">{escape(value)}</{name}>'


def _user_key(*, login: str | None = None, erid: str | None = None) -> str:
    return (
        '<userKey xsi:type="ns2:UserKey">'
        + _leaf("userID", None)
        + _leaf("externalReferenceID", erid)
        + _leaf("companyID", None)
        + _leaf("loginID", login)
        + _leaf("siteID", None)
        + "</userKey>"
    )


def _document(name: str, body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>' + _HEAD.format(name=name) + body).encode() + (
        f"</ns1:{name}>".encode()
    )


def login_request(login: str, password: str) -> bytes:
    return dr_login_request(login, password)


def profile_request(*, erid: str | None = None, login: str | None = None) -> bytes:
    return _document(
        "GetUserProfileRequest", _user_key(login=login, erid=erid) + _leaf("sessionToken", None)
    )


def session_request(token: str, *, attribute: str = "sessionToken") -> bytes:
    """The token as DR passes a merchant cookie: an extended attribute (and nothing else)."""
    item = (
        "<item>"
        f"<name>{escape(attribute)}</name><value>{escape(token)}</value>"
        "<valueDataType>string</valueDataType></item>"
    )
    attributes = '<extendedAttributes xsi:type="ns2:ExtendedAttributesInfoArray">'
    return _document("ValidateSessionRequest", f"{attributes}{item}</extendedAttributes>")


def create_request(
    *, email: str, password: str, first_name: str | None = None, last_name: str | None = None
) -> bytes:
    info = (
        '<userInfo xsi:type="ns2:UserInfo">'
        + _user_key(login=email)
        + _leaf("firstName", first_name)
        + _leaf("lastName", last_name)
        + _leaf("email", email)
        + "</userInfo>"
    )
    return _document("CreateUserProfileRequest", info + _leaf("password", password))


@dataclass(frozen=True)
class RumAnswer:
    """What the bridge answered, as DR reads it."""

    status: int
    operation: str  # the response's root element name, e.g. LoginResponse
    successful: bool
    elapsed_ms: float
    error_code: str | None = None
    error_message: str | None = None
    external_reference_id: str | None = None
    login_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    body: bytes = field(default=b"", repr=False)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(root: Element, path: tuple[str, ...]) -> str | None:
    """Text of the first element reached by local names ``path`` below ``root``."""
    current: Element | None = root
    for name in path:
        if current is None:
            return None
        current = next((child for child in current if _local(child.tag) == name), None)
    if current is None or current.get(f"{{{_XSI}}}nil") in ("true", "1"):
        return None
    text = (current.text or "").strip()
    return text or None


def read_answer(status: int, body: bytes, elapsed_ms: float) -> RumAnswer:
    """Parse a RUM answer; a transport error (non-200, DR's JSON error format) is unsuccessful."""
    if status != 200:
        return RumAnswer(status, "", False, elapsed_ms, body=body)
    root = fromstring(body, forbid_dtd=True)
    if _local(root.tag) == "Envelope":  # SOAP: the operation is the Body's first child
        soap_body = next(child for child in root if _local(child.tag) == "Body")
        root = next(iter(soap_body))
    operation = _local(root.tag)
    if operation.startswith("GetUser"):  # no `successful` element: a profile or nil
        key_path: tuple[str, ...] = ("userInfo", "userKey")
        successful = _text(root, (*key_path, "externalReferenceID")) is not None
    else:
        successful = _text(root, ("successful",)) == "true"
        key_path = ("userKey",)
    return RumAnswer(
        status=status,
        operation=operation,
        successful=successful,
        elapsed_ms=elapsed_ms,
        error_code=_text(root, ("errorCode",)),
        error_message=_text(root, ("errorMessage",)),
        external_reference_id=_text(root, (*key_path, "externalReferenceID")),
        login_id=_text(root, (*key_path, "loginID")),
        email=_text(root, ("userInfo", "email")),
        first_name=_text(root, ("userInfo", "firstName")),
        last_name=_text(root, ("userInfo", "lastName")),
        body=body,
    )


class RumCaller:
    """Sends RUM calls to one bridge URL with DR's Basic credentials."""

    def __init__(self, *, url: str, username: str, password: str, timeout: float = 10.0) -> None:
        self._url = url
        self._auth = (username, password)
        self._timeout = timeout
        self._session = pooled_session(pool_connections=1, pool_maxsize=8)

    def send(self, document: bytes) -> RumAnswer:
        started = time.perf_counter()
        try:
            reply = self._session.post(
                self._url,
                data=document,
                auth=self._auth,
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise RumUnreachable(f"{type(exc).__name__} calling {self._url}") from None
        elapsed = (time.perf_counter() - started) * 1000
        return read_answer(reply.status_code, reply.content, elapsed)

    def login(self, login: str, password: str) -> RumAnswer:
        return self.send(login_request(login, password))

    def profile(self, *, erid: str | None = None, login: str | None = None) -> RumAnswer:
        return self.send(profile_request(erid=erid, login=login))

    def session(self, token: str) -> RumAnswer:
        return self.send(session_request(token))

    def create(
        self,
        *,
        email: str,
        password: str,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> RumAnswer:
        return self.send(
            create_request(
                email=email, password=password, first_name=first_name, last_name=last_name
            )
        )


class RumUnreachable(Exception):
    """The bridge did not answer at all (refused, timed out, bad URL)."""
