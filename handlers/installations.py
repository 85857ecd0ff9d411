"""`installation` and `installation_repositories`: keep track of where the App
is installed, and create the trigger label in every repository it gains.

Each handler first records the installation as its delivery saw it; what a
newer delivery already recorded is left alone (deliveries can be handled out
of order), for the installation and for each repository."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from gidgethub import sansio
from gidgethub.routing import Router

from app.github import installations_store as installations
from app.github.client import GitHubClient
from app.queue import store as jobs
from app.repo_settings import labels
from app.runtime import HandlerContext

router = Router()
log = logging.getLogger(__name__)


async def _add_repositories(
    ctx: HandlerContext, conn: asyncpg.Connection, installation_id: int, repos: list[dict[str, Any]]
) -> None:
    added = await installations.add_repositories(conn, installation_id, repos, ctx.received_at)
    for repo in added:
        await jobs.enqueue(
            conn,
            labels.ENSURE_LABEL_JOB,
            {
                "installation_id": installation_id,
                "repository": repo["full_name"],
                "repository_id": repo["id"],
                "label": ctx.runtime.settings.trigger_label,
            },
            dedup_key=f"label:{ctx.delivery_id}:{repo['id']}",
            max_attempts=ctx.runtime.settings.job_max_attempts,
        )


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
async def installation_current(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        fresh = await installations.upsert_installation(conn, installation, ctx.received_at)
        if fresh and event.data["action"] == "unsuspend":
            await installations.set_suspended(conn, installation["id"], False)
        if event.data["action"] == "created":  # repositories keep their own order
            repos = event.data.get("repositories") or []
            await _add_repositories(ctx, conn, installation["id"], repos)
            log.info(
                "installed on %s (%d repositories)",
                (installation.get("account") or {}).get("login"),
                len(repos),
            )


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def installation_gone(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        if not await installations.upsert_installation(conn, installation, ctx.received_at):
            return
        if event.data["action"] == "deleted":
            await installations.mark_deleted(conn, installation["id"], ctx.received_at)
        else:
            await installations.set_suspended(conn, installation["id"], True)
    ctx.runtime.github.forget_token(installation["id"])


@router.register("installation_repositories", action="added")
async def repositories_added(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation, ctx.received_at)
        repos = event.data.get("repositories_added") or []
        await _add_repositories(ctx, conn, installation["id"], repos)


@router.register("installation_repositories", action="removed")
async def repositories_removed(
    event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext
) -> None:
    installation = event.data["installation"]
    removed = [r["id"] for r in event.data.get("repositories_removed") or [] if r.get("id")]
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation, ctx.received_at)
        await installations.remove_repositories(conn, installation["id"], removed, ctx.received_at)
