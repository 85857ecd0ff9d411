"""Telling people how a task stands: its tracking comment on the issue
(`task.render`, kept in step with the task) and the outside webhook told of a
task's end (`task.notify`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx

from app.budgets import admission
from app.followups import store as followups
from app.github import comments
from app.github.client import GitHubClient
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks import tracking
from app.tasks.schedule import NOTIFY_JOB, RENDER_JOB, job_task
from app.tasks.status import TaskStatus
from app.validation import store as validations

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


def tracking_key(task_id: int) -> str:
    return f"task:{task_id}"


async def render_comment(runtime: Runtime, gh: GitHubClient, task: tasks.Task) -> None:
    """Create the tracking comment once, then keep it in step with the task.

    Under the issue's lock, and from a fresh read of the task, so concurrent jobs
    neither post two comments nor leave an older state on top of a newer one."""
    async with comments.issue_lock(runtime.pool, task.repository, task.issue_number):
        current = await tasks.get(runtime.pool, task.id)
        assert current is not None
        attempts = await codegen_requests.for_task(runtime.pool, current.id)
        sent = await followups.for_task(runtime.pool, current.id)
        latest = await validations.latest_for_task(runtime.pool, current.id)
        shown = None
        if latest is not None:
            shown = {
                "sha": latest.head_sha,
                "conclusion": latest.conclusion,
                "title": latest.title or latest.conclusion,
                "url": latest.check_run_url,
            }
        permission, label = "write", None
        # It says who may resume (or start) the task, and with which label.
        if current.status in (TaskStatus.NEEDS_INFO, TaskStatus.CREATED):
            config, _problems, _sha = await load_repo_config(
                gh, current.repository, runtime.settings
            )
            permission, label = config.permission, config.trigger_label
        waiting = None
        if current.status == TaskStatus.GENERATING_PROMPT:
            waiting = await admission.waiting_text(
                runtime.pool,
                current.id,
                admission.installation_limits(runtime.settings),
                datetime.now(UTC),
            )
        body = tracking.render(current, attempts, sent, shown, permission, waiting, label)
        key = tracking_key(current.id)
        if current.tracking_comment_id is not None and await comments.edit(
            gh, current.repository, current.tracking_comment_id, key, body
        ):
            return
        comment_id = await comments.post_once(
            gh,
            current.repository,
            current.issue_number,
            key,
            body,
            await runtime.github.bot_login(),
        )
        await tasks.set_comment_id(runtime.pool, current.id, comment_id)
        if current.tracking_comment_id is not None:
            # The stored comment was deleted: the new one must show the current text.
            await comments.edit(gh, current.repository, comment_id, key, body)


@registry.job(RENDER_JOB)
async def render_job(runtime: Runtime, job: Job) -> None:
    task, gh = await job_task(runtime, job)
    await render_comment(runtime, gh, task)


@registry.job(NOTIFY_JOB)
async def notify_job(runtime: Runtime, job: Job) -> None:
    """Tell an outside system (Slack-compatible) that a task reached its end."""
    url = runtime.settings.notify_webhook_url
    if not url:
        return
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None:
        return
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, json=notification(task))
    if response.status_code >= 500:
        raise RuntimeError(f"notification webhook answered {response.status_code}")


def notification(task: tasks.Task) -> dict:
    """The webhook's body: a Slack-style `text` and the task's facts."""
    links = " ".join(pr["url"] for pr in task.pull_requests)
    detail = tracking.short_reason(task.status_detail)
    where = f"{task.repository}#{task.issue_number}"
    text = {
        TaskStatus.PR_OPEN: f"codegen-bot opened {links} for {where}",
        TaskStatus.FAILED: f"codegen-bot failed on {where}: {detail}",
        TaskStatus.CANCELLED: f"codegen-bot task for {where} was cancelled",
        TaskStatus.TIMED_OUT: f"codegen-bot timed out on {where}",
        TaskStatus.MERGED: f"codegen-bot's pull request for {where} was merged: {links}",
        TaskStatus.CLOSED: f"codegen-bot's pull request for {where} was closed without merging",
    }.get(task.status, f"codegen-bot task {task.id}: {task.status}")
    return {
        "text": text,
        "task_id": task.id,
        "status": task.status,
        "repository": task.repository,
        "issue": task.issue_number,
        "issue_url": task.issue_url,
        "pull_requests": list(task.pull_requests),
        "detail": detail,
    }
