"""Stopping a task: a cancel (by a person, or the issue's end) and the ban
(`task.ban`) that asks Codegen to stop the cancelled run's agents on its pull
request. A cancel takes the lock the run's creation takes, so a stop never
races a spend."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.budgets import admission
from app.budgets import store as admissions
from app.codegen.client import CodegenError
from app.db import advisory_lock, advisory_xact_lock
from app.followups import store as followups
from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks import tracking
from app.tasks import workflows_store as workflows
from app.tasks.request_status import STOPPABLE as STOPPABLE_ATTEMPTS
from app.tasks.request_status import RequestStatus
from app.tasks.schedule import (
    BAN_JOB,
    LATE_WINDOW,
    enqueue_ban,
    enqueue_render,
    note,
    task_lock,
)
from app.tasks.status import ACTIVE, PR_STAGES, TaskStatus
from app.tasks.workflow_status import WorkflowStatus

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


@dataclass(frozen=True)
class Cancelled:
    """What a cancel stopped, for the person who asked and the tracking comment."""

    task: tasks.Task  # as the cancel left it
    was: TaskStatus  # the status it had
    pull_requests: tuple[int, ...]  # whose automatic fixes and merge stop
    followups: int  # instructions the agent was still on, now no longer followed
    banned_run: int | None  # the agent run Codegen is asked to stop on its PR

    def summary(self) -> str:
        """One sentence (after "cancelled task N") of what stopped."""
        if not self.pull_requests:
            return "no agent run will be started or followed for it any more."
        prs = ", ".join(f"#{n}" for n in self.pull_requests)
        parts = [f"no more automatic CI fixes, review fixes or auto-merge on {prs}"]
        if self.followups:
            n = self.followups
            parts.append(f"stopped following {n} follow-up{'s' * (n != 1)} the agent was on")
        if self.banned_run is not None:
            parts.append(
                f"asked Codegen to stop agent run {self.banned_run}'s agents on the pull "
                "request and its own CI fixes there (ban)"
            )
        return "; ".join(parts) + "."


def cancel_note(stopped: Cancelled, reason: str) -> str:
    """The tracking comment's line about a cancel of a task whose PR is out."""
    return f"Cancelled at `{stopped.was}` ({reason}): {stopped.summary()}"


def watched_late(task: tasks.Task, now: datetime) -> bool:
    """A task that timed out while its run is still looked at for a late pull
    request (`app.tasks.polling`): a cancel must stop that too, or the late PR would be
    linked, validated, fixed and merged after all."""
    if task.status != TaskStatus.TIMED_OUT:
        return False
    return task.deadline_at is None or now <= task.deadline_at + LATE_WINDOW


async def cancel(
    runtime: Runtime,
    task: tasks.Task,
    reason: str,
    *,
    from_status: Collection[TaskStatus] = ACTIVE,
) -> Cancelled | None:
    """Stop a task: no run is created or followed after this (the create takes the
    same lock and checks), its follow-ups stop, and once a PR is out, no more CI
    fixes, review fixes or merges (their jobs check the status) and Codegen is
    asked to stop its agents on the PR (a ban, by a job). None when the task was
    not in `from_status` by the time the lock was held."""
    pool = runtime.pool
    async with advisory_lock(pool, task_lock(task.id)):
        async with pool.acquire() as conn, conn.transaction():
            await advisory_xact_lock(conn, followups.lock_key(task.id))
            current = await tasks.get(conn, task.id)
            if current is None or current.status not in from_status:
                return None
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=from_status,
                to_status=TaskStatus.CANCELLED,
                detail=reason,
            )
            if moved is None:
                return None
            await workflows.finish(conn, task.id, WorkflowStatus.CANCELLED, reason)
            # Out of the budget queue if it waited there; a slot it held is freed.
            await admissions.withdraw(conn, task.id, datetime.now(UTC))
            stamp = int(moved.updated_at.timestamp() * 1000)
            await admission.enqueue_admit(
                conn, moved.installation_id, f"task:{task.id}:cancelled:{stamp}"
            )
            run_id = None
            for request in await codegen_requests.for_task(conn, task.id):
                # `timed_out`: a run still watched for a late PR is no longer watched.
                if request.status in STOPPABLE_ATTEMPTS:
                    await codegen_requests.move(
                        conn, request.id, STOPPABLE_ATTEMPTS, RequestStatus.CANCELLED
                    )
                if request.agent_run_id is not None:
                    run_id = request.agent_run_id
            stopped_followups = await followups.stop_for_task(conn, task.id, reason)
            numbers: tuple[int, ...] = ()
            banned = None
            if current.status in PR_STAGES:
                numbers = tuple(
                    n
                    for n in (
                        pull_requests.number_from_url(pr.get("url") or "", task.repository)
                        for pr in current.pull_requests
                    )
                    if n is not None
                )
                if run_id is not None:
                    banned = run_id
                    await enqueue_ban(conn, task.id, run_id, f"cancel:{current.attempt}")
            stopped = Cancelled(moved, current.status, numbers, stopped_followups, banned)
            if numbers:
                await tasks.add_note(conn, task.id, cancel_note(stopped, reason))
            await enqueue_render(conn, task.id, "cancelled")
    return stopped


async def stop_for_issue(runtime: Runtime, repository: str, number: int, reason: str) -> None:
    """Stop the issue's active task, or its newest one whose timed-out run is
    still watched for a late pull request."""
    pool = runtime.pool
    active = await tasks.active_for_issue(pool, repository, number)
    if active is not None:
        await cancel(runtime, active, reason)
        return
    latest = await tasks.latest_for_issue(pool, repository, number)
    if latest is not None and watched_late(latest, datetime.now(UTC)):
        await cancel(runtime, latest, reason, from_status=(TaskStatus.TIMED_OUT,))


async def stop_on_unlabel(runtime: Runtime, gh: GitHubClient, data: dict[str, Any]) -> None:
    """An `issues.unlabeled` event: removing the repository's trigger label stops
    the issue's task (any other label changes nothing)."""
    repository = data["repository"]["full_name"]
    config, _, _ = await load_repo_config(gh, repository, runtime.settings)
    if data["label"]["name"].lower() == config.trigger_label.lower():
        reason = f"@{data['sender']['login']} removed the label"
        await stop_for_issue(runtime, repository, data["issue"]["number"], reason)


async def ban_died(runtime: Runtime, job: Job) -> None:
    """The ban kept failing (Codegen unreachable): say so rather than nothing."""
    run_id = job.payload["run_id"]
    await note(
        runtime,
        job.payload["task_id"],
        f"Codegen could not be reached to stop agent run {run_id} on the pull request.",
        f"ban:{run_id}:failed",
    )


@registry.job(BAN_JOB, on_dead=ban_died)
async def ban_job(runtime: Runtime, job: Job) -> None:
    """Ask Codegen to stop the agents of a cancelled task's run on its PR, and to
    leave the PR's CI to people (`ban`); the tracking comment says how it went.
    A later `/codegen retry` makes a new run, which this ban does not touch, so
    it is not lifted (Codegen's `unban` would undo it)."""
    task_id, run_id = job.payload["task_id"], job.payload["run_id"]
    try:
        await runtime.codegen.ban_run(run_id)
    except CodegenError as exc:
        if exc.retryable:
            raise
        await note(
            runtime,
            task_id,
            f"Codegen did not stop agent run {run_id} on the pull request: "
            f"{tracking.short_reason(exc.message)}",
            f"ban:{run_id}:refused",
        )
        return
    text = (
        f"Simulated Codegen: agent run {run_id} had no agents to stop."
        if runtime.codegen_simulated
        else f"Codegen stopped agent run {run_id}'s agents on the pull request and will not "
        "fix its CI on its own (ban)."
    )
    await note(runtime, task_id, text, f"ban:{run_id}:done")
