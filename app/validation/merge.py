"""The `pull_request.merge` job: auto-merge at the validated commit, never
past it, and only when the task still wants it."""

from __future__ import annotations

import logging

from gidgethub import BadRequest

from app.db import advisory_lock
from app.github import urls
from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.pull_requests.closed import pull_request_closed
from app.pull_requests.links import reported_by_agent
from app.pull_requests.status import PullRequestState
from app.pull_requests.store import PullRequest
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.status import PR_STAGES
from app.tasks.tracking import short_reason
from app.validation import ci
from app.validation import store as validations
from app.validation.keys import MERGE_JOB
from app.validation.merge_rules import stored_merge_blocker

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


@registry.job(MERGE_JOB)
async def merge_job(runtime: Runtime, job: Job) -> None:
    """Merge at the validated commit, never past it: GitHub refuses the `sha`
    once the head moved, and we check it first as well. The checks are read
    again just before, so a check that failed since the verdict holds it."""
    pool = runtime.pool
    pr = await pull_requests.get(pool, job.payload["pull_request_id"])
    sha = job.payload["head_sha"]
    if pr is None or pr.state != PullRequestState.OPEN or pr.task_id is None:
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
        why = stored_merge_blocker(validation, validation.conclusion, state, config)
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
