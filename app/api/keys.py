"""API keys: `API_KEYS` parsed into named, scoped keys kept only as digests,
and a constant-time check of the key a request presents."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# `name:scope:key`, comma separated: e.g. `ci:write:6f1c...,dashboard:read:9e2b...`.
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_KEY_CHARS = 16


class Scope(StrEnum):
    """What a key may do."""

    READ = "read"  #: GET endpoints only
    WRITE = "write"  #: everything, spending included


class KeyFormatError(ValueError):
    """An `API_KEYS` entry that cannot be used; the message never holds the key."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: Scope
    digest: bytes = field(repr=False)

    @property
    def actor(self) -> str:
        """Who a write is attributed to in the task's record and tracking comment."""
        from app.tasks.tracking import API_ACTOR  # here: app.config reads this module early

        return f"{API_ACTOR}{self.name}"

    def may(self, needed: Scope) -> bool:
        return self.scope == Scope.WRITE or needed == Scope.READ


def _digest(key: str) -> bytes:
    # A header's bytes that are not UTF-8 arrive as surrogates: hash the bytes sent.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def parse_keys(entries: Iterable[str]) -> tuple[ApiKey, ...]:
    """Each entry is `name:scope:key`; names and keys are unique, keys at least 16 characters."""
    keys: list[ApiKey] = []
    for number, entry in enumerate(entries, 1):
        parts = entry.strip().split(":", 2)
        if len(parts) != 3:
            raise KeyFormatError(f"entry {number} is not name:scope:key")
        name, scope, key = (p.strip() for p in parts)
        if not _NAME.fullmatch(name):
            raise KeyFormatError(f"entry {number}: the name must be 1-64 of A-Z a-z 0-9 _ . -")
        if scope not in {s.value for s in Scope}:
            raise KeyFormatError(f"entry {number} ({name}): the scope must be read or write")
        if len(key) < MIN_KEY_CHARS:
            raise KeyFormatError(
                f"entry {number} ({name}): the key must be at least {MIN_KEY_CHARS} characters"
            )
        if any(k.name == name for k in keys):
            raise KeyFormatError(f"entry {number}: the name {name} is used twice")
        digest = _digest(key)
        same = next((k.name for k in keys if k.digest == digest), None)
        if same is not None:  # which name and scope a request had would be a guess
            raise KeyFormatError(f"entry {number} ({name}) has the same key as {same}")
        keys.append(ApiKey(name, Scope(scope), digest))
    return tuple(keys)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from `X-API-Key`, or from `Authorization: Bearer <key>`."""
    key = headers.get("X-API-Key", "").strip()
    if key:
        return key
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """The key whose digest matches, comparing against every key in constant
    time (no early exit), so timing tells nothing of which key nearly matched."""
    wanted = _digest(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(key.digest, wanted):
            found = key
    return found
