"""`issues`: the trigger label starts a task; closing the issue, removing the
label or editing a thin issue steer it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.github.permissions import is_bot, meets, permission_of
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import HandlerContext
from app.tasks import schedule, stopping
from app.tasks import start as task_start
from app.tasks import store as tasks
from app.tasks.status import TaskStatus

router = Router()
log = logging.getLogger(__name__)


@router.register("issues", action="labeled")
async def issue_labeled(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    sender = data["sender"]
    if is_bot(sender) or "pull_request" in data["issue"]:
        return
    repository = data["repository"]["full_name"]
    number = data["issue"]["number"]
    config, problems, sha = await load_repo_config(gh, repository, ctx.runtime.settings)
    if data["label"]["name"].lower() != config.trigger_label.lower():
        return
    level = await permission_of(gh, repository, sender["login"])
    if not meets(level, config.permission):
        text = (
            f"@{sender['login']} only people with **{config.permission}** access (or more) "
            f"to {repository} can ask codegen-bot to work on an issue, so nothing was "
            f"started. A maintainer can add the `{config.trigger_label}` label instead."
        )
        key = f"denied:{sender['login'].lower()}"
        await task_start.post_once(ctx, gh, repository, number, key, text)
        return
    if problems:  # said to people who may act on it, not to whoever can add a label
        await task_start.report_config_problems(ctx, gh, repository, number, problems, sha)
    await task_start.start_task(ctx, gh, data, config, sender["login"])


@router.register("issues", action="edited")
async def issue_edited(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    """An edit resumes a task waiting for information only when its author may
    start tasks (the label's permission): anyone may edit their own issue, and a
    reader must not replace the text a writer approved and start a run with it.
    Other edits are noted on the task once per person and change nothing."""
    data = event.data
    repository = data["repository"]["full_name"]
    issue, sender = data["issue"], data["sender"]
    active = await tasks.active_for_issue(ctx.runtime.pool, repository, issue["number"])
    if active is None or active.status != TaskStatus.NEEDS_INFO:
        return
    config, _, _ = await load_repo_config(gh, repository, ctx.runtime.settings)
    permitted = not is_bot(sender) and meets(
        await permission_of(gh, repository, sender["login"]), config.permission
    )
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        if not permitted:
            login = sender["login"]
            await tasks.add_note(conn, active.id, edit_ignored_note(login, config))
            await schedule.enqueue_render(conn, active.id, f"edit-ignored:{login.lower()}")
            return
        await tasks.refresh_from_issue(conn, active.id, await task_start.spec_fields(issue))
        moved = await tasks.transition(
            conn, active.id, from_status=(TaskStatus.NEEDS_INFO,), to_status=TaskStatus.QUEUED
        )
        if moved:
            await schedule.enqueue_advance(conn, active.id, f"validate:{ctx.delivery_id}")


def edit_ignored_note(login: str, config: RepoConfig) -> str:
    """The task's one note per person whose edit could not resume it."""
    return (
        f"@{login} edited the issue, but only people with **{config.permission}** access "
        "(or more) can resume this task by editing it, so the edit was not used. Someone "
        "with that access can edit the issue or comment `/codegen run` to resume it with "
        "the issue as it stands."
    )


async def _cancel_active(ctx: HandlerContext, data: dict[str, Any], reason: str) -> None:
    """Stop the issue's active task, or its newest one whose timed-out run is
    still watched for a late pull request."""
    pool, repository = ctx.runtime.pool, data["repository"]["full_name"]
    number = data["issue"]["number"]
    active = await tasks.active_for_issue(pool, repository, number)
    if active is not None:
        await stopping.cancel(ctx.runtime, active, reason)
        return
    latest = await tasks.latest_for_issue(pool, repository, number)
    if latest is not None and stopping.watched_late(latest, datetime.now(UTC)):
        await stopping.cancel(ctx.runtime, latest, reason, from_status=(TaskStatus.TIMED_OUT,))


@router.register("issues", action="closed")
async def issue_closed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    who = event.data["sender"]["login"]
    await _cancel_active(ctx, event.data, f"the issue was closed by @{who}")


@router.register("issues", action="unlabeled")
async def issue_unlabeled(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    if is_bot(data["sender"]) or "label" not in data:
        return
    repository = data["repository"]["full_name"]
    config, _, _ = await load_repo_config(gh, repository, ctx.runtime.settings)
    if data["label"]["name"].lower() == config.trigger_label.lower():
        await _cancel_active(ctx, data, f"@{data['sender']['login']} removed the label")
