"""`repository`: follow a repository that was renamed or transferred, since
tasks and PR records are found by the repository's name
(app/installations/moves.py moves them all to the new name)."""

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
