"""Who may ask the bot to spend Codegen credits: people with write access or
more, as GitHub reports it (author_association is only a hint)."""

from __future__ import annotations

import cachetools
from gidgethub import BadRequest

from .github import GitHubClient

LEVELS = {"none": 0, "read": 1, "triage": 1, "write": 2, "maintain": 3, "admin": 4}
_cache: cachetools.TTLCache[tuple[str, str], str] = cachetools.TTLCache(maxsize=10_000, ttl=60)


def meets(level: str, minimum: str = "write") -> bool:
    return LEVELS.get(level, 0) >= LEVELS.get(minimum, 2)


async def permission_of(gh: GitHubClient, repository: str, login: str) -> str:
    """`admin`, `maintain`, `write`, `triage`, `read` or `none`, cached a minute.

    GitHub's `permission` folds maintain into write and triage into read;
    `role_name` keeps them apart, so it wins when it names a known level."""
    key = (repository.lower(), login.lower())
    cached = _cache.get(key)
    if cached is not None:
        return cached
    try:
        answer = await gh.getitem(f"/repos/{repository}/collaborators/{login}/permission")
    except BadRequest as exc:
        if exc.status_code == 404:  # not a collaborator of a private repository, or no user
            _cache[key] = "none"
            return "none"
        raise
    role = answer.get("role_name")
    level = role if role in LEVELS else answer.get("permission", "none")
    _cache[key] = level
    return level


def forget(repository: str | None = None) -> None:
    """Drop cached answers (all, or one repository's)."""
    if repository is None:
        _cache.clear()
        return
    for key in [k for k in _cache if k[0] == repository.lower()]:
        _cache.pop(key, None)
