"""`repository`: follow a repository that was renamed or transferred, since
tasks and PR records are found by the repository's name. Every row of the
repository (known by its id) takes the new name, so a task started before the
move still links its PR, is validated and keeps its comment up to date."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app.github import installations_store as installations
from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.runtime import HandlerContext
from app.tasks import store as tasks

router = Router()
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


def _forget(ctx: HandlerContext, names: set[str]) -> None:
    """Answers cached under a name now elsewhere (or about to be reused)."""
    for name in names:
        ctx.runtime.github.caches.forget(name)


@router.register("repository", action="renamed")
@router.register("repository", action="transferred")
async def repository_moved(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    data = event.data
    repository = data["repository"]
    full_name = repository["full_name"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        current, recorded, newest = await installations.rename_repository(
            conn, repository["id"], full_name, ctx.installation_id, ctx.received_at
        )
        old = {n for n in (previous_name(data), recorded, full_name) if n}
        old = {n for n in old if n.lower() != current.lower()}
        installation = ctx.installation_id if newest else None
        moved = await tasks.follow_rename(
            conn, repository["id"], current, sorted(old), installation
        )
        prs = await pull_requests.follow_rename(
            conn, repository["id"], current, sorted(old), installation
        )
    _forget(ctx, old | {current})
    log.info(
        "repository %s is now %s: %d task(s) and %d pull request record(s) follow it",
        ", ".join(sorted(old)) or "?",
        current,
        len(moved),
        prs,
    )
