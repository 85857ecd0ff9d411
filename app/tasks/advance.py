"""The workflow's steps up to the agent run (`task.advance`): check that the
issue says enough, build the attempt's prompt, and create its agent run. Each
step is keyed and re-reads the task, so a crash at any point resumes from the
database and a retry never makes a second run. What to do is decided in
`app.tasks.decisions`; these steps persist it and call out."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app import cpu
from app.budgets import admission
from app.codegen.client import CodegenError, CreateDeferred
from app.db import advisory_lock
from app.github.client import GitHubClient
from app.observability import metrics
from app.pull_requests.placement import (
    Overrides,
    Placement,
    from_the_author_only,
    overrides_from_issue,
    prompt_section,
    resolve,
)
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import RescheduleJob
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import Runtime
from app.tasks import feedback
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.decisions import (
    MOST_CREATE_WAIT_IN_PLACE,
    AdvanceStep,
    StartAction,
    advance_step,
    after_validation,
    attempt_strategy,
    decide_start,
    still_waiting_for_run,
)
from app.tasks.endings import finish, job_died, minutes
from app.tasks.readiness import missing_information
from app.tasks.repo_context import fetch_repo_context
from app.tasks.request_status import UNMADE, WITHOUT_RUN, RequestStatus
from app.tasks.schedule import (
    ADVANCE_JOB,
    deadline_from_now,
    enqueue_poll,
    enqueue_render,
    job_task,
    poll_delay_for,
    task_lock,
)
from app.tasks.spec import TaskSpec
from app.tasks.status import TaskStatus
from app.tasks.workflow_status import StepStatus
from prompts.builder import PromptOptions, build_prompt

log = logging.getLogger(__name__)
CREATING = (RequestStatus.CREATING,)  # a run is made, or found, only once so marked
registry = JobRegistry()  # this module's job kinds, joined in app.service


@registry.job(ADVANCE_JOB, on_dead=job_died)
async def advance_job(runtime: Runtime, job: Job) -> None:
    task, gh = await job_task(runtime, job)
    step = advance_step(task.status)
    if step == AdvanceStep.VALIDATE:
        await _validate(runtime, gh, task)
    elif step == AdvanceStep.START_ATTEMPT:
        await _start_attempt(runtime, gh, task)


def task_spec(task: tasks.Task) -> TaskSpec:
    """The task's stored fields as the spec the checks and the prompt read."""
    return TaskSpec(
        title=task.title,
        description=task.description,
        requirements=task.requirements,
        acceptance_criteria=task.acceptance_criteria,
        priority=task.priority,
        estimated_complexity=task.estimated_complexity,
        instructions=tuple((i["by"], i["text"]) for i in task.instructions),
    )


async def _validate(runtime: Runtime, gh: GitHubClient, task: tasks.Task) -> None:
    pool = runtime.pool
    await workflows.start(pool, task.id)
    await workflows.step(pool, task.id, "validate_task", StepStatus.RUNNING)
    # No GitHub write on the way to the agent run: the 👀 and the tracking comment
    # were asked for with the task (app/tasks/start.py) and go beside this.
    missing = await cpu.run(missing_information, task_spec(task))
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    async with pool.acquire() as conn, conn.transaction():
        if after_validation(missing) == TaskStatus.NEEDS_INFO:
            moved = await tasks.transition(
                conn,
                task.id,
                from_status=(TaskStatus.QUEUED,),
                to_status=TaskStatus.NEEDS_INFO,
                detail=" ".join(missing),
            )
            if moved:
                await workflows.step(
                    conn, task.id, "validate_task", StepStatus.FAILED, " ".join(missing)
                )
                await enqueue_render(conn, task.id, f"needs-info:{moved.updated_at.isoformat()}")
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
                await workflows.step(conn, task.id, "validate_task", StepStatus.COMPLETED)
                # Not rendered: the run is usually made before the comment's next
                # turn; the comment shows whatever the task is at its write.
    if moved and moved.status == TaskStatus.NEEDS_INFO:
        await feedback.show(runtime, moved)
    elif moved:
        # Straight on to the attempt in this job, without a hop through the queue:
        # should this process die, this job runs again and, going by the task's
        # status, starts the attempt.
        await _start_attempt(runtime, gh, moved)


async def _start_attempt(runtime: Runtime, gh: GitHubClient, task: tasks.Task) -> None:
    pool = runtime.pool
    attempt = task.attempt + 1
    request = await codegen_requests.get(pool, task.id, attempt)
    if request is None:
        request = await _prepare(runtime, gh, task, attempt)
    await workflows.step(pool, task.id, "create_pr", StepStatus.RUNNING)
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    async with advisory_lock(pool, task_lock(task.id)):
        moved = await _create_run(runtime, gh, task, request, attempt, config)
    if moved:
        # Running: its render job was enqueued with the move. Waiting for budget:
        # said now (the admission that lets it in renders again).
        waiting = moved.status != TaskStatus.RUNNING
        if waiting:
            async with pool.acquire() as conn:
                reason = f"waiting:{datetime.now(UTC).isoformat()}"
                await enqueue_render(conn, task.id, reason, now=True)
        await feedback.show(runtime, moved, urgent=waiting)


async def _prepare(
    runtime: Runtime, gh: GitHubClient, task: tasks.Task, attempt: int
) -> codegen_requests.CodegenRequest:
    """Build the attempt's prompt and store it with what it was built from."""
    pool = runtime.pool
    await workflows.step(pool, task.id, "generate_prompt", StepStatus.RUNNING)
    config, _problems, _sha = await load_repo_config(gh, task.repository, runtime.settings)
    strategy = attempt_strategy(attempt, task.next_strategy)
    previous = await codegen_requests.get(pool, task.id, attempt - 1) if attempt > 1 else None
    options = PromptOptions(
        style=config.prompt_style,
        include_codebase_context=config.include_codebase_context,
        include_dependencies=config.include_dependencies,
        include_validation_criteria=config.include_validation_criteria,
    )
    text, context_used = await build_task_prompt(
        gh,
        task,
        options,
        config,
        strategy,
        (previous.error or previous.summary) if previous else None,
        attempt=attempt,
    )
    request = await codegen_requests.prepare(
        pool,
        task_id=task.id,
        attempt=attempt,
        strategy=strategy,
        style=options.style,
        prompt=text,
        context=context_used,
    )
    await workflows.step(pool, task.id, "generate_prompt", StepStatus.COMPLETED)
    return request


async def build_task_prompt(
    gh: GitHubClient,
    task: tasks.Task,
    options: PromptOptions,
    config: RepoConfig,
    strategy: str | None = None,
    previous: str | None = None,
    overrides: Overrides | None = None,
    attempt: int = 1,
) -> tuple[str, dict[str, Any]]:
    """(prompt, what went into it) for a task's `attempt`, from the repository's context read
    now (its instructions to agents included): the one way every prompt is built,
    by the workflow and by the REST API's preview alike. It ends with where and
    how to open the PR (the repository's `pull_request:` settings, the issue's
    form fields and labels, the API's `overrides` over both), stored in the
    context as `pull_request` for the check of the PR the agent opens."""
    known = (task.default_branch, task.repository_description) if task.default_branch else None
    context, tree_sha = await fetch_repo_context(gh, task.repository, config.instructions, known)
    placement, problems = _placement(task, config, overrides, attempt)
    if placement.base:  # the delivery rules name the branch the PR goes to
        options = replace(options, base_branch=placement.base)
    prompt = await cpu.run(
        build_prompt,
        task_spec(task),
        issue_number=task.issue_number,
        issue_url=task.issue_url,
        requester=task.issue_author,
        repo=context,
        options=options,
        strategy=strategy,
        previous_attempt=previous,
    )
    used = {**prompt.context_used, "tree_sha": tree_sha}
    return prompt.text + prompt_section(placement), _with_placement(used, placement, problems)


def placement_again(
    task: tasks.Task,
    config: RepoConfig,
    text: str,
    used: dict[str, Any],
    overrides: Overrides | None,
    attempt: int = 1,
) -> tuple[str, dict[str, Any]]:
    """A stored prompt with where and how to open the PR chosen again (the
    REST API's options), after the details it has, as those that replace them."""
    placement, problems = _placement(task, config, overrides, attempt)
    return text + prompt_section(placement, replaces=True), _with_placement(
        used, placement, problems
    )


def _placement(
    task: tasks.Task, config: RepoConfig, overrides: Overrides | None, attempt: int = 1
) -> tuple[Placement, list[str]]:
    """Where and how the task's PR is opened: the repository's `pull_request:`
    settings, the issue's choices, the API's `overrides` over both. The issue's
    choices are those read with its text (`task.pr_fields`): a later edit by
    someone without the label's permission changes them no more than the text."""
    fields = task.pr_fields or {}
    from_issue, problems = overrides_from_issue(fields, [fields.get("label") or ""])
    from_issue, refused = from_the_author_only(from_issue, task.issue_author, task.triggered_by)
    problems = [*problems, *refused]
    placement, more = resolve(
        config.pull_request,
        (overrides or Overrides()).over(from_issue),
        issue_number=task.issue_number,
        title=task.title,
        task_id=task.id,
        requester=task.triggered_by or task.issue_author,
        owner=task.repository.partition("/")[0],
        attempt=attempt,
    )
    return placement, [*problems, *more]


def _with_placement(
    used: dict[str, Any], placement: Placement, problems: list[str]
) -> dict[str, Any]:
    """The prompt's context with the placement the PR is checked against."""
    out = {k: v for k, v in used.items() if k != "pull_request_problems"}
    out["pull_request"] = placement.to_json()
    if problems:
        out["pull_request_problems"] = problems
    return out


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
    the run is recorded, and then it stops it with the task. Returns the task
    to show in its tracking comment (moved on, or waiting for budget), or None."""
    pool = runtime.pool
    current = await tasks.get(pool, task.id)
    # Read again under the lock: a cancel may have stopped the attempt meanwhile.
    request = await codegen_requests.get(pool, task.id, attempt) or request
    if current is None or not still_waiting_for_run(current.status, current.attempt, task.attempt):
        if request.agent_run_id is None and request.status in UNMADE:
            await codegen_requests.move(pool, request.id, UNMADE, RequestStatus.CANCELLED)
        return None  # stopped (or moved on) while the prompt was being built
    codegen = runtime.codegen
    metadata = run_metadata(current, attempt)
    run = None
    if request.status == RequestStatus.CREATING:
        # An earlier try may have created the run and died before storing it
        # (perhaps before a rename: the repository is looked up by its id).
        run = await codegen.find_run(run_lookup(metadata))
    if run is None and request.agent_run_id is None:
        # The budgets: the run is made only once admitted; over budget, the task
        # waits in the queue (said in its tracking comment) and is started again
        # by the admission that lets it in, with a fresh workflow deadline.
        verdict = await admission.request(
            pool,
            task_id=current.id,
            attempt=attempt,
            installation_id=current.installation_id,
            repository=config.budgets,
            installation=admission.installation_limits(runtime.settings),
            timeout_ms=config.timeout_ms,
            now=datetime.now(UTC),
        )
        if not verdict.admitted:
            # Waiting: its comment says so, rendered once the task's lock is let go
            # (a render under it would hold three connections at once).
            return current if verdict.limit is not None else None
        current = await tasks.get(pool, task.id) or current  # its deadline may have moved
    decision = decide_start(
        has_run=run is not None or request.agent_run_id is not None,
        deadline_at=current.deadline_at,
        now=datetime.now(UTC),
        create_delay=await codegen.create_delay(),
    )
    if decision.action == StartAction.GIVE_UP:
        await codegen_requests.move(pool, request.id, WITHOUT_RUN, RequestStatus.CANCELLED)
        await finish(
            runtime,
            gh,
            task.id,
            to_status=TaskStatus.TIMED_OUT,
            detail="the bot could not start the agent run within the workflow timeout "
            f"({minutes(config.timeout_ms)}); nothing was spent",
            from_status=(TaskStatus.GENERATING_PROMPT,),
        )
        return None
    if decision.action == StartAction.WAIT:  # free the worker slot meanwhile
        raise RescheduleJob(decision.wait, "waiting for Codegen's create rate limit")
    if decision.action == StartAction.CREATE:
        was_creating = request.status == RequestStatus.CREATING
        await codegen_requests.move(pool, request.id, WITHOUT_RUN, RequestStatus.CREATING)
        try:
            repo_id = await codegen.repo_id(task.repository)
            run = await codegen.create_run(
                request.prompt,
                metadata=metadata,
                repo_id=repo_id,
                max_wait=MOST_CREATE_WAIT_IN_PLACE,
            )
        except CreateDeferred as exc:
            # Another process took the place `create_delay` saw free: wait with the
            # worker slot given back. If a create of this attempt may have been sent
            # (this try's, or an earlier one's) it stays `creating`, so the next try
            # looks for the run first; if none ever was, it is `prepared` again, and
            # the next try spends no call looking for a run that cannot exist.
            if not exc.sent and not was_creating:
                await codegen_requests.move(
                    pool, request.id, (RequestStatus.CREATING,), RequestStatus.PREPARED
                )
            raise RescheduleJob(exc.wait, "waiting for Codegen's create rate limit") from exc
        except CodegenError as exc:
            if exc.retryable:
                raise
            await codegen_requests.move(
                pool, request.id, CREATING, RequestStatus.FAILED, error=exc.message
            )
            await finish(
                runtime,
                gh,
                task.id,
                to_status=TaskStatus.FAILED,
                detail=f"Codegen refused the run: {exc.message}",
                from_status=(TaskStatus.GENERATING_PROMPT,),
            )
            return None
    # One clock reading: the run's timeout counts from the moment recorded as its
    # creation, so the task never ends before run_created_at + the run timeout.
    created_at = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        moved = await tasks.transition(
            conn,
            task.id,
            from_status=(TaskStatus.GENERATING_PROMPT,),
            to_status=TaskStatus.RUNNING,
            attempt=attempt,
            # From here the agent run's own timeout applies, not the workflow's.
            deadline_at=created_at + timedelta(milliseconds=config.run_timeout_ms),
            next_strategy=None,
        )
        if run is not None:
            # Never over a stop: a run the task no longer wants is recorded as stopped.
            await codegen_requests.move(
                conn,
                request.id,
                CREATING,
                RequestStatus.RUNNING if moved else RequestStatus.CANCELLED,
                agent_run_id=run.id,
                web_url=run.web_url,
                run_created_at=created_at,
            )
        if moved:
            await enqueue_poll(conn, task.id, attempt, 0, poll_delay_for(runtime, 0))
            await enqueue_render(conn, task.id, f"running:{attempt}")
    if run is not None and moved:
        metrics.AGENT_RUNS_CREATED.inc()
    return moved
