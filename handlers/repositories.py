"""`repository`: follow a repository that was renamed or transferred, since
tasks and PR records are found by the repository's name
(app/installations/moves.py moves them all to the new name); and forget the
settings files read from a repository created or edited under a name."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.installations import moves
from app.runtime import HandlerContext

router = Router()


@router.register("repository", action="renamed")
@router.register("repository", action="transferred")
async def repository_moved(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    repository = event.data["repository"]
    await moves.follow(
        ctx.runtime,
        repository_id=repository["id"],
        full_name=ctx.repo(event.data),
        previous=moves.previous_name(event.data),
        installation_id=ctx.installation_id,
        seen_at=ctx.received_at,
    )


@router.register("repository", action="created")
@router.register("repository", action="edited")
@router.register("repository", action="unarchived")
async def repository_changed(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    """A repository under this name now (an organisation's new `.github`), or its
    default branch changed: its settings files are read afresh."""
    ctx.runtime.github.caches.forget_settings(event.data["repository"]["full_name"])
