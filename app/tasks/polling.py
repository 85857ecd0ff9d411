"""Following an attempt's agent run (`task.poll`) until it ends: its pull
requests are taken, its failure retried or reported, its timeout enforced.
A run past its timeout is still looked at now and then (late polls) for
`LATE_WINDOW`, so a pull request it opens late is linked rather than lost.
What a look leads to is decided in `app.tasks.decisions`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from app.budgets import admission
from app.codegen import simulated_store as simulated_runs
from app.codegen.client import CodegenError, run_state
from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import feedback, tracking
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks.decisions import PollAction, decide_poll
from app.tasks.endings import SIMULATED_ENDING, finish, job_died, minutes
from app.tasks.request_status import LATE, RequestStatus
from app.tasks.schedule import (
    LATE_WINDOW,
    POLL_JOB,
    deadline_from_now,
    enqueue_advance,
    enqueue_late_poll,
    enqueue_poll,
    enqueue_render,
    job_task,
    poll_delay_for,
)
from app.tasks.status import TaskStatus

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


@registry.job(POLL_JOB, on_dead=job_died)
async def poll_job(runtime: Runtime, job: Job) -> None:
    task, gh = await job_task(runtime, job)
    if job.payload.get("late"):
        await _poll_late(runtime, gh, task, job.payload)
        return
    attempt, poll = job.payload["attempt"], job.payload["poll"]
    if task.status != TaskStatus.RUNNING or task.attempt != attempt:
        return  # stopped, or a newer attempt took over
    pool = runtime.pool
    request = await codegen_requests.get(pool, task.id, attempt)
    if request is None or request.agent_run_id is None:
        raise PermanentJobError(f"task {task.id} attempt {attempt} has no agent run to follow")
    try:
        run = await runtime.codegen.get_run(request.agent_run_id)
    except CodegenError as exc:
        if exc.retryable:
            raise
        await codegen_requests.move(
            pool, request.id, (request.status,), RequestStatus.FAILED, error=exc.message
        )
        await finish(
            runtime, gh, task.id, to_status=TaskStatus.FAILED, detail=f"Codegen: {exc.message}"
        )
        return
    await codegen_requests.update(pool, request.id, polls=poll + 1, web_url=run.web_url)
    state = run_state(run.status)
    decision = decide_poll(
        state=state,
        has_pull_requests=bool(run.pull_requests),
        # Asked only of a completed run: a running one is not taken either way.
        simulated=state == "complete"
        and await _simulated(runtime, task, request.agent_run_id, attempt),
        now=datetime.now(UTC),
        deadline_at=task.deadline_at,
        next_delay=poll_delay_for(runtime, poll + 1),
        attempt=attempt,
        max_retries=task.max_retries,
    )
    action = decision.action
    if action == PollAction.TIME_OUT:
        await _run_timed_out(runtime, gh, task, request)
    elif action == PollAction.KEEP_POLLING:
        await enqueue_poll(pool, task.id, attempt, poll + 1, decision.delay)
    elif action == PollAction.FINISH_SIMULATED:
        # A simulated run opens nothing: whatever it reports, no pull request is
        # taken from it, so none is linked, validated, fixed or merged.
        await codegen_requests.move(
            pool, request.id, (request.status,), RequestStatus.COMPLETE, summary=run.summary
        )
        await finish(
            runtime,
            gh,
            task.id,
            to_status=TaskStatus.CANCELLED,
            detail=SIMULATED_ENDING,
            simulated=True,
        )
    elif action == PollAction.FINISH_WITH_PR:
        prs = _taken(run)
        await codegen_requests.move(
            pool,
            request.id,
            (request.status,),
            RequestStatus.COMPLETE,
            pull_requests=prs,
            summary=run.summary,
        )
        # A real run's PRs: the task is no longer a simulated one (a `/codegen retry`
        # after an API key was configured), so they are linked.
        await finish(
            runtime,
            gh,
            task.id,
            to_status=TaskStatus.PR_OPEN,
            detail=None,
            pull_requests=prs,
            simulated=False,
        )
    elif action == PollAction.FINISH_WITHOUT_PR:
        summary = (run.summary or run.result or "no summary").strip()
        await codegen_requests.move(
            pool, request.id, (request.status,), RequestStatus.COMPLETE, summary=summary
        )
        await finish(
            runtime,
            gh,
            task.id,
            to_status=TaskStatus.FAILED,
            detail=f"Codegen finished without opening a pull request: “{summary[:500]}”",
        )
    elif action == PollAction.FINISH_CANCELLED:
        await codegen_requests.move(
            pool, request.id, (request.status,), RequestStatus.CANCELLED, summary=run.summary
        )
        await finish(
            runtime,
            gh,
            task.id,
            to_status=TaskStatus.CANCELLED,
            detail=f"the agent run was {run.status.lower()}",
        )
    else:  # the run failed
        reason = (run.summary or run.result or run.status).strip()
        await codegen_requests.move(
            pool,
            request.id,
            (request.status,),
            RequestStatus.FAILED,
            error=reason[:500],
            summary=run.summary,
        )
        if action == PollAction.RETRY:
            await _retry(runtime, gh, task, attempt, reason)
        else:
            await finish(
                runtime,
                gh,
                task.id,
                to_status=TaskStatus.FAILED,
                detail=f"all {attempt} agent runs failed; the last said: “{reason[:500]}”",
            )


def _taken(run: Any) -> list[dict[str, Any]]:
    """The run's pull requests as the task stores them."""
    return [
        {"url": pr.url, "title": pr.title, "id": pr.id, "head_branch": pr.head_branch}
        for pr in run.pull_requests
    ]


async def _retry(
    runtime: Runtime, gh: GitHubClient, task: tasks.Task, attempt: int, reason: str
) -> None:
    """The run failed with retries left: back to a new prompt and run."""
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    async with runtime.pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn,
            task.id,
            from_status=(TaskStatus.RUNNING,),
            to_status=TaskStatus.GENERATING_PROMPT,
            detail=f"attempt {attempt} failed: {reason[:200]}",
            deadline_at=deadline_from_now(config.timeout_ms),
        )
        if moved:
            await enqueue_advance(conn, task.id, f"attempt:{attempt + 1}")
            # Its run ended: the slot it held goes to the budget queue first.
            await admission.enqueue_admit(
                conn, task.installation_id, f"task:{task.id}:{attempt}:retry"
            )
            await enqueue_render(conn, task.id, f"retry:{attempt}")
    if moved:
        await feedback.show(runtime, moved)


async def _simulated(runtime: Runtime, task: tasks.Task, run_id: int, attempt: int) -> bool:
    """Whether the attempt's run is simulated: answered by the simulator, or made
    by it before a restart with an API key (a real run with the same id is not ours)."""
    if runtime.codegen_simulated:
        return True
    return await simulated_runs.made_for(
        runtime.pool, run_id, {"task_id": task.id, "attempt": attempt}
    )


async def _run_timed_out(
    runtime: Runtime, gh: GitHubClient, task: tasks.Task, request: codegen_requests.CodegenRequest
) -> None:
    """The run is past its own timeout: the task ends `timed_out`, and the run is
    still looked at now and then (`_poll_late`) so a late pull request is linked."""
    assert task.deadline_at is not None
    started = request.run_created_at or request.created_at
    allowed = minutes((task.deadline_at - started).total_seconds() * 1000)
    await codegen_requests.move(
        runtime.pool, request.id, (request.status,), RequestStatus.TIMED_OUT
    )
    await finish(
        runtime,
        gh,
        task.id,
        to_status=TaskStatus.TIMED_OUT,
        detail=f"agent run {request.agent_run_id} did not finish within the run timeout "
        f"({allowed}); a pull request it opens later is still linked to this task",
    )
    await enqueue_late_poll(runtime, task.id, request.attempt, 0)


async def late_pull_request(runtime: Runtime, repository: str, pull: dict[str, Any]) -> None:
    """A pull request that closes an issue whose newest task timed out: look at
    that task's run now rather than at its next late poll. Only a PR the run
    itself reports is linked, never one merely naming the issue."""
    head = (pull.get("head") or {}).get("sha") or ""
    for number in pull_requests.closing_issues(pull.get("body"))[:5]:
        task = await tasks.latest_for_issue(runtime.pool, repository, number)
        if task is not None and task.status == TaskStatus.TIMED_OUT:
            key = f"pr:{pull['number']}:{head[:40]}"
            await enqueue_late_poll(runtime, task.id, task.attempt, 0, key=key)


async def _poll_late(
    runtime: Runtime, gh: GitHubClient, task: tasks.Task, payload: dict[str, Any]
) -> None:
    """Look at a run that went past its timeout: if it has since opened a pull
    request, the task takes it and goes on as a PR task."""
    pool = runtime.pool
    attempt, poll = payload["attempt"], payload["poll"]
    if task.status != TaskStatus.TIMED_OUT or task.attempt != attempt:
        return  # retried, or linked already
    newest = await tasks.latest_for_issue(pool, task.repository, task.issue_number)
    if newest is None or newest.id != task.id:
        return  # the issue has a newer task: the late PR is not this one's to take
    request = await codegen_requests.get(pool, task.id, attempt)
    # `complete`: an earlier try recorded the run's PR and died before the task
    # took it (a cancel marks the attempt `cancelled`).
    if request is None or request.agent_run_id is None:
        return
    if request.status not in LATE:
        return
    if task.deadline_at is not None and datetime.now(UTC) > task.deadline_at + LATE_WINDOW:
        return
    try:
        run = await runtime.codegen.get_run(request.agent_run_id)
    except CodegenError as exc:
        if exc.retryable:
            raise
        return
    state = run_state(run.status)
    if state == "running":
        if not payload.get("once"):
            await enqueue_late_poll(runtime, task.id, attempt, poll + 1)
        return
    if state != "complete" or not run.pull_requests:
        return  # it ended without a pull request: the timeout stands
    if await _simulated(runtime, task, run.id, attempt):
        return  # a simulated run's pull request is never taken
    prs = _taken(run)
    when = "after its run timeout"
    if task.deadline_at is not None:
        past = tracking.duration((datetime.now(UTC) - task.deadline_at).total_seconds())
        when = f"about {past} after its run timeout"
    await codegen_requests.move(
        pool, request.id, LATE, RequestStatus.COMPLETE, pull_requests=prs, summary=run.summary
    )
    await finish(
        runtime,
        gh,
        task.id,
        to_status=TaskStatus.PR_OPEN,
        detail=None,
        from_status=(TaskStatus.TIMED_OUT,),
        pull_requests=prs,
        note_text=f"Agent run {run.id} finished late ({when}) and opened a pull request: "
        "it is linked to this task, which goes on.",
    )
