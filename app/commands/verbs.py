"""What each `/codegen` verb does once its author may give it: find the task the
conversation is about and call the service that acts on it (start, retry,
follow-up, cancel, validate), or answer from the stored state (status, help)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gidgethub import BadRequest

from app import cpu
from app.budgets import admission
from app.commands import log_store as command_log
from app.commands import replies as command_replies
from app.commands.decide import Result
from app.commands.parse import UNKNOWN, Command, help_text
from app.commands.source import Source
from app.followups import flow as task_actions
from app.followups import store as followups
from app.github import urls
from app.github.client import GitHubClient
from app.pull_requests import links as pr_links
from app.pull_requests import store as pull_requests
from app.repo_settings.config import RepoConfig
from app.runtime import HandlerContext
from app.tasks import requests_store as codegen_requests
from app.tasks import start as task_start
from app.tasks import stopping
from app.tasks import store as tasks
from app.tasks.status import STOPPABLE, TaskStatus
from app.validation import heads as validation_heads
from app.validation import store as validations
from prompts import followups as followup_prompts


@dataclass(frozen=True)
class Call:
    """One command line being handled, with what every verb needs."""

    ctx: HandlerContext
    gh: GitHubClient
    data: dict[str, Any]
    source: Source
    command: Command
    key: str
    actor: str
    config: RepoConfig
    problems: list[str]
    config_sha: str | None


async def run(call: Call) -> Result:
    """Carry out the line's verb; a line the parser could not read gets its error."""
    command = call.command
    if command.verb == UNKNOWN:
        return Result(False, f"{command.error}\n\n{help_text()}")
    if command.error:
        return Result(False, command.error)
    verb = VERBS[command.verb]
    return await verb(call)


async def _help(call: Call) -> Result:
    return Result(True, help_text(), mention=False)


async def _start(call: Call) -> Result:
    source, runtime = call.source, call.ctx.runtime
    if source.is_pull:
        return Result(
            False,
            "`run` starts a task from an issue; on a pull request use `/codegen retry` "
            "or `/codegen fix <instructions>`.",
        )
    issue = call.data["issue"]
    if issue.get("state") == "closed":
        return Result(False, f"#{source.number} is closed; reopen it to start a task.")
    active = await tasks.active_for_issue(runtime.pool, source.repository, source.number)
    # One waiting for information resumes; one the REST API made starts.
    if active is not None and active.status not in (TaskStatus.NEEDS_INFO, TaskStatus.CREATED):
        return Result(
            False,
            f"task {active.id} is already under way (`{active.status}`); nothing new was "
            "started. `/codegen status` shows where it stands.",
        )
    if call.problems:
        await task_start.report_config_problems(
            call.ctx, call.gh, source.repository, source.number, call.problems, call.config_sha
        )
    # A mention's words are instructions for the task; `/codegen run`'s trailing
    # text is a note ("please"), never sent to the agent.
    words = call.command.args if call.command.mention else None
    await task_start.start_task(
        call.ctx,
        call.gh,
        call.data,
        call.config,
        call.actor,
        command_key=call.key,
        instructions=words or None,
    )
    return Result(True, f"started a task for #{source.number}.", say=False)


async def _find_task(call: Call) -> tasks.Task | None:
    """The issue's newest task; for a PR, the task that opened it (or that it fixes)."""
    source, pool = call.source, call.ctx.runtime.pool
    if not source.is_pull:
        return await tasks.latest_for_issue(pool, source.repository, source.number)
    pull = source.pull or await _get_pull(call.gh, source.repository, source.number)
    if pull is None:
        return None
    return await pr_links.linked_task(pool, source.repository, pull, call.gh)


async def _get_pull(gh: GitHubClient, repository: str, number: int) -> dict[str, Any] | None:
    try:
        return await gh.getitem(urls.pull(repository, number))
    except BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise


async def _retry(call: Call) -> Result:
    task = await _find_task(call)
    if task is None:
        return Result(False, command_replies.no_task(call.source.is_pull))
    outcome = await task_actions.retry(
        call.ctx.runtime,
        task,
        call.command.args or None,
        call.actor,
        call.config.timeout_ms,
        command_key=call.key,
    )
    return Result(outcome.ok, outcome.message, say=False)


async def _fix(call: Call) -> Result:
    source, pool = call.source, call.ctx.runtime.pool
    task = await _find_task(call)
    if task is None:
        return Result(False, command_replies.no_task(source.is_pull))
    if source.is_pull and not pr_links.agent_opened(task, source.repository, source.number):
        return Result(False, pr_links.not_the_agents(task, source.number))
    pr_id = None
    if source.is_pull:
        recorded = await pull_requests.find(pool, source.repository, source.number)
        pr_id = recorded.id if recorded else None
    instructions = await cpu.run(
        followup_prompts.fix_instructions,
        call.actor,
        source.number,
        source.is_pull,
        call.command.args,
        source.location,
    )
    outcome = await task_actions.request_followup(
        call.ctx.runtime,
        task,
        kind="fix",
        key=call.key,
        instructions=instructions,
        by=call.actor,
        pull_request_id=pr_id,
    )
    return Result(outcome.ok, outcome.message, say=False)


async def _status(call: Call) -> Result:
    pool = call.ctx.runtime.pool
    task = await _find_task(call)
    if task is None:
        return Result(True, command_replies.no_task(call.source.is_pull), mention=False)
    now = datetime.now(UTC)
    installation = admission.installation_limits(call.ctx.runtime.settings)
    budget = await admission.budget_lines(
        pool, task.installation_id, task.repository, call.config.budgets, installation, now
    )
    used = await followups.review_fixes_used(pool, task.id)
    budget.append(command_replies.review_fix_line(used, call.config.review_fix_max))
    waiting = None
    if task.status == TaskStatus.GENERATING_PROMPT:
        waiting = await admission.waiting_text(pool, task.id, installation, now)
    text = command_replies.status_text(
        task,
        await codegen_requests.for_task(pool, task.id),
        await validations.latest_for_task(pool, task.id),
        await followups.for_task(pool, task.id),
        now,
        budget,
        waiting,
    )
    return Result(True, text, mention=False)


async def _cancel(call: Call) -> Result:
    task = await _find_task(call)
    if task is None:
        return Result(False, command_replies.no_task(call.source.is_pull))
    # Also once its PR is out: what the bot would still spend on it (CI fixes,
    # review fixes, the agent's own work on the PR) and its auto-merge stop; and
    # after a run timeout, while a late PR of the run would still be taken.
    stoppable: frozenset[TaskStatus] = STOPPABLE
    if stopping.watched_late(task, datetime.now(UTC)):
        stoppable = stoppable | {TaskStatus.TIMED_OUT}
    if task.status not in stoppable:
        return Result(False, f"task {task.id} is not running (`{task.status}`); nothing to cancel.")
    reason = f"cancelled by @{call.actor} with `/codegen cancel`"
    stopped = await stopping.cancel(call.ctx.runtime, task, reason, from_status=stoppable)
    if stopped is None:
        return Result(False, f"task {task.id} changed state meanwhile; nothing was cancelled.")
    return Result(
        True, f"cancelled task {task.id}: {stopped.summary()}", say=bool(stopped.pull_requests)
    )


async def _validate(call: Call) -> Result:
    source, pool = call.source, call.ctx.runtime.pool
    task: tasks.Task | None = None
    if source.is_pull:
        numbers = [source.number]
    else:
        task = await tasks.latest_for_issue(pool, source.repository, source.number)
        if task is None:
            return Result(False, command_replies.no_task(False))
        found = {pr.number for pr in await pull_requests.for_task(pool, task.id)}
        for entry in task.pull_requests:
            number = pull_requests.number_from_url(entry.get("url") or "", source.repository)
            if number is not None:
                found.add(number)
        if not found:
            return Result(False, f"task {task.id} has no pull request to validate yet.")
        numbers = sorted(found)
    started, closed = [], []
    for number in numbers:
        pull = await _get_pull(call.gh, source.repository, number)
        if pull is None or pull.get("state") != "open":
            closed.append(f"#{number}")
            continue
        sha = await _validate_pull(call, pull, task)
        started.append(f"#{number} at `{sha[:7]}`")
    if not started:
        return Result(False, f"no open pull request to validate ({', '.join(closed)} closed).")
    return Result(True, f"validating {', '.join(started)}.", say=False)


async def _validate_pull(call: Call, pull: dict[str, Any], task: tasks.Task | None) -> str:
    """A new validation of the pull's current head; records a PR the bot never saw."""
    runtime, repository = call.ctx.runtime, call.source.repository
    trigger = f"/codegen validate by @{call.actor}"
    head = pull["head"]["sha"]
    recorded = await pull_requests.find(runtime.pool, repository, pull["number"])
    if recorded is not None and recorded.head_sha == head and recorded.state == "open":
        await validation_heads.revalidate(runtime, recorded, trigger, command_key=call.key)
        return head
    linked = task or await pr_links.linked_task(runtime.pool, repository, pull, call.gh)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await command_log.mark_started(conn, call.key)
        await validation_heads.record_head(
            conn,
            installation_id=call.ctx.installation_id,
            repository=repository,
            number=pull["number"],
            head_sha=head,
            head_ref=pull["head"].get("ref"),
            task_id=linked.id if linked else None,
            trigger=trigger,
            again=True,
        )
    return head


VERBS = {
    "help": _help,
    "run": _start,
    "retry": _retry,
    "fix": _fix,
    "status": _status,
    "cancel": _cancel,
    "validate": _validate,
}
