"""Problems in the configuration, each named the way the operator wrote it.

Unknown keys are found per layer (a misspelt key in the TOML file and the same misspelling as a
variable are two problems, each with its own fix) and come with a did-you-mean suggestion.
Invalid values are pydantic's validation errors, named by their ``SSO_BRIDGE_*`` variable and
worded as the bridge words them, never quoting the value (it may be a secret).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

from sso_bridge.settings_sources import PREFIX, KeyPath, RawSettings, upper_keys

SettingPath = tuple[str, ...]  # ("DIRECTORY", "URL")


@dataclass(frozen=True)
class Schema:
    """What keys exist: every setting's path, and the keys of a private-store rule."""

    settings: frozenset[SettingPath]
    rule_keys: tuple[str, ...]  # camelCase, as configured

    @property
    def sections(self) -> frozenset[str]:
        return frozenset(path[0] for path in self.settings if len(path) > 1)

    def known_keys(self, raw: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
        """Name every unknown key where it was written; return the rest for validation."""
        layers: list[tuple[Mapping[str, Any], str | None]] = [(raw, None)]
        if isinstance(raw, RawSettings):
            layers = [(raw.environment, None), (raw.file, raw.file_name)]
        problems: list[str] = []
        data = copy.deepcopy(upper_keys(raw, self.sections))
        for layer, file_name in layers:
            for path in list(self._unknown_paths(upper_keys(layer, self.sections))):
                problems.append(self._unknown_key(path, file_name))
                _drop(data, path)
        return problems, data

    def _unknown_paths(self, data: Mapping[str, Any]) -> Iterator[KeyPath]:
        sections = self.sections
        for key, value in data.items():
            if key in sections and isinstance(value, Mapping):
                yield from ((key, inner) for inner in value if (key, inner) not in self.settings)
            elif key not in sections and (key,) not in self.settings:
                yield (key,)
            elif key == "PRIVATE_STORES" and isinstance(value, list):
                for index, rule in enumerate(value):
                    if isinstance(rule, Mapping):
                        yield from (
                            (key, index, name) for name in rule if not self._rule_key(name)
                        )

    def _rule_key(self, name: str) -> bool:
        return name in self.rule_keys or name in {_snake(key) for key in self.rule_keys}

    def _unknown_key(self, path: KeyPath, file_name: str | None) -> str:
        """A variable (``SSO_BRIDGE_SESION_TTL``) or a key of the file (``sesion_ttl``)."""
        if len(path) == 3:  # a key inside a private-store rule
            where = env_name(path[:2]) if file_name is None else f"private_stores[{path[1]}]"
            what = f"unknown key {path[2]!r}" + _did_you_mean(str(path[2]), self.rule_keys)
        elif file_name is None:
            wanted = "__".join(map(str, path))
            names = ["__".join(known) for known in self.settings]
            where, what = PREFIX + wanted, "unknown setting" + _did_you_mean(wanted, names)
        else:
            where = ".".join(map(str, path)).lower()
            names = [".".join(known).lower() for known in self.settings]
            what = "unknown setting" + _did_you_mean(where, names)
        return f"{where}{'' if file_name is None else f' (in {file_name})'}: {what}"


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _did_you_mean(wanted: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(wanted, list(candidates), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _drop(data: dict[str, Any], path: KeyPath) -> None:
    target: Any = data
    try:
        for part in path[:-1]:
            target = target[part]
        target.pop(path[-1], None)
    except (KeyError, IndexError, TypeError, AttributeError):
        pass  # the other layer replaced this whole value: nothing left to drop


def env_name(loc: tuple[str | int, ...]) -> str:
    """``("directory", "url")`` -> ``SSO_BRIDGE_DIRECTORY__URL``; ``("private_stores", 1,
    "emailDomain")`` -> ``SSO_BRIDGE_PRIVATE_STORES[1]`` (a rule's keys are data)."""
    name = PREFIX
    for index, part in enumerate(loc):
        if isinstance(part, int):
            return f"{name}[{part}]"
        name += ("__" if index else "") + part.upper()
    return name


_MESSAGES = {
    "missing": "is required",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "model_type": "must be a table/object",
    "model_attributes_type": "must be a table/object",
    "dict_type": "must be a table/object",
    "extra_forbidden": "unknown setting",
}


def describe_error(error: ErrorDetails) -> str:
    """One pydantic error as ``SSO_BRIDGE_<NAME>: <what is wrong>``."""
    kind, context = error["type"], error.get("ctx", {})
    if kind == "greater_than_equal":
        minimum = context["ge"]
        message = (
            f"must be a number >= {minimum:g}"
            if isinstance(minimum, float)
            else f"must be >= {minimum}"
        )
    elif kind == "string_type":
        message = f"must be a string, got {type(error['input']).__name__}"
    elif kind == "setting":
        message = error["msg"]  # ours, word for word (settings_types.problem)
    else:
        message = _MESSAGES.get(kind, error["msg"])
    return f"{env_name(error['loc'])}: {message}"
