"""A pull request's head commit is recorded and its validation asked for.

A validation is pinned to one commit. Recording a newer head takes the PR's
lock and marks the older validations superseded; their jobs conclude them
`cancelled`. CI reporting on a commit wakes the validations of that commit."""

from __future__ import annotations

import logging
from typing import Any

from app.commands import log_store as command_log
from app.db import advisory_xact_lock
from app.github.client import GitHubClient
from app.pull_requests import corrections
from app.pull_requests import links as pr_links
from app.pull_requests import store as pull_requests
from app.pull_requests.status import PullRequestState
from app.pull_requests.store import PullRequest
from app.queue import store as jobs
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import polling
from app.validation import store as validations
from app.validation.keys import AUTO_MERGE_WATCH_JOB, RUN_JOB, lock_key
from app.validation.status import ValidationStatus
from app.validation.store import Validation

log = logging.getLogger(__name__)


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
    await pull_requests.update(conn, pr.id, state=PullRequestState.OPEN)
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
        if latest is None or latest.status not in (
            ValidationStatus.QUEUED,
            ValidationStatus.IN_PROGRESS,
            ValidationStatus.WAITING_CI,
            ValidationStatus.COMPLETED,
        ):
            continue
        starting = latest.status in (ValidationStatus.QUEUED, ValidationStatus.IN_PROGRESS)
        # Starting: its CI was read before its check run, perhaps before this
        # change; the job waits until that try waits or ends, then reads again.
        payload = {
            "validation_id": latest.id,
            "refresh": latest.status == ValidationStatus.COMPLETED,
        }
        if starting:
            payload["ci_wake"] = True
        job_id = await jobs.enqueue(
            runtime.pool,
            RUN_JOB,
            payload,
            dedup_key=f"validation:{latest.id}:ci:{delivery_id}",
        )
        count += job_id is not None
    return count


async def pull_request_changed(
    runtime: Runtime,
    gh: GitHubClient,
    installation_id: int,
    repository: str,
    pull: dict[str, Any],
    trigger: str,
) -> Validation | None:
    """A PR was opened, reopened, pushed to or made ready: validate its head if
    it is a task's (or the repository validates every PR). The new validation,
    or None."""
    if pull.get("state") != "open" or pull.get("draft"):
        return None
    pool = runtime.pool
    task = await pr_links.linked_task(pool, repository, pull, gh)
    if task is None:
        # Perhaps the late PR of a run that timed out: its task takes it if so.
        await polling.late_pull_request(runtime, repository, pull)
        config, _, _ = await load_repo_config(gh, repository, runtime.settings)
        if config.validation.scope != "all":
            return None
    async with pool.acquire() as conn, conn.transaction():
        created = await record_head(
            conn,
            installation_id=installation_id,
            repository=repository,
            number=pull["number"],
            head_sha=pull["head"]["sha"],
            head_ref=pull["head"].get("ref"),
            task_id=task.id if task else None,
            trigger=trigger,
        )
        if task is not None and trigger == "ready_for_review":
            # A draft made ready: the reviewers it was opened without are asked now.
            await corrections.enqueue_check(conn, task, pull, first=False)
    if created is not None:
        log.info("validating %s#%s at %s", repository, pull["number"], pull["head"]["sha"][:7])
        if isinstance(pull.get("auto_merge"), dict):
            # GitHub keeps auto-merge on across a writer's push: the watch turns
            # off the bot's until this head passes (app/validation/merge.py).
            head = pull["head"]["sha"]
            await jobs.enqueue(
                pool,
                AUTO_MERGE_WATCH_JOB,
                {"pull_request_id": created.pull_request_id, "moved_to": head},
                dedup_key=f"merge-watch:{created.pull_request_id}:moved:{head}",
            )
    return created
