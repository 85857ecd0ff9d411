"""`installation` and `installation_repositories`: keep track of where the App
is installed, and create the trigger label in every repository it gains."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app import installations, jobs, labels
from app.github import GitHubClient
from app.runtime import HandlerContext

router = Router()
log = logging.getLogger(__name__)


async def _add_repositories(
    ctx: HandlerContext, conn: Any, installation_id: int, repos: list[dict[str, Any]]
) -> None:
    added = await installations.add_repositories(conn, installation_id, repos)
    label = ctx.runtime.settings.trigger_label
    for repo in added:
        await jobs.enqueue(
            conn,
            labels.ENSURE_LABEL_JOB,
            {
                "installation_id": installation_id,
                "repository": repo["full_name"],
                "repository_id": repo["id"],
                "label": label,
            },
            dedup_key=f"label:{ctx.delivery_id}:{repo['id']}",
        )


@router.register("installation", action="created")
async def installation_created(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation)
        await _add_repositories(ctx, conn, installation["id"], event.data.get("repositories") or [])
    log.info("installed on %s", (installation.get("account") or {}).get("login"))


@router.register("installation", action="new_permissions_accepted")
async def installation_permissions(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    async with ctx.runtime.pool.acquire() as conn:
        await installations.upsert_installation(conn, event.data["installation"])


@router.register("installation", action="deleted")
async def installation_deleted(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation)
        await installations.mark_deleted(conn, installation["id"])
    ctx.runtime.github.forget_token(installation["id"])


@router.register("installation", action="suspend")
async def installation_suspend(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation)
        await installations.set_suspended(conn, installation["id"], True)
    ctx.runtime.github.forget_token(installation["id"])


@router.register("installation", action="unsuspend")
async def installation_unsuspend(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation)
        await installations.set_suspended(conn, installation["id"], False)


@router.register("installation_repositories", action="added")
async def repositories_added(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation)
        await _add_repositories(
            ctx, conn, installation["id"], event.data.get("repositories_added") or []
        )


@router.register("installation_repositories", action="removed")
async def repositories_removed(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    removed = [r["id"] for r in event.data.get("repositories_removed") or [] if r.get("id")]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation)
        await installations.remove_repositories(conn, installation["id"], removed)
