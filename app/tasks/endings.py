"""How an attempt ends: the task takes its final status (or a pull request
stage), its workflow record is closed, the webhook and the tracking comment
are told, and a task with a pull request goes on to validation."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from app.budgets import admission
from app.github.client import GitHubClient
from app.observability import metrics
from app.queue import store as jobs
from app.queue.store import Job
from app.runtime import Runtime
from app.tasks import feedback, tracking
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.schedule import enqueue_link, enqueue_notify, enqueue_render
from app.tasks.status import WORKING, TaskStatus
from app.tasks.workflow_status import StepStatus, WorkflowStatus

# How a task whose run was simulated ends (no key: no agent, no pull request).
SIMULATED_ENDING = "simulated run: no pull request was opened"

# The workflow record's ending for each way an attempt ends.
_WORKFLOW_ENDING = {
    TaskStatus.PR_OPEN: WorkflowStatus.COMPLETED,
    TaskStatus.FAILED: WorkflowStatus.FAILED,
    TaskStatus.CANCELLED: WorkflowStatus.CANCELLED,
    TaskStatus.TIMED_OUT: WorkflowStatus.TIMED_OUT,
}


def minutes(ms: float) -> str:
    return tracking.duration(ms / 1000)


async def job_died(runtime: Runtime, job: Job) -> None:
    """A task's job failed for good (an error on its last attempt, or its worker
    kept dying): fail the task with the reason, so its tracking comment never
    stays at "working". The worker calls this clean-up."""
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None or task.status not in WORKING:
        return
    error = await jobs.last_error(runtime.pool, job.id)
    reason = tracking.job_failure_reason(error, task.id)
    async with runtime.pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn, task.id, from_status=WORKING, to_status=TaskStatus.FAILED, detail=reason[:500]
        )
        if moved:
            await workflows.finish(conn, task.id, WorkflowStatus.FAILED, moved.status_detail)
            await enqueue_notify(conn, task.id, moved.attempt, TaskStatus.FAILED)
            await enqueue_render(conn, task.id, "final")
            await admission.enqueue_admit(
                conn, moved.installation_id, f"task:{task.id}:{moved.attempt}:died"
            )


async def finish(
    runtime: Runtime,
    gh: GitHubClient,
    task_id: int,
    *,
    to_status: TaskStatus,
    detail: str | None,
    from_status: Collection[TaskStatus] = (TaskStatus.RUNNING,),
    pull_requests: list[dict[str, Any]] | None = None,
    simulated: bool | None = None,
    note_text: str | None = None,
) -> None:
    """Move the task to a final status, close its workflow record, tell people."""
    pool = runtime.pool
    fields: dict[str, Any] = {}
    if pull_requests is not None:
        fields["pull_requests"] = pull_requests
    if simulated is not None:
        fields["simulated"] = simulated
    if to_status == TaskStatus.PR_OPEN:
        fields["pr_opened_at"] = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn, task_id, from_status=from_status, to_status=to_status, detail=detail, **fields
        )
        if moved is None:
            return
        if note_text:
            await tasks.add_note(conn, task_id, note_text)
        await workflows.step(
            conn,
            task_id,
            "create_pr",
            StepStatus.COMPLETED if to_status == TaskStatus.PR_OPEN else StepStatus.FAILED,
            detail,
        )
        await workflows.step(conn, task_id, "notify_completion", StepStatus.COMPLETED)
        await workflows.finish(conn, task_id, _WORKFLOW_ENDING[to_status], detail)
        await enqueue_notify(conn, task_id, moved.attempt, to_status)
        # The attempt's run (or its request for one) ended: the budget queue moves.
        await admission.enqueue_admit(
            conn, moved.installation_id, f"task:{task_id}:{moved.attempt}:{to_status}"
        )
        if to_status == TaskStatus.PR_OPEN:
            await enqueue_link(conn, task_id, moved.attempt)
        # The final edit is never lost: a job, enqueued with the move.
        await enqueue_render(conn, task_id, f"end:{moved.attempt}:{to_status}")
    count_ending(moved, to_status)
    await feedback.show(runtime, moved)


def count_ending(moved: tasks.Task, to_status: TaskStatus) -> None:
    """The KPI counters of an attempt's end (app.observability.metrics)."""
    metrics.TASK_ATTEMPTS_ENDED.labels(
        outcome=str(to_status), attempt=metrics.attempt_label(moved.attempt)
    ).inc()
    if to_status == TaskStatus.PR_OPEN and moved.pr_opened_at is not None:
        metrics.PULL_REQUESTS_OPENED.inc()
        metrics.LABEL_TO_PR_SECONDS.observe((moved.pr_opened_at - moved.created_at).total_seconds())
