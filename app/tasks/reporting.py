"""Telling people how a task stands: its tracking comment on the issue
(`task.render`, kept in step with the task by app/tasks/feedback.py) and the
outside webhook told of a task's end (`task.notify`)."""

from __future__ import annotations

import logging

import httpx

from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.runtime import Runtime
from app.tasks import feedback, tracking
from app.tasks import store as tasks
from app.tasks.schedule import NOTIFY_JOB, RENDER_JOB
from app.tasks.status import TaskStatus

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


@registry.job(RENDER_JOB)
async def render_job(runtime: Runtime, job: Job) -> None:
    """The tracking comment made current (and a new task's 👀), through the
    task's slot in this process (app/tasks/feedback.py)."""
    await feedback.render_for_job(runtime, job)


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
