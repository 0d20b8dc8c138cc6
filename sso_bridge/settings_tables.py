"""The tables of settings: ``[directory]``, ``[rum_password_encryption]``, private-store rules.

Each model is the one statement of its keys, their types, defaults and checks. A check that
compares keys runs on the key it names, once the keys it reads have been validated (pydantic
validates in declaration order and gives a validator the fields read so far), so that every
problem is found in one pass, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sso_bridge import settings_types as checks
from sso_bridge.settings_types import (
    Column,
    Flag,
    Float,
    LoginColumns,
    OptionalText,
    Text,
    ValueMap,
    problem,
    secret,
    secret_url,
)


def any_case(model: type[BaseModel], data: Any) -> Any:
    """Keys in any case (``url``, ``URL``); unknown keys pass through for `extra="forbid"`."""
    if not isinstance(data, Mapping):
        return data
    names = {name.upper(): name for name in model.model_fields}
    return {names.get(str(key).upper(), key): value for key, value in data.items()}


class _Table(BaseModel):
    """A table of settings (``[directory]``): immutable, keys in any case, no unknown key."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _keys_in_any_case(cls, data: Any) -> Any:
        return any_case(cls, data)


class DirectorySettings(_Table):
    """Where the merchant's users live and how its table is laid out."""

    # backend "http": the merchant's login API (sso_bridge.directory.http) instead of a table.
    backend: Text = "sql"
    url: Annotated[str, BeforeValidator(lambda v: "" if v is None else v)] = secret_url(
        "", validate_default=True
    )  # may embed a database password
    table: Text = "users"
    key_column: Text = "id"
    login_columns: LoginColumns = ("email",)
    password_column: Text = "password"  # noqa: S105 (a column name)
    email_column: Column = "email"
    first_name_column: Column = "first_name"
    last_name_column: Column = "last_name"
    active_column: Column = "active"
    phone_column: Column = None
    locale_column: Column = None
    new_password_scheme: Text = "argon2"  # noqa: S105 (a hash scheme)
    upgrade_hashes: Flag = False
    create_defaults: ValueMap = Field(default_factory=dict)
    api_url: OptionalText = secret_url(None, validate_default=True)  # may embed credentials
    api_password: OptionalText = secret(None)
    api_username: OptionalText = Field(default=None, validate_default=True)
    api_token: OptionalText = secret(None, validate_default=True)
    api_timeout: Float = Field(default=2.0, ge=0.05)

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        value = value.lower()
        if value not in {"sql", "http"}:
            raise problem("must be sql or http")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("backend") == "sql":
            raise problem("is required")  # the login API (backend http) replaces the table
        if value and not checks.is_database_url(value):
            raise problem("is not a SQLAlchemy database URL")
        return value

    @field_validator("new_password_scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not checks.password_scheme_known(value):
            raise problem(
                "is not a supported password hash scheme (e.g. argon2, bcrypt, "
                "django_pbkdf2_sha256)"
            )
        return value

    # Backend "http": the URL and one kind of credentials are required. Each check runs on the
    # field it names, once the fields it compares have been read (declaration order).
    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("backend") == "http":
            if not value:
                raise problem("is required")
            if not checks.is_http_url(value):
                raise problem("must be an http(s):// URL")
        return value

    @field_validator("api_username")
    @classmethod
    def _api_username(cls, value: str | None, info: ValidationInfo) -> str | None:
        paired = "api_password" not in info.data or bool(value) == bool(info.data["api_password"])
        if info.data.get("backend") == "http" and not paired:
            raise problem("API_USERNAME and API_PASSWORD go together")
        return value

    @field_validator("api_token")
    @classmethod
    def _api_token(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("backend") != "http" or not {"api_username", "api_password"} <= set(
            info.data
        ):
            return value
        basic = info.data["api_username"] is not None or info.data["api_password"] is not None
        if value and basic:
            raise problem("set API_TOKEN or API_USERNAME/API_PASSWORD, not both")
        if not value and not basic:
            raise problem("is required (or API_USERNAME and API_PASSWORD)")
        return value


class PasswordEncryptionSettings(_Table):
    """How DR encrypts the RUM ``password`` element (absent: plain text)."""

    key: Text = secret()
    mode: Text = "cbc"
    iv: Text = "prefix"
    encoding: Text = "base64"

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        from sso_bridge.rum.password_cipher import parse_key

        try:
            parse_key(value)
        except ValueError as exc:
            raise problem(str(exc)) from None
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in {"cbc", "gcm", "ecb"}:
            raise problem("must be cbc, gcm or ecb")
        return value

    @field_validator("iv")
    @classmethod
    def _iv(cls, value: str) -> str:
        from sso_bridge.rum.password_cipher import parse_iv

        try:
            parse_iv(value)  # else a bad IV would only surface later, as a bare ValueError
        except ValueError as exc:
            raise problem(str(exc)) from None
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        if value not in {"base64", "hex"}:
            raise problem("must be base64 or hex")
        return value


class PrivateStoreRule(BaseModel):
    """One private-store rule; configured as JSON with camelCase keys (``emailDomain``)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        coerce_numbers_to_str=True,  # a purchase plan id may be written as a JSON number
    )

    ip_range: str | None = None
    email_domain: str | None = None
    email_address: str | None = None
    search: bool = False
    purchase_plan_id: str | None = None
    target_market_id: str | None = None


class _ConfiguredRule(PrivateStoreRule):
    """The rules a configured rule must meet (the matching code itself takes any rule)."""

    model_config = ConfigDict(validate_default=True)

    @field_validator("ip_range")
    @classmethod
    def _no_ip_range(cls, value: str | None) -> str | None:
        if value:
            # A token request carries no shopper address to match, so such a rule could never
            # apply: refuse it rather than let it silently do nothing.
            raise problem("ipRange rules are not supported yet (use emailDomain or emailAddress)")
        return value

    @field_validator("email_address")
    @classmethod
    def _matches_someone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "ip_range" in info.data and not (value or info.data.get("email_domain")):
            raise problem("needs emailDomain or emailAddress")
        return value

    @field_validator("purchase_plan_id")
    @classmethod
    def _has_a_plan(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "search" in info.data and not (value or info.data["search"]):
            raise problem('needs "purchasePlanId" or "search": true')
        return value


_CONFIGURED_RULES = TypeAdapter(list[_ConfiguredRule])


def configured_rules(value: Any) -> Any:
    """Settings.private_stores: check each configured rule, naming every problem."""
    if value is None or value == "":
        return ()
    if not isinstance(value, list | tuple):
        raise problem("must be a JSON list of rules")
    if all(isinstance(rule, PrivateStoreRule) for rule in value):
        return value  # built in code, not configured
    return [rule.model_dump() for rule in _CONFIGURED_RULES.validate_python(value)]
