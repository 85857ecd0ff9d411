"""What the bot remembers of GitHub reads, held by the process's `GitHubApp` and
handed to every client it builds: injected, so each runtime (and each test) has
its own, and a repository that moves is forgotten in one call.

Two kinds: answers kept for a while and not asked again (permissions, settings
files, repository contexts), and every GET answer kept with its ETag so that
asking again is a conditional request: GitHub answers 304 without a body when
nothing changed, and a 304 does not count against the rate limit."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cachetools
from multidict import CIMultiDict

# What conditional GETs may keep in memory, all installations together, and the
# largest answer kept (a page of a huge pull request's files is not worth it).
CONDITIONAL_BYTES = 8 * 1024 * 1024
CONDITIONAL_ENTRY_BYTES = 512 * 1024
# What an entry takes beside the text counted: the objects holding the key,
# the kept headers, the body and the record (measured: about 1 KB).
_ENTRY_OVERHEAD = 1280
# The headers a kept answer is served with: how to decode the body and where
# the next page is (a 304 brings the fresh rate-limit headers). GitHub sends
# some thirty others, 2 KB, that nothing reads.
_KEPT_HEADERS = ("content-type", "link")


@dataclass(frozen=True)
class Conditional:
    """A GET answer kept to be revalidated: its ETag, headers and body, and a
    fingerprint of the credential it was read with (GitHub's ETags depend on
    the token: an ETag from another token never matches)."""

    etag: str
    credential: bytes
    headers: CIMultiDict[str]
    body: bytes
    size: int  # bytes held, roughly: body, headers, key and the record


def credential_fingerprint(authorization: str) -> bytes:
    """Enough of a hash of the Authorization header to tell tokens apart; the
    token itself is not kept."""
    return hashlib.sha256(authorization.encode()).digest()[:16]


ConditionalKey = tuple[int, str, str]  # (installation id, URL, Accept)


class ConditionalCache:
    """GET answers by (installation, URL, Accept), bounded in bytes (least
    recently used first out). One installation's answers are never served to
    another: the installation is in the key, and an answer read with another
    token is not revalidated."""

    def __init__(
        self, max_bytes: int = CONDITIONAL_BYTES, max_entry_bytes: int = CONDITIONAL_ENTRY_BYTES
    ) -> None:
        self.max_entry_bytes = max_entry_bytes
        self._entries: cachetools.LRUCache[ConditionalKey, Conditional] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: entry.size
        )
        self.not_modified = 0  # answers served from here after a 304

    def get(self, key: ConditionalKey, credential: bytes) -> Conditional | None:
        """The answer to revalidate, if one was read with this credential."""
        entry = self._entries.get(key)
        if entry is None or entry.credential != credential:
            return None
        return entry

    def put(
        self, key: ConditionalKey, credential: bytes, headers: Mapping[str, str], body: bytes
    ) -> None:
        """Keep a 200 answer that carries an ETag (and is not too large). An ETag
        with a control character is not kept: it could not be sent back
        (aiohttp refuses it), and every later read of the URL would fail."""
        etag = headers.get("etag")
        if not etag or not etag.isprintable() or len(body) > self.max_entry_bytes:
            self._entries.pop(key, None)
            return
        kept = CIMultiDict((k, v) for k, v in headers.items() if k.lower() in _KEPT_HEADERS)
        size = len(body) + len(key[1]) + len(etag) + sum(len(k) + len(v) for k, v in kept.items())
        self._entries[key] = Conditional(etag, credential, kept, body, size + _ENTRY_OVERHEAD)

    def forget_installation(self, installation_id: int) -> None:
        """Drop what one installation read (it was suspended or removed)."""
        for key in [k for k in self._entries if k[0] == installation_id]:
            self._entries.pop(key, None)

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)


def _permissions() -> cachetools.TTLCache[tuple[str, str], str]:
    # (repository, login) -> level: a minute, so a revoked writer loses power soon.
    return cachetools.TTLCache(maxsize=10_000, ttl=60)


# How long a settings file read is kept. Events forget it sooner
# (app/repo_settings/changes.py: a push to the repository's default branch, the
# installation gaining repositories or permissions, a repository created, moved
# or edited); the age is the safety net for what no event reaches: a delivery
# lost for good, or another process of the bot that handled the event (each
# process has its own caches). A file that exists is revalidated after two
# minutes (a 304, free of rate limit); a file that does not (the organisation's
# `.github` defaults usually: a 404, which carries no ETag, so asking again
# costs a full call every time) is asked again after ten: a settings file
# created and missed by every event is seen within ten minutes.
SETTINGS_FOUND_SECONDS = 120.0
SETTINGS_ABSENT_SECONDS = 600.0

SettingsFile = tuple[str | None, str | None]  # (text, blob sha); (None, None): absent


def _settings_ttu(_key: str, value: SettingsFile, now: float) -> float:
    found = value[0] is not None
    return now + (SETTINGS_FOUND_SECONDS if found else SETTINGS_ABSENT_SECONDS)


def _settings_files() -> cachetools.TLRUCache[str, SettingsFile]:
    # `owner/name` or `owner/name:path` -> (text, blob sha), lower-cased.
    return cachetools.TLRUCache(maxsize=2048, ttu=_settings_ttu)


def _repo_contexts() -> cachetools.LRUCache[tuple[Any, ...], Any]:
    # (repository, tree sha) -> RepoContext: keyed by content, so never stale.
    return cachetools.LRUCache(maxsize=256)


@dataclass
class ReadCaches:
    """Keys start with the repository's lower-cased full name."""

    permissions: cachetools.TTLCache[tuple[str, str], str] = field(default_factory=_permissions)
    settings_files: cachetools.TLRUCache[str, SettingsFile] = field(default_factory=_settings_files)
    repo_contexts: cachetools.LRUCache[tuple[Any, ...], Any] = field(default_factory=_repo_contexts)
    # GET answers revalidated with If-None-Match (app/github/client.py).
    conditional: ConditionalCache = field(default_factory=ConditionalCache)

    def forget(self, repository: str) -> None:
        """Drop all the repository has cached (it was renamed or transferred)."""
        name = repository.lower()
        self.forget_settings(repository)
        for cache in (self.permissions, self.repo_contexts):
            for key in [k for k in cache if k[0] == name]:
                cache.pop(key, None)

    def forget_settings(self, repository: str) -> None:
        """Drop the settings files read from one repository (any path): its default
        branch moved, or it was created, renamed, transferred or edited."""
        name = repository.lower()
        for key in [k for k in self.settings_files if k == name or k.startswith(f"{name}:")]:
            self.settings_files.pop(key, None)

    def forget_owner_settings(self, owner: str) -> None:
        """Drop every settings file read from an owner's repositories, absent ones
        included: its installation gained repositories or permissions, so a file
        that was a 404 (the organisation's `.github` defaults, an `_extends`
        target) may be readable now."""
        prefix = f"{owner.lower()}/"
        for key in [k for k in self.settings_files if k.startswith(prefix)]:
            self.settings_files.pop(key, None)
