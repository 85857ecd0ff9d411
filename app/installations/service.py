"""Record installation events and queue the trigger label for every repository
the App gains.

Each function first records the installation as its delivery saw it; what a
newer delivery already recorded is left alone (deliveries can be handled out
of order), for the installation and for each repository. Each runs in one
transaction, so a label job is queued exactly when its repository is recorded."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from app.github import installations_store as installations
from app.queue import store as jobs
from app.repo_settings import labels
from app.runtime import HandlerContext

log = logging.getLogger(__name__)


async def installed(
    ctx: HandlerContext,
    installation: dict[str, Any],
    *,
    created: bool,
    unsuspended: bool,
    repositories: list[dict[str, Any]],
) -> None:
    """The App was installed, given new permissions or unsuspended; a new
    installation brings its repositories (which keep their own order)."""
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        fresh = await installations.upsert_installation(conn, installation, ctx.received_at)
        if fresh and unsuspended:
            await installations.set_suspended(conn, installation["id"], False)
        if created:
            await _add_repositories(ctx, conn, installation["id"], repositories)
            log.info(
                "installed on %s (%d repositories)",
                (installation.get("account") or {}).get("login"),
                len(repositories),
            )


async def gone(ctx: HandlerContext, installation: dict[str, Any], *, deleted: bool) -> None:
    """The App was uninstalled (`deleted`) or suspended: its repositories are
    recorded removed or the installation suspended, and its token forgotten.
    An older delivery than the one recorded changes nothing."""
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        if not await installations.upsert_installation(conn, installation, ctx.received_at):
            return
        if deleted:
            await installations.mark_deleted(conn, installation["id"], ctx.received_at)
        else:
            await installations.set_suspended(conn, installation["id"], True)
    ctx.runtime.github.forget_token(installation["id"])


async def repositories_added(
    ctx: HandlerContext, installation: dict[str, Any], repositories: list[dict[str, Any]]
) -> None:
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation, ctx.received_at)
        await _add_repositories(ctx, conn, installation["id"], repositories)


async def repositories_removed(
    ctx: HandlerContext, installation: dict[str, Any], repository_ids: list[int]
) -> None:
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await installations.upsert_installation(conn, installation, ctx.received_at)
        await installations.remove_repositories(
            conn, installation["id"], repository_ids, ctx.received_at
        )


async def _add_repositories(
    ctx: HandlerContext, conn: asyncpg.Connection, installation_id: int, repos: list[dict[str, Any]]
) -> None:
    """Record the repositories and queue the trigger label for those this
    delivery added (one job per delivery and repository)."""
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
