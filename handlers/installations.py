"""`installation` and `installation_repositories`: keep track of where the App
is installed, and create the trigger label in every repository it gains
(app/installations/service.py records each event; an older delivery never
undoes what a newer one recorded)."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.installations import service
from app.repo_settings import changes
from app.runtime import HandlerContext

router = Router()


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
async def installation_current(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    action = event.data["action"]
    changes.forget_installation(ctx.runtime.github.caches, event.data["installation"])
    await service.installed(
        ctx,
        event.data["installation"],
        created=action == "created",
        unsuspended=action == "unsuspend",
        repositories=event.data.get("repositories") or [],
    )


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def installation_gone(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    deleted = event.data["action"] == "deleted"
    await service.gone(ctx, event.data["installation"], deleted=deleted)


@router.register("installation_repositories", action="added")
async def repositories_added(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    added = event.data.get("repositories_added") or []
    # An `.github` or `_extends` repository that was a 404 may be readable now.
    changes.forget_installation(ctx.runtime.github.caches, event.data["installation"])
    await service.repositories_added(ctx, event.data["installation"], added)


@router.register("installation_repositories", action="removed")
async def repositories_removed(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    changes.forget_installation(ctx.runtime.github.caches, event.data["installation"])
    removed = [r["id"] for r in event.data.get("repositories_removed") or [] if r.get("id")]
    await service.repositories_removed(ctx, event.data["installation"], removed)
