"""`check_run`, `check_suite`, `status`: the repository's CI reporting on a
validated commit, the Re-run buttons, and the check run's action buttons."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app import cpu
from app.commands import log_store as command_log
from app.followups import flow as task_actions
from app.github.client import GitHubClient
from app.github.permissions import is_bot, meets, permission_of
from app.pull_requests import store as pull_requests
from app.repo_settings.config import load_repo_config
from app.runtime import HandlerContext
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.validation import ci
from app.validation import flow as validation_flow
from app.validation import report as check_report
from app.validation import store as validations

router = Router()
log = logging.getLogger(__name__)


def _repository(data: dict[str, Any]) -> str:
    return data["repository"]["full_name"]


@router.register("check_run", action="completed")
async def check_run_completed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    run = event.data["check_run"]
    if run.get("name") == check_report.CHECK_NAME:
        return  # ours (normally dropped as our own event already)
    await validation_flow.ci_event(
        ctx.runtime, _repository(event.data), run["head_sha"], ctx.delivery_id
    )


@router.register("check_suite", action="completed")
async def check_suite_completed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    suite = event.data["check_suite"]
    await validation_flow.ci_event(
        ctx.runtime, _repository(event.data), suite["head_sha"], ctx.delivery_id
    )


@router.register("status")
async def status_changed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    if event.data.get("state") == "pending":
        return  # only a finished status can end a wait or change a verdict
    await validation_flow.ci_event(
        ctx.runtime, _repository(event.data), event.data["sha"], ctx.delivery_id
    )


@router.register("check_run", action="rerequested")
async def check_run_rerequested(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    run = event.data["check_run"]
    await _rerun(ctx, gh, _repository(event.data), run["head_sha"], event.data["sender"])


@router.register("check_suite", action="rerequested")
async def check_suite_rerequested(
    event: sansio.Event, gh: GitHubClient, ctx: HandlerContext
) -> None:
    suite = event.data["check_suite"]
    await _rerun(ctx, gh, _repository(event.data), suite["head_sha"], event.data["sender"])


async def _rerun(
    ctx: HandlerContext, gh: GitHubClient, repository: str, sha: str, sender: dict[str, Any]
) -> None:
    """Validate again the PRs whose head is this commit (an older commit's
    Re-run is ignored: its PR has moved on). It is `/codegen validate` by a
    button (a check run, a review, perhaps a merge or CI fixes after it), so it
    takes the commands permission; GitHub shows Re-run to every writer."""
    prs = await pull_requests.with_head(ctx.runtime.pool, repository, sha)
    if not prs:
        return
    who = sender["login"]
    config, _, _ = await load_repo_config(gh, repository, ctx.runtime.settings)
    level = "none" if is_bot(sender) else await permission_of(gh, repository, who)
    if not meets(level, config.command_permission):
        log.info("@%s (%s) asked for a re-run: not allowed, ignored", who, level)
        return
    for pr in prs:
        await validation_flow.revalidate(ctx.runtime, pr, f"rerequested by @{who}")


@router.register("check_run", action="requested_action")
async def check_run_action(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    run = data["check_run"]
    identifier = (data.get("requested_action") or {}).get("identifier")
    repository = _repository(data)
    who = data["sender"]["login"]
    pool = ctx.runtime.pool
    validation_id = await pool.fetchval(
        "SELECT id FROM validations WHERE check_run_id = $1", run["id"]
    )
    if validation_id is None:
        log.info("action %s on check run %s we do not know", identifier, run["id"])
        return
    validation = await validations.get(pool, validation_id)
    assert validation is not None
    pr = await pull_requests.get(pool, validation.pull_request_id)
    assert pr is not None
    task = await tasks.get(pool, pr.task_id) if pr.task_id else None
    if task is None:
        return
    config, _, _ = await load_repo_config(gh, repository, ctx.runtime.settings)
    level = await permission_of(gh, repository, who)
    # "Retry task" starts a new paid run, as the label and `/codegen run` do: it
    # takes their permission; "Fix with Codegen" is a command like `/codegen fix`.
    retry = identifier == check_report.RETRY_ACTION
    minimum = config.permission if retry else config.command_permission
    if not meets(level, minimum):
        log.info("@%s (%s) clicked %s: not allowed, ignored", who, level, identifier)
        return
    if identifier == check_report.FIX_ACTION and not validation_flow.reported_by_agent(task, pr):
        # Someone's own PR linked to the task: its findings are not the agent's to fix.
        reason = validation_flow.not_the_agents(task, pr.number)
        note = f"@{who} clicked “Fix with Codegen” on #{pr.number}: {reason}"
    elif identifier == check_report.FIX_ACTION:
        state = ci.CiState.from_json(validation.ci)
        outcome = await task_actions.request_followup(
            ctx.runtime,
            task,
            kind="findings",
            key=f"action:{ctx.delivery_id}",
            instructions=await cpu.run(
                check_report.findings_prompt,
                validation.findings or [],
                state.named("failed"),
                validation.head_sha,
                who,
            ),
            by=who,
            pull_request_id=pr.id,
        )
        note = f"@{who} clicked “Fix with Codegen” on #{pr.number}: {outcome.message}"
    elif identifier == check_report.RETRY_ACTION:
        # Logged like a command, and marked in the transaction that starts the
        # attempt: a try that dies after it must not start another paid run.
        key = f"action:{ctx.delivery_id}"
        entry, _ = await command_log.claim(
            pool,
            key=key,
            repository=repository,
            number=pr.number,
            verb="retry",
            args="",
            actor=who,
            delivery_id=ctx.delivery_id,
        )
        if entry.status != command_log.RECEIVED:
            return  # handled to the end by an earlier try
        if entry.reply == command_log.STARTED:
            outcome = task_actions.Outcome(True, "a new attempt was started.")
        else:
            outcome = await task_actions.retry(
                ctx.runtime, task, None, who, config.timeout_ms, command_key=key
            )
        note = f"@{who} clicked “Retry task” on #{pr.number}: {outcome.message}"
    else:
        log.info("unknown action %r on check run %s", identifier, run["id"])
        return
    async with pool.acquire() as conn, conn.transaction():
        await tasks.add_note(conn, task.id, note)
        await task_flow.enqueue_render(conn, task.id, f"action:{ctx.delivery_id}")
        if identifier == check_report.RETRY_ACTION:
            await command_log.finish(conn, key, "done" if outcome.ok else "failed", note)
