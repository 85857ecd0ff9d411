"""The `task.link_pull_requests` job: the PRs a task's run reported are
recorded and their heads validated."""

from __future__ import annotations

import logging

from gidgethub import BadRequest

from app.github import urls
from app.pull_requests import corrections
from app.pull_requests import store as pull_requests
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.status import TaskStatus
from app.validation import store as validations
from app.validation.heads import record_head
from app.validation.verdict import follow_verdict

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

LINK_JOB = task_flow.LINK_JOB


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
            await corrections.enqueue_check(conn, task, pull, first=True)
            if created is None:
                # The PR's event came first and its validation may be done: show it.
                pr = await pull_requests.find(conn, task.repository, number)
                done = await validations.latest(conn, pr.id) if pr else None
                if done is not None and done.conclusion in ("success", "neutral", "failure"):
                    await follow_verdict(
                        conn, task.id, done, done.conclusion, (TaskStatus.PR_OPEN,)
                    )
                    await task_flow.enqueue_render(conn, task.id, f"link:{done.id}")
