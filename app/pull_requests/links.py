"""Which task a pull request belongs to: recorded, reported by the agent run, or
named by `Fixes #N` in a PR that someone trusted opened from this repository."""

from __future__ import annotations

from typing import Any

from app.github.client import GitHubClient
from app.github.permissions import is_bot, meets, permission_of
from app.pull_requests import store as pull_requests
from app.pull_requests.store import PullRequest
from app.tasks import store as tasks
from app.tasks.status import WITH_AGENT


async def linked_task(
    pool: Any, repository: str, pull: dict[str, Any], gh: GitHubClient | None = None
) -> tasks.Task | None:
    """The task behind a PR: recorded already, reported by the agent run (URL or
    head branch), or named by the PR body's `Fixes #N` when an App or someone
    with write access opened it (never a reader's PR). Never a simulated task: its
    run opened no PR, so any PR that seems to be its own is someone else's."""
    task = await _linked_task(pool, repository, pull, gh)
    return None if task is None or task.simulated else task


async def _linked_task(
    pool: Any, repository: str, pull: dict[str, Any], gh: GitHubClient | None
) -> tasks.Task | None:
    known = await pull_requests.find(pool, repository, pull["number"])
    if known is not None and known.task_id is not None:
        return await tasks.get(pool, known.task_id)
    head = pull.get("head") or {}
    # A branch of this repository takes write access to push; anyone can name a
    # fork's branch like the agent's or write "Fixes #7" in a PR body.
    inside = ((head.get("repo") or {}).get("full_name") or "").lower() == repository.lower()
    task = await tasks.for_pull_request(
        pool, repository, pull["number"], head.get("ref") if inside else None
    )
    closes = pull_requests.closing_issues(pull.get("body"))
    if task is not None or not closes or not inside:
        return task
    for issue in closes:
        task = await tasks.latest_for_issue(pool, repository, issue)
        # Only while the agent works on it or its PR is out: a person's later PR
        # for an issue whose task failed long ago is theirs, not the agent's.
        if task is not None and not task.simulated and task.status in WITH_AGENT:
            # Who opened it is asked of GitHub only when there is a task to take.
            return task if await _trusted_author(gh, repository, pull) else None
    return None


async def _trusted_author(gh: GitHubClient | None, repository: str, pull: dict[str, Any]) -> bool:
    """An App installed here (the agent's) or a person with write access."""
    user = pull.get("user") or {}
    if is_bot(user):
        return True
    if gh is None or not user.get("login"):
        return False
    return meets(await permission_of(gh, repository, user["login"]), "write")


# ------------------------------------------------- the agent's own pull requests


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
