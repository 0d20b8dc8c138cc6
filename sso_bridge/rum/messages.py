"""The RUM message model: what DR sends us and what we answer, free of XML, Flask and storage.

`sso_bridge.rum.xml` turns bytes into these objects and back; `sso_bridge.rum.operations` decides
the answers. Field names follow DR's element names in snake_case (``loginID`` -> ``login_id``).
Absent values (missing element, ``xsi:nil="true"``, empty element) are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RUM_NAMESPACE = "http://integration.digitalriver.com/RemoteUserManagement/1.0"
COMMON_NAMESPACE = "http://integration.digitalriver.com/Common/1.0"

SoapVersion = Literal["1.1", "1.2"]


@dataclass(frozen=True)
class UserKey:
    user_id: str | None = None
    external_reference_id: str | None = None
    company_id: str | None = None
    login_id: str | None = None
    site_id: str | None = None


@dataclass(frozen=True)
class Attribute:
    """One ``extendedAttributes/item``."""

    name: str
    value: str | None
    value_data_type: str = "string"


@dataclass(frozen=True)
class Address:
    name1: str | None = None
    name2: str | None = None
    company_name: str | None = None
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    country_name: str | None = None
    email: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True)
class UserInfo:
    user_key: UserKey = field(default_factory=UserKey)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    home_phone: str | None = None
    locale: str | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRequest:
    user_key: UserKey
    password: str | None = field(default=None, repr=False)
    extended_attributes: tuple[Attribute, ...] = ()
    element_name: str = "LoginRequest"


@dataclass(frozen=True)
class GetUserProfileRequest:
    """``GetUserProfileRequest`` or its alias ``GetUserRequest`` (kept in ``element_name``)."""

    user_key: UserKey
    session_token: str | None = field(default=None, repr=False)
    extended_attributes: tuple[Attribute, ...] = ()
    element_name: str = "GetUserProfileRequest"


@dataclass(frozen=True)
class ValidateSessionRequest:
    """Also ``SessionValidationRequest`` / ``RemoteSessionValidationRequest``.

    ``session_token`` is the ``sessionToken`` element; tokens passed as extended attributes stay
    in ``extended_attributes`` (the attribute name is configuration, so operations pick them out).
    """

    session_token: str | None = field(default=None, repr=False)
    user_key: UserKey | None = None
    extended_attributes: tuple[Attribute, ...] = field(default=(), repr=False)
    element_name: str = "ValidateSessionRequest"


@dataclass(frozen=True)
class CreateUserProfileRequest:
    """Also ``CreateUserRequest``."""

    user_info: UserInfo
    password: str | None = field(default=None, repr=False)
    extended_attributes: tuple[Attribute, ...] = ()
    element_name: str = "CreateUserProfileRequest"


RumRequest = (
    LoginRequest | GetUserProfileRequest | ValidateSessionRequest | CreateUserProfileRequest
)


@dataclass(frozen=True)
class RumDocument:
    """A parsed request plus what the answer must mirror: its namespace and SOAP wrapping."""

    request: RumRequest
    namespace: str = RUM_NAMESPACE
    soap: SoapVersion | None = None


# --- responses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResponse:
    """Shape shared by Login, ValidateSession and CreateUserProfile responses.

    Rendered children, in order: successful, errorCode, errorMessage, userKey,
    extendedAttributes (absent ones omitted).
    """

    successful: bool
    user_key: UserKey | None = None
    error_code: str | None = None
    error_message: str | None = None
    extended_attributes: tuple[Attribute, ...] = ()
    element_name: str = "LoginResponse"


@dataclass(frozen=True)
class GetUserProfileResponse:
    """Rendered children, in order: userInfo (``xsi:nil`` when None), errorMessage (always
    present, empty on success), extendedAttributes."""

    user_info: UserInfo | None
    error_message: str = ""
    extended_attributes: tuple[Attribute, ...] = ()
    element_name: str = "GetUserProfileResponse"


RumResponse = LoginResponse | GetUserProfileResponse


def response_name(request_element_name: str) -> str:
    """``GetUserRequest`` -> ``GetUserResponse``: the answer mirrors the name DR used."""
    stem = request_element_name.removesuffix("Request")
    return f"{stem}Response"
