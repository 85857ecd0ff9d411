"""The check run's verdict with its annotations (a small PR's check run is
created with it, in one POST, when CI had finished), a verdict changed by CI,
and a superseded one cancelled. Its start and the wait for CI:
app/validation/start.py.

Everything is posted under the PR's lock after a fresh read of the validation:
the handler that records a newer push takes the same lock and marks the older
validation superseded, so an old result is never posted after a new push was
seen, and the old check run is concluded `cancelled` instead."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from app.db import advisory_lock
from app.github import urls
from app.github.client import GitHubClient
from app.observability import metrics
from app.pull_requests import store as pull_requests
from app.pull_requests.store import PullRequest
from app.repo_settings.config import RepoConfig
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.status import PR_STAGES, TaskStatus
from app.tasks.workflow_status import StepStatus
from app.validation import ci
from app.validation import report as check_report
from app.validation import store as validations
from app.validation.keys import lock_key
from app.validation.review import review
from app.validation.status import OPEN, ValidationStatus
from app.validation.store import Validation
from app.validation.verdict import after_verdict

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Now, in UTC (what the check run and the table record)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """A time as GitHub's check runs take it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ci_note(state: ci.CiState, config: RepoConfig) -> str | None:
    if state.verdict == "pending":
        minutes = config.validation.ci_timeout_seconds // 60
        names = ", ".join(ci.code_name(c.name) for c in state.named("pending")[:5])
        return f"not finished after {minutes} min ({names}); concluded without it"
    if state.verdict == "none":
        return "nothing reported within the wait"
    return None


def _verdict(
    current: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
    state: ci.CiState,
    ci_note: str | None,
) -> tuple[str, str, str]:
    """(conclusion, title, summary) of a validation given the CI it saw."""
    findings = current.findings or []
    verdict = check_report.conclusion(
        findings,
        state,
        ci_timed_out=ci_note is not None and state.verdict == "pending",
        warnings_conclusion=config.validation.warnings_conclusion,
    )
    summary = check_report.summary(
        verdict,
        analysis=current.analysis or {},
        findings=findings,
        ci=state,
        ci_note=ci_note,
        criteria=task.acceptance_criteria if task else (),
        head_sha=current.head_sha,
        task_ref=f"{task.issue_url} (task {task.id})" if task else None,
    )
    return verdict, check_report.title(verdict, findings, state), summary


@contextlib.asynccontextmanager
async def locked(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, validation: Validation
) -> AsyncIterator[Validation | None]:
    """Hold the PR's lock with a fresh read of the validation: None (once it is
    concluded `cancelled`) when a newer push superseded it."""
    async with advisory_lock(runtime.pool, lock_key(pr.repository, pr.number)):
        current = await validations.get(runtime.pool, validation.id)
        assert current is not None
        if current.status == ValidationStatus.SUPERSEDED:
            await cancel(runtime, gh, pr, current)
            yield None
        else:
            yield current


async def conclude(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
    state: ci.CiState,
    *,
    create: dict[str, Any] | None = None,
) -> None:
    """Post the verdict: annotations in batches (resumed where an earlier try
    stopped), then the conclusion and buttons, the review, and what follows.

    `create` (the new check run's name, commit, start and ids): there is no
    check run yet (CI had finished and the PR is small, app/validation/run.py),
    so it is created already concluded, with the first batch, in one POST
    instead of an `in_progress` POST and a PATCH; further batches follow as
    PATCHes. Under the PR's lock, as every verdict: a push seen before it
    supersedes the validation and nothing is created."""
    pool = runtime.pool
    async with locked(runtime, gh, pr, validation) as current:
        if current is None or current.status == ValidationStatus.COMPLETED:
            return
        findings = current.findings or []
        verdict, title, summary = _verdict(current, task, config, state, _ci_note(state, config))
        output = {"title": title, "summary": summary, "text": check_report.details(findings)}
        chunks = _unsent(current) or [[]]
        ended: dict[str, Any] = {
            "status": "completed",
            "conclusion": verdict,
            "completed_at": iso(utcnow()),
        }
        if task is not None:
            ended["actions"] = list(check_report.ACTIONS)
        verdict_fields = {"conclusion": verdict, "title": title, "summary": summary}
        if current.check_run_id is None:
            assert create is not None, "a validation without a check run concludes by creating it"
            body = {**create, **ended, "output": {**output, "annotations": chunks[0]}}
            run = await gh.post(urls.check_runs(pr.repository), data=body)
            async with pool.acquire() as conn, conn.transaction():
                concluded = await record_concluded(
                    conn, current, task, run, len(chunks[0]), state, **verdict_fields
                )
            current = await _fresh(runtime, current)
            await _send_batches(runtime, gh, pr, current, output, chunks[1:])
        else:
            await _send_batches(runtime, gh, pr, current, output, chunks, last=ended)
            concluded = await validations.transition(
                pool,
                current.id,
                from_status=OPEN,
                to_status=ValidationStatus.COMPLETED,
                ci=state.to_json(),
                completed_at=utcnow(),
                **verdict_fields,
            )
            if concluded:
                _count_verdict(verdict, task)
        if config.validation.review:
            # Concluded just now, under the PR's lock: no earlier try got as far as
            # the review (it comes after this transition), so none is looked for.
            await review(
                runtime, gh, pr, current, verdict, findings, state, config, first=bool(concluded)
            )
    await after_verdict(runtime, gh, pr, current, task, config, verdict, state)


async def record_concluded(
    conn: Any,
    validation: Validation,
    task: tasks.Task | None,
    run: dict[str, Any],
    sent: int,
    state: ci.CiState,
    *,
    conclusion: str,
    title: str,
    summary: str,
) -> bool:
    """Record a check run created already concluded (by this try, or found
    again after an earlier try died before recording it) and move the task
    through `validating` as a validation that created it `in_progress` would;
    whether the validation was concluded now (not if superseded meanwhile: its
    job then concludes the run `cancelled`)."""
    await validations.update(
        conn,
        validation.id,
        check_run_id=run["id"],
        check_run_url=run.get("html_url"),
        annotations_sent=sent,
    )
    concluded = await validations.transition(
        conn,
        validation.id,
        from_status=OPEN,
        to_status=ValidationStatus.COMPLETED,
        conclusion=conclusion,
        title=title,
        summary=summary,
        ci=state.to_json(),
        completed_at=utcnow(),
    )
    if concluded:
        await mark_validating(conn, validation, task)
        _count_verdict(conclusion, task)
    return concluded


async def mark_validating(conn: Any, validation: Validation, task: tasks.Task | None) -> None:
    """The task shows its PR being validated (its check run is out)."""
    if task is None:
        return
    moved = await tasks.transition(
        conn, task.id, from_status=PR_STAGES, to_status=TaskStatus.VALIDATING
    )
    if moved:
        await workflows.step(conn, task.id, "validate_pr", StepStatus.RUNNING)
        await task_flow.enqueue_render(conn, task.id, f"validation:{validation.id}")


def _count_verdict(verdict: str, task: tasks.Task | None) -> None:
    metrics.VALIDATION_VERDICTS.labels(
        verdict=metrics.verdict_label(verdict),
        attempt=metrics.attempt_label(task.attempt if task else None),
    ).inc()


def _unsent(validation: Validation) -> list[list[dict[str, Any]]]:
    """The annotation batches not yet on the check run."""
    annotations = check_report.annotations(validation.findings or [])
    return list(check_report.batches(annotations[validation.annotations_sent :]))


async def _send_batches(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    output: dict[str, Any],
    chunks: list[list[dict[str, Any]]],
    *,
    last: dict[str, Any] | None = None,
) -> None:
    """PATCH annotation batches, counting each one sent (a retry resumes after
    it); `last` goes with the last batch (the conclusion, when not yet posted)."""
    url = urls.check_run(pr.repository, validation.check_run_id)
    sent = validation.annotations_sent
    for index, chunk in enumerate(chunks):
        body: dict[str, Any] = {"output": {**output, "annotations": chunk}}
        if last and index == len(chunks) - 1:
            body.update(last)
        await gh.patch(url, data=body)
        sent += len(chunk)
        await validations.update(runtime.pool, validation.id, annotations_sent=sent)


async def _fresh(runtime: Runtime, validation: Validation) -> Validation:
    fresh = await validations.get(runtime.pool, validation.id)
    assert fresh is not None
    return fresh


async def finish(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
) -> None:
    """The review and what follows a verdict, for a validation whose earlier try
    stored its verdict and then failed; and the annotation batches a check run
    created concluded did not carry, if that try died before sending them."""
    state = ci.CiState.from_json(validation.ci)
    verdict = validation.conclusion or "neutral"
    async with locked(runtime, gh, pr, validation) as current:
        head = await pull_requests.get(runtime.pool, pr.id)
        if current is None or head is None or head.head_sha != current.head_sha:
            return  # a newer push came meanwhile: this commit's review is moot
        rest = _unsent(current) if current.check_run_id is not None else []
        if rest:
            findings = current.findings or []
            output = {
                "title": current.title or "",
                "summary": current.summary or "",
                "text": check_report.details(findings),
            }
            await _send_batches(runtime, gh, pr, current, output, rest)
        if current.review_id is None and config.validation.review:
            await review(runtime, gh, pr, current, verdict, current.findings or [], state, config)
    await after_verdict(runtime, gh, pr, validation, task, config, verdict, state)


async def refresh(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
) -> None:
    """CI changed after the verdict (a late result, a re-run): update the verdict."""
    state = await ci.read(gh, pr.repository, validation.head_sha, await runtime.github.slug())
    if state.verdict == "pending":
        return  # a re-run started: the next event finishes it
    async with locked(runtime, gh, pr, validation) as current:
        head = await pull_requests.get(runtime.pool, pr.id)
        assert head is not None
        if (
            current is None
            or current.status != ValidationStatus.COMPLETED
            or current.head_sha != head.head_sha
        ):
            return
        verdict, title, summary = _verdict(current, task, config, state, None)
        if verdict == current.conclusion and ci.CiState.from_json(current.ci) == state:
            return
        await gh.patch(
            urls.check_run(pr.repository, current.check_run_id),
            data={
                "conclusion": verdict,
                "completed_at": iso(utcnow()),
                "output": {"title": title, "summary": summary},
            },
        )
        await validations.update(
            runtime.pool,
            current.id,
            conclusion=verdict,
            title=title,
            summary=summary,
            ci=state.to_json(),
        )
    await after_verdict(runtime, gh, pr, current, task, config, verdict, state)


async def cancel(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, validation: Validation
) -> None:
    """A superseded validation's check run ends `cancelled` (Apps cannot set `stale`)."""
    if validation.check_run_id is None or validation.conclusion is not None:
        return
    fresh = await pull_requests.get(runtime.pool, pr.id)
    newer = (fresh or pr).head_sha
    reason = (
        f"A newer commit (`{newer[:7]}`) was pushed; its validation replaces this one."
        if newer != validation.head_sha
        else "Replaced by a newer validation of this commit, or the pull request was closed."
    )
    await gh.patch(
        urls.check_run(pr.repository, validation.check_run_id),
        data={
            "conclusion": "cancelled",
            "completed_at": iso(utcnow()),
            "output": {"title": "Superseded", "summary": reason},
        },
    )
    await validations.update(
        runtime.pool, validation.id, conclusion="cancelled", completed_at=utcnow()
    )
