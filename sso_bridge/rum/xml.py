"""RUM XML: bytes -> `RumDocument` and `RumResponse` -> bytes. No Flask, SQL or redis here.

Parsing (rum.md "Transport"):

- ``defusedxml`` with DTDs forbidden, so a DTD, an entity declaration, an external reference or a
  billion-laughs document is refused before any expansion. Nesting deeper than ``max_depth`` is
  refused *while* parsing (the tree builder counts), not after building the tree.
- Elements match on local names (namespaces and prefixes ignored), ``xsi:type`` is ignored,
  ``xsi:nil="true"|"1"`` (any XSI namespace version) and empty / whitespace-only elements are absent
  (``None``), child order is free and unknown elements are ignored.
- A known child that occurs twice under the same parent (two ``loginID``, two ``password``) is
  refused: silently picking one of two conflicting credentials invites parser-differential bugs.
- Leaf text is stripped, except ``password``, which is kept exactly as received (only an empty
  element counts as absent; a whitespace-only password is kept). XML itself normalises line ends
  (CR LF -> LF) in text content.
- A SOAP 1.1 or 1.2 ``Envelope`` is unwrapped (the first element child of ``Body`` is the
  operation; ``Header`` is skipped) and remembered in `RumDocument.soap`.
- ``RumDocument.namespace`` is the operation element's namespace, or ``RUM_NAMESPACE`` when it has
  none, so the answer always carries a namespace.
- Errors are `RumXmlError` with a short, fixed ``description``: never the body, a value or the
  parser's own message (raised ``from None`` so no chained exception carries body text either).

Rendering writes the response root as ``ns1:<Name>`` in the given namespace, unqualified children in
the orders documented in `sso_bridge.rum.messages`, UTF-8 with an XML declaration, and no
``xsi:type``. ``xmlns:xsi`` is declared only when ``xsi:nil`` is used (a nil ``userInfo``).
Characters XML 1.0 cannot carry (C0 controls other than tab/CR/LF, lone surrogates, U+FFFE/U+FFFF)
are replaced by U+FFFD so the output is always well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Final

# parsing goes through defusedxml; ElementTree only builds and serialises here
from xml.etree.ElementTree import (
    Element,
    ParseError,
    SubElement,
    TreeBuilder,
    tostring,
)

from defusedxml.ElementTree import DefusedXMLParser

from sso_bridge.rum.messages import (
    RUM_NAMESPACE,
    Address,
    Attribute,
    CreateUserProfileRequest,
    GetUserProfileRequest,
    LoginRequest,
    LoginResponse,
    RumDocument,
    RumRequest,
    RumResponse,
    SoapVersion,
    UserInfo,
    UserKey,
    ValidateSessionRequest,
)

__all__ = [
    "SOAP_NAMESPACES",
    "RumXmlError",
    "UnknownOperation",
    "parse_document",
    "render_document",
]

SOAP_NAMESPACES: Final[dict[SoapVersion, str]] = {
    "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
    "1.2": "http://www.w3.org/2003/05/soap-envelope",
}
_SOAP_BY_URI: Final[dict[str, SoapVersion]] = {uri: v for v, uri in SOAP_NAMESPACES.items()}
XSI_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema-instance"


class RumXmlError(Exception):
    """The body is not a RUM request we can read. ``description`` is safe to log and to return."""

    code: str = "invalid-request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class UnknownOperation(RumXmlError):
    """Well-formed XML whose (unwrapped) root is not a RUM operation we implement."""

    def __init__(self, element_name: str) -> None:
        super().__init__("unsupported operation")
        #: the root's local name (an XML name, so no control characters), truncated for logs
        self.element_name = element_name[:64]


class _TooDeep(Exception):
    pass


class _DepthLimitedBuilder(TreeBuilder):
    """Refuses documents nested deeper than ``max_depth`` while they are being parsed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self._depth = 0
        self._max_depth = max_depth

    def start(self, tag: str | Callable[..., Element], attrs: dict[str, str], /) -> Element:
        self._depth += 1
        if self._depth > self._max_depth:
            raise _TooDeep
        return super().start(tag, attrs)

    def end(self, tag: str, /) -> Element:
        self._depth -= 1
        return super().end(tag)


# --- parsing ---------------------------------------------------------------------------------

_DECLARES_ENCODING = re.compile(rb"<\?xml[^>]{0,200}?encoding", re.ASCII)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def parse_document(body: bytes, *, max_depth: int = 32, charset: str | None = None) -> RumDocument:
    """Parse a RUM request. Raises `RumXmlError` (or `UnknownOperation`) and nothing else.

    ``charset`` (from the HTTP Content-Type) is used only when the document has neither a BOM nor an
    encoding declaration; otherwise the document's own declaration wins (UTF-8 by default).
    Size limits belong to the HTTP layer (413) before this is called.
    """
    if not body or body.isspace():
        raise RumXmlError("empty body")
    root = _parse_xml(body, max_depth, charset)
    namespace, local = _split(root.tag)
    soap: SoapVersion | None = None
    operation = root
    if local == "Envelope" and namespace in _SOAP_BY_URI:
        soap = _SOAP_BY_URI[namespace]
        operation = _soap_operation(root)
        namespace, local = _split(operation.tag)
    reader = _OPERATIONS.get(local)
    if reader is None:
        raise UnknownOperation(local)
    request = reader(_Fields(operation), local)
    return RumDocument(request=request, namespace=namespace or RUM_NAMESPACE, soap=soap)


def _parse_xml(body: bytes, max_depth: int, charset: str | None) -> Element:
    encoding = None
    if charset and charset.strip().lower() not in ("utf-8", "utf8"):
        head = body[:256].lstrip()
        if not head.startswith(_BOMS) and not _DECLARES_ENCODING.match(head):
            encoding = charset.strip()
    try:
        parser = DefusedXMLParser(
            target=_DepthLimitedBuilder(max_depth),
            encoding=encoding,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        parser.feed(body)
        root: Element = parser.close()
    except _TooDeep:
        raise RumXmlError(f"document nested deeper than {max_depth} elements") from None
    except ParseError:
        raise RumXmlError("body is not well-formed XML") from None
    except ValueError:  # defusedxml's DTDForbidden / EntitiesForbidden / ..., encoding problems
        raise RumXmlError("DTDs, entities and external references are not allowed") from None
    except LookupError:
        raise RumXmlError("unsupported character encoding") from None
    return root


def _soap_operation(envelope: Element) -> Element:
    for child in envelope:
        if _local(child.tag) == "Body":
            for operation in child:
                return operation
            raise RumXmlError("SOAP Body is empty")
    raise RumXmlError("SOAP Envelope has no Body")


def _split(tag: str) -> tuple[str, str]:
    if tag[:1] == "{":
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _is_nil(element: Element) -> bool:
    if not element.attrib:
        return False
    for name, value in element.attrib.items():
        # any XSI version (2001, and the 1999/2000 drafts older SOAP toolkits still send)
        if name.endswith("}nil") and value.strip() in ("true", "1"):
            return True
    return False


class _Fields:
    """The element children of one element by local name; known duplicates are refused on use."""

    __slots__ = ("_children", "_duplicates")

    def __init__(self, element: Element | None) -> None:
        children: dict[str, Element] = {}
        duplicates: set[str] = set()
        if element is not None:
            for child in element:
                name = _local(child.tag)
                if name in children:
                    duplicates.add(name)
                else:
                    children[name] = child
        self._children = children
        self._duplicates = duplicates

    def __bool__(self) -> bool:
        return bool(self._children)

    def element(self, name: str) -> Element | None:
        """The child ``name``, or None when missing or ``xsi:nil``."""
        if name in self._duplicates:
            raise RumXmlError(f"element {name} occurs more than once")
        child = self._children.get(name)
        if child is None or _is_nil(child):
            return None
        return child

    def fields(self, name: str) -> _Fields | None:
        child = self.element(name)
        return None if child is None else _Fields(child)

    def text(self, name: str) -> str | None:
        child = self.element(name)
        if child is None or child.text is None:
            return None
        return child.text.strip() or None

    def raw_text(self, name: str) -> str | None:
        """Verbatim text (passwords): only an empty element is absent."""
        child = self.element(name)
        if child is None:
            return None
        return child.text or None

    def items(self, name: str) -> Iterable[Element]:
        child = self.element(name)
        return () if child is None else child


_USER_KEY_FIELDS: Final = (
    ("userID", "user_id"),
    ("externalReferenceID", "external_reference_id"),
    ("companyID", "company_id"),
    ("loginID", "login_id"),
    ("siteID", "site_id"),
)
# Answers follow DR's LoginResponse sample: loginID, externalReferenceID, siteID (userID and
# companyID, when we have them, around those).
_RESPONSE_USER_KEY_FIELDS: Final = (
    ("userID", "user_id"),
    ("companyID", "company_id"),
    ("loginID", "login_id"),
    ("externalReferenceID", "external_reference_id"),
    ("siteID", "site_id"),
)
_ADDRESS_FIELDS: Final = (
    ("name1", "name1"),
    ("name2", "name2"),
    ("companyName", "company_name"),
    ("line1", "line1"),
    ("line2", "line2"),
    ("line3", "line3"),
    ("city", "city"),
    ("state", "state"),
    ("postalCode", "postal_code"),
    ("country", "country"),
    ("countryName", "country_name"),
    ("email", "email"),
    ("phoneNumber", "phone_number"),
)
_USER_INFO_TEXT_FIELDS: Final = (
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("email", "email"),
    ("homePhone", "home_phone"),
    ("locale", "locale"),
)


def _read_user_key(fields: _Fields) -> UserKey:
    return UserKey(**{attr: fields.text(tag) for tag, attr in _USER_KEY_FIELDS})


def _user_key(fields: _Fields) -> UserKey | None:
    """``userKey`` child; leniently, the key fields placed directly under ``fields``."""
    nested = fields.fields("userKey")
    if nested is not None:
        return _read_user_key(nested)
    flat = _read_user_key(fields)
    return None if flat == UserKey() else flat


def _address(fields: _Fields, name: str) -> Address | None:
    nested = fields.fields(name)
    if nested is None:
        return None
    address = Address(**{attr: nested.text(tag) for tag, attr in _ADDRESS_FIELDS})
    return None if address == Address() else address


def _attributes(fields: _Fields) -> tuple[Attribute, ...]:
    """``extendedAttributes``: every element child (normally ``item``) with a ``name``."""
    attributes = []
    for item in fields.items("extendedAttributes"):
        if _is_nil(item):
            continue
        item_fields = _Fields(item)
        name = item_fields.text("name")
        if name is None:
            continue
        attributes.append(
            Attribute(
                name=name,
                value=item_fields.text("value"),
                value_data_type=item_fields.text("valueDataType") or "string",
            )
        )
    return tuple(attributes)


def _read_login(fields: _Fields, name: str) -> RumRequest:
    return LoginRequest(
        user_key=_user_key(fields) or UserKey(),
        password=fields.raw_text("password"),
        extended_attributes=_attributes(fields),
        element_name=name,
    )


def _read_get_user(fields: _Fields, name: str) -> RumRequest:
    return GetUserProfileRequest(
        user_key=_user_key(fields) or UserKey(),
        session_token=fields.text("sessionToken"),
        extended_attributes=_attributes(fields),
        element_name=name,
    )


def _read_validate_session(fields: _Fields, name: str) -> RumRequest:
    return ValidateSessionRequest(
        session_token=fields.text("sessionToken"),
        user_key=_user_key(fields),
        extended_attributes=_attributes(fields),
        element_name=name,
    )


def _read_create_user(fields: _Fields, name: str) -> RumRequest:
    """``userInfo`` children; each one missing there is looked for directly under the root."""
    info = fields.fields("userInfo") or _Fields(None)
    values: dict[str, str | None] = {}
    for tag, attr in _USER_INFO_TEXT_FIELDS:
        value = info.text(tag)
        values[attr] = fields.text(tag) if value is None else value
    password = fields.raw_text("password")
    if password is None:
        password = info.raw_text("password")
    user_info = UserInfo(
        user_key=_user_key(info) or _user_key(fields) or UserKey(),
        shipping_address=_address(info, "shippingAddress") or _address(fields, "shippingAddress"),
        billing_address=_address(info, "billingAddress") or _address(fields, "billingAddress"),
        **values,
    )
    return CreateUserProfileRequest(
        user_info=user_info,
        password=password,
        extended_attributes=_attributes(fields),
        element_name=name,
    )


_OPERATIONS: Final[dict[str, Callable[[_Fields, str], RumRequest]]] = {
    "LoginRequest": _read_login,
    "GetUserProfileRequest": _read_get_user,
    "GetUserRequest": _read_get_user,
    "ValidateSessionRequest": _read_validate_session,
    "SessionValidationRequest": _read_validate_session,
    "RemoteSessionValidationRequest": _read_validate_session,
    "CreateUserProfileRequest": _read_create_user,
    "CreateUserRequest": _read_create_user,
}


# --- rendering -------------------------------------------------------------------------------

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _leaf(parent: Element, tag: str, text: str | None) -> None:
    child = SubElement(parent, tag)
    if text:
        child.text = _NOT_XML_CHAR.sub("\ufffd", text)


def _optional(parent: Element, tag: str, text: str | None) -> None:
    if text is not None:
        _leaf(parent, tag, text)


def _render_user_key(parent: Element, key: UserKey) -> None:
    element = SubElement(parent, "userKey")
    for tag, attr in _RESPONSE_USER_KEY_FIELDS:
        _optional(element, tag, getattr(key, attr))


def _render_address(parent: Element, tag: str, address: Address | None) -> None:
    if address is None:
        return
    element = SubElement(parent, tag)
    for child_tag, attr in _ADDRESS_FIELDS:
        _optional(element, child_tag, getattr(address, attr))


def _render_user_info(parent: Element, info: UserInfo) -> None:
    element = SubElement(parent, "userInfo")
    _render_user_key(element, info.user_key)
    for tag, attr in _USER_INFO_TEXT_FIELDS:
        _optional(element, tag, getattr(info, attr))
    _render_address(element, "shippingAddress", info.shipping_address)
    _render_address(element, "billingAddress", info.billing_address)


def _render_attributes(parent: Element, attributes: tuple[Attribute, ...]) -> None:
    if not attributes:
        return
    element = SubElement(parent, "extendedAttributes")
    for attribute in attributes:
        item = SubElement(element, "item")
        _leaf(item, "name", attribute.name)
        _leaf(item, "value", attribute.value)
        _leaf(item, "valueDataType", attribute.value_data_type)


def render_document(response: RumResponse, *, namespace: str, soap: SoapVersion | None) -> bytes:
    """Serialise ``response`` (UTF-8, XML declaration), inside a SOAP envelope if ``soap``.

    An empty ``namespace`` renders an unqualified root (``xmlns:ns1=""`` is not legal XML 1.0).
    """
    if namespace:
        root = Element(f"ns1:{response.element_name}", {"xmlns:ns1": namespace})
    else:
        root = Element(response.element_name)
    if isinstance(response, LoginResponse):
        _leaf(root, "successful", "true" if response.successful else "false")
        _optional(root, "errorCode", response.error_code)
        _optional(root, "errorMessage", response.error_message)
        if response.user_key is not None:
            _render_user_key(root, response.user_key)
    else:
        if response.user_info is None:
            root.set("xmlns:xsi", XSI_NAMESPACE)
            SubElement(root, "userInfo", {"xsi:nil": "true"})
        else:
            _render_user_info(root, response.user_info)
        _leaf(root, "errorMessage", response.error_message)
    _render_attributes(root, response.extended_attributes)
    top = root
    if soap is not None:
        top = Element("soap:Envelope", {"xmlns:soap": SOAP_NAMESPACES[soap]})
        SubElement(top, "soap:Body").append(root)
    document: bytes = tostring(top, encoding="utf-8", xml_declaration=True)
    return document
