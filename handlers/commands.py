"""`/codegen` commands in issue and pull-request comments, review comments and
review bodies.

Each command line is logged under a key made of the comment and the line
(app/command_log.py), and a comment's lines are handled under a lock named by
the comment, so a redelivery (same or new GUID) or two workers never act on a
line twice. A line a crashed try left unfinished is done on the next try; the
actions are keyed themselves (follow-ups by the same key, replies by a marker).

Who asks is checked before anything is written to GitHub. A comment none of
whose commands its author may give gets no reaction and at most one reply per
person per conversation an hour (app/command_denials.py). Otherwise: 👀 on the
comment, then 🚀 when every line worked or 😕 with a reply saying why. A review
has no reactions, so there the reply is the feedback. Only the first
`MAX_PER_COMMENT` commands of a comment are acted on; a reply says how many
more were ignored. `/codegen run` and `/codegen retry` start paid agent runs and
take the label's permission, the other verbs the commands permission.
Edited comments are not routed here at all: only `created`/`submitted` are."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gidgethub import BadRequest, sansio
from gidgethub.routing import Router

from app import cpu
from app.commands import denials_store as command_denials
from app.commands import log_store as command_log
from app.commands import replies as command_replies
from app.commands.parse import MAX_PER_COMMENT, UNKNOWN, Command, help_text, parse_commands
from app.commands.replies import Location
from app.db import advisory_lock
from app.followups import flow as task_actions
from app.followups import store as followups
from app.github import comments, urls
from app.github.client import GitHubClient
from app.github.permissions import is_bot, meets, permission_of
from app.pull_requests import links as pr_links
from app.pull_requests import store as pull_requests
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import HandlerContext
from app.tasks import requests_store as codegen_requests
from app.tasks import start as task_start
from app.tasks import stopping
from app.tasks import store as tasks
from app.tasks.status import STOPPABLE, TaskStatus
from app.validation import flow as validation_flow
from app.validation import store as validations

router = Router()
log = logging.getLogger(__name__)
# Actions not keyed by the command itself: they mark the command in their own
# transaction (command_log.mark_started), and a marked line is not run again.
_NOT_REPEATABLE = frozenset({"run", "retry", "validate"})
# GitHub's answers when a reply cannot be posted at all (locked, deleted, refused).
_CANNOT_REPLY = (403, 404, 410, 422)


@dataclass(frozen=True)
class Source:
    """Where the commands were written, whichever event brought them."""

    kind: str  # issue_comment | review_comment | review
    id: int
    body: str | None
    author: dict[str, Any]
    repository: str
    number: int  # the issue's or the pull request's
    is_pull: bool
    reaction_path: str | None  # None: no reactions (a review)
    pull: dict[str, Any] | None  # the pull request, when the payload carries it
    location: Location | None  # a review comment's file and line


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str
    say: bool = True  # reply even when a 🚀 would do
    mention: bool = True  # address the reply to the commenter


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


@router.register("issue_comment", action="created")
async def issue_comment_created(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    comment, issue = data["comment"], data["issue"]
    repository = data["repository"]["full_name"]
    source = Source(
        kind="issue_comment",
        id=comment["id"],
        body=comment.get("body"),
        author=comment.get("user") or data["sender"],
        repository=repository,
        number=issue["number"],
        is_pull="pull_request" in issue,
        reaction_path=urls.issue_comment(repository, comment["id"]),
        pull=None,
        location=None,
    )
    await handle(ctx, gh, data, source)


@router.register("pull_request_review_comment", action="created")
async def review_comment_created(
    event: sansio.Event, gh: GitHubClient, ctx: HandlerContext
) -> None:
    data = event.data
    comment = data["comment"]
    repository = data["repository"]["full_name"]
    source = Source(
        kind="review_comment",
        id=comment["id"],
        body=comment.get("body"),
        author=comment.get("user") or data["sender"],
        repository=repository,
        number=data["pull_request"]["number"],
        is_pull=True,
        reaction_path=urls.review_comment(repository, comment["id"]),
        pull=data["pull_request"],
        location=Location.of_review_comment(comment),
    )
    await handle(ctx, gh, data, source)


@router.register("pull_request_review", action="submitted")
async def review_submitted(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    review = data["review"]
    source = Source(
        kind="review",
        id=review["id"],
        body=review.get("body"),
        author=review.get("user") or data["sender"],
        repository=data["repository"]["full_name"],
        number=data["pull_request"]["number"],
        is_pull=True,
        reaction_path=None,
        pull=data["pull_request"],
        location=None,
    )
    await handle(ctx, gh, data, source)


async def handle(
    ctx: HandlerContext, gh: GitHubClient, data: dict[str, Any], source: Source
) -> None:
    found = parse_commands(source.body)
    if not found or is_bot(source.author) or is_bot(data["sender"]):
        return
    commands = found[:MAX_PER_COMMENT]
    actor = source.author["login"]
    pool = ctx.runtime.pool
    async with advisory_lock(pool, f"command:{source.kind}:{source.id}"):
        keys: list[str] = []
        pending: list[tuple[Command, str, bool]] = []
        async with pool.acquire() as conn, conn.transaction():
            for command in commands:
                key = command_log.command_key(source.kind, source.id, command.line)
                entry, _ = await command_log.claim(
                    conn,
                    key=key,
                    repository=source.repository,
                    number=source.number,
                    verb=command.verb,
                    args=command.args,
                    actor=actor,
                    delivery_id=ctx.delivery_id,
                )
                keys.append(key)
                if entry.status == command_log.RECEIVED:
                    pending.append((command, key, entry.reply == command_log.STARTED))
        if not pending:
            log.info("%s %s: its commands were handled already", source.kind, source.id)
            return
        # Who is asking comes before any write: a refused comment costs one reply
        # an hour at most, never a reaction.
        config, problems, sha = await load_repo_config(gh, source.repository, ctx.runtime.settings)
        level = await permission_of(gh, source.repository, actor)
        if not any(meets(level, _minimum(command.verb, config)) for command, _, _ in pending):
            await _deny(ctx, gh, source, actor, [(c, key) for c, key, _ in pending], config)
            return
        await _react(gh, source, "eyes")
        if len(found) > MAX_PER_COMMENT:
            text = command_replies.ignored(actor, len(found), MAX_PER_COMMENT)
            await _post(ctx, gh, source, f"cmd:{source.kind}:{source.id}:ignored", text)
        for command, key, started in pending:
            call = Call(ctx, gh, data, source, command, key, actor, config, problems, sha)
            minimum = _minimum(command.verb, config)
            if not meets(level, minimum):
                text = command_replies.verb_denied(
                    command.verb, minimum, source.repository, config.trigger_label
                )
                result = Result(False, text)
            elif started and command.verb in _NOT_REPEATABLE:
                # An earlier try acted (the mark commits with the action) and died
                # before recording it: doing it again would start a second one.
                result = Result(True, "carried out by an earlier try.", say=False)
            else:
                result = await _run(call)
            if not result.ok or result.say or source.reaction_path is None:
                text = f"@{actor} {result.message}" if result.mention else result.message
                await _post(ctx, gh, source, key, command_replies.reply(command, text))
            await command_log.finish(pool, key, "done" if result.ok else "failed", result.message)
        ended = [await command_log.get(pool, key) for key in keys]
        worked = all(entry is not None and entry.status == "done" for entry in ended)
        await _react(gh, source, "rocket" if worked and len(found) == len(commands) else "confused")


# Verbs that start a new paid agent run, as the label does: they take its permission.
_SPENDING = frozenset({"run", "retry"})


def _minimum(verb: str, config: RepoConfig) -> str:
    """`run` starts a task and `retry` a new agent run, as the label does (and the
    check run's "Retry task" button), so the label's permission gates them;
    every other verb takes the commands permission."""
    return config.permission if verb in _SPENDING else config.command_permission


async def _deny(
    ctx: HandlerContext,
    gh: GitHubClient,
    source: Source,
    actor: str,
    refused: list[tuple[Command, str]],
    config: RepoConfig,
) -> None:
    """Refuse every command of the comment: one reply per person per conversation
    an hour (whichever process handles it), and no other write."""
    pool = ctx.runtime.pool
    verbs = {command.verb for command, _ in refused}
    spending = verbs <= _SPENDING
    minimum = config.permission if spending else config.command_permission
    what = "give codegen-bot commands"
    if verbs == {"run"}:
        what = "start a task with `/codegen run`"
    elif spending:
        what = "start a new agent run with `/codegen retry` or `/codegen run`"
    text = command_replies.denied(actor, minimum, source.repository, what)
    reply_key = f"cmd:{source.kind}:{source.id}:denied"
    if await command_denials.may_reply(
        pool, repository=source.repository, number=source.number, actor=actor, source=reply_key
    ):
        await _post(ctx, gh, source, reply_key, text)
    else:
        text = "(refused; the denial was said within the hour, so not again)"
        log.info("%s %s: commands by %s refused quietly", source.kind, source.id, actor)
    for _, key in refused:
        await command_log.finish(pool, key, "denied", text)


async def _react(gh: GitHubClient, source: Source, content: str) -> None:
    if source.reaction_path is None:
        return
    try:
        await comments.react(gh, source.reaction_path, content)
    except BadRequest as exc:  # the comment was deleted meanwhile, or the issue locked
        log.info("could not react %s on %s: %s", content, source.reaction_path, exc)


async def _post(ctx: HandlerContext, gh: GitHubClient, source: Source, key: str, text: str) -> None:
    login = await ctx.runtime.github.bot_login()
    try:
        async with comments.issue_lock(ctx.runtime.pool, source.repository, source.number):
            await comments.post_once(gh, source.repository, source.number, key, text, login)
    except BadRequest as exc:
        if exc.status_code not in _CANNOT_REPLY:
            raise
        # A locked or deleted conversation: the commands table keeps the reply's text.
        log.warning("could not reply on %s#%s: %s", source.repository, source.number, exc)


async def _run(call: Call) -> Result:
    command = call.command
    if command.verb == UNKNOWN:
        return Result(False, f"{command.error}\n\n{help_text()}")
    if command.error:
        return Result(False, command.error)
    verb = _VERBS[command.verb]
    return await verb(call)


# ---------------------------------------------------------------- the verbs


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
    if active is not None and active.status != TaskStatus.NEEDS_INFO:
        return Result(
            False,
            f"task {active.id} is already under way (`{active.status}`); nothing new was "
            "started. `/codegen status` shows where it stands.",
        )
    if call.problems:
        await task_start.report_config_problems(
            call.ctx, call.gh, source.repository, source.number, call.problems, call.config_sha
        )
    await task_start.start_task(
        call.ctx, call.gh, call.data, call.config, call.actor, command_key=call.key
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
    if source.is_pull and not validation_flow.agent_opened(task, source.repository, source.number):
        return Result(False, validation_flow.not_the_agents(task, source.number))
    pr_id = None
    if source.is_pull:
        recorded = await pull_requests.find(pool, source.repository, source.number)
        pr_id = recorded.id if recorded else None
    instructions = await cpu.run(
        command_replies.fix_instructions,
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
    text = command_replies.status_text(
        task,
        await codegen_requests.for_task(pool, task.id),
        await validations.latest_for_task(pool, task.id),
        await followups.for_task(pool, task.id),
        datetime.now(UTC),
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
        await validation_flow.revalidate(runtime, recorded, trigger, command_key=call.key)
        return head
    linked = task or await pr_links.linked_task(runtime.pool, repository, pull, call.gh)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await command_log.mark_started(conn, call.key)
        await validation_flow.record_head(
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


_VERBS = {
    "help": _help,
    "run": _start,
    "retry": _retry,
    "fix": _fix,
    "status": _status,
    "cancel": _cancel,
    "validate": _validate,
}
