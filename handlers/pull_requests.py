"""`pull_request`: a task's PR (or any PR, with `validate: all`) is validated
at each new head commit; its end moves the task to merged or closed."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app import pull_requests, task_flow, tasks, validation_flow
from app.github import GitHubClient
from app.permissions import meets, permission_of
from app.repo_config import load_repo_config
from app.runtime import HandlerContext
from app.task_status import WITH_AGENT

router = Router()
log = logging.getLogger(__name__)


async def linked_task(
    pool: Any, repository: str, pull: dict[str, Any], gh: GitHubClient | None = None
) -> tasks.Task | None:
    """The task behind a PR: recorded already, reported by the agent run (URL or
    head branch), or named by the PR body's `Fixes #N` when an App or someone
    with write access opened it (never a reader's PR). Never a simulated task: its
    run opened no PR, so any PR that seems to be its own is someone else's."""
    task = await _linked_task(pool, repository, pull, gh)
    return None if task is None or task.simulated else task


async def _linked_task(
    pool: Any, repository: str, pull: dict[str, Any], gh: GitHubClient | None
) -> tasks.Task | None:
    known = await pull_requests.find(pool, repository, pull["number"])
    if known is not None and known.task_id is not None:
        return await tasks.get(pool, known.task_id)
    head = pull.get("head") or {}
    # A branch of this repository takes write access to push; anyone can name a
    # fork's branch like the agent's or write "Fixes #7" in a PR body.
    inside = ((head.get("repo") or {}).get("full_name") or "").lower() == repository.lower()
    task = await tasks.for_pull_request(
        pool, repository, pull["number"], head.get("ref") if inside else None
    )
    closes = pull_requests.closing_issues(pull.get("body"))
    if task is not None or not closes or not inside:
        return task
    if not await _trusted_author(gh, repository, pull):
        return None
    for issue in closes:
        task = await tasks.latest_for_issue(pool, repository, issue)
        # Only while the agent works on it or its PR is out: a person's later PR
        # for an issue whose task failed long ago is theirs, not the agent's.
        if task is not None and not task.simulated and task.status in WITH_AGENT:
            return task
    return None


async def _trusted_author(gh: GitHubClient | None, repository: str, pull: dict[str, Any]) -> bool:
    """An App installed here (the agent's) or a person with write access."""
    user = pull.get("user") or {}
    if user.get("type") == "Bot":
        return True
    if gh is None or not user.get("login"):
        return False
    return meets(await permission_of(gh, repository, user["login"]), "write")


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
    task = await linked_task(pool, repository, pull, gh)
    if task is None:
        # Perhaps the late PR of a run that timed out: its task takes it if so.
        await task_flow.late_pull_request(ctx.runtime, repository, pull)
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
