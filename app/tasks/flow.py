"""The task-to-PR workflow as jobs: each job does one step and enqueues the
next, so a crash at any point resumes from the database, and each side effect
(comment, reaction, agent run) is keyed so that a retry never repeats it."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app import cpu
from app.codegen import simulated_store as simulated_runs
from app.codegen.client import CodegenError, run_state
from app.db import advisory_lock, advisory_xact_lock
from app.followups import store as followups
from app.github import comments, urls
from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError, RescheduleJob
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks import tracking
from app.tasks import workflows_store as workflows
from app.tasks.readiness import missing_information
from app.tasks.repo_context import fetch_repo_context
from app.tasks.spec import TaskSpec
from app.tasks.status import ACTIVE, PR_STAGES, WORKING, TaskStatus
from app.validation import store as validations
from prompts.builder import STRATEGIES, PromptOptions, build_prompt

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

ADVANCE_JOB = "task.advance"
POLL_JOB = "task.poll"
RENDER_JOB = "task.render"
LINK_JOB = "task.link_pull_requests"  # run by validation_flow: validate the task's PRs
# How a task whose run was simulated ends (no key: no agent, no pull request).
SIMULATED_ENDING = "simulated run: no pull request was opened"


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


def tracking_key(task_id: int) -> str:
    return f"task:{task_id}"


async def enqueue_advance(conn: Any, task_id: int, step: str) -> None:
    await jobs.enqueue(conn, ADVANCE_JOB, {"task_id": task_id}, dedup_key=f"task:{task_id}:{step}")


async def enqueue_render(conn: Any, task_id: int, reason: str) -> None:
    await jobs.enqueue(
        conn, RENDER_JOB, {"task_id": task_id}, dedup_key=f"task:{task_id}:render:{reason}"
    )


async def note(runtime: Runtime, task_id: int, text: str, reason: str) -> None:
    """Add a line to the task's tracking comment (once per text) and re-render it."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        await tasks.add_note(conn, task_id, text)
        await enqueue_render(conn, task_id, reason)


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
        permission = "write"
        if current.status == TaskStatus.NEEDS_INFO:  # it says who may resume the task
            config, _problems, _sha = await load_repo_config(
                gh, current.repository, runtime.settings
            )
            permission = config.permission
        body = tracking.render(current, attempts, sent, shown, permission)
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


async def _load(runtime: Runtime, job: Job) -> tuple[tasks.Task, GitHubClient]:
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None:
        raise PermanentJobError(f"task {job.payload['task_id']} does not exist")
    gh = await runtime.github.for_installation(task.installation_id)
    return task, gh


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
            await workflows.finish(conn, task.id, "failed", moved.status_detail)
            await jobs.enqueue(
                conn,
                NOTIFY_JOB,
                {"task_id": task.id},
                dedup_key=f"task:{task.id}:notify:{moved.attempt}:failed",
            )
            await enqueue_render(conn, task.id, "final")


@registry.job(RENDER_JOB)
async def render_job(runtime: Runtime, job: Job) -> None:
    task, gh = await _load(runtime, job)
    await render_comment(runtime, gh, task)


@registry.job(ADVANCE_JOB, on_dead=job_died)
async def advance_job(runtime: Runtime, job: Job) -> None:
    task, gh = await _load(runtime, job)
    if task.status == TaskStatus.QUEUED:
        await _validate(runtime, gh, task)
    elif task.status == TaskStatus.GENERATING_PROMPT:
        await _start_attempt(runtime, gh, task)
    # Any other status: an earlier try finished this step, or the task was stopped.


def _spec(task: tasks.Task) -> TaskSpec:
    return TaskSpec(
        title=task.title,
        description=task.description,
        requirements=task.requirements,
        acceptance_criteria=task.acceptance_criteria,
        priority=task.priority,
        estimated_complexity=task.estimated_complexity,
    )


async def _validate(runtime: Runtime, gh: GitHubClient, task: tasks.Task) -> None:
    pool = runtime.pool
    await workflows.start(pool, task.id)
    await workflows.step(pool, task.id, "validate_task", "running")
    await render_comment(runtime, gh, task)  # first: writes to one installation are paced
    await comments.react(gh, urls.issue(task.repository, task.issue_number), "eyes")
    spec = _spec(task)
    missing = await cpu.run(missing_information, spec)
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    async with pool.acquire() as conn, conn.transaction():
        if missing:
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=(TaskStatus.QUEUED,),
                to_status=TaskStatus.NEEDS_INFO,
                detail=" ".join(missing),
            )
            if moved:
                await workflows.step(conn, task.id, "validate_task", "failed", " ".join(missing))
        else:
            # The workflow timeout bounds the bot's own steps from here to the run.
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=(TaskStatus.QUEUED,),
                to_status=TaskStatus.GENERATING_PROMPT,
                deadline_at=deadline_from_now(config.timeout_ms),
            )
            if moved:
                await workflows.step(conn, task.id, "validate_task", "completed")
                await enqueue_advance(conn, task.id, "attempt:1")
    if moved:
        await render_comment(runtime, gh, moved)


async def _start_attempt(runtime: Runtime, gh: GitHubClient, task: tasks.Task) -> None:
    pool = runtime.pool
    attempt = task.attempt + 1
    request = await codegen_requests.get(pool, task.id, attempt)
    if request is None:
        await workflows.step(pool, task.id, "generate_prompt", "running")
        config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
        context, tree_sha = await fetch_repo_context(gh, task.repository)
        strategy = task.next_strategy or (
            STRATEGIES[min(attempt - 2, len(STRATEGIES) - 1)] if attempt >= 2 else None
        )
        previous = await codegen_requests.get(pool, task.id, attempt - 1) if attempt > 1 else None
        options = PromptOptions(
            style=config.prompt_style,
            include_codebase_context=config.include_codebase_context,
            include_dependencies=config.include_dependencies,
            include_validation_criteria=config.include_validation_criteria,
        )
        spec = _spec(task)
        prompt = await cpu.run(
            build_prompt,
            spec,
            issue_number=task.issue_number,
            issue_url=task.issue_url,
            requester=task.issue_author,
            repo=context,
            options=options,
            strategy=strategy,
            previous_attempt=(previous.error or previous.summary) if previous else None,
        )
        request = await codegen_requests.prepare(
            pool,
            task_id=task.id,
            attempt=attempt,
            strategy=strategy,
            style=options.style,
            prompt=prompt.text,
            context={**prompt.context_used, "tree_sha": tree_sha},
        )
        await workflows.step(pool, task.id, "generate_prompt", "completed")
    await workflows.step(pool, task.id, "create_pr", "running")
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    async with advisory_lock(pool, task_lock(task.id)):
        moved = await _create_run(runtime, gh, task, request, attempt, config)
    if moved:
        await render_comment(runtime, gh, moved)


def run_metadata(task: tasks.Task, attempt: int) -> dict[str, Any]:
    """What an agent run carries to say which task and attempt made it."""
    metadata: dict[str, Any] = {
        "task_id": task.id,
        "repository": task.repository,
        "issue": task.issue_number,
        "attempt": attempt,
        "source": "codegen-bot",
    }
    if task.repository_id is not None:
        metadata["repository_id"] = task.repository_id
    return metadata


def run_lookup(metadata: dict[str, Any]) -> dict[str, Any]:
    """What finds the run again: the repository by its id when known, since its
    name changes with a rename or transfer (the id never does)."""
    if "repository_id" not in metadata:
        return metadata
    return {k: v for k, v in metadata.items() if k != "repository"}


async def _create_run(
    runtime: Runtime,
    gh: GitHubClient,
    task: tasks.Task,
    request: codegen_requests.CodegenRequest,
    attempt: int,
    config: RepoConfig,
) -> tasks.Task | None:
    """Create the attempt's agent run and move the task to `running`, under the
    task's lock and only if the task is still waiting for it: a cancel (which
    takes the same lock) lands either before, and then no run is made, or after
    the run is recorded, and then it stops it with the task."""
    pool = runtime.pool
    current = await tasks.get(pool, task.id)
    if (
        current is None
        or current.status != TaskStatus.GENERATING_PROMPT
        or current.attempt != task.attempt
    ):
        if request.agent_run_id is None and request.status in ("prepared", "creating"):
            await codegen_requests.update(pool, request.id, status="cancelled")
        return None  # stopped (or moved on) while the prompt was being built
    codegen = runtime.codegen
    metadata = run_metadata(current, attempt)
    run = None
    if request.status == "creating":
        # An earlier try may have created the run and died before storing it
        # (perhaps before a rename: the repository is looked up by its id).
        run = await codegen.find_run(run_lookup(metadata))
    if run is None and request.agent_run_id is None:
        if current.deadline_at is not None and datetime.now(UTC) >= current.deadline_at:
            await codegen_requests.update(pool, request.id, status="cancelled")
            await _finish(
                runtime,
                gh,
                task.id,
                TaskStatus.TIMED_OUT,
                "the bot could not start the agent run within the workflow timeout "
                f"({_minutes(config.timeout_ms)}); nothing was spent",
                from_status=(TaskStatus.GENERATING_PROMPT,),
            )
            return None
        wait = codegen.create_delay()
        if wait > 1.0:  # Codegen's create limit: free the worker slot meanwhile
            raise RescheduleJob(wait, "waiting for Codegen's create rate limit")
        await codegen_requests.update(pool, request.id, status="creating")
        try:
            repo_id = await codegen.repo_id(task.repository)
            run = await codegen.create_run(request.prompt, metadata=metadata, repo_id=repo_id)
        except CodegenError as exc:
            if exc.retryable:
                raise
            await codegen_requests.update(pool, request.id, status="failed", error=exc.message)
            await _finish(
                runtime,
                gh,
                task.id,
                TaskStatus.FAILED,
                f"Codegen refused the run: {exc.message}",
                from_status=(TaskStatus.GENERATING_PROMPT,),
            )
            return None
    async with pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn,
            task.id,
            from_status=(TaskStatus.GENERATING_PROMPT,),
            to_status=TaskStatus.RUNNING,
            attempt=attempt,
            # From here the agent run's own timeout applies, not the workflow's.
            deadline_at=datetime.now(UTC) + timedelta(milliseconds=config.run_timeout_ms),
            next_strategy=None,
        )
        if run is not None:
            # Never over a stop: a run the task no longer wants is recorded as stopped.
            await codegen_requests.update(
                conn,
                request.id,
                status="running" if moved else "cancelled",
                agent_run_id=run.id,
                web_url=run.web_url,
                run_created_at=datetime.now(UTC),
            )
        if moved:
            await jobs.enqueue(
                conn,
                POLL_JOB,
                {"task_id": task.id, "attempt": attempt, "poll": 0},
                delay=poll_delay_for(runtime, 0),
                dedup_key=f"task:{task.id}:poll:{attempt}:0",
            )
    return moved


def _minutes(ms: float) -> str:
    return tracking.duration(ms / 1000)


@registry.job(POLL_JOB, on_dead=job_died)
async def poll_job(runtime: Runtime, job: Job) -> None:
    task, gh = await _load(runtime, job)
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
        await codegen_requests.update(pool, request.id, status="failed", error=exc.message)
        await _finish(runtime, gh, task.id, TaskStatus.FAILED, f"Codegen: {exc.message}")
        return
    await codegen_requests.update(pool, request.id, polls=poll + 1, web_url=run.web_url)
    state = run_state(run.status)
    if state == "running" and task.deadline_at and datetime.now(UTC) >= task.deadline_at:
        await _run_timed_out(runtime, gh, task, request)
        return
    if state == "running":
        delay = poll_delay_for(runtime, poll + 1)
        if task.deadline_at is not None:
            left = (task.deadline_at - datetime.now(UTC)).total_seconds()
            delay = max(0.0, min(delay, left))
        await jobs.enqueue(
            pool,
            POLL_JOB,
            {"task_id": task.id, "attempt": attempt, "poll": poll + 1},
            delay=delay,
            dedup_key=f"task:{task.id}:poll:{attempt}:{poll + 1}",
        )
        return
    if state == "complete" and await _simulated(runtime, task, request.agent_run_id, attempt):
        # A simulated run opens nothing: whatever it reports, no pull request is
        # taken from it, so none is linked, validated, fixed or merged.
        await codegen_requests.update(pool, request.id, status="complete", summary=run.summary)
        await _finish(runtime, gh, task.id, TaskStatus.CANCELLED, SIMULATED_ENDING, simulated=True)
        return
    if state == "complete" and run.pull_requests:
        prs = [
            {"url": pr.url, "title": pr.title, "id": pr.id, "head_branch": pr.head_branch}
            for pr in run.pull_requests
        ]
        await codegen_requests.update(
            pool, request.id, status="complete", pull_requests=prs, summary=run.summary
        )
        # A real run's PRs: the task is no longer a simulated one (a `/codegen retry`
        # after an API key was configured), so they are linked.
        await _finish(
            runtime, gh, task.id, TaskStatus.PR_OPEN, None, pull_requests=prs, simulated=False
        )
        return
    if state == "complete":
        summary = (run.summary or run.result or "no summary").strip()
        await codegen_requests.update(pool, request.id, status="complete", summary=summary)
        await _finish(
            runtime,
            gh,
            task.id,
            TaskStatus.FAILED,
            f"Codegen finished without opening a pull request: “{summary[:500]}”",
        )
        return
    if state == "cancelled":
        await codegen_requests.update(pool, request.id, status="cancelled", summary=run.summary)
        await _finish(
            runtime, gh, task.id, TaskStatus.CANCELLED, f"the agent run was {run.status.lower()}"
        )
        return
    # failed
    reason = (run.summary or run.result or run.status).strip()
    await codegen_requests.update(
        pool, request.id, status="failed", error=reason[:500], summary=run.summary
    )
    if attempt <= task.max_retries:
        config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
        async with pool.acquire() as conn, conn.transaction():
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
        if moved:
            await render_comment(runtime, gh, moved)
        return
    await _finish(
        runtime,
        gh,
        task.id,
        TaskStatus.FAILED,
        f"all {attempt} agent runs failed; the last said: “{reason[:500]}”",
    )


async def _simulated(runtime: Runtime, task: tasks.Task, run_id: int, attempt: int) -> bool:
    """Whether the attempt's run is simulated: answered by the simulator, or made
    by it before a restart with an API key (a real run with the same id is not ours)."""
    if runtime.codegen_simulated:
        return True
    return await simulated_runs.made_for(
        runtime.pool, run_id, {"task_id": task.id, "attempt": attempt}
    )


# A run past its timeout is still looked at now and then for this long: a pull
# request it opens late is linked to its task rather than lost.
LATE_WINDOW = timedelta(hours=24)
LATE_POLL_FACTOR = 5  # late polls come this many maximum poll delays apart


def watched_late(task: tasks.Task, now: datetime) -> bool:
    """A task that timed out while its run is still looked at for a late pull
    request (`_poll_late`): a cancel must stop that too, or the late PR would be
    linked, validated, fixed and merged after all."""
    if task.status != TaskStatus.TIMED_OUT:
        return False
    return task.deadline_at is None or now <= task.deadline_at + LATE_WINDOW


async def _run_timed_out(
    runtime: Runtime, gh: GitHubClient, task: tasks.Task, request: codegen_requests.CodegenRequest
) -> None:
    """The run is past its own timeout: the task ends `timed_out`, and the run is
    still looked at now and then (`_poll_late`) so a late pull request is linked."""
    assert task.deadline_at is not None
    started = request.run_created_at or request.created_at
    allowed = _minutes((task.deadline_at - started).total_seconds() * 1000)
    await codegen_requests.update(runtime.pool, request.id, status="timed_out")
    await _finish(
        runtime,
        gh,
        task.id,
        TaskStatus.TIMED_OUT,
        f"agent run {request.agent_run_id} did not finish within the run timeout ({allowed}); "
        "a pull request it opens later is still linked to this task",
    )
    await enqueue_late_poll(runtime, task.id, request.attempt, 0)


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
    if request.status not in ("timed_out", "complete"):
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
    prs = [
        {"url": pr.url, "title": pr.title, "id": pr.id, "head_branch": pr.head_branch}
        for pr in run.pull_requests
    ]
    when = "after its run timeout"
    if task.deadline_at is not None:
        past = tracking.duration((datetime.now(UTC) - task.deadline_at).total_seconds())
        when = f"about {past} after its run timeout"
    await codegen_requests.update(
        pool, request.id, status="complete", pull_requests=prs, summary=run.summary
    )
    await _finish(
        runtime,
        gh,
        task.id,
        TaskStatus.PR_OPEN,
        None,
        from_status=(TaskStatus.TIMED_OUT,),
        pull_requests=prs,
        note_text=f"Agent run {run.id} finished late ({when}) and opened a pull request: "
        "it is linked to this task, which goes on.",
    )


async def _finish(
    runtime: Runtime,
    gh: GitHubClient,
    task_id: int,
    status: TaskStatus,
    detail: str | None,
    *,
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
    if status == TaskStatus.PR_OPEN:
        fields["pr_opened_at"] = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn, task_id, from_status=from_status, to_status=status, detail=detail, **fields
        )
        if moved is None:
            return
        if note_text:
            await tasks.add_note(conn, task_id, note_text)
        await workflows.step(
            conn,
            task_id,
            "create_pr",
            "completed" if status == TaskStatus.PR_OPEN else "failed",
            detail,
        )
        await workflows.step(conn, task_id, "notify_completion", "completed")
        await workflows.finish(
            conn,
            task_id,
            {
                TaskStatus.PR_OPEN: "completed",
                TaskStatus.FAILED: "failed",
                TaskStatus.CANCELLED: "cancelled",
                TaskStatus.TIMED_OUT: "timed_out",
            }[status],
            detail,
        )
        await jobs.enqueue(
            conn,
            NOTIFY_JOB,
            {"task_id": task_id},
            dedup_key=f"task:{task_id}:notify:{moved.attempt}:{status}",
        )
        if status == TaskStatus.PR_OPEN:
            await jobs.enqueue(
                conn,
                LINK_JOB,
                {"task_id": task_id},
                dedup_key=f"task:{task_id}:link:{moved.attempt}",
            )
    await render_comment(runtime, gh, moved)


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


BAN_JOB = "task.ban"


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
            await workflows.finish(conn, task.id, "cancelled", reason)
            run_id = None
            for request in await codegen_requests.for_task(conn, task.id):
                # `timed_out`: a run still watched for a late PR is no longer watched.
                if request.status in ("prepared", "creating", "running", "timed_out"):
                    await codegen_requests.update(conn, request.id, status="cancelled")
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


async def enqueue_ban(conn: Any, task_id: int, run_id: int, why: str) -> None:
    await jobs.enqueue(
        conn,
        BAN_JOB,
        {"task_id": task_id, "run_id": run_id},
        dedup_key=f"task:{task_id}:ban:{run_id}:{why}",
    )


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


NOTIFY_JOB = "task.notify"


@registry.job(NOTIFY_JOB)
async def notify_job(runtime: Runtime, job: Job) -> None:
    """Tell an outside system (Slack-compatible) that a task reached its end."""
    url = runtime.settings.notify_webhook_url
    if not url:
        return
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None:
        return
    links = " ".join(pr["url"] for pr in task.pull_requests)
    detail = tracking.short_reason(task.status_detail)
    text = {
        TaskStatus.PR_OPEN: f"codegen-bot opened {links} for {task.repository}#{task.issue_number}",
        TaskStatus.FAILED: f"codegen-bot failed on {task.repository}#{task.issue_number}: {detail}",
        TaskStatus.CANCELLED: f"codegen-bot task for {task.repository}#{task.issue_number} "
        "was cancelled",
        TaskStatus.TIMED_OUT: f"codegen-bot timed out on {task.repository}#{task.issue_number}",
        TaskStatus.MERGED: f"codegen-bot's pull request for {task.repository}#{task.issue_number} "
        f"was merged: {links}",
        TaskStatus.CLOSED: f"codegen-bot's pull request for {task.repository}#{task.issue_number} "
        "was closed without merging",
    }.get(task.status, f"codegen-bot task {task.id}: {task.status}")
    payload = {
        "text": text,
        "task_id": task.id,
        "status": task.status,
        "repository": task.repository,
        "issue": task.issue_number,
        "issue_url": task.issue_url,
        "pull_requests": list(task.pull_requests),
        "detail": detail,
    }
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, json=payload)
    if response.status_code >= 500:
        raise RuntimeError(f"notification webhook answered {response.status_code}")


def deadline_from_now(timeout_ms: int) -> datetime:
    return datetime.now(UTC) + timedelta(milliseconds=timeout_ms)
