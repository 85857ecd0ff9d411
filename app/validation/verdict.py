"""What follows a verdict: the task takes it, CI failures on the agent's PR go
back to the agent (`validation.ci_fix`), and a clean pass is merged
(`pull_request.merge`) when auto-merge is on."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from app.github.client import GitHubClient
from app.observability import metrics
from app.pull_requests import store as pull_requests
from app.pull_requests.links import reported_by_agent
from app.pull_requests.status import CiFixOutcome, PullRequestState
from app.pull_requests.store import PullRequest
from app.queue import store as jobs
from app.repo_settings.config import RepoConfig
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.status import PR_STAGES, TaskStatus
from app.tasks.workflow_status import StepStatus
from app.validation import ci
from app.validation.keys import CI_FIX_JOB, MERGE_JOB
from app.validation.merge_rules import stored_merge_blocker
from app.validation.store import Validation


async def follow_verdict(
    conn: Any,
    task_id: int,
    validation: Validation,
    verdict: str,
    from_status: Collection[TaskStatus],
) -> tasks.Task | None:
    """The task takes a validation's verdict: passed, or changes requested."""
    moved = await tasks.transition(
        conn,
        task_id,
        from_status=from_status,
        to_status=TaskStatus.CHANGES_REQUESTED if verdict == "failure" else TaskStatus.PASSED,
        detail=f"validation of {validation.head_sha[:7]}: {verdict}",
    )
    if moved:
        await workflows.step(
            conn,
            task_id,
            "validate_pr",
            StepStatus.FAILED if verdict == "failure" else StepStatus.COMPLETED,
        )
    return moved


async def after_verdict(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
    verdict: str,
    state: ci.CiState,
) -> None:
    """Tell the task, then hand CI failures back to the agent or merge."""
    pool = runtime.pool
    fresh = await pull_requests.get(pool, pr.id)
    assert fresh is not None
    if fresh.head_sha != validation.head_sha or fresh.state != PullRequestState.OPEN:
        return  # a newer commit's validation (or the PR's end) decides now
    if task is not None:
        async with pool.acquire() as conn, conn.transaction():
            await follow_verdict(conn, task.id, validation, verdict, PR_STAGES)
            if state.verdict == "passed" and fresh.ci_fix_attempts and not fresh.ci_fix_outcome:
                await pull_requests.update(conn, pr.id, ci_fix_outcome=CiFixOutcome.PASSED)
                metrics.CI_FIX_OUTCOMES.labels(outcome=str(CiFixOutcome.PASSED)).inc()
                n = fresh.ci_fix_attempts
                await tasks.add_note(
                    conn,
                    task.id,
                    f"CI passes on `{validation.head_sha[:7]}` after {n} automatic "
                    f"fix{'es' * (n != 1)}; no more are needed.",
                )
            await task_flow.enqueue_render(
                conn, task.id, f"validation:{validation.id}:{verdict}:{state.verdict}"
            )
        if (
            state.verdict == "failed"
            and reported_by_agent(task, fresh)
            and state.real_failures
            and config.validation.ci_fix_attempts > 0
            and fresh.ci_fix_outcome is None
        ):
            await jobs.enqueue(
                pool,
                CI_FIX_JOB,
                {"pull_request_id": pr.id, "head_sha": validation.head_sha},
                delay=float(config.validation.ci_fix_delay_seconds),
                dedup_key=f"ci_fix:{pr.id}:{validation.head_sha}",
            )
    if task is None or not reported_by_agent(task, fresh):
        return  # only the agent's own PRs are merged by the bot, never other people's
    auto_merge = task.auto_merge if task.auto_merge is not None else config.validation.auto_merge
    if not auto_merge:
        return
    sha = validation.head_sha
    why = stored_merge_blocker(validation, verdict, state, config)
    if why is None:
        await jobs.enqueue(
            pool,
            MERGE_JOB,
            {"pull_request_id": pr.id, "head_sha": sha, "validation_id": validation.id},
            dedup_key=f"merge:{pr.id}:{sha}:{validation.id}",
        )
    elif verdict != "failure":  # a failure speaks for itself on the PR
        await task_flow.note(
            runtime,
            task.id,
            f"Not auto-merged #{pr.number}: {why}.",
            f"merge:{pr.id}:{sha}:held:{verdict}:{state.verdict}",
        )
