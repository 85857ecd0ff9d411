"""Validating a pull request's head commit, as jobs.

A validation is pinned to one commit. Its job creates the `codegen/validation`
check run at once, analyses the diff, waits (without holding a worker) for the
repository's CI on that commit, then posts the verdict, the annotations and one
review. Everything it posts is posted under the PR's lock after checking that
the commit is still the head: the handler that records a newer push takes the
same lock and marks the older validation superseded, so an old result is never
posted after a new push was seen, and the old check run is concluded
`cancelled` instead.

Then: CI failures on a task's PR go back to the agent run (a bounded number of
times, flaky checks excepted), and a passing PR can be merged, only at the
commit that was validated."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gidgethub import BadRequest

from app import cpu
from app.commands import log_store as command_log
from app.db import advisory_lock, advisory_xact_lock
from app.followups import flow as task_actions
from app.followups import store as followups
from app.github import urls
from app.github.client import GitHubClient
from app.github.comments import marker, with_marker
from app.pull_requests import store as pull_requests
from app.pull_requests.store import PullRequest
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError, RescheduleJob
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.status import PR_STAGES, TaskStatus
from app.tasks.tracking import job_failure_reason, short_reason
from app.tasks.workflow_status import StepStatus
from app.validation import analysis as pr_analysis
from app.validation import ci
from app.validation import report as check_report
from app.validation import store as validations
from app.validation.store import Validation

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

RUN_JOB = "validation.run"
CI_FIX_JOB = "validation.ci_fix"
MERGE_JOB = "pull_request.merge"
LINK_JOB = task_flow.LINK_JOB
BUSY_SECONDS = 3.0  # an installation's write queue longer than this: come back later
# The diff analysis of one validation, at most (a 3,000-file PR takes 10-50 s
# on 2 shared cores); past it the PR is reported not analysed.
ANALYSIS_SECONDS = 120.0


def lock_key(repository: str, number: int) -> str:
    return f"pr:{repository.lower()}#{number}"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def record_head(
    conn: Any,
    *,
    installation_id: int,
    repository: str,
    number: int,
    head_sha: str,
    head_ref: str | None,
    task_id: int | None,
    trigger: str,
    again: bool = False,
) -> Validation | None:
    """Record the PR's head and ask for its validation, superseding older ones.

    Call inside a transaction: the PR's lock is held until it commits. None when
    this commit is already validated (and `again` is not set)."""
    await advisory_xact_lock(conn, lock_key(repository, number))
    pr = await pull_requests.upsert(
        conn,
        installation_id=installation_id,
        repository=repository,
        number=number,
        head_sha=head_sha,
        head_ref=head_ref,
        task_id=task_id,
    )
    await pull_requests.update(conn, pr.id, state="open")
    return await _request(conn, pr, head_sha, trigger, again=again)


async def _request(
    conn: Any, pr: PullRequest, head_sha: str, trigger: str, *, again: bool
) -> Validation | None:
    validation = await validations.create(conn, pr.id, head_sha, trigger, again=again)
    if validation is None:
        return None
    await supersede(conn, pr.id, validation.id)
    await jobs.enqueue(
        conn, RUN_JOB, {"validation_id": validation.id}, dedup_key=f"validation:{validation.id}"
    )
    return validation


async def supersede(conn: Any, pr_id: int, except_id: int = 0) -> None:
    """Mark the PR's unfinished validations superseded; jobs conclude them `cancelled`."""
    for old in await validations.supersede_open(conn, pr_id, except_id):
        await jobs.enqueue(
            conn, RUN_JOB, {"validation_id": old}, dedup_key=f"validation:{old}:superseded"
        )


async def revalidate(
    runtime: Runtime, pr: PullRequest, trigger: str, command_key: str | None = None
) -> Validation | None:
    """A new validation of the PR's current head (Re-run, `/codegen validate`);
    the command that asked is marked done with it, in one transaction."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        if command_key is not None:
            await command_log.mark_started(conn, command_key)
        await advisory_xact_lock(conn, lock_key(pr.repository, pr.number))
        current = await pull_requests.get(conn, pr.id)
        assert current is not None
        return await _request(conn, current, current.head_sha, trigger, again=True)


async def ci_event(runtime: Runtime, repository: str, sha: str, delivery_id: str) -> int:
    """CI reported on a commit: re-read it for the validations of PRs at that
    commit (waiting ones may finish, finished ones may change). Jobs enqueued."""
    count = 0
    for pr in await pull_requests.with_head(runtime.pool, repository, sha):
        latest = await validations.latest(runtime.pool, pr.id, sha)
        if latest is None or latest.status not in ("waiting_ci", "completed"):
            continue
        job_id = await jobs.enqueue(
            runtime.pool,
            RUN_JOB,
            {"validation_id": latest.id, "refresh": latest.status == "completed"},
            dedup_key=f"validation:{latest.id}:ci:{delivery_id}",
        )
        count += job_id is not None
    return count


# ---------------------------------------------------------------- the validation job


async def job_died(runtime: Runtime, job: Job) -> None:
    """The job failed for good (an error on its last attempt, or its worker kept
    dying): the worker calls this clean-up."""
    error = await jobs.last_error(runtime.pool, job.id)
    await give_up(runtime, job, job_failure_reason(error, None))


async def give_up(runtime: Runtime, job: Job, reason: str) -> None:
    """A validation that cannot finish must not stay `in_progress` on GitHub nor
    leave its task `validating`: conclude it `neutral`, saying why."""
    pool = runtime.pool
    validation = await validations.get(pool, job.payload["validation_id"])
    if validation is None:
        return
    pr = await pull_requests.get(pool, validation.pull_request_id)
    assert pr is not None
    if validation.conclusion is not None:
        # The verdict is on GitHub; what failed came after it: the task follows it.
        if pr.task_id is not None and validation.conclusion != "cancelled":
            async with pool.acquire() as conn, conn.transaction():
                moved = await _follow_verdict(
                    conn, pr.task_id, validation, validation.conclusion, (TaskStatus.VALIDATING,)
                )
                if moved:
                    await task_flow.enqueue_render(
                        conn, moved.id, f"validation:{validation.id}:end"
                    )
        return
    title = "Validation could not finish"
    if validation.check_run_id is not None:
        gh = await runtime.github.for_installation(pr.installation_id)
        await gh.patch(
            urls.check_run(pr.repository, validation.check_run_id),
            data={
                "conclusion": "neutral",
                "completed_at": _iso(_now()),
                "output": {"title": title, "summary": f"The bot gave up: {reason}"},
            },
        )
    async with pool.acquire() as conn, conn.transaction():
        await validations.update(
            conn,
            validation.id,
            status="completed" if validation.status != "superseded" else "superseded",
            conclusion="neutral",
            title=title,
            completed_at=_now(),
        )
        if pr.task_id is not None and validation.status != "superseded":
            moved = await tasks.transition(
                conn,
                pr.task_id,
                from_status=(TaskStatus.VALIDATING,),
                to_status=TaskStatus.PR_OPEN,
                detail=f"validation of {validation.head_sha[:7]} could not finish: {reason}",
            )
            if moved:
                await task_flow.enqueue_render(
                    conn, moved.id, f"validation:{validation.id}:gave_up"
                )


@registry.job(RUN_JOB, on_dead=job_died)
async def run_job(runtime: Runtime, job: Job) -> None:
    pool = runtime.pool
    validation = await validations.get(pool, job.payload["validation_id"])
    if validation is None:
        raise PermanentJobError(f"validation {job.payload['validation_id']} does not exist")
    pr = await pull_requests.get(pool, validation.pull_request_id)
    assert pr is not None
    gh = await runtime.github.for_installation(pr.installation_id)
    backlog = gh.write_backlog()
    if backlog > BUSY_SECONDS:
        # Its writes would queue behind this installation's others while holding a
        # worker slot that another installation's work could use.
        raise RescheduleJob(backlog, "installation busy writing")
    if validation.status == "superseded":
        await _cancel(runtime, gh, pr, validation)
        return
    config, _problems, _sha = await load_repo_config(gh, pr.repository, runtime.settings)
    task = await tasks.get(pool, pr.task_id) if pr.task_id else None
    if validation.status == "completed":
        if job.payload.get("refresh"):
            await _refresh(runtime, gh, pr, validation, task, config)
        else:  # an earlier try died after the verdict: the review and what follows
            await _finish(runtime, gh, pr, validation, task, config)
        return
    if validation.check_run_id is None:
        validation = await _start(runtime, gh, pr, validation, task, config)
        if validation.status == "superseded":
            await _cancel(runtime, gh, pr, validation)
            return
    if validation.findings is None:
        validation = await _analyse(runtime, gh, pr, validation, config)
    state = await ci.read(gh, pr.repository, validation.head_sha, await runtime.github.slug())
    wake = _ci_wait_until(validation, state, config)
    if wake is not None:
        await _wait_for_ci(runtime, gh, pr, validation, state, wake)
        return
    await _conclude(runtime, gh, pr, validation, task, config, state)


def _ci_wait_until(
    validation: Validation, state: ci.CiState, config: RepoConfig
) -> datetime | None:
    """When to look again if CI has not finished (or not started), else None."""
    now = _now()
    started = validation.started_at or now
    if state.verdict == "none":
        until = started + timedelta(seconds=config.validation.ci_start_seconds)
        return until if now < until else None
    if state.verdict == "pending":
        deadline = validation.ci_deadline_at or started
        return deadline if now < deadline else None
    return None


def _details_url(pr: PullRequest, task: tasks.Task | None) -> str | None:
    if task is None:
        return None
    if task.tracking_comment_id:
        return f"{task.issue_url}#issuecomment-{task.tracking_comment_id}"
    return task.issue_url


def _external_id(validation: Validation, task: tasks.Task | None) -> str:
    prefix = f"task:{task.id}:" if task else ""
    return f"{prefix}validation:{validation.id}"


async def _start(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
) -> Validation:
    """Create the check run (or find the one an earlier try created)."""
    pool = runtime.pool
    external_id = _external_id(validation, task)
    found = await gh.getitem(
        urls.commit_check_runs(pr.repository, validation.head_sha, check_report.CHECK_NAME)
    )
    run = next(
        (r for r in found.get("check_runs") or [] if r.get("external_id") == external_id), None
    )
    now = _now()
    if run is None:
        body: dict[str, Any] = {
            "name": check_report.CHECK_NAME,
            "head_sha": validation.head_sha,
            "status": "in_progress",
            "started_at": _iso(now),
            "external_id": external_id,
            "output": {
                "title": "Validating",
                "summary": "Analysing the changes and waiting for the repository's CI.",
            },
        }
        details = _details_url(pr, task)
        if details:
            body["details_url"] = details
        run = await gh.post(urls.check_runs(pr.repository), data=body)
    async with pool.acquire() as conn, conn.transaction():
        await validations.update(
            conn, validation.id, check_run_id=run["id"], check_run_url=run.get("html_url")
        )
        await conn.execute(
            """UPDATE validations SET status = 'in_progress', started_at = $2,
                      ci_deadline_at = $3
               WHERE id = $1 AND status = 'queued'""",
            validation.id,
            now,
            now + timedelta(seconds=config.validation.ci_timeout_seconds),
        )
        if task is not None:
            moved = await tasks.transition(
                conn, task.id, from_status=PR_STAGES, to_status=TaskStatus.VALIDATING
            )
            if moved:
                await workflows.step(conn, task.id, "validate_pr", StepStatus.RUNNING)
                await task_flow.enqueue_render(conn, task.id, f"validation:{validation.id}")
    fresh = await validations.get(pool, validation.id)
    assert fresh is not None
    return fresh


async def _analyse(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    config: RepoConfig,
) -> Validation:
    entries = [entry async for entry in gh.getiter(urls.pull_files(pr.repository, pr.number))]
    files: list[pr_analysis.PullFile] = []
    for start in range(0, len(entries), 500):  # 3,000 take ~20 ms: let the loop run between
        files += [pr_analysis.PullFile.from_api(entry) for entry in entries[start : start + 500]]
        await asyncio.sleep(0)
    v = config.validation
    rules = pr_analysis.Rules(
        large_file_additions=v.large_file_lines,
        disabled=v.disabled_rules,
        ignore_paths=v.ignore_paths,
    )
    try:
        # Off the event loop: a 3,000-file PR takes seconds of CPU.
        analysis, found = await cpu.run(pr_analysis.analyze, files, rules, seconds=ANALYSIS_SECONDS)
    except cpu.TooSlow:
        log.warning(
            "%s#%s: %d files not analysed within %g s",
            pr.repository,
            pr.number,
            len(files),
            ANALYSIS_SECONDS,
        )
        facts, found = not_analysed(files, ANALYSIS_SECONDS)
    else:
        facts = dataclasses.asdict(analysis)
    findings = [{**dataclasses.asdict(f), "fingerprint": f.fingerprint} for f in found]
    await validations.update(runtime.pool, validation.id, analysis=facts, findings=findings)
    fresh = await validations.get(runtime.pool, validation.id)
    assert fresh is not None
    return fresh


def not_analysed(
    files: list[pr_analysis.PullFile], seconds: float
) -> tuple[dict[str, Any], list[pr_analysis.Finding]]:
    """What a validation says of a diff it could not analyse in time: the sizes
    GitHub gave, every file as not scanned (as the analysis lists what it
    skips, so nothing that holds back unscanned files lets this one through),
    and one warning, so the check run never passes it as clean."""
    additions = sum(f.additions for f in files)
    deletions = sum(f.deletions for f in files)
    why = f"too large or slow: not finished within {seconds:g} s"
    facts = {
        "files_changed": len(files),
        "additions": additions,
        "deletions": deletions,
        "size_class": pr_analysis.size_class(additions + deletions),
        "not_analysed": why,
        "not_scanned": [[f.filename, f"not analysed: {why}"] for f in files],
    }
    finding = pr_analysis.Finding(
        rule="analysis.not_analysed",
        category="analysis",
        severity="warning",
        title="Not analysed: too large or slow",
        message=(
            f"The diff ({len(files)} files, +{additions} -{deletions}) could not be analysed "
            f"within {seconds:g} s, so it was not checked for credentials or risky code. "
            "Review it by hand, or split the pull request."
        ),
        path=files[0].filename if files else "",
        line=None,
    )
    return facts, [finding]


async def _wait_for_ci(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    state: ci.CiState,
    wake: datetime,
) -> None:
    """Free the worker until CI reports (an event) or the wait ends (a job)."""
    pool = runtime.pool
    async with _locked(runtime, gh, pr, validation) as current:
        if current is None:
            return
        first_wait = current.status == "in_progress"
        await validations.update(pool, validation.id, status="waiting_ci", ci=state.to_json())
        if first_wait:
            pending = ", ".join(ci.code_name(c.name) for c in state.named("pending")[:10])
            await gh.patch(
                urls.check_run(pr.repository, validation.check_run_id),
                data={
                    "output": {
                        "title": "Waiting for CI",
                        "summary": f"Analysis done; waiting for the repository's CI: {state.line()}"
                        + (f" ({pending})" if pending else "."),
                    }
                },
            )
    delay = max(0.0, (wake - _now()).total_seconds()) + 0.2
    await jobs.enqueue(
        pool,
        RUN_JOB,
        {"validation_id": validation.id},
        delay=delay,
        dedup_key=f"validation:{validation.id}:wake:{int(wake.timestamp())}",
    )


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
async def _locked(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, validation: Validation
) -> AsyncIterator[Validation | None]:
    """Hold the PR's lock with a fresh read of the validation: None (once it is
    concluded `cancelled`) when a newer push superseded it."""
    async with advisory_lock(runtime.pool, lock_key(pr.repository, pr.number)):
        current = await validations.get(runtime.pool, validation.id)
        assert current is not None
        if current.status == "superseded":
            await _cancel(runtime, gh, pr, current)
            yield None
        else:
            yield current


async def _conclude(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
    state: ci.CiState,
) -> None:
    pool = runtime.pool
    async with _locked(runtime, gh, pr, validation) as current:
        if current is None or current.status == "completed":
            return
        findings = current.findings or []
        verdict, title, summary = _verdict(current, task, config, state, _ci_note(state, config))
        output = {"title": title, "summary": summary, "text": check_report.details(findings)}
        annotations = check_report.annotations(findings)
        pending = annotations[current.annotations_sent :]
        chunks = list(check_report.batches(pending)) or [[]]
        url = urls.check_run(pr.repository, current.check_run_id)
        sent = current.annotations_sent
        for index, chunk in enumerate(chunks):
            body: dict[str, Any] = {"output": {**output, "annotations": chunk}}
            if index == len(chunks) - 1:
                body.update(status="completed", conclusion=verdict, completed_at=_iso(_now()))
                if task is not None:
                    body["actions"] = list(check_report.ACTIONS)
            await gh.patch(url, data=body)
            sent += len(chunk)
            await validations.update(pool, current.id, annotations_sent=sent)
        await validations.update(
            pool,
            current.id,
            status="completed",
            conclusion=verdict,
            title=title,
            summary=summary,
            ci=state.to_json(),
            completed_at=_now(),
        )
        if config.validation.review:
            await _review(runtime, gh, pr, current, verdict, findings, state, config)
    await _after(runtime, gh, pr, current, task, config, verdict, state)


async def _finish(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    task: tasks.Task | None,
    config: RepoConfig,
) -> None:
    """The review and what follows a verdict, for a validation whose earlier try
    stored its verdict and then failed."""
    state = ci.CiState.from_json(validation.ci)
    verdict = validation.conclusion or "neutral"
    async with _locked(runtime, gh, pr, validation) as current:
        head = await pull_requests.get(runtime.pool, pr.id)
        if current is None or head is None or head.head_sha != current.head_sha:
            return  # a newer push came meanwhile: this commit's review is moot
        if current.review_id is None and config.validation.review:
            await _review(runtime, gh, pr, current, verdict, current.findings or [], state, config)
    await _after(runtime, gh, pr, validation, task, config, verdict, state)


async def _review(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    verdict: str,
    findings: list[dict[str, Any]],
    state: ci.CiState,
    config: RepoConfig,
) -> None:
    """One review per validated commit, inline comments on lines not commented
    on before; found again (by its marker) if an earlier try posted it."""
    if validation.review_id is not None:
        return
    key = f"validation:{validation.id}"
    bot = await runtime.github.bot_login()
    existing = None
    async for review in gh.getiter(urls.pull_reviews(pr.repository, pr.number) + "?per_page=100"):
        if (review.get("user") or {}).get("login") == bot and marker(key) in (
            review.get("body") or ""
        ):
            existing = review
            break
    fresh = await pull_requests.get(runtime.pool, pr.id)
    assert fresh is not None
    inline = check_report.inline_comments(findings, fresh.commented)
    if existing is None:
        event = (
            "REQUEST_CHANGES"
            if verdict == "failure" and config.validation.request_changes
            else "COMMENT"
        )
        body = with_marker(key, check_report.review_body(verdict, findings, state, len(inline)))
        data = {
            "commit_id": validation.head_sha,
            "body": body,
            "event": event,
            "comments": [comment for _, comment in inline],
        }
        try:
            existing = await gh.post(urls.pull_reviews(pr.repository, pr.number), data=data)
        except BadRequest as exc:
            if exc.status_code != 422 or not inline:
                raise
            # A line GitHub cannot place (the diff moved): keep the review, list the rest.
            log.warning("review comments refused (%s); posting the review without them", exc)
            listed = "\n".join(f"- `{c['path']}` line {c['line']}: {c['body']}" for _, c in inline)
            data.update(comments=[], body=with_marker(key, f"{body}\n\n{listed}"))
            existing = await gh.post(urls.pull_reviews(pr.repository, pr.number), data=data)
    await validations.update(runtime.pool, validation.id, review_id=existing["id"])
    await pull_requests.add_commented(runtime.pool, pr.id, [f["fingerprint"] for f, _ in inline])


async def _refresh(
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
    async with _locked(runtime, gh, pr, validation) as current:
        head = await pull_requests.get(runtime.pool, pr.id)
        assert head is not None
        if current is None or current.status != "completed" or current.head_sha != head.head_sha:
            return
        verdict, title, summary = _verdict(current, task, config, state, None)
        if verdict == current.conclusion and ci.CiState.from_json(current.ci) == state:
            return
        await gh.patch(
            urls.check_run(pr.repository, current.check_run_id),
            data={
                "conclusion": verdict,
                "completed_at": _iso(_now()),
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
    await _after(runtime, gh, pr, current, task, config, verdict, state)


async def _cancel(
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
            "completed_at": _iso(_now()),
            "output": {"title": "Superseded", "summary": reason},
        },
    )
    await validations.update(
        runtime.pool, validation.id, conclusion="cancelled", completed_at=_now()
    )


# ---------------------------------------------------------------- after a verdict


async def _follow_verdict(
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


async def _after(
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
    if fresh.head_sha != validation.head_sha or fresh.state != "open":
        return  # a newer commit's validation (or the PR's end) decides now
    if task is not None:
        async with pool.acquire() as conn, conn.transaction():
            await _follow_verdict(conn, task.id, validation, verdict, PR_STAGES)
            if state.verdict == "passed" and fresh.ci_fix_attempts and not fresh.ci_fix_outcome:
                await pull_requests.update(conn, pr.id, ci_fix_outcome="passed")
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
    why = _merge_blocker(validation, verdict, state, config)
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


def _merge_blocker(
    validation: Validation, verdict: str | None, state: ci.CiState, config: RepoConfig
) -> str | None:
    """`merge_blocker` for a stored validation of its head commit."""
    return merge_blocker(
        verdict,
        validation.findings or [],
        state,
        validation.head_sha,
        without_ci=config.validation.merge_without_ci,
        not_scanned=(validation.analysis or {}).get("not_scanned") or (),
    )


def merge_blocker(
    verdict: str | None,
    findings: Sequence[dict[str, Any]],
    state: ci.CiState,
    sha: str,
    *,
    without_ci: bool,
    not_scanned: Sequence[Any] = (),
) -> str | None:
    """Why a validated commit must not be merged by the bot, or None.

    A merge is the one step no person looks at, so only a clean pass goes
    through: the verdict `success` (not `neutral`), no security finding of any
    severity and nothing the analysis left unscanned, no CI failing or still
    running, and at least one check of the repository's own CI that succeeded
    (unless the repository opted out with `auto_merge.merge_without_ci`)."""
    if verdict != "success":
        return f"validation of `{sha[:7]}` concluded `{verdict or 'nothing yet'}`, not `success`"
    security = [f for f in findings if str(f.get("rule", "")).startswith("security.")]
    if security:
        titles = ", ".join(sorted({str(f.get("title")) for f in security})[:3])
        count = len(security)
        return f"{count} security finding{'s' * (count != 1)} ({titles})"
    if not_scanned:
        count = len(not_scanned)
        return f"{count} file{'s were' if count != 1 else ' was'} not fully scanned"
    if state.verdict in ("failed", "pending"):
        word = "failed" if state.verdict == "failed" else "is still running"
        names = ", ".join(ci.code_name(c.name) for c in state.named(state.verdict)[:5])
        return f"CI {word} on `{sha[:7]}` ({names})"
    if not state.succeeded and not without_ci:
        return (
            f"no check of the repository's CI succeeded on `{sha[:7]}` (set "
            "`auto_merge.merge_without_ci: true` to merge without CI)"
        )
    return None


def reported_by_agent(task: tasks.Task, pr: PullRequest) -> bool:
    """The PR is one the task's agent run reported (its URL), not merely linked
    to the task by a branch name or `Fixes #N`: only those are merged or sent
    back to the agent. Never for a simulated task."""
    return agent_opened(task, pr.repository, pr.number)


def agent_opened(task: tasks.Task, repository: str, number: int) -> bool:
    """`reported_by_agent` for a PR known by its number only."""
    return not task.simulated and any(
        pull_requests.number_from_url(entry.get("url") or "", repository) == number
        for entry in task.pull_requests
    )


def not_the_agents(task: tasks.Task, number: int) -> str:
    """Why fixes for someone else's PR are not sent to the task's agent."""
    theirs = [
        f"#{n}"
        for n in (
            pull_requests.number_from_url(e.get("url") or "", task.repository)
            for e in task.pull_requests
        )
        if n is not None
    ]
    where = f" ({', '.join(theirs)})" if theirs else ""
    return (
        f"#{number} was not opened by the agent of task {task.id}, so the agent is not sent "
        f"to change it. Ask on the agent's own pull request{where} or on the issue."
    )


@registry.job(CI_FIX_JOB)
async def ci_fix_job(runtime: Runtime, job: Job) -> None:
    """Send the CI failures on a task's PR to its agent run, unless the commit
    moved on, the failure proved flaky, or the attempts are used up."""
    pool = runtime.pool
    pr = await pull_requests.get(pool, job.payload["pull_request_id"])
    sha = job.payload["head_sha"]
    if pr is None or pr.task_id is None or pr.state != "open" or pr.head_sha != sha:
        return
    task = await tasks.get(pool, pr.task_id)
    if task is None or not reported_by_agent(task, pr) or task.status not in PR_STAGES:
        return  # not the agent's PR, or a retry's new run is at work
    gh = await runtime.github.for_installation(pr.installation_id)
    config, _, _ = await load_repo_config(gh, pr.repository, runtime.settings)
    most = config.validation.ci_fix_attempts
    state = await ci.read(gh, pr.repository, sha, await runtime.github.slug())
    failures = state.real_failures
    if state.verdict != "failed" or not failures:
        flaky = [c.name for c in state.checks if c.flaky]
        if flaky:
            log.info("CI failure on %s was flaky (%s): not sent to Codegen", sha[:7], flaky)
            await task_flow.note(
                runtime,
                task.id,
                f"CI on `{sha[:7]}` failed and then passed on a re-run "
                f"({', '.join(ci.code_name(n) for n in flaky[:5])}): flaky, not sent to Codegen.",
                f"ci_fix:{pr.id}:{sha}:flaky",
            )
        return
    key = f"ci_fix:{pr.id}:{sha}"
    names = ", ".join(ci.code_name(c.name) for c in failures[:5])
    # Counting the attempt and recording the follow-up commit together, so a
    # crash between them can neither spend an attempt nor lose the fix.
    async with pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, task_actions.followup_lock(task.id))
        current = await tasks.get(conn, task.id)
        if current is None or current.status not in PR_STAGES:
            return  # cancelled (or ended) since: under the lock a cancel takes too
        attempt = None
        if await conn.fetchval("SELECT 1 FROM agent_followups WHERE key = $1", key):
            attempt = pr.ci_fix_attempts  # sent by a try that died before its note
        busy = await followups.in_flight(conn, task.id) if attempt is None else None
        if busy is not None:
            # The agent is still on earlier instructions: its push may fix this too.
            raise RescheduleJob(task_flow.poll_delay_for(runtime, 1), "agent busy with a follow-up")
        sent = attempt is not None
        if not sent:
            attempt = await pull_requests.count_ci_fix(conn, pr.id, most)
        if attempt is None:
            await pull_requests.update(conn, pr.id, ci_fix_outcome="exhausted")
            await tasks.add_note(
                conn,
                task.id,
                f"CI still fails on `{sha[:7]}` ({names}) after {most} automatic "
                f"fix{'es' * (most != 1)}; stopping. Fix it by hand or comment "
                "`/codegen fix <instructions>`.",
            )
            await task_flow.enqueue_render(conn, task.id, f"{key}:exhausted")
            return
        outcome = sent or await task_actions.add_followup(
            conn,
            task,
            kind="ci_fix",
            key=key,
            instructions=await cpu.run(check_report.ci_fix_prompt, failures, sha, attempt, most),
            by="codegen-bot",
            pull_request_id=pr.id,
        )
        if outcome is not True and not outcome.ok:
            raise PermanentJobError(outcome.message)  # rolls the count back
    text = (
        f"CI failed on `{sha[:7]}` ({names}): sent to Codegen, automatic fix {attempt} of {most}."
    )
    await task_flow.note(runtime, task.id, text, key)


@registry.job(MERGE_JOB)
async def merge_job(runtime: Runtime, job: Job) -> None:
    """Merge at the validated commit, never past it: GitHub refuses the `sha`
    once the head moved, and we check it first as well. The checks are read
    again just before, so a check that failed since the verdict holds it."""
    pool = runtime.pool
    pr = await pull_requests.get(pool, job.payload["pull_request_id"])
    sha = job.payload["head_sha"]
    if pr is None or pr.state != "open" or pr.task_id is None:
        return
    task = await tasks.get(pool, pr.task_id)
    if task is None or not reported_by_agent(task, pr) or task.status not in PR_STAGES:
        return  # not the agent's PR, or a retry is making a new one
    validation = await validations.latest(pool, pr.id, sha)
    if validation is None or validation.id != job.payload.get("validation_id", validation.id):
        return  # a newer validation of this commit decides (and asks again if it passes)
    gh = await runtime.github.for_installation(pr.installation_id)
    config, _, _ = await load_repo_config(gh, pr.repository, runtime.settings)
    pull = await gh.getitem(urls.pull(pr.repository, pr.number))
    if pull.get("merged"):
        # Merged, by an earlier try that died before recording it (GitHub's own
        # event for it comes from our bot user and is dropped), or by a person.
        bot = await runtime.github.bot_login()
        await pull_request_closed(runtime, pr.repository, pr.number, True, bot)
        return
    if pull.get("state") != "open":
        return
    if pr.head_sha != sha or pull["head"]["sha"] != sha:
        why = f"the head moved after validation (`{sha[:7]}` → `{pull['head']['sha'][:7]}`)"
    else:
        state = await ci.read(gh, pr.repository, sha, await runtime.github.slug())
        why = _merge_blocker(validation, validation.conclusion, state, config)
    if why is None:
        why = await _merge(runtime, gh, pr, sha, config.validation.merge_method)
    if why is None:
        return
    log.info("not merging %s#%s: %s", pr.repository, pr.number, why)
    await task_flow.note(
        runtime, pr.task_id, f"Not auto-merged #{pr.number}: {why}.", f"merge:{pr.id}:{sha}:no"
    )


async def _merge(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, sha: str, method: str
) -> str | None:
    """Merge at `sha`, ending the PR and its task; why not, when GitHub refuses.

    The merge call is made under the lock a cancel takes, after a fresh look at
    the task: a cancel that came after this job was queued stops the merge."""
    try:
        async with advisory_lock(runtime.pool, task_flow.task_lock(pr.task_id)):
            current = await tasks.get(runtime.pool, pr.task_id)
            if current is None or current.status not in PR_STAGES:
                log.info("not merging %s#%s: its task stopped", pr.repository, pr.number)
                return None
            await gh.put(
                urls.pull_merge(pr.repository, pr.number),
                data={"merge_method": method, "sha": sha},
            )
    except BadRequest as exc:
        if exc.status_code == 403:
            return "the App may not merge here: grant it the `contents: write` permission"
        if exc.status_code in (405, 409, 422):
            return f"GitHub refused: {short_reason(str(exc))}"
        raise
    log.info("merged %s#%s at %s (%s)", pr.repository, pr.number, sha[:7], method)
    # GitHub's `closed` event for this merge is sent by our own bot user, which
    # the dispatcher drops: end the PR and the task here.
    bot = await runtime.github.bot_login()
    await pull_request_closed(runtime, pr.repository, pr.number, True, bot)
    if pr.task_id:
        await task_flow.note(
            runtime,
            pr.task_id,
            f"Auto-merged #{pr.number} ({method}) at `{sha[:7]}` after validation passed.",
            f"merge:{pr.id}:{sha}",
        )
    return None


@registry.job(LINK_JOB)
async def link_job(runtime: Runtime, job: Job) -> None:
    """A task's run reported its PRs: record them and validate their heads."""
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None or task.simulated:
        return  # a simulated run opened nothing: no PR is the task's, whatever it lists
    gh = await runtime.github.for_installation(task.installation_id)
    for entry in task.pull_requests:
        number = pull_requests.number_from_url(entry.get("url") or "", task.repository)
        if number is None:
            continue
        try:
            pull = await gh.getitem(urls.pull(task.repository, number))
        except BadRequest as exc:
            if exc.status_code == 404:
                log.warning("task %s: PR %s not found", task.id, entry.get("url"))
                continue
            raise
        if pull.get("state") != "open":
            continue
        async with runtime.pool.acquire() as conn, conn.transaction():
            created = await record_head(
                conn,
                installation_id=task.installation_id,
                repository=task.repository,
                number=number,
                head_sha=pull["head"]["sha"],
                head_ref=pull["head"].get("ref"),
                task_id=task.id,
                trigger="task",
            )
            if created is None:
                # The PR's event came first and its validation may be done: show it.
                pr = await pull_requests.find(conn, task.repository, number)
                done = await validations.latest(conn, pr.id) if pr else None
                if done is not None and done.conclusion in ("success", "neutral", "failure"):
                    await _follow_verdict(
                        conn, task.id, done, done.conclusion, (TaskStatus.PR_OPEN,)
                    )
                    await task_flow.enqueue_render(conn, task.id, f"link:{done.id}")


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
        now = _now()
        if merged:
            await pull_requests.update(conn, pr.id, state="merged", merged_at=now, closed_at=now)
        else:
            await pull_requests.update(conn, pr.id, state="closed", closed_at=now)
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
