"""The task-to-PR workflow as jobs: each job does one step and enqueues the
next, so a crash at any point resumes from the database, and each side effect
(comment, reaction, agent run) is keyed so that a retry never repeats it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from prompts.builder import STRATEGIES, PromptOptions, build_prompt

from . import (
    codegen_requests,
    comments,
    cpu,
    followups,
    jobs,
    tasks,
    tracking,
    validations,
    workflows,
)
from .codegen import CodegenError, run_state
from .github import GitHubClient
from .issue_task import TaskSpec, missing_information
from .jobs import Job
from .repo_config import load_repo_config
from .repo_context import fetch_repo_context
from .runtime import Runtime
from .worker import PermanentJobError, RescheduleJob

log = logging.getLogger(__name__)

ADVANCE_JOB = "task.advance"
POLL_JOB = "task.poll"
RENDER_JOB = "task.render"
LINK_JOB = "task.link_pull_requests"  # run by validation_flow: validate the task's PRs


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


async def _bot_login(runtime: Runtime) -> str:
    return f"{await runtime.github.slug()}[bot]"


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
        body = tracking.render(current, attempts, sent, shown)
        key = tracking_key(current.id)
        if current.tracking_comment_id is not None and await comments.edit(
            gh, current.repository, current.tracking_comment_id, key, body
        ):
            return
        comment_id = await comments.post_once(
            gh, current.repository, current.issue_number, key, body, await _bot_login(runtime)
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
    if task is None or task.status not in tasks.WORKING:
        return
    error = await jobs.last_error(runtime.pool, job.id)
    if error is None or error.startswith("lease expired"):
        reason = "the worker running this task stopped responding too many times"
    else:
        reason = f"the bot hit an error it could not get past ({error})"
    async with runtime.pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn, task.id, from_status=tasks.WORKING, to_status="failed", detail=reason[:500]
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


async def render_job(runtime: Runtime, job: Job) -> None:
    task, gh = await _load(runtime, job)
    await render_comment(runtime, gh, task)


async def advance_job(runtime: Runtime, job: Job) -> None:
    task, gh = await _load(runtime, job)
    if task.status == "queued":
        await _validate(runtime, gh, task)
    elif task.status == "generating_prompt":
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
    await comments.react(gh, f"/repos/{task.repository}/issues/{task.issue_number}", "eyes")
    spec = _spec(task)
    missing = await cpu.run(missing_information, spec)
    async with pool.acquire() as conn, conn.transaction():
        if missing:
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=("queued",),
                to_status="needs_info",
                detail=" ".join(missing),
            )
            if moved:
                await workflows.step(conn, task.id, "validate_task", "failed", " ".join(missing))
        else:
            moved = await tasks.transition(
                conn, task.id, from_status=("queued",), to_status="generating_prompt"
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
    codegen = runtime.codegen
    metadata = {
        "task_id": task.id,
        "repository": task.repository,
        "issue": task.issue_number,
        "attempt": attempt,
        "source": "codegen-bot",
    }
    run = None
    if request.status == "creating":
        # An earlier try may have created the run and died before storing it.
        run = await codegen.find_run(metadata)
    if run is None and request.agent_run_id is None:
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
                "failed",
                f"Codegen refused the run: {exc.message}",
                from_status=("generating_prompt",),
            )
            return
    async with pool.acquire() as conn, conn.transaction():
        if run is not None:
            await codegen_requests.update(
                conn,
                request.id,
                status="running",
                agent_run_id=run.id,
                web_url=run.web_url,
                run_created_at=datetime.now(UTC),
            )
        deadline = task.deadline_at
        moved = await tasks.transition(
            conn,
            task.id,
            from_status=("generating_prompt",),
            to_status="running",
            attempt=attempt,
            deadline_at=deadline,
            next_strategy=None,
        )
        if moved:
            await jobs.enqueue(
                conn,
                POLL_JOB,
                {"task_id": task.id, "attempt": attempt, "poll": 0},
                delay=poll_delay_for(runtime, 0),
                dedup_key=f"task:{task.id}:poll:{attempt}:0",
            )
    if moved:
        await render_comment(runtime, gh, moved)


async def poll_job(runtime: Runtime, job: Job) -> None:
    task, gh = await _load(runtime, job)
    attempt, poll = job.payload["attempt"], job.payload["poll"]
    if task.status != "running" or task.attempt != attempt:
        return  # stopped, or a newer attempt took over
    pool = runtime.pool
    request = await codegen_requests.get(pool, task.id, attempt)
    if request is None or request.agent_run_id is None:
        raise PermanentJobError(f"task {task.id} attempt {attempt} has no agent run to follow")
    if task.deadline_at is not None and datetime.now(UTC) >= task.deadline_at:
        await codegen_requests.update(pool, request.id, status="timed_out")
        minutes = round((task.deadline_at - task.created_at).total_seconds() / 60)
        await _finish(
            runtime,
            gh,
            task.id,
            "timed_out",
            f"no pull request within the workflow timeout ({minutes} min)",
        )
        return
    try:
        run = await runtime.codegen.get_run(request.agent_run_id)
    except CodegenError as exc:
        if exc.retryable:
            raise
        await codegen_requests.update(pool, request.id, status="failed", error=exc.message)
        await _finish(runtime, gh, task.id, "failed", f"Codegen: {exc.message}")
        return
    await codegen_requests.update(pool, request.id, polls=poll + 1, web_url=run.web_url)
    state = run_state(run.status)
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
    if state == "complete" and run.pull_requests:
        prs = [
            {"url": pr.url, "title": pr.title, "id": pr.id, "head_branch": pr.head_branch}
            for pr in run.pull_requests
        ]
        await codegen_requests.update(
            pool, request.id, status="complete", pull_requests=prs, summary=run.summary
        )
        await _finish(runtime, gh, task.id, "pr_open", None, pull_requests=prs)
        return
    if state == "complete":
        summary = (run.summary or run.result or "no summary").strip()
        await codegen_requests.update(pool, request.id, status="complete", summary=summary)
        await _finish(
            runtime,
            gh,
            task.id,
            "failed",
            f"Codegen finished without opening a pull request: “{summary[:500]}”",
        )
        return
    if state == "cancelled":
        await codegen_requests.update(pool, request.id, status="cancelled", summary=run.summary)
        await _finish(runtime, gh, task.id, "cancelled", f"the agent run was {run.status.lower()}")
        return
    # failed
    reason = (run.summary or run.result or run.status).strip()
    await codegen_requests.update(
        pool, request.id, status="failed", error=reason[:500], summary=run.summary
    )
    if attempt <= task.max_retries:
        async with pool.acquire() as conn, conn.transaction():
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=("running",),
                to_status="generating_prompt",
                detail=f"attempt {attempt} failed: {reason[:200]}",
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
        "failed",
        f"all {attempt} agent runs failed; the last said: “{reason[:500]}”",
    )


async def _finish(
    runtime: Runtime,
    gh: GitHubClient,
    task_id: int,
    status: str,
    detail: str | None,
    *,
    from_status: tuple[str, ...] = ("running",),
    pull_requests: list[dict[str, Any]] | None = None,
) -> None:
    """Move the task to a final status, close its workflow record, tell people."""
    pool = runtime.pool
    fields: dict[str, Any] = {}
    if pull_requests is not None:
        fields["pull_requests"] = pull_requests
    if status == "pr_open":
        fields["pr_opened_at"] = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn, task_id, from_status=from_status, to_status=status, detail=detail, **fields
        )
        if moved is None:
            return
        await workflows.step(
            conn, task_id, "create_pr", "completed" if status == "pr_open" else "failed", detail
        )
        await workflows.step(conn, task_id, "notify_completion", "completed")
        await workflows.finish(
            conn,
            task_id,
            {
                "pr_open": "completed",
                "failed": "failed",
                "cancelled": "cancelled",
                "timed_out": "timed_out",
            }[status],
            detail,
        )
        await jobs.enqueue(
            conn,
            NOTIFY_JOB,
            {"task_id": task_id},
            dedup_key=f"task:{task_id}:notify:{moved.attempt}:{status}",
        )
        if status == "pr_open":
            await jobs.enqueue(
                conn,
                LINK_JOB,
                {"task_id": task_id},
                dedup_key=f"task:{task_id}:link:{moved.attempt}",
            )
    await render_comment(runtime, gh, moved)


async def cancel(runtime: Runtime, task: tasks.Task, reason: str) -> bool:
    """Stop an active task: no more polls (they check the status), a final comment."""
    pool = runtime.pool
    async with pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn, task.id, from_status=tasks.ACTIVE, to_status="cancelled", detail=reason
        )
        if moved is None:
            return False
        await workflows.finish(conn, task.id, "cancelled", reason)
        for request in await codegen_requests.for_task(conn, task.id):
            if request.status in ("prepared", "creating", "running"):
                await codegen_requests.update(conn, request.id, status="cancelled")
        await enqueue_render(conn, task.id, "cancelled")
    return True


NOTIFY_JOB = "task.notify"


async def notify_job(runtime: Runtime, job: Job) -> None:
    """Tell an outside system (Slack-compatible) that a task reached its end."""
    url = runtime.settings.notify_webhook_url
    if not url:
        return
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None:
        return
    links = " ".join(pr["url"] for pr in task.pull_requests)
    text = {
        "pr_open": f"codegen-bot opened {links} for {task.repository}#{task.issue_number}",
        "failed": f"codegen-bot failed on {task.repository}#{task.issue_number}: "
        f"{task.status_detail}",
        "cancelled": f"codegen-bot task for {task.repository}#{task.issue_number} was cancelled",
        "timed_out": f"codegen-bot timed out on {task.repository}#{task.issue_number}",
        "merged": f"codegen-bot's pull request for {task.repository}#{task.issue_number} "
        f"was merged: {links}",
        "closed": f"codegen-bot's pull request for {task.repository}#{task.issue_number} "
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
        "detail": task.status_detail,
    }
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, json=payload)
    if response.status_code >= 500:
        raise RuntimeError(f"notification webhook answered {response.status_code}")


def deadline_from_now(timeout_ms: int) -> datetime:
    return datetime.now(UTC) + timedelta(milliseconds=timeout_ms)
