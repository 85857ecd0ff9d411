"""A validation's check run before its verdict: created `in_progress` (saying
"Waiting for CI" at once when CI runs), found again by its external id after
an earlier try lost the create's answer, or left for the verdict to create
already concluded (`checkrun.conclude`); and the wait for CI, without a worker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.github import urls
from app.github.client import GitHubClient
from app.pull_requests.store import PullRequest
from app.queue import store as jobs
from app.repo_settings.config import RepoConfig
from app.runtime import Runtime
from app.tasks import store as tasks
from app.validation import ci
from app.validation import report as check_report
from app.validation import store as validations
from app.validation.checkrun import iso, locked, mark_validating, record_concluded, utcnow
from app.validation.keys import RUN_JOB
from app.validation.status import ValidationStatus
from app.validation.store import Validation


async def wait_for_ci(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    state: ci.CiState,
    wake: datetime,
    *,
    announced: bool = False,
) -> None:
    """Free the worker until CI reports (an event) or the wait ends (a job).
    `announced`: the check run was created saying it waits for CI already."""
    pool = runtime.pool
    async with locked(runtime, gh, pr, validation) as current:
        if current is None:
            return
        first_wait = current.status == ValidationStatus.IN_PROGRESS
        await validations.transition(
            pool,
            validation.id,
            from_status=(ValidationStatus.IN_PROGRESS, ValidationStatus.WAITING_CI),
            to_status=ValidationStatus.WAITING_CI,
            ci=state.to_json(),
        )
        if first_wait and not announced:
            await gh.patch(
                urls.check_run(pr.repository, validation.check_run_id),
                data={
                    "output": {
                        "title": WAITING_TITLE,
                        "summary": waiting_summary(state, "Analysis done"),
                    }
                },
            )
    delay = max(0.0, (wake - utcnow()).total_seconds()) + 0.2
    await jobs.enqueue(
        pool,
        RUN_JOB,
        {"validation_id": validation.id},
        delay=delay,
        dedup_key=f"validation:{validation.id}:wake:{int(wake.timestamp())}",
    )


WAITING_TITLE = "Waiting for CI"


def waiting_summary(state: ci.CiState, analysis: str) -> str:
    """A waiting check run's summary: how the analysis stands, and the CI."""
    pending = ", ".join(ci.code_name(c.name) for c in state.named("pending")[:10])
    return f"{analysis}; waiting for the repository's CI: {state.line()}" + (
        f" ({pending})" if pending else "."
    )


def _starting_output(state: ci.CiState) -> dict[str, str]:
    """What a new check run says: what CI it waits for, if CI is running."""
    if state.verdict != "pending":
        return {
            "title": "Validating",
            "summary": "Analysing the changes and waiting for the repository's CI.",
        }
    return {"title": WAITING_TITLE, "summary": waiting_summary(state, "Analysing the changes")}


def _details_url(pr: PullRequest, task: tasks.Task | None) -> str | None:
    if task is None:
        return None
    if task.tracking_comment_id:
        return f"{task.issue_url}#issuecomment-{task.tracking_comment_id}"
    return task.issue_url


def _external_id(validation: Validation, task: tasks.Task | None) -> str:
    prefix = f"task:{task.id}:" if task else ""
    return f"{prefix}validation:{validation.id}"


def new_run(
    pr: PullRequest, validation: Validation, task: tasks.Task | None, started: datetime
) -> dict[str, Any]:
    """What every create of the check run says, whatever its status."""
    body: dict[str, Any] = {
        "name": check_report.CHECK_NAME,
        "head_sha": validation.head_sha,
        "started_at": iso(started),
        "external_id": _external_id(validation, task),
    }
    details = _details_url(pr, task)
    if details:
        body["details_url"] = details
    return body


async def created_before(
    gh: GitHubClient, pr: PullRequest, validation: Validation, task: tasks.Task | None
) -> dict[str, Any] | None:
    """The check run an earlier try created, found by its external id.

    `started_at` is written before any create: only a validation that has it
    and no check run id can have a check run on GitHub already (an earlier try
    died between the create and recording it), so only then is GitHub asked."""
    if validation.started_at is None:
        return None
    external_id = _external_id(validation, task)
    found = await gh.getitem(
        urls.commit_check_runs(pr.repository, validation.head_sha, check_report.CHECK_NAME)
    )
    return next(
        (r for r in found.get("check_runs") or [] if r.get("external_id") == external_id),
        None,
    )


async def one_post(
    runtime: Runtime, pr: PullRequest, validation: Validation, task: tasks.Task | None
) -> dict[str, Any]:
    """Start a validation whose check run is created with its verdict (the
    create's fields, for `conclude`); `started_at` is written first, so a
    retry after a create whose answer was lost finds that run."""
    started = validation.started_at or utcnow()
    if validation.started_at is None:
        await validations.update(runtime.pool, validation.id, started_at=started)
    return new_run(pr, validation, task, started)


def concluded_run(run: dict[str, Any]) -> bool:
    """Whether a check run found again was created with its verdict."""
    return run.get("status") == "completed" and bool(run.get("conclusion"))


async def record_found_verdict(
    conn: Any,
    validation: Validation,
    task: tasks.Task | None,
    run: dict[str, Any],
    state: ci.CiState,
) -> None:
    """Record a check run an earlier try created with its verdict, as it is on
    GitHub (never given another one)."""
    output = run.get("output") or {}
    await record_concluded(
        conn,
        validation,
        task,
        run,
        int(output.get("annotations_count") or 0),
        state,
        conclusion=run["conclusion"],
        title=output.get("title") or "",
        summary=output.get("summary") or "",
    )


async def start_check_run(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
    state: ci.CiState,
    found: dict[str, Any] | None,
) -> tuple[Validation, bool]:
    """Create the check run `in_progress` (or record `found`, the one an earlier
    try created), saying "Waiting for CI" at once when CI is running; and
    whether it says so (a run an earlier try created said what CI was doing
    then, not now). A found run that is already completed (an earlier try
    created it with its verdict, `conclude`) is recorded as the verdict, never
    created again nor given another one."""
    pool = runtime.pool
    run = found
    now = utcnow()
    announced = run is not None and (run.get("output") or {}).get("title") == WAITING_TITLE
    if run is None:
        announced = state.verdict == "pending"
        await validations.update(pool, validation.id, started_at=now)
        body = {**new_run(pr, validation, task, now), "status": "in_progress"}
        body["output"] = _starting_output(state)
        run = await gh.post(urls.check_runs(pr.repository), data=body)
    async with pool.acquire() as conn, conn.transaction():
        if concluded_run(run):
            await record_found_verdict(conn, validation, task, run, state)
        else:
            await validations.update(
                conn, validation.id, check_run_id=run["id"], check_run_url=run.get("html_url")
            )
            await validations.transition(
                conn,
                validation.id,
                from_status=(ValidationStatus.QUEUED,),
                to_status=ValidationStatus.IN_PROGRESS,
                started_at=now,
                ci_deadline_at=now + timedelta(seconds=config.validation.ci_timeout_seconds),
            )
            await mark_validating(conn, validation, task)
    fresh = await validations.get(pool, validation.id)
    assert fresh is not None
    return fresh, announced
