"""Acting on review feedback without a command: a person with the commands
permission who submits a review requesting changes (or one with comments on
the diff) on a pull request the agent opened gets one follow-up sent to the
agent, carrying the review's text and each comment with its place in the diff.

The handler decides only what needs no I/O (`wanted`) and queues
`followups.review`, once per review. The job checks who reviewed, finds the
task and sends the follow-up through the same path as `/codegen fix`, so the
per-task cap (`review_fix.max`), the lock and the once-per-key rule hold. While
the agent is still at work (its run, or an earlier follow-up) the job waits and
tries again, for up to `WAIT_SECONDS`; what it could not send is said in the
tracking comment."""

from __future__ import annotations

import logging
import time
from typing import Any

from app import cpu
from app.commands.parse import parse_commands, parse_mention
from app.commands.replies import Location
from app.followups import flow as task_actions
from app.followups import store as followups
from app.github import urls
from app.github.permissions import meets, permission_of
from app.pull_requests import links as pr_links
from app.pull_requests import store as pull_requests
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import RescheduleJob
from app.repo_settings.config import load_repo_config
from app.runtime import HandlerContext, Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.status import WORKING
from prompts.followups import MAX_REVIEW_COMMENTS, review_instructions

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

REVIEW_JOB = "followups.review"
WAIT_SECONDS = 3_600.0  # how long a review waits for the agent to be free
RETRY_SECONDS = 30.0


def wanted(review: dict[str, Any], slug: str) -> bool:
    """A review worth sending, as far as the event alone tells: it asks for
    changes or comments on the diff (an approval or a dismissal sends nothing),
    and its body holds no `/codegen` command or mention of the App, which the
    command service acts on instead."""
    state = str(review.get("state") or "").lower()
    if state not in ("changes_requested", "commented"):
        return False
    body = review.get("body") or ""
    return not (parse_commands(body) or parse_mention(body, slug, on_pull=True))


async def on_review_submitted(ctx: HandlerContext, data: dict[str, Any]) -> None:
    """Queue the review's follow-up job, once per review whatever the delivery."""
    review = data["review"]
    if not wanted(review, await ctx.runtime.github.slug()):
        return
    payload = {
        "installation_id": ctx.installation_id,
        "repository": data["repository"]["full_name"],
        "pull": data["pull_request"],
        "review_id": review["id"],
        "state": str(review["state"]).lower(),
        "body": review.get("body") or "",
        "author": review["user"]["login"],
        "since": time.time(),
    }
    await jobs.enqueue(
        ctx.runtime.pool,
        REVIEW_JOB,
        payload,
        dedup_key=f"review:{payload['repository']}:{review['id']}",
    )


@registry.job(REVIEW_JOB)
async def review_job(runtime: Runtime, job: Job) -> None:
    p = job.payload
    repository, pull, author = p["repository"], p["pull"], p["author"]
    number = pull["number"]
    gh = await runtime.github.for_installation(p["installation_id"])
    task = await pr_links.linked_task(runtime.pool, repository, pull, gh)
    if task is None or not pr_links.agent_opened(task, repository, number):
        return  # never a pull request the agent did not open
    config, _, _ = await load_repo_config(gh, repository, runtime.settings)
    if not meets(await permission_of(gh, repository, author), config.command_permission):
        log.info(
            "review %s by %s on %s#%s: not theirs to ask",
            p["review_id"],
            author,
            repository,
            number,
        )
        return
    comments = []
    async for comment in gh.getiter(urls.review_comments(repository, number, p["review_id"])):
        comments.append((comment.get("body") or "", Location.of_review_comment(comment)))
        if len(comments) > MAX_REVIEW_COMMENTS:
            break  # enough to say how many more there were
    if (p["state"] == "commented" and not comments) or not (p["body"].strip() or comments):
        return  # a remark without anything on the diff, or nothing at all
    key = f"review:{repository.lower()}:{p['review_id']}"
    current = await tasks.get(runtime.pool, task.id) or task
    busy = await followups.in_flight(runtime.pool, task.id)
    if current.status in WORKING or (busy is not None and busy.key != key):
        if time.time() - p["since"] < WAIT_SECONDS:
            raise RescheduleJob(RETRY_SECONDS, "the agent is busy; the review waits its turn")
    instructions = await cpu.run(
        review_instructions, author, number, p["state"] == "changes_requested", p["body"], comments
    )
    recorded = await pull_requests.find(runtime.pool, repository, number)
    outcome = await task_actions.request_followup(
        runtime,
        current,
        kind="review",
        key=key,
        instructions=instructions,
        by=author,
        pull_request_id=recorded.id if recorded else None,
    )
    what = "requested changes" if p["state"] == "changes_requested" else "commented"
    count = f"{len(comments)} comment{'s' * (len(comments) != 1)}" if comments else "no comments"
    if outcome.ok:
        text = f"@{author} {what} on #{number} ({count}): sent to the agent."
    else:
        text = f"@{author} {what} on #{number}: not sent to the agent: {outcome.message}"
    await task_flow.note(runtime, task.id, text, key)
