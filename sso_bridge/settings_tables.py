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
    ModelWrapValidatorHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sso_bridge import settings_types as checks
from sso_bridge.directory.mapping import parse_join, reference_problem
from sso_bridge.directory.presets import PRESETS, preset_names
from sso_bridge.settings_types import (
    Column,
    Flag,
    Float,
    LoginColumns,
    OptionalText,
    StringList,
    StringMap,
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
    # A platform's table layout in one word (sso_bridge/directory/presets.py); every setting
    # given explicitly wins over the preset's value.
    preset: OptionalText = None
    # Replaces the preset's default prefix (wp_, ps_, oc_; Joomla's is chosen at install).
    table_prefix: OptionalText = Field(default=None, validate_default=True)
    table: Text = "users"
    key_column: Text = "id"
    login_columns: LoginColumns = ("email",)
    password_column: Text = "password"  # noqa: S105 (a column name)
    salt_column: Column = None  # a per-row salt kept beside the hash (OpenCart, ASP.NET)
    email_column: Column = "email"
    first_name_column: Column = "first_name"
    last_name_column: Column = "last_name"
    active_column: Column = "active"
    blocked_column: Column = None  # true means the account may not sign in (Joomla's block)
    phone_column: Column = None
    locale_column: Column = None
    joins: StringMap = Field(default_factory=dict)  # related table: "their_col=our_col"
    new_password_scheme: Text = "argon2"  # noqa: S105 (a hash scheme)
    password_prefer: StringList = ()  # schemes tried first where hash shapes coincide
    pepper: OptionalText = secret(None)  # a site-wide secret in every hash (PrestaShop 1.6)
    registrations: Flag = True  # False: CreateUserProfileRequest is refused, nothing written
    upgrade_hashes: Flag = False
    create_defaults: ValueMap = Field(default_factory=dict)
    api_url: OptionalText = secret_url(None, validate_default=True)  # may embed credentials
    api_token: OptionalText = secret(None)
    api_username: OptionalText = None
    api_password: OptionalText = secret(None)
    api_timeout: Float = Field(default=2.0, ge=0.05)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        # Runs on the raw input, so a preset fills only what the operator left out and the
        # usual checks then run on the merged values.
        if not isinstance(data, Mapping):
            return data
        data = any_case(cls, data)
        preset = PRESETS.get(str(data.get("preset") or "").strip().lower())
        if preset is None:
            return data  # no preset, or an unknown one (named by the field's check)
        prefix = data.get("table_prefix")
        given = {
            key
            for key, value in data.items()
            if value is not None and (value != "" or key in _SWITCHES)
        }
        if prefix is None or prefix == "":
            prefix = preset.prefix or ""
        filled = {
            key: value for key, value in preset.settings(str(prefix)).items() if key not in given
        }
        return {**filled, **data, **{key: filled[key] for key in filled if key in data}}

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value not in PRESETS:
            raise problem(f"is not a preset; choose one of {preset_names()}")
        return value

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "preset" not in info.data:
            return value  # the preset itself is wrong, and named
        name = info.data["preset"]
        if value is not None and not name:
            raise problem("applies to a preset's tables; without PRESET, set TABLE in full")
        preset = PRESETS.get(name or "")
        if preset is not None and preset.prefix is None and value is None:
            raise problem(
                f"is required for preset {name} (the prefix its installer chose, e.g. abcde_)"
            )
        return value

    @field_validator("upgrade_hashes")
    @classmethod
    def _upgrade_readable(cls, value: bool, info: ValidationInfo) -> bool:
        preset = PRESETS.get(info.data.get("preset") or "")
        if value and preset is not None and preset.upgrade_refusal:
            raise problem(
                f"must stay off for preset {info.data['preset']}: {preset.upgrade_refusal}"
            )
        return value

    @field_validator("password_prefer")
    @classmethod
    def _prefer(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from sso_bridge.directory.passwords import PasswordHasher

        try:
            PasswordHasher(prefer=value)
        except ValueError as exc:
            raise problem(str(exc)) from None
        return value

    @field_validator("joins")
    @classmethod
    def _joins(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        for join in value.values():
            try:
                parse_join(join)
            except ValueError as exc:
                raise problem(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _references(self) -> DirectorySettings:
        joins = self.joins
        found = [
            (name, reason)
            for name, reference, related_ok in self._references_named()
            if (reason := reference_problem(reference, joins, related_ok=related_ok))
        ]
        checks.raise_all(None, found)
        return self

    def _references_named(self) -> list[tuple[str, str, bool]]:
        """(setting, column reference, may it name a related table's column)."""
        named = [
            ("key_column", self.key_column, False),
            ("password_column", self.password_column, False),
            ("salt_column", self.salt_column, False),
        ]
        named += [("login_columns", column, True) for column in self.login_columns]
        named += [
            (name, getattr(self, name), True)
            for name in (
                "email_column",
                "first_name_column",
                "last_name_column",
                "phone_column",
                "locale_column",
                "active_column",
                "blocked_column",
            )
        ]
        named += [("create_defaults", name, True) for name in self.create_defaults if "." in name]
        return [(name, value, ok) for name, value, ok in named if value]

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
        if not value and info.data.get("backend") != "http":
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

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("backend") == "http":
            if not value:
                raise problem("is required")
            if not checks.is_http_url(value):
                raise problem("must be an http(s):// URL")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _one_kind_of_credentials(
        cls, data: Any, handler: ModelWrapValidatorHandler[DirectorySettings]
    ) -> DirectorySettings:
        # Three keys, problems named on two of them: read from the input, so that they are
        # reported together with every other problem, not only once the rest is valid.
        found = _credential_problems(any_case(cls, data)) if isinstance(data, Mapping) else []
        try:
            directory = handler(data)
        except ValidationError as exc:
            checks.raise_all(exc, found)
            raise
        checks.raise_all(None, found)
        return directory


def _credential_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Backend "http" takes a bearer token or Basic credentials: one kind, whole."""
    if str(data.get("backend") or "sql").lower() != "http":
        return []
    token, username, password = (data.get(key) or None for key in _CREDENTIALS)
    basic = username is not None or password is not None
    if token and basic:
        return [("api_token", "set API_TOKEN or API_USERNAME/API_PASSWORD, not both")]
    if basic and not (username and password):
        return [("api_username", "API_USERNAME and API_PASSWORD go together")]
    if not token and not basic:
        return [("api_token", "is required (or API_USERNAME and API_PASSWORD)")]
    return []


_CREDENTIALS = ("api_token", "api_username", "api_password")

# Optional columns: an empty value switches the column off, so it overrides a preset too.
_SWITCHES = frozenset(
    {
        "salt_column",
        "email_column",
        "first_name_column",
        "last_name_column",
        "active_column",
        "blocked_column",
        "phone_column",
        "locale_column",
    }
)


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
