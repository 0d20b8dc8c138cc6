"""The kinds of value a setting holds, and the checks the settings models share.

Each kind says how an empty value reads (an empty value means the default; for optional
settings, none), refuses what pydantic's lax mode would let through silently (``true`` as a
number), and turns JSON shapes into the immutable types the code uses (lists into tuples).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticUseDefault
from sqlalchemy.engine import make_url


def problem(message: str) -> PydanticCustomError:
    """A validation error whose message is ours, word for word (see settings._describe)."""
    # The message goes in through the context: a template would read braces as placeholders.
    return PydanticCustomError("setting", "{message}", {"message": message})


def each(values: Iterable[str], test: Callable[[str], bool], message: str) -> None:
    """Name every item of a list that fails ``test`` (``TOKEN_ENCRYPTION_KEYS[1]: ...``)."""
    errors = [
        InitErrorDetails(type=problem(message), loc=(index,), input=None)  # no secret in it
        for index, value in enumerate(values)
        if not test(value)
    ]
    if errors:
        raise ValidationError.from_exception_data("settings", errors)


def raise_all(error: ValidationError | None, found: list[tuple[str, str]]) -> None:
    """Raise pydantic's ``error`` (if any) and our ``found`` (field, message) as one error."""
    if not found:
        return
    details = [
        InitErrorDetails(
            type=PydanticCustomError(
                item["type"], "{message}", {**item.get("ctx", {}), "message": item["msg"]}
            ),
            loc=item["loc"],
            input=item["input"],
        )
        for item in (error.errors() if error is not None else [])
    ]
    details += [
        InitErrorDetails(type=problem(message), loc=(key,), input=None) for key, message in found
    ]
    raise ValidationError.from_exception_data("settings", details)


def secret(default: Any = ..., **options: Any) -> Any:
    """A field that holds a secret: kept out of repr, masked by ``sso-bridge config``."""
    return Field(default, repr=False, json_schema_extra={"secret": "value"}, **options)


def secret_url(default: Any, **options: Any) -> Any:
    """A URL that may embed a password: kept out of repr, its password masked."""
    return Field(default, repr=False, json_schema_extra={"secret": "url"}, **options)


# --- how each kind of value reads -----------------------------------------------------------


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _or_default(value: Any) -> Any:
    if _unset(value):
        raise PydanticUseDefault()
    return value


def _or_none(value: Any) -> Any:
    return None if _unset(value) else value


def _column(value: Any) -> Any:
    return None if _unset(value) or value is False else value  # an empty value switches it off


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise problem("must be an integer")
    return _or_default(value)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise problem("must be a number")
    return _or_default(value)


def _string_list(value: Any) -> tuple[str, ...]:
    if _unset(value):
        raise PydanticUseDefault()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) and item for item in value
    ):
        raise problem('must be a JSON list of non-empty strings, e.g. ["a", "b"]')
    return tuple(value)


def _login_columns(value: Any) -> tuple[str, ...]:
    columns = _string_list(value)
    if not columns:
        raise PydanticUseDefault()
    return columns


def _string_map(value: Any) -> dict[str, str]:
    if _unset(value):
        raise PydanticUseDefault()
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise problem('must be a JSON object of non-empty strings, e.g. {"user": "password"}')
    return dict(value)


def _value_map(value: Any) -> dict[str, Any]:
    if _unset(value):
        raise PydanticUseDefault()
    if not isinstance(value, Mapping):
        raise problem("must be a JSON object of column: value")
    return dict(value)


Text = Annotated[str, BeforeValidator(_or_default)]
OptionalText = Annotated[str | None, BeforeValidator(_or_none)]
Column = Annotated[str | None, BeforeValidator(_column)]
Int = Annotated[int, BeforeValidator(_integer)]
Float = Annotated[float, BeforeValidator(_number)]
Flag = Annotated[bool, BeforeValidator(_or_default)]
StringList = Annotated[tuple[str, ...], BeforeValidator(_string_list)]
LoginColumns = Annotated[tuple[str, ...], BeforeValidator(_login_columns)]
StringMap = Annotated[Mapping[str, str], BeforeValidator(_string_map)]
ValueMap = Annotated[Mapping[str, Any], BeforeValidator(_value_map)]


# --- checks ---------------------------------------------------------------------------------


def is_database_url(value: str) -> bool:
    try:
        make_url(value)
    except Exception:  # SQLAlchemy raises ArgumentError and friends for any malformed URL
        return False
    return True


def is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def is_strict_network(value: str) -> bool:
    """An address or a network without host bits, as gunicorn's forwarded_allow_ips wants."""
    try:
        ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


def is_token_key(value: str) -> bool:
    from sso_bridge.dr.sealing import parse_token_key

    try:
        parse_token_key(value)
    except ValueError:
        return False
    return True


def password_scheme_known(name: str) -> bool:
    from sso_bridge.directory.passwords import PasswordHasher

    try:
        PasswordHasher(new_scheme=name)
    except ValueError:
        return False
    return True


def is_http_url(value: str) -> bool:
    parsed = urlsplit(value)
    return parsed.scheme in {"http", "https"} and bool(parsed.hostname)


def is_bind_address(value: str) -> bool:
    """gunicorn's forms: ``HOST:PORT`` (``[::1]:8080`` too), ``unix:PATH``, ``fd://N``."""
    if value.startswith(("unix:", "fd://")):
        return len(value) > len("unix:")
    host, _, port = value.rpartition(":")
    return bool(host) and port.isdigit() and int(port) <= 65535
