"""The `pull_request.placement` job: the PR the agent opened is checked against
the placement its prompt asked for (app/pull_requests/placement.py). What
GitHub lets the bot correct it corrects (reviewers requested, labels added);
what it does not (a base or draft state other than asked) it reports. Each is
a line in the task's tracking comment.

Run when the task's PR is linked (`first`: base and draft are checked) and
again when a draft is marked ready (its reviewers are requested then)."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import BadRequest, RateLimitExceeded

from app.github import urls
from app.github.client import GitHubClient
from app.pull_requests.links import agent_opened
from app.pull_requests.placement import Corrections, Placement, code, decide, pull_snapshot
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.tracking import short_reason

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

PLACEMENT_JOB = "pull_request.placement"


async def enqueue_check(conn: Any, task: tasks.Task, pull: dict[str, Any], *, first: bool) -> None:
    """Check the agent's PR once it is linked (`first`), or request its reviewers
    once it is ready; nothing for a PR the agent did not open. Once per attempt
    (linked) and once per PR (made ready), never at a ready when the PR was
    linked ready: a PR made a draft and ready again does not ask again for
    reviewers a maintainer took off."""
    number = pull["number"]
    if not agent_opened(task, task.repository, number):
        return
    if not first:
        linked = await jobs.payload_for_key(conn, _key(task, number, f"link:{task.attempt}"))
        if linked is not None and not linked["pull"]["draft"]:
            return  # linked ready for review: its reviewers were asked then
    when = f"link:{task.attempt}" if first else "ready"
    await jobs.enqueue(
        conn,
        PLACEMENT_JOB,
        {
            "task_id": task.id,
            "attempt": task.attempt,
            "first": first,
            "pull": pull_snapshot(pull),
        },
        dedup_key=_key(task, number, when),
    )


def _key(task: tasks.Task, number: int, when: str) -> str:
    return f"placement:{task.id}:{number}:{when}"


@registry.job(PLACEMENT_JOB)
async def placement_job(runtime: Runtime, job: Job) -> None:
    pool = runtime.pool
    payload = job.payload
    task = await tasks.get(pool, payload["task_id"])
    if task is None or task.simulated:
        return
    request = await codegen_requests.get(pool, task.id, payload["attempt"])
    placement = Placement.from_json(request.context.get("pull_request")) if request else None
    if placement is None or request is None:
        return  # an attempt prompted before placements were stored: nothing was asked
    pull = payload["pull"]
    number = pull["number"]
    first = bool(payload.get("first"))
    gh = await runtime.github.for_installation(task.installation_id)
    corrections = decide(placement, pull, await runtime.github.bot_login(), first=first)
    notes = list(corrections.findings)
    if first:
        notes += [
            f"Pull request settings: {short_reason(p)}"
            for p in request.context.get("pull_request_problems") or []
        ]
    if corrections.reviewers or corrections.teams:
        notes += await _request_reviewers(gh, task.repository, number, corrections)
    elif first and corrections.deferred:
        notes.append(f"#{number} is a draft: its reviewers are requested once it is marked ready.")
    if corrections.labels:
        notes += await _add_labels(gh, task.repository, number, corrections.labels)
    if not notes:
        return
    async with pool.acquire() as conn, conn.transaction():
        for text in notes:
            await tasks.add_note(conn, task.id, text)
        await task_flow.enqueue_render(conn, task.id, f"placement:{job.id}")


def _names(logins: tuple[str, ...], teams: tuple[str, ...]) -> str:
    return ", ".join([*(code(x) for x in logins), *(f"team {code(t)}" for t in teams)])


async def _request_reviewers(
    gh: GitHubClient, repository: str, number: int, corrections: Corrections
) -> list[str]:
    """Ask for the reviews in one request; when GitHub refuses it (422: someone
    is not a collaborator), ask for each alone, so the others are still asked
    and the refused ones are named."""
    url = urls.requested_reviewers(repository, number)
    try:
        data = {"reviewers": list(corrections.reviewers), "team_reviewers": list(corrections.teams)}
        await gh.post(url, data=data)
        names = _names(corrections.reviewers, corrections.teams)
        return [f"Requested reviews on #{number} from {names}."]
    except BadRequest as exc:
        if not _refusal(exc):
            raise
        if exc.status_code != 422 or len(corrections.reviewers) + len(corrections.teams) == 1:
            return [_refused(number, corrections.reviewers, corrections.teams, exc)]
    done_logins: list[str] = []
    done_teams: list[str] = []
    notes: list[str] = []
    asks = [((r,), ()) for r in corrections.reviewers] + [((), (t,)) for t in corrections.teams]
    for logins, teams in asks:
        try:
            await gh.post(url, data={"reviewers": list(logins), "team_reviewers": list(teams)})
        except BadRequest as exc:
            if not _refusal(exc):
                raise
            notes.append(_refused(number, logins, teams, exc))
            continue
        done_logins += logins
        done_teams += teams
    if done_logins or done_teams:
        names = _names(tuple(done_logins), tuple(done_teams))
        notes.insert(0, f"Requested reviews on #{number} from {names}.")
    return notes


def _refusal(exc: BadRequest) -> bool:
    """A refusal to report (not a rate limit, which the job waits out)."""
    return exc.status_code in (403, 404, 410, 422) and not isinstance(exc, RateLimitExceeded)


def _refused(number: int, logins: tuple[str, ...], teams: tuple[str, ...], exc: BadRequest) -> str:
    return (
        f"Could not request a review on #{number} from {_names(logins, teams)}: GitHub said "
        f"“{short_reason(str(exc))}”."
    )


async def _add_labels(
    gh: GitHubClient, repository: str, number: int, labels: tuple[str, ...]
) -> list[str]:
    names = ", ".join(code(x) for x in labels)
    try:
        await gh.post(urls.issue_labels(repository, number), data={"labels": list(labels)})
    except BadRequest as exc:
        if not _refusal(exc):
            raise
        said = short_reason(str(exc))
        return [f"Could not add the labels {names} to #{number}: GitHub said “{said}”."]
    return [f"Added the labels {names} to #{number}."]
