"""The check run's buttons: GitHub's Re-run (a check run's or a suite's) and
our own actions, "Fix with Codegen" and "Retry task". Each is a command by a
button, so each takes the permission its command would."""

from __future__ import annotations

import logging
from typing import Any

from app import cpu
from app.commands import log_store as command_log
from app.followups import flow as task_actions
from app.github.client import GitHubClient
from app.github.permissions import is_bot, meets, permission_of
from app.pull_requests import store as pull_requests
from app.pull_requests.links import not_the_agents, reported_by_agent
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.validation import ci
from app.validation import report as check_report
from app.validation import store as validations
from app.validation.heads import revalidate
from prompts.followups import findings_prompt

log = logging.getLogger(__name__)


async def rerun(
    runtime: Runtime, gh: GitHubClient, repository: str, sha: str, sender: dict[str, Any]
) -> None:
    """Validate again the PRs whose head is this commit (an older commit's
    Re-run is ignored: its PR has moved on). It is `/codegen validate` by a
    button (a check run, a review, perhaps a merge or CI fixes after it), so it
    takes the commands permission; GitHub shows Re-run to every writer."""
    prs = await pull_requests.with_head(runtime.pool, repository, sha)
    if not prs:
        return
    who = sender["login"]
    config, _, _ = await load_repo_config(gh, repository, runtime.settings)
    level = "none" if is_bot(sender) else await permission_of(gh, repository, who)
    if not meets(level, config.command_permission):
        log.info("@%s (%s) asked for a re-run: not allowed, ignored", who, level)
        return
    for pr in prs:
        await revalidate(runtime, pr, f"rerequested by @{who}")


async def requested_action(
    runtime: Runtime,
    gh: GitHubClient,
    *,
    repository: str,
    check_run_id: int,
    identifier: str | None,
    who: str,
    delivery_id: str,
) -> None:
    """A button of our check run was clicked: send the findings to the agent,
    or start a new attempt, and note it on the task."""
    pool = runtime.pool
    validation = await validations.for_check_run(pool, check_run_id)
    if validation is None:
        log.info("action %s on check run %s we do not know", identifier, check_run_id)
        return
    pr = await pull_requests.get(pool, validation.pull_request_id)
    assert pr is not None
    task = await tasks.get(pool, pr.task_id) if pr.task_id else None
    if task is None:
        return
    config, _, _ = await load_repo_config(gh, repository, runtime.settings)
    level = await permission_of(gh, repository, who)
    # "Retry task" starts a new paid run, as the label and `/codegen run` do: it
    # takes their permission; "Fix with Codegen" is a command like `/codegen fix`.
    retry = identifier == check_report.RETRY_ACTION
    minimum = config.permission if retry else config.command_permission
    if not meets(level, minimum):
        log.info("@%s (%s) clicked %s: not allowed, ignored", who, level, identifier)
        return
    if identifier == check_report.FIX_ACTION and not reported_by_agent(task, pr):
        # Someone's own PR linked to the task: its findings are not the agent's to fix.
        reason = not_the_agents(task, pr.number)
        note = f"@{who} clicked “Fix with Codegen” on #{pr.number}: {reason}"
    elif identifier == check_report.FIX_ACTION:
        state = ci.CiState.from_json(validation.ci)
        outcome = await task_actions.request_followup(
            runtime,
            task,
            kind="findings",
            key=f"action:{delivery_id}",
            instructions=await cpu.run(
                findings_prompt,
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
        key = f"action:{delivery_id}"
        entry, _ = await command_log.claim(
            pool,
            key=key,
            repository=repository,
            number=pr.number,
            verb="retry",
            args="",
            actor=who,
            delivery_id=delivery_id,
        )
        if entry.status != command_log.RECEIVED:
            return  # handled to the end by an earlier try
        if entry.reply == command_log.STARTED:
            outcome = task_actions.Outcome(True, "a new attempt was started.")
        else:
            outcome = await task_actions.retry(
                runtime, task, None, who, config.timeout_ms, command_key=key
            )
        note = f"@{who} clicked “Retry task” on #{pr.number}: {outcome.message}"
    else:
        log.info("unknown action %r on check run %s", identifier, check_run_id)
        return
    async with pool.acquire() as conn, conn.transaction():
        await tasks.add_note(conn, task.id, note)
        await task_flow.enqueue_render(conn, task.id, f"action:{delivery_id}")
        if identifier == check_report.RETRY_ACTION:
            await command_log.finish(conn, key, "done" if outcome.ok else "failed", note)
