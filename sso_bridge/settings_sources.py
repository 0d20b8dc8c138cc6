"""Where settings come from: ``SSO_BRIDGE_*`` variables over an optional TOML file.

The environment follows Flask's ``from_prefixed_env``: values are parsed as JSON when they are
JSON, nested keys are joined with ``__`` (``SSO_BRIDGE_DIRECTORY__URL``). The file named by
``SSO_BRIDGE_CONFIG`` holds the same keys in any case (``[directory] url = ...``). The
environment wins variable by variable: ``SSO_BRIDGE_DIRECTORY__URL`` replaces one key of the
file's ``[directory]`` table, while ``SSO_BRIDGE_RUM_USERS`` replaces the whole table of users.

pydantic-settings' own environment source is not used here because it differs from that
contract (it decodes JSON only for list, dict and model fields, merges mappings instead of
replacing them, and never sees a variable that names no setting); each layer is kept apart so
that unknown keys can be named where they were written and `sso-bridge config` can say where
each value came from.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

PREFIX = "SSO_BRIDGE_"
CONFIG_VARIABLE = PREFIX + "CONFIG"
# Ours but not settings: the file's name, and the test suite's service URLs (tests/conftest.py).
_NOT_SETTINGS = ("CONFIG",)
# SSO_BRIDGE_TEST_*: the test suite's own; SSO_BRIDGE_PROBE_*: `sso-bridge probe`'s options.
_NOT_SETTINGS_PREFIXES = ("TEST_", "PROBE_")

KeyPath = tuple[str | int, ...]


def is_setting_variable(name: str) -> bool:
    """Whether ``name`` is an ``SSO_BRIDGE_*`` variable that should name a setting."""
    if not name.startswith(PREFIX):
        return False
    rest = name.removeprefix(PREFIX)
    return rest not in _NOT_SETTINGS and not rest.startswith(_NOT_SETTINGS_PREFIXES)


class RawSettings(dict[str, Any]):
    """The merged mapping `load_settings` validates, with each layer kept for provenance."""

    def __init__(
        self,
        merged: Mapping[str, Any],
        environment: Mapping[str, Any],
        file: Mapping[str, Any],
        file_name: str | None,
    ) -> None:
        super().__init__(merged)
        self.environment = environment
        self.file = file
        self.file_name = file_name

    def source_of(self, path: KeyPath) -> str:
        """``environment``, ``file`` or ``default``: which layer set the value at ``path``."""
        if _provides(self.environment, path):
            return "environment"
        if _provides(self.file, path):
            return "file"
        return "default"


def _provides(layer: Mapping[str, Any], path: KeyPath) -> bool:
    value: Any = layer
    for part in path:
        if not isinstance(value, Mapping):
            return True  # a whole value higher up (e.g. a JSON object for a table) covers it
        if part not in value:
            return False
        value = value[part]
    return True


def upper_keys(data: Mapping[str, Any], sections: Collection[str]) -> dict[str, Any]:
    """Upper-case the keys of ``data`` and of its ``sections`` tables; other mappings are data
    (RUM users, create defaults) and keep their keys exactly."""
    upper: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).upper()
        if name in sections and isinstance(value, Mapping):
            value = {str(inner).upper(): item for inner, item in value.items()}
        upper[name] = value
    return upper


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _set(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        existing = target.get(part)
        if not isinstance(existing, dict):
            existing = {}
            target[part] = existing
        target = existing
    target[path[-1]] = value


def _read_file(file_name: str) -> dict[str, Any]:
    from sso_bridge.settings import SettingsError

    try:
        with Path(file_name).open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError([f"CONFIG: cannot read {file_name}: {exc}"]) from exc


def read_layers(environ: Mapping[str, str] | None, sections: Collection[str]) -> RawSettings:
    """Read the TOML file (if named) and every ``SSO_BRIDGE_*`` setting variable."""
    environ = os.environ if environ is None else environ
    file_name = environ.get(CONFIG_VARIABLE) or None
    file = upper_keys(_read_file(file_name), sections) if file_name else {}
    merged = copy.deepcopy(file)
    environment: dict[str, Any] = {}
    for name, value in environ.items():
        if not is_setting_variable(name):
            continue
        path = name.removeprefix(PREFIX).split("__")
        parsed = _parse_env_value(value)
        _set(environment, path, parsed)
        _set(merged, path, parsed)
    return RawSettings(
        upper_keys(merged, sections), upper_keys(environment, sections), file, file_name
    )
