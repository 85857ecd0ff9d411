"""The `pull_request.merge` job: auto-merge at the validated commit, never
past it, only when the task still wants it, and the way the base branch wants
(merge_way.py): GitHub's native auto-merge or the merge queue where reviews or
checks are required, a direct merge only where nothing is."""

from __future__ import annotations

import logging
import time
from typing import Any

from gidgethub import BadRequest, QueryError

from app.db import advisory_lock
from app.github import graphql, urls
from app.github.client import GitHubClient
from app.pull_requests import store as pull_requests
from app.pull_requests.closed import pull_request_closed
from app.pull_requests.links import reported_by_agent
from app.pull_requests.status import PullRequestState
from app.pull_requests.store import PullRequest
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import RescheduleJob
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.status import PR_STAGES
from app.tasks.tracking import short_reason
from app.validation import ci
from app.validation import store as validations
from app.validation.keys import AUTO_MERGE_WATCH_JOB, MERGE_JOB
from app.validation.merge_rules import stored_merge_blocker
from app.validation.merge_way import MergeWay, Requirements, choose, requirements

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
        method = config.validation.merge_method
        way, reason = choose(await _requirements(gh, pr.repository, pull))
        if way is MergeWay.DIRECT:
            why = await _merge(runtime, gh, pr, sha, method, reason)
        else:
            why = await _auto_merge(runtime, gh, pr, pull, sha, method, way, reason)
    if why is None:
        return
    if await _turn_off_ours(runtime, gh, pull):
        why += "; the auto-merge the bot had turned on for an earlier commit is off"
    log.info("not merging %s#%s: %s", pr.repository, pr.number, why)
    await task_flow.note(
        runtime, pr.task_id, f"Not auto-merged #{pr.number}: {why}.", f"merge:{pr.id}:{sha}:no"
    )


async def _requirements(gh: GitHubClient, repository: str, pull: dict[str, Any]) -> Requirements:
    """What the base branch requires, read with the App's own permissions: the
    rules of its rulesets (`metadata`), its classic protection as far as an App
    without `administration` sees it (`contents`), the pull's `mergeable_state`."""
    base = str(pull["base"]["ref"])
    rules = await _read(gh, urls.branch_rules(repository, base))
    branch = await _read(gh, urls.branch(repository, base))
    return requirements(
        base,
        rules if isinstance(rules, list) else [],
        branch if isinstance(branch, dict) else None,
        pull.get("mergeable_state"),
    )


async def _read(gh: GitHubClient, path: str) -> Any:
    """GitHub's answer, or None where it has none for us (no rulesets on a GitHub
    Enterprise Server too old for them, no branch, no permission to look)."""
    try:
        return await gh.getitem(path)
    except BadRequest as exc:
        if exc.status_code in (403, 404):
            return None
        raise


async def _auto_merge(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    pull: dict[str, Any],
    sha: str,
    method: str,
    way: MergeWay,
    reason: str,
) -> str | None:
    """Hand the merge to GitHub at `sha` (`expectedHeadOid`: refused once the head
    moved): auto-merge, or the merge queue when its requirements are met already.
    Where GitHub answers that nothing is left to wait for, merge directly (or,
    on a merge-queue branch, queue it)."""
    node_id = pull["node_id"]
    queue_now = way is MergeWay.MERGE_QUEUE and pull.get("mergeable_state") == "clean"
    try:
        if queue_now:
            sent = await _send(
                runtime, gh, pr, graphql.ENQUEUE, pullRequestId=node_id, expectedHeadOid=sha
            )
        else:
            sent = await _send(
                runtime,
                gh,
                pr,
                graphql.ENABLE_AUTO_MERGE,
                pullRequestId=node_id,
                mergeMethod=method.upper(),
                expectedHeadOid=sha,
            )
    except QueryError as exc:
        text = "; ".join(graphql.error_messages(exc.response))
        if "FORBIDDEN" in graphql.error_types(exc.response):
            return "the App may not merge here: grant it the `contents: write` permission"
        if "auto merge is not allowed" in text.lower():
            return (
                f"{reason}, and GitHub's auto-merge is off in this repository "
                "(Settings → General → Allow auto-merge); the bot does not merge around a "
                "requirement"
            )
        if "is in clean status" not in text and "is in unstable status" not in text:
            return f"{reason}, and GitHub refused auto-merge: {short_reason(text)}"
        # Met already (an approval came first): nothing for auto-merge to wait for.
        if way is not MergeWay.MERGE_QUEUE:
            met = f"{reason}, met already, so GitHub's auto-merge had nothing to wait for"
            return await _merge(runtime, gh, pr, sha, method, met)
        if queue_now:
            return f"{reason}, and GitHub refused to queue it: {short_reason(text)}"
        queue_now = True
        try:
            sent = await _send(
                runtime, gh, pr, graphql.ENQUEUE, pullRequestId=node_id, expectedHeadOid=sha
            )
        except QueryError as again:
            why = "; ".join(graphql.error_messages(again.response))
            return f"{reason}, and GitHub refused to queue it: {short_reason(why)}"
    if not sent:
        return None
    n = pr.number
    if queue_now:
        text = f"Added #{n} to the merge queue at `{sha[:7]}` after validation passed: {reason}."
    elif way is MergeWay.MERGE_QUEUE:
        text = (
            f"Auto-merge enabled on #{n} at `{sha[:7]}` after validation passed: {reason}; "
            "GitHub queues it once its requirements are met."
        )
    else:
        text = (
            f"Auto-merge enabled on #{n} ({method}) at `{sha[:7]}` after validation passed: "
            f"{reason}, so GitHub merges it once that is met (not a direct merge)."
        )
    log.info("%s %s#%s at %s", way, pr.repository, n, sha[:7])
    await task_flow.note(runtime, pr.task_id, text, f"merge:{pr.id}:{sha}:{way}")
    await jobs.enqueue(
        runtime.pool,
        AUTO_MERGE_WATCH_JOB,
        {"pull_request_id": pr.id, "head_sha": sha, "since": time.time(), "queued": queue_now},
        delay=watch_delay(0.0),
        dedup_key=f"merge-watch:{pr.id}:{sha}",
    )
    return None


async def _send(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, mutation: str, **variables: Any
) -> bool:
    """Send a merge mutation under the lock a cancel takes, after a fresh look at
    the task: a cancel that came after this job was queued stops it. Whether sent."""
    async with advisory_lock(runtime.pool, task_flow.task_lock(pr.task_id)):
        current = await tasks.get(runtime.pool, pr.task_id)
        if current is None or current.status not in PR_STAGES:
            log.info("not merging %s#%s: its task stopped", pr.repository, pr.number)
            return False
        await gh.graphql(mutation, endpoint=graphql.endpoint(gh.base_url), **variables)
    return True


async def _merge(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, sha: str, method: str, reason: str
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
            f"Auto-merged #{pr.number} ({method}) at `{sha[:7]}` after validation passed: "
            f"{reason}.",
            f"merge:{pr.id}:{sha}",
        )
    return None


def watch_delay(waited: float) -> float:
    """How long until the next look at a pull that GitHub's auto-merge holds:
    a minute at first, then a sixth of the time waited so far, at most an hour
    (a review can take days; a look is one GET)."""
    return min(max(60.0, waited / 6), 3600.0)


@registry.job(AUTO_MERGE_WATCH_JOB)
async def auto_merge_watch(runtime: Runtime, job: Job) -> None:
    """Look after a pull that GitHub's auto-merge will merge (`head_sha`: the
    validated commit it was turned on at) or whose head moved (`moved_to`).

    GitHub merges as the user who turned auto-merge on -- our bot, whose
    `closed` event the dispatcher drops -- so the merge is recorded here. And
    GitHub keeps auto-merge on across a push by someone with write access: a
    head the bot has not passed has it turned off (the merge job turns it on
    again at that head once it passes)."""
    pool = runtime.pool
    pr = await pull_requests.get(pool, job.payload["pull_request_id"])
    if pr is None or pr.state != PullRequestState.OPEN:
        return
    gh = await runtime.github.for_installation(pr.installation_id)
    pull = await gh.getitem(urls.pull(pr.repository, pr.number))
    bot = await runtime.github.bot_login()
    if pull.get("merged"):
        await pull_request_closed(runtime, pr.repository, pr.number, True, bot)
        return
    queued = bool(job.payload.get("queued"))
    if pull.get("state") != "open" or not (queued or _ours(pull.get("auto_merge"), bot)):
        return  # closed, or auto-merge is off (a person turned it off, or GitHub did)
    head = pull["head"]["sha"]
    task = await tasks.get(pool, pr.task_id) if pr.task_id is not None else None
    if task is None or task.status not in PR_STAGES:
        # cancelled, or a retry makes a new PR: GitHub must not merge this one
        if await _turn_off_ours(runtime, gh, pull) and task is not None:
            await task_flow.note(
                runtime,
                task.id,
                f"Auto-merge turned off on #{pr.number}: the task stopped.",
                f"merge:{pr.id}:{head}:auto-off:stopped",
            )
        return
    if "head_sha" not in job.payload and job.payload.get("moved_to") is None:
        return  # asked to look because the task stopped; it is at work again
    if job.payload.get("moved_to") is not None:
        latest = await validations.latest(pool, pr.id, head)
        if latest is not None and latest.conclusion == "success":
            return  # passed: the merge job decides about this head
    elif head == job.payload["head_sha"]:
        waited = time.time() - float(job.payload.get("since") or time.time())
        raise RescheduleJob(watch_delay(waited), "waiting for GitHub's auto-merge")
    if await _turn_off_ours(runtime, gh, pull) and pr.task_id is not None:
        await task_flow.note(
            runtime,
            pr.task_id,
            f"Auto-merge turned off on #{pr.number}: the head moved to `{head[:7]}`, "
            "which is not validated yet (GitHub would merge it as it is).",
            f"merge:{pr.id}:{head}:auto-off",
        )


def _ours(auto: Any, bot: str) -> bool:
    """Auto-merge that our bot turned on (GitHub names who did: `enabled_by`)."""
    enabled_by = auto.get("enabled_by") if isinstance(auto, dict) else None
    return isinstance(enabled_by, dict) and enabled_by.get("login") == bot


async def _turn_off_ours(runtime: Runtime, gh: GitHubClient, pull: dict[str, Any]) -> bool:
    """Turn off the auto-merge our bot turned on; whether it did."""
    if not _ours(pull.get("auto_merge"), await runtime.github.bot_login()):
        return False
    try:
        await gh.graphql(
            graphql.DISABLE_AUTO_MERGE,
            endpoint=graphql.endpoint(gh.base_url),
            pullRequestId=pull["node_id"],
        )
    except QueryError as exc:
        log.warning("could not turn auto-merge off: %s", graphql.error_messages(exc.response))
        return False
    return True
