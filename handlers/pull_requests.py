"""`pull_request`: a task's PR (or any PR, with `validate: all`) is validated
at each new head commit; its end moves the task to merged or closed."""

from __future__ import annotations

import logging

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.pull_requests import links as pr_links
from app.repo_settings.config import load_repo_config
from app.runtime import HandlerContext
from app.tasks import polling
from app.validation import flow as validation_flow

router = Router()
log = logging.getLogger(__name__)


@router.register("pull_request", action="opened")
@router.register("pull_request", action="reopened")
@router.register("pull_request", action="synchronize")
@router.register("pull_request", action="ready_for_review")
async def pull_request_changed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    pull = data["pull_request"]
    repository = data["repository"]["full_name"]
    if pull.get("state") != "open" or pull.get("draft"):
        return
    pool = ctx.runtime.pool
    task = await pr_links.linked_task(pool, repository, pull, gh)
    if task is None:
        # Perhaps the late PR of a run that timed out: its task takes it if so.
        await polling.late_pull_request(ctx.runtime, repository, pull)
        config, _, _ = await load_repo_config(gh, repository, ctx.runtime.settings)
        if config.validation.scope != "all":
            return
    async with pool.acquire() as conn, conn.transaction():
        created = await validation_flow.record_head(
            conn,
            installation_id=ctx.installation_id,
            repository=repository,
            number=pull["number"],
            head_sha=pull["head"]["sha"],
            head_ref=pull["head"].get("ref"),
            task_id=task.id if task else None,
            trigger=event.data["action"],
        )
    if created is not None:
        log.info("validating %s#%s at %s", repository, pull["number"], pull["head"]["sha"][:7])


@router.register("pull_request", action="closed")
async def pull_request_closed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    pull = data["pull_request"]
    await validation_flow.pull_request_closed(
        ctx.runtime,
        data["repository"]["full_name"],
        pull["number"],
        bool(pull.get("merged")),
        data["sender"]["login"],
    )
