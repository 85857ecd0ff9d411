"""The end of a pull request, merged or closed: its validations stop, and its
task ends merged or closed (with its follow-ups stopped and people told)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.budgets import admission
from app.db import advisory_xact_lock
from app.followups import store as followups
from app.pull_requests import store as pull_requests
from app.pull_requests.status import PullRequestState
from app.queue import store as jobs
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.status import PR_STAGES, TaskStatus
from app.validation.heads import supersede
from app.validation.keys import lock_key


async def pull_request_closed(
    runtime: Runtime, repository: str, number: int, merged: bool, by: str
) -> None:
    """The PR ended: stop its validations; the task is merged or closed."""
    pool = runtime.pool
    async with pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, lock_key(repository, number))
        pr = await pull_requests.find(conn, repository, number)
        if pr is None:
            return
        now = datetime.now(UTC)
        if merged:
            await pull_requests.update(
                conn, pr.id, state=PullRequestState.MERGED, merged_at=now, closed_at=now
            )
        else:
            await pull_requests.update(conn, pr.id, state=PullRequestState.CLOSED, closed_at=now)
        await supersede(conn, pr.id)
        if pr.task_id is None:
            return
        if merged:
            moved = await tasks.transition(
                conn,
                pr.task_id,
                from_status=PR_STAGES | {TaskStatus.RUNNING},
                to_status=TaskStatus.MERGED,
                detail=f"#{number} merged by @{by}",
                merged_at=now,
            )
        else:
            moved = await tasks.transition(
                conn,
                pr.task_id,
                from_status=PR_STAGES,
                to_status=TaskStatus.CLOSED,
                detail=f"#{number} was closed by @{by} without merging",
            )
        if moved:
            await followups.stop_for_task(
                conn, moved.id, f"pull request #{number} {'merged' if merged else 'closed'}"
            )
            await jobs.enqueue(
                conn,
                task_flow.NOTIFY_JOB,
                {"task_id": moved.id},
                dedup_key=f"task:{moved.id}:notify:{moved.attempt}:{moved.status}",
            )
            await task_flow.enqueue_render(conn, moved.id, f"pr:{number}:{moved.status}")
            # Merged while its run still worked: the slot it held goes to the queue.
            await admission.enqueue_admit(
                conn, moved.installation_id, f"task:{moved.id}:{moved.attempt}:{moved.status}"
            )
