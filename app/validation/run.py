"""The `validation.run` job: one validation of a head commit, from the check
run's creation to its verdict.

The job reads the commit's CI first. While CI runs (or has not started), or
when the PR is big, it creates the `codegen/validation` check run at once
(app/validation/start.py), analyses the diff, waits (without holding a worker)
for the repository's CI on that commit, then concludes
(app/validation/checkrun.py). When CI has finished and the PR is small, it
analyses first and creates the check run with its verdict in one POST. A job
that fails for good concludes the check run `neutral` rather than leave it
`in_progress`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import gidgethub

from app import cpu
from app.github import urls
from app.github.client import GitHubClient
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
from app.tasks.status import TaskStatus
from app.tasks.tracking import job_failure_reason
from app.validation import ci
from app.validation import store as validations
from app.validation.analysis.model import Finding, PullFile, size_class
from app.validation.analysis.rules import Rules
from app.validation.analysis.scan import analyze
from app.validation.checkrun import (
    cancel,
    conclude,
    finish,
    iso,
    refresh,
    utcnow,
)
from app.validation.keys import RUN_JOB
from app.validation.start import (
    concluded_run,
    created_before,
    one_post,
    record_found_verdict,
    start_check_run,
    wait_for_ci,
)
from app.validation.status import OPEN, ValidationStatus
from app.validation.store import Validation
from app.validation.verdict import follow_verdict

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

BUSY_SECONDS = 3.0  # an installation's write queue longer than this: come back later
CI_WAKE_SECONDS = 2.0  # CI reported while the validation starts: look again after this
# The diff analysis of one validation, at most (a 3,000-file PR takes 10-50 s
# on 2 shared cores); past it the PR is reported not analysed.
ANALYSIS_SECONDS = 120.0
# With CI finished, a PR of at most this many files gets its check run created
# with the verdict, after the analysis, in one POST (not an `in_progress` POST
# and a PATCH: one call and one paced write less). 300 files are analysed in
# a few seconds at worst; a bigger PR gets its `in_progress` run at once, since
# its analysis may take up to ANALYSIS_SECONDS and a PR showing no check run
# for that long looks broken.
ONE_POST_FILES = 300


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
    if validation.check_run_id is None and validation.started_at is not None:
        validation = await _found_again(runtime, pr, validation)
    if validation.conclusion is not None:
        # The verdict is on GitHub; what failed came after it: the task follows it.
        if pr.task_id is not None and validation.conclusion != "cancelled":
            async with pool.acquire() as conn, conn.transaction():
                moved = await follow_verdict(
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
                "completed_at": iso(utcnow()),
                "output": {"title": title, "summary": f"The bot gave up: {reason}"},
            },
        )
    async with pool.acquire() as conn, conn.transaction():
        ended = {"conclusion": "neutral", "title": title, "completed_at": utcnow()}
        # Superseded meanwhile (or before): it keeps that status, with the verdict.
        if not await validations.transition(
            conn, validation.id, from_status=OPEN, to_status=ValidationStatus.COMPLETED, **ended
        ):
            await validations.update(conn, validation.id, **ended)
        if pr.task_id is not None and validation.status != ValidationStatus.SUPERSEDED:
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


async def _found_again(runtime: Runtime, pr: PullRequest, validation: Validation) -> Validation:
    """The validation with the check run an earlier try created and died before
    recording (its answer lost), so that giving up concludes that run rather
    than leave it `in_progress` on GitHub for good; one created with its
    verdict is recorded with it. Unchanged when none is found or GitHub cannot
    be asked (then nothing is left to conclude that the bot knows of)."""
    task = await tasks.get(runtime.pool, pr.task_id) if pr.task_id else None
    gh = await runtime.github.for_installation(pr.installation_id)
    try:
        run = await created_before(gh, pr, validation, task)
    except (gidgethub.HTTPException, aiohttp.ClientError, TimeoutError):
        log.warning("%s#%s: could not look for an earlier check run", pr.repository, pr.number)
        return validation
    if run is None:
        return validation
    async with runtime.pool.acquire() as conn, conn.transaction():
        if concluded_run(run):
            state = ci.CiState.from_json(validation.ci)
            await record_found_verdict(conn, validation, task, run, state)
        else:
            await validations.update(
                conn, validation.id, check_run_id=run["id"], check_run_url=run.get("html_url")
            )
    fresh = await validations.get(runtime.pool, validation.id)
    assert fresh is not None
    return fresh


@registry.job(RUN_JOB, on_dead=job_died)
async def run_job(runtime: Runtime, job: Job) -> None:
    """One step of a validation: cancel it if superseded, finish or refresh a
    concluded one, else start, analyse, and wait for CI or conclude."""
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
    if validation.status == ValidationStatus.SUPERSEDED:
        await cancel(runtime, gh, pr, validation)
        return
    config, _problems, _sha = await load_repo_config(gh, pr.repository, runtime.settings)
    task = await tasks.get(pool, pr.task_id) if pr.task_id else None
    ci_wake = bool(job.payload.get("ci_wake"))
    if ci_wake and validation.status in (ValidationStatus.QUEUED, ValidationStatus.IN_PROGRESS):
        # CI reported while another try starts this validation with CI read
        # before it: come back once that try waits (then read CI again) or ended.
        raise RescheduleJob(CI_WAKE_SECONDS, "validation still starting")
    if validation.status == ValidationStatus.COMPLETED:
        if job.payload.get("refresh") or ci_wake:
            await refresh(runtime, gh, pr, validation, task, config)
        else:  # an earlier try died after the verdict: the review and what follows
            await finish(runtime, gh, pr, validation, task, config)
        return
    state: ci.CiState | None = None
    announced = False
    entries: list[dict[str, Any]] | None = None
    create: dict[str, Any] | None = None
    if validation.check_run_id is None:
        # CI first: the check run is created saying what it waits for, so no
        # PATCH is needed to say "Waiting for CI". A change of CI meanwhile is
        # not lost: its event wakes the validation again (`ci_wake`,
        # app/validation/heads.py), which reads CI afresh once this try waits.
        state = await ci.read(gh, pr.repository, validation.head_sha, await runtime.github.slug())
        found = await created_before(gh, pr, validation, task)
        if found is None and state.verdict not in ("pending", "none"):
            # CI has finished: a small PR's check run is created with its verdict.
            if validation.findings is None:
                entries = await _pull_files(gh, pr)
            if entries is None or len(entries) <= ONE_POST_FILES:
                create = await one_post(runtime, pr, validation, task)
        if create is None:
            validation, announced = await start_check_run(
                runtime, gh, pr, validation, task, config, state, found
            )
            if validation.status == ValidationStatus.SUPERSEDED:
                await cancel(runtime, gh, pr, validation)
                return
            if validation.status == ValidationStatus.COMPLETED:
                # An earlier try created it concluded and died before recording it.
                await finish(runtime, gh, pr, validation, task, config)
                return
    if validation.findings is None:
        if entries is None:
            entries = await _pull_files(gh, pr)
        validation = await _analyse(runtime, pr, validation, config, entries)
    if state is None:
        state = await ci.read(gh, pr.repository, validation.head_sha, await runtime.github.slug())
    wake = _ci_wait_until(validation, state, config)
    if wake is not None:
        await wait_for_ci(runtime, gh, pr, validation, state, wake, announced=announced)
        return
    await conclude(runtime, gh, pr, validation, task, config, state, create=create)


def _ci_wait_until(
    validation: Validation, state: ci.CiState, config: RepoConfig
) -> datetime | None:
    """When to look again if CI has not finished (or not started), else None."""
    now = utcnow()
    started = validation.started_at or now
    if state.verdict == "none":
        until = started + timedelta(seconds=config.validation.ci_start_seconds)
        return until if now < until else None
    if state.verdict == "pending":
        deadline = validation.ci_deadline_at or started
        return deadline if now < deadline else None
    return None


async def _pull_files(gh: GitHubClient, pr: PullRequest) -> list[dict[str, Any]]:
    """The PR's files as GitHub lists them (at most 3,000)."""
    return [entry async for entry in gh.getiter(urls.pull_files(pr.repository, pr.number))]


async def _analyse(
    runtime: Runtime,
    pr: PullRequest,
    validation: Validation,
    config: RepoConfig,
    entries: list[dict[str, Any]],
) -> Validation:
    files: list[PullFile] = []
    for start in range(0, len(entries), 500):  # 3,000 take ~20 ms: let the loop run between
        files += [PullFile.from_api(entry) for entry in entries[start : start + 500]]
        await asyncio.sleep(0)
    v = config.validation
    rules = Rules(
        large_file_additions=v.large_file_lines,
        disabled=v.disabled_rules,
        ignore_paths=v.ignore_paths,
    )
    try:
        # Off the event loop: a 3,000-file PR takes seconds of CPU.
        analysis, found = await cpu.run(analyze, files, rules, seconds=ANALYSIS_SECONDS)
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


def not_analysed(files: list[PullFile], seconds: float) -> tuple[dict[str, Any], list[Finding]]:
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
        "size_class": size_class(additions + deletions),
        "not_analysed": why,
        "not_scanned": [[f.filename, f"not analysed: {why}"] for f in files],
    }
    finding = Finding(
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
