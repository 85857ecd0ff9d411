"""What people (and CI) can ask of a task after its first run: a new attempt
with a strategy, or follow-up instructions for the agent run that made the PR.

Both are keyed by what asked for them (a comment line, a button click, a
commit) and carried out by jobs, so a redelivered event or a crashed worker
never starts a second attempt or sends the same instructions twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.budgets.decide import review_fix_refusal
from app.codegen.client import CodegenError, run_state
from app.commands import log_store as command_log
from app.db import advisory_xact_lock
from app.followups import store as followups
from app.followups.decisions import FollowupPollAction, decide_poll
from app.followups.status import IN_FLIGHT, UNSENT, FollowupStatus
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import schedule
from app.tasks import store as tasks
from app.tasks.status import PR_STAGES, RETRYABLE, WORKING, TaskStatus
from app.tasks.tracking import job_failure_reason, mention, short_reason
from prompts.builder import STRATEGIES

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

SEND_JOB = "followup.send"
POLL_JOB = "followup.poll"


@dataclass(frozen=True)
class Outcome:
    """What happened, in words for the person who asked."""

    ok: bool
    message: str


def next_strategy(task: tasks.Task) -> str | None:
    """The strategy after the last attempt's: none for a first run, then each in turn."""
    if task.attempt < 1:
        return None
    return STRATEGIES[min(task.attempt - 1, len(STRATEGIES) - 1)]


async def retry(
    runtime: Runtime,
    task: tasks.Task,
    strategy: str | None,
    by: str,
    timeout_ms: int,
    command_key: str | None = None,
    *,
    prepare: Callable[[Any, tasks.Task], Awaitable[None]] | None = None,
    fields: dict[str, Any] | None = None,
) -> Outcome:
    """Start the next attempt of a task that is not working; a command that asked
    is marked as acted on in the same transaction, so its retry never repeats it.
    `prepare(conn, task)` runs in that transaction once the task has moved (the
    REST API stores the attempt's prompt there); `fields` are set on the task."""
    if task.status in WORKING:
        return Outcome(
            False,
            f"attempt {max(task.attempt, 1)} of task {task.id} is still running; "
            "nothing new was started. Use `/codegen cancel` first to stop it.",
        )
    if task.status == TaskStatus.NEEDS_INFO:
        return Outcome(
            False, "the task is waiting for more information: edit the issue and it resumes."
        )
    if task.status == TaskStatus.CREATED:
        return Outcome(
            False,
            f"task {task.id} has not started yet: `/codegen run` (or the API's create-pr) "
            "starts its first attempt.",
        )
    chosen = strategy or next_strategy(task)
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=RETRYABLE,
                to_status=TaskStatus.GENERATING_PROMPT,
                detail=f"{mention(by)} asked for a new attempt"
                + (f" ({chosen.replace('_', ' ')})" if chosen else ""),
                next_strategy=chosen,
                deadline_at=schedule.deadline_from_now(timeout_ms),
                **(fields or {}),
            )
            if moved is None:
                return Outcome(False, "the task changed state meanwhile; nothing was started.")
            if prepare is not None:
                await prepare(conn, moved)
            if command_key is not None:
                await command_log.mark_started(conn, command_key)
            # Keyed by this retry, not only the attempt's number: an attempt that
            # made no run (cancelled while queued for budget, or while its prompt
            # was built) is asked for again under the same number.
            step = f"{task.attempt + 1}:{int(moved.updated_at.timestamp() * 1_000_000)}"
            await schedule.enqueue_advance(conn, task.id, f"attempt:{step}")
            await schedule.enqueue_render(conn, task.id, f"retry:{step}")
            if task.status in PR_STAGES:  # the new attempt makes a new PR
                await schedule.enqueue_auto_merge_off(conn, task.id, f"retry:{step}")
    except asyncpg.UniqueViolationError:
        return Outcome(False, "another task is already active on this issue; nothing was started.")
    how = f" with strategy `{chosen}`" if chosen else ""
    return Outcome(True, f"started attempt {task.attempt + 1} of task {task.id}{how}.")


async def latest_run_id(conn: Any, task: tasks.Task) -> int | None:
    for request in reversed(await codegen_requests.for_task(conn, task.id)):
        if request.agent_run_id is not None:
            return request.agent_run_id
    return None


def followup_lock(task_id: int) -> str:
    """One writer of a task's follow-ups at a time (a cancel takes it too)."""
    return followups.lock_key(task_id)


async def request_followup(
    runtime: Runtime,
    task: tasks.Task,
    *,
    kind: str,
    key: str,
    instructions: str,
    by: str,
    pull_request_id: int | None = None,
) -> Outcome:
    """Send instructions to the task's agent run (once per key), by a job."""
    if task.status in WORKING:
        return Outcome(
            False,
            "the agent is still working on this task; send the instructions once it has "
            "finished (or `/codegen cancel` it).",
        )
    if task.status == TaskStatus.CANCELLED:
        return Outcome(
            False,
            f"task {task.id} was cancelled ({task.status_detail or 'by request'}), so nothing "
            "is sent to the agent any more. `/codegen retry` starts a new attempt.",
        )
    if task.status not in PR_STAGES:
        return Outcome(
            False,
            f"task {task.id} is `{task.status}`: there is no open pull request to change. "
            "`/codegen retry` starts a new attempt.",
        )
    # The per-task cap on review fixes, on every path that sends one (command, button).
    most = await review_fix_max(runtime, task) if kind in followups.REVIEW_FIX_KINDS else None
    async with runtime.pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, followup_lock(task.id))
        current = await tasks.get(conn, task.id)
        if current is None or current.status not in PR_STAGES:
            return Outcome(False, f"task {task.id} changed state meanwhile; nothing was sent.")
        busy = await followups.in_flight(conn, task.id)
        if busy is not None and busy.key != key:
            return Outcome(
                False,
                f"the agent is still working on earlier instructions (from @{busy.requested_by}); "
                "try again when it has finished.",
            )
        if most is not None and not await followups.exists(conn, key):
            # Counted under the lock: two requests at once cannot both take the last one.
            used = await followups.review_fixes_used(conn, task.id)
            if (refusal := review_fix_refusal(task.id, used, most)) is not None:
                return Outcome(False, refusal)
        return await add_followup(
            conn,
            task,
            kind=kind,
            key=key,
            instructions=instructions,
            by=by,
            pull_request_id=pull_request_id,
        )


async def review_fix_max(runtime: Runtime, task: tasks.Task) -> int | None:
    """The repository's `review_fix.max` (None: no limit)."""
    gh = await runtime.github.for_installation(task.installation_id)
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    return config.review_fix_max


async def add_followup(
    conn: Any,
    task: tasks.Task,
    *,
    kind: str,
    key: str,
    instructions: str,
    by: str,
    pull_request_id: int | None,
) -> Outcome:
    """Record the follow-up and its send job, in the caller's transaction (which
    holds `followup_lock`)."""
    run_id = await latest_run_id(conn, task)
    if run_id is None:
        return Outcome(False, "this task has no agent run to send instructions to yet.")
    followup, created = await followups.create(
        conn,
        task_id=task.id,
        pull_request_id=pull_request_id,
        kind=kind,
        key=key,
        agent_run_id=run_id,
        instructions=instructions,
        requested_by=by,
    )
    if created:
        await jobs.enqueue(
            conn, SEND_JOB, {"followup_id": followup.id}, dedup_key=f"followup:{followup.id}"
        )
    return Outcome(True, f"sent to agent run {run_id} of task {task.id}.")


async def give_up(runtime: Runtime, job: Job, reason: str) -> None:
    """A follow-up whose job cannot go on must not stay "sending" for good: it
    would block every later follow-up of its task."""
    followup = await followups.get(runtime.pool, job.payload["followup_id"])
    if followup is None or followup.status not in IN_FLIGHT:
        return
    async with runtime.pool.acquire() as conn, conn.transaction():
        await followups.move(conn, followup.id, IN_FLIGHT, FollowupStatus.FAILED, reason[:300])
        await schedule.enqueue_render(conn, followup.task_id, f"followup:{followup.id}:gave_up")


async def job_died(runtime: Runtime, job: Job) -> None:
    """The job failed for good (an error on its last attempt, or its worker kept
    dying): the worker calls this clean-up."""
    error = await jobs.last_error(runtime.pool, job.id)
    await give_up(runtime, job, job_failure_reason(error, None))


@registry.job(SEND_JOB, on_dead=job_died)
async def send_job(runtime: Runtime, job: Job) -> None:
    pool = runtime.pool
    followup = await followups.get(pool, job.payload["followup_id"])
    if followup is None:
        raise PermanentJobError(f"follow-up {job.payload['followup_id']} does not exist")
    if followup.status not in UNSENT:
        return
    codegen = runtime.codegen
    if followup.status == FollowupStatus.SENDING:
        # An earlier try may have sent it and died before recording so.
        run = await codegen.get_run(followup.agent_run_id)
        if run_state(run.status) == "running":
            await _sent(runtime, followup)
            return
    async with pool.acquire() as conn, conn.transaction():
        # Under the lock a cancel takes: it either stopped this follow-up already,
        # or comes after the mark below and then stops the agent again (_sent).
        await advisory_xact_lock(conn, followup_lock(followup.task_id))
        task = await tasks.get(conn, followup.task_id)
        if task is None or task.status not in PR_STAGES:
            await followups.move(
                conn,
                followup.id,
                UNSENT,
                FollowupStatus.FAILED,
                f"not sent: the task is {task.status if task else 'gone'}",
            )
            await schedule.enqueue_render(conn, followup.task_id, f"followup:{followup.id}:off")
            return
        if not await followups.move(conn, followup.id, UNSENT, FollowupStatus.SENDING):
            return
    try:
        await codegen.resume_run(followup.agent_run_id, followup.instructions)
    except CodegenError as exc:
        if exc.retryable:
            raise
        await followups.move(
            pool, followup.id, (FollowupStatus.SENDING,), FollowupStatus.FAILED, exc.message
        )
        await schedule.note(
            runtime,
            followup.task_id,
            f"Codegen refused the follow-up from @{followup.requested_by}: "
            f"{short_reason(exc.message)}",
            f"followup:{followup.id}:failed",
        )
        return
    await _sent(runtime, followup)


async def _sent(runtime: Runtime, followup: followups.Followup) -> None:
    async with runtime.pool.acquire() as conn, conn.transaction():
        if not await followups.move(
            conn, followup.id, (FollowupStatus.SENDING,), FollowupStatus.RUNNING
        ):
            # Stopped while the instructions were on their way: the agent was
            # resumed after the stop, so ask Codegen to stop it once more.
            task = await tasks.get(conn, followup.task_id)
            if task is not None and task.status == TaskStatus.CANCELLED:
                await schedule.enqueue_ban(
                    conn, task.id, followup.agent_run_id, f"followup:{followup.id}"
                )
            return
        await jobs.enqueue(
            conn,
            POLL_JOB,
            {"followup_id": followup.id, "poll": 0},
            delay=schedule.poll_delay_for(runtime, 0),
            dedup_key=f"followup:{followup.id}:poll:0",
        )
        await schedule.enqueue_render(conn, followup.task_id, f"followup:{followup.id}:sent")


@registry.job(POLL_JOB, on_dead=job_died)
async def poll_job(runtime: Runtime, job: Job) -> None:
    pool = runtime.pool
    followup = await followups.get(pool, job.payload["followup_id"])
    if followup is None or followup.status != FollowupStatus.RUNNING:
        return
    poll = job.payload["poll"]
    try:
        run = await runtime.codegen.get_run(followup.agent_run_id)
    except CodegenError as exc:
        if exc.retryable:
            raise
        await followups.move(
            pool, followup.id, (FollowupStatus.RUNNING,), FollowupStatus.FAILED, exc.message
        )
        await schedule.enqueue_render(pool, followup.task_id, f"followup:{followup.id}:done")
        return
    state = run_state(run.status)
    await followups.update(pool, followup.id, polls=poll + 1)
    limit = await _run_timeout_seconds(runtime, followup.task_id)
    sent = followup.sent_at or followup.created_at
    decision = decide_poll(
        state=state,
        working_seconds=(datetime.now(UTC) - sent).total_seconds(),
        limit_seconds=limit,
        next_delay=schedule.poll_delay_for(runtime, poll + 1),
    )
    if decision.action == FollowupPollAction.KEEP_POLLING:
        await jobs.enqueue(
            pool,
            POLL_JOB,
            {"followup_id": followup.id, "poll": poll + 1},
            delay=decision.delay,
            dedup_key=f"followup:{followup.id}:poll:{poll + 1}",
        )
        return
    if decision.action == FollowupPollAction.TIME_OUT:
        status = FollowupStatus.FAILED
        error = f"still working after {round(limit / 60)} min; stopped following"
    elif decision.action == FollowupPollAction.COMPLETE:
        status, error = FollowupStatus.COMPLETE, None
    else:
        status, error = FollowupStatus.FAILED, (run.summary or run.result or run.status)
    async with pool.acquire() as conn, conn.transaction():
        await followups.move(conn, followup.id, (FollowupStatus.RUNNING,), status, error)
        await schedule.enqueue_render(conn, followup.task_id, f"followup:{followup.id}:done")


async def _run_timeout_seconds(runtime: Runtime, task_id: int) -> float:
    """A follow-up is an agent run too: it gets the repository's run timeout."""
    task = await tasks.get(runtime.pool, task_id)
    if task is None:
        return runtime.settings.agent_run_timeout_ms / 1000
    gh = await runtime.github.for_installation(task.installation_id)
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    return config.run_timeout_ms / 1000
