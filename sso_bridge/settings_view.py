"""What ``sso-bridge config`` shows: every setting's effective value and source, secrets masked.

A secret shows as ``***`` (a list of keys as one ``***`` per key, RUM users as their names with
``***``), and a URL keeps everything but its password, so the output can be pasted into a
ticket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel

from sso_bridge.directory.presets import PRESETS
from sso_bridge.settings import (
    DirectorySettings,
    PasswordEncryptionSettings,
    Settings,
    setting_paths,
)
from sso_bridge.settings_sources import RawSettings

MASK = "***"
_TABLES: dict[str, type[BaseModel]] = {
    "DIRECTORY": DirectorySettings,
    "RUM_PASSWORD_ENCRYPTION": PasswordEncryptionSettings,
}
# Query parameters that carry credentials in database and Redis URLs.
_SECRET_PARAMETERS = ("pass", "secret", "token", "key")


@dataclass(frozen=True)
class Entry:
    name: str  # SSO_BRIDGE_DIRECTORY__URL
    value: Any  # as JSON would hold it, secrets masked
    source: str  # environment, file or default


def _secret_parameter(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_PARAMETERS)


def mask_url(url: str) -> str:
    """``postgresql://user:pw@host/db?password=x`` -> ``postgresql://user:***@host/db?password=***``."""
    parts = urlsplit(url)
    masked = url  # edited in place: rebuilding would drop the "//" of "sqlite:///file"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        masked = masked.replace(parts.netloc, f"{user}:{MASK}@{hosts}", 1)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(_secret_parameter(name) for name, _ in query):
        query = [(name, MASK if _secret_parameter(name) else value) for name, value in query]
        masked = masked.replace("?" + parts.query, "?" + urlencode(query, safe="*"), 1)
    return masked


def _mask(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return value
    if kind == "url":
        return mask_url(str(value))
    if isinstance(value, dict):
        return dict.fromkeys(value, MASK)  # RUM users: the names help, the passwords never
    if isinstance(value, list):
        return [MASK] * len(value)
    return MASK


def _field(path: tuple[str, ...]) -> Any:
    model: type[BaseModel] = _TABLES[path[0]] if len(path) > 1 else Settings
    return model.model_fields[path[-1].lower()]


def effective_settings(settings: Settings, raw: RawSettings) -> list[Entry]:
    """One entry per setting, in the order the settings are declared."""
    values = settings.model_dump(mode="json", by_alias=True)
    preset = PRESETS.get(settings.directory.preset or "")
    # The keys the preset filled: shown as "preset <name>", not "default".
    from_preset = set(preset.settings("")) if preset is not None else set()
    entries = []
    for path in setting_paths():
        field = _field(path)
        if len(path) == 1:
            value = values[path[0].lower()]
        else:
            table = values[path[0].lower()]
            # An absent table (no password encryption) shows its keys' defaults.
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            value = table[path[1].lower()] if table is not None else default
        secret = (field.json_schema_extra or {}).get("secret")
        entries.append(
            Entry(
                name="SSO_BRIDGE_" + "__".join(path),
                value=_mask(value, str(secret)) if secret else value,
                source=_source(raw, path, from_preset, settings.directory.preset),
            )
        )
    return entries


def _source(
    raw: RawSettings, path: tuple[str, ...], from_preset: set[str], preset: str | None
) -> str:
    source = raw.source_of(path)
    if source == "default" and path[0] == "DIRECTORY" and path[-1].lower() in from_preset:
        return f"preset {preset}"
    return source


def render(entries: list[Entry]) -> str:
    """``NAME = JSON value  (source)``, one line per setting, names aligned."""
    width = max(len(entry.name) for entry in entries)
    return "\n".join(
        f"{entry.name.ljust(width)} = {json.dumps(entry.value)}  ({entry.source})"
        for entry in entries
    )


def render_json(entries: list[Entry]) -> str:
    return json.dumps(
        {entry.name: {"value": entry.value, "source": entry.source} for entry in entries},
        indent=2,
    )
