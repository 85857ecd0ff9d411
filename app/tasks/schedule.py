"""A task's jobs as the queue sees them: their kinds, the dedup keys that make
each step run once however often it is asked for, the poll delays, the workflow
deadline, the lock a stop and a spend share, and what a job starts from. The
job functions live in the modules named after what they do (advance, polling,
reporting, stopping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.pull_requests.status import PullRequestState
from app.queue import store as jobs
from app.queue.store import Job
from app.queue.worker import PermanentJobError
from app.runtime import Runtime
from app.tasks import store as tasks
from app.tasks.status import TaskStatus
from app.validation.keys import AUTO_MERGE_WATCH_JOB

ADVANCE_JOB = "task.advance"  # app.tasks.advance: check the issue, start an attempt
POLL_JOB = "task.poll"  # app.tasks.polling: follow the agent run (also late)
RENDER_JOB = "task.render"  # app.tasks.reporting: the tracking comment
NOTIFY_JOB = "task.notify"  # app.tasks.reporting: the outside webhook
BAN_JOB = "task.ban"  # app.tasks.stopping: stop a cancelled run's agents on its PR
LINK_JOB = "task.link_pull_requests"  # run by app.validation.link: validate the PRs

# A run past its timeout is still looked at now and then for this long: a pull
# request it opens late is linked to its task rather than lost.
LATE_WINDOW = timedelta(hours=24)
LATE_POLL_FACTOR = 5  # late polls come this many maximum poll delays apart


def task_lock(task_id: int) -> str:
    """Held while the task's agent run is created and while the task is cancelled
    or its pull request merged: a stop never races a spend."""
    return f"task:{task_id}:spend"


def poll_delay(poll_number: int, first: float = 10.0, most: float = 120.0) -> float:
    """About 10 s, growing by half each poll, capped at 2 minutes."""
    return min(most, first * (1.5**poll_number))


def poll_delay_for(runtime: Runtime, poll_number: int) -> float:
    s = runtime.settings
    return poll_delay(poll_number, s.run_poll_first_seconds, s.run_poll_max_seconds)


def deadline_from_now(timeout_ms: int) -> datetime:
    return datetime.now(UTC) + timedelta(milliseconds=timeout_ms)


async def enqueue_advance(conn: Any, task_id: int, step: str) -> None:
    await jobs.enqueue(conn, ADVANCE_JOB, {"task_id": task_id}, dedup_key=f"task:{task_id}:{step}")


async def enqueue_render(
    conn: Any, task_id: int, reason: str, *, react: bool = False, now: bool = False
) -> None:
    """The tracking comment made current once per `reason`; `react`: with the 👀
    reaction first (a new task's first feedback); `now`: a state that lasts, so
    a new task's post does not wait for its run (app/tasks/feedback.py)."""
    payload: dict[str, Any] = {"task_id": task_id}
    if react:
        payload["react"] = True
    if now:
        payload["now"] = True
    await jobs.enqueue(conn, RENDER_JOB, payload, dedup_key=f"task:{task_id}:render:{reason}")


async def note(runtime: Runtime, task_id: int, text: str, reason: str) -> None:
    """Add a line to the task's tracking comment (once per text) and re-render it."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        await tasks.add_note(conn, task_id, text)
        await enqueue_render(conn, task_id, reason)


async def enqueue_notify(conn: Any, task_id: int, attempt: int, status: TaskStatus) -> None:
    """Once per attempt and ending: a retried job never notifies twice."""
    await jobs.enqueue(
        conn,
        NOTIFY_JOB,
        {"task_id": task_id},
        dedup_key=f"task:{task_id}:notify:{attempt}:{status}",
    )


async def enqueue_link(conn: Any, task_id: int, attempt: int) -> None:
    await jobs.enqueue(
        conn, LINK_JOB, {"task_id": task_id}, dedup_key=f"task:{task_id}:link:{attempt}"
    )


async def enqueue_poll(conn: Any, task_id: int, attempt: int, poll: int, delay: float) -> None:
    await jobs.enqueue(
        conn,
        POLL_JOB,
        {"task_id": task_id, "attempt": attempt, "poll": poll},
        delay=delay,
        dedup_key=f"task:{task_id}:poll:{attempt}:{poll}",
    )


async def enqueue_late_poll(
    runtime: Runtime, task_id: int, attempt: int, poll: int, *, key: str | None = None
) -> None:
    """A look at a timed-out run: the next in the chain, or (`key` given) a single
    look now, e.g. because a pull request for the task's issue was opened."""
    delay = 0.0 if key else LATE_POLL_FACTOR * runtime.settings.run_poll_max_seconds
    await jobs.enqueue(
        runtime.pool,
        POLL_JOB,
        {"task_id": task_id, "attempt": attempt, "poll": poll, "late": True, "once": bool(key)},
        delay=delay,
        dedup_key=f"task:{task_id}:late:{attempt}:{key or poll}",
    )


async def enqueue_ban(conn: Any, task_id: int, run_id: int, why: str) -> None:
    await jobs.enqueue(
        conn,
        BAN_JOB,
        {"task_id": task_id, "run_id": run_id},
        dedup_key=f"task:{task_id}:ban:{run_id}:{why}",
    )


async def job_task(runtime: Runtime, job: Job) -> tuple[tasks.Task, GitHubClient]:
    """The task a job is about and a client of its installation."""
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None:
        raise PermanentJobError(f"task {job.payload['task_id']} does not exist")
    gh = await runtime.github.for_installation(task.installation_id)
    return task, gh


async def enqueue_auto_merge_off(conn: Any, task_id: int, reason: str) -> None:
    """The task stopped, or a retry makes a new PR: GitHub's auto-merge, if the
    bot turned it on for one of the task's open PRs, must not merge it now. The
    watch (app/validation/merge.py) turns it off at once, not at its next look."""
    for pr in await pull_requests.for_task(conn, task_id):
        if pr.state == PullRequestState.OPEN:
            await jobs.enqueue(
                conn,
                AUTO_MERGE_WATCH_JOB,
                {"pull_request_id": pr.id},
                dedup_key=f"merge-watch:{pr.id}:{reason}",
            )
