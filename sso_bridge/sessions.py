"""SSO session tokens the merchant's site hands out and DR validates (ValidateSessionRequest).

Tokens are 256-bit random strings. The store keeps only their SHA-256, so a dump of Redis yields
nothing a caller could present.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from sso_bridge.store import KeyValueStore


@dataclass(frozen=True)
class SessionInfo:
    user_key: str
    erid: str


def _key(token: str) -> str:
    return "session:" + hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, *, store: KeyValueStore, ttl: int) -> None:
        self._store = store
        self.ttl = ttl

    def issue(self, user_key: str, erid: str) -> str:
        token = secrets.token_urlsafe(32)
        value = json.dumps({"k": user_key, "e": erid}).encode()
        self._store.set(_key(token), value, self.ttl)
        return token

    def resolve(self, token: str) -> SessionInfo | None:
        if not token or len(token) > 512:
            return None
        raw = self._store.get(_key(token))
        if raw is None:
            return None
        data = json.loads(raw)
        return SessionInfo(user_key=data["k"], erid=data["e"])

    def revoke(self, token: str) -> bool:
        return self._store.delete(_key(token))
