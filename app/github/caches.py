"""What the bot remembers of GitHub reads, held by the process's `GitHubApp` and
handed to every client it builds: injected, so each runtime (and each test) has
its own, and a repository that moves is forgotten in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cachetools


def _permissions() -> cachetools.TTLCache[tuple[str, str], str]:
    # (repository, login) -> level: a minute, so a revoked writer loses power soon.
    return cachetools.TTLCache(maxsize=10_000, ttl=60)


def _settings_files() -> cachetools.TTLCache[str, tuple[str | None, str | None]]:
    # repository -> (text of .github/codegen.yml, blob sha): two minutes.
    return cachetools.TTLCache(maxsize=2048, ttl=120)


def _repo_contexts() -> cachetools.LRUCache[tuple[Any, ...], Any]:
    # (repository, tree sha) -> RepoContext: keyed by content, so never stale.
    return cachetools.LRUCache(maxsize=256)


@dataclass
class ReadCaches:
    """Keys start with the repository's lower-cased full name."""

    permissions: cachetools.TTLCache[tuple[str, str], str] = field(default_factory=_permissions)
    settings_files: cachetools.TTLCache[str, tuple[str | None, str | None]] = field(
        default_factory=_settings_files
    )
    repo_contexts: cachetools.LRUCache[tuple[Any, ...], Any] = field(default_factory=_repo_contexts)

    def forget(self, repository: str) -> None:
        """Drop all the repository has cached (it was renamed or transferred)."""
        name = repository.lower()
        self.settings_files.pop(name, None)
        for cache in (self.permissions, self.repo_contexts):
            for key in [k for k in cache if k[0] == name]:
                cache.pop(key, None)
