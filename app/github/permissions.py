"""Who may ask the bot to spend Codegen credits or steer it: people with the
configured access or more, as GitHub reports it (author_association is only a
hint). GitHub's repository roles, weakest first: none < read < triage < write <
maintain < admin; each is its own level, so a `triage` minimum admits triage
and not read."""

from __future__ import annotations

from typing import Any

from gidgethub import BadRequest

from app.github import urls
from app.github.client import GitHubClient

LEVELS = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


def is_bot(user: dict[str, Any]) -> bool:
    """A GitHub App's account (ours included): never obeyed, never answered."""
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


def meets(level: str, minimum: str = "write") -> bool:
    """An unknown level counts as none; an unknown minimum as write (never looser)."""
    return LEVELS.get(level, 0) >= LEVELS.get(minimum, LEVELS["write"])


async def permission_of(gh: GitHubClient, repository: str, login: str) -> str:
    """`admin`, `maintain`, `write`, `triage`, `read` or `none`, cached a minute.

    GitHub's `permission` folds maintain into write and triage into read;
    `role_name` keeps them apart, so it wins when it names a known level."""
    key = (repository.lower(), login.lower())
    cache = gh.caches.permissions
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        answer = await gh.getitem(urls.collaborator_permission(repository, login))
    except BadRequest as exc:
        if exc.status_code == 404:  # not a collaborator of a private repository, or no user
            cache[key] = "none"
            return "none"
        raise
    role = answer.get("role_name")
    level = role if role in LEVELS else answer.get("permission", "none")
    cache[key] = level
    return level
