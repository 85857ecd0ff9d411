"""Follow a repository that was renamed or transferred, since tasks and PR
records are found by the repository's name. Every row of the repository (known
by its id) takes the new name, in one transaction, so a task started before the
move still links its PR, is validated and keeps its comment up to date."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.github import installations_store
from app.pull_requests import store as pull_requests
from app.runtime import Runtime
from app.tasks import store as tasks

log = logging.getLogger(__name__)


def previous_name(data: dict[str, Any]) -> str | None:
    """The repository's name before the event, from its `changes`: the old name
    (`renamed`) or the old owner (`transferred`, user or organization)."""
    repository = data.get("repository") or {}
    owner = (repository.get("owner") or {}).get("login")
    changes = data.get("changes") or {}
    old_name = ((changes.get("repository") or {}).get("name") or {}).get("from")
    old_owner = (changes.get("owner") or {}).get("from") or {}
    old_login = (old_owner.get("user") or old_owner.get("organization") or {}).get("login")
    if data.get("action") == "renamed" and owner and isinstance(old_name, str):
        return f"{owner}/{old_name}"
    if data.get("action") == "transferred" and repository.get("name") and old_login:
        return f"{old_login}/{repository['name']}"
    return None


def old_names(current: str, known: Iterable[str | None]) -> set[str]:
    """The names rows may still carry: every name known for the repository but
    its current one (names compare without case, as GitHub's do)."""
    return {name for name in known if name and name.lower() != current.lower()}


async def follow(
    runtime: Runtime,
    *,
    repository_id: int,
    full_name: str,
    previous: str | None,
    installation_id: int | None,
    seen_at: datetime,
) -> None:
    """Record the new name (and installation) and move the repository's tasks and
    PR records to it; a delivery older than one applied already moves them to
    the newer name instead, and keeps the newer installation."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        current, recorded, newest = await installations_store.rename_repository(
            conn, repository_id, full_name, installation_id, seen_at
        )
        old = old_names(current, (previous, recorded, full_name))
        installation = installation_id if newest else None
        moved = await tasks.follow_rename(conn, repository_id, current, sorted(old), installation)
        prs = await pull_requests.follow_rename(
            conn, repository_id, current, sorted(old), installation
        )
    # Answers cached under a name now elsewhere (or about to be reused).
    for name in old | {current}:
        runtime.github.caches.forget(name)
    log.info(
        "repository %s is now %s: %d task(s) and %d pull request record(s) follow it",
        ", ".join(sorted(old)) or "?",
        current,
        len(moved),
        prs,
    )
