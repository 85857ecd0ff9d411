"""Starting a task from an issue (a label or `/codegen run`), once per request,
resuming one that waits for information when its issue is edited, starting
the first attempt of one the REST API made (`created`), and the issue
comments said on the way: a refusal, the settings file's problems."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson

from app import cpu
from app.commands import log_store as command_log
from app.github import comments
from app.github.client import GitHubClient
from app.github.permissions import is_bot, meets, permission_of
from app.repo_settings.config import CONFIG_PATH, RepoConfig, load_repo_config
from app.runtime import HandlerContext
from app.tasks import feedback, schedule, tracking
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.issue_spec import issue_choices, parse_issue
from app.tasks.status import TaskStatus
from app.tasks.workflow_status import StepStatus

log = logging.getLogger(__name__)


async def spec_fields(issue: dict[str, Any]) -> dict[str, Any]:
    """The issue parsed into a task's fields, off the event loop (65 KB of anything)."""
    labels = [label["name"] for label in issue.get("labels") or [] if isinstance(label, dict)]
    spec = await cpu.run(parse_issue, issue.get("title") or "", issue.get("body"), labels)
    # Where the PR goes, read with the text and from the same approved issue.
    choices = await cpu.run(issue_choices, issue.get("body"), labels)
    return {**spec.to_json(), "pr_fields": choices}


async def post_once(
    ctx: HandlerContext, gh: GitHubClient, repository: str, number: int, key: str, text: str
) -> None:
    async with comments.issue_lock(ctx.runtime.pool, repository, number):
        await comments.post_once(
            gh, repository, number, key, text, await ctx.runtime.github.bot_login()
        )


async def report_config_problems(
    ctx: HandlerContext,
    gh: GitHubClient,
    repository: str,
    number: int,
    problems: list[str],
    sha: str | None,
) -> None:
    text = f"⚠️ codegen-bot could not use `{CONFIG_PATH}`, so its defaults apply:\n\n" + "\n".join(
        f"- {p}" for p in problems
    )
    await post_once(ctx, gh, repository, number, f"config:{sha}", text)


async def start_task(
    ctx: HandlerContext,
    gh: GitHubClient,
    payload: dict[str, Any],
    config: RepoConfig,
    triggered_by: str,
    command_key: str | None = None,
    instructions: str | None = None,
    spec: dict[str, Any] | None = None,
    created: bool = False,
) -> None:
    """Make a task for the issue, or (one active task per issue) note the request
    on the active one, resuming it when it was waiting for information and
    starting it when the REST API made it (`created`). Once per request: a
    delivery (or `/codegen run`, by `command_key`) handled again after its job
    died does nothing more, even if the task it started has ended.
    `instructions` (a mention's words) go with the task into the prompt;
    `spec`: the task's fields as given (the REST API) instead of the issue's;
    `created`: the REST API's task, made `created` with its tracking comment
    and no run (and nothing done to an active task that blocked it)."""
    runtime = ctx.runtime
    issue = payload["issue"]
    repository = payload["repository"]["full_name"]
    spec = spec or await spec_fields(issue)
    deadline = schedule.deadline_from_now(config.timeout_ms)

    async def record() -> tasks.Task | None:
        """The request in one transaction; the task it made, if it made one."""
        async with runtime.pool.acquire() as conn, conn.transaction():
            if await tasks.started_by(conn, repository, issue["number"], ctx.delivery_id):
                return None
            if command_key is not None:
                await command_log.mark_started(conn, command_key)
            task = await tasks.create(
                conn,
                installation_id=ctx.installation_id,
                repository=repository,
                repository_id=payload["repository"].get("id"),
                # What the prompt's context would read the repository for.
                default_branch=payload["repository"].get("default_branch"),
                repository_description=payload["repository"].get("description"),
                issue_number=issue["number"],
                issue_url=issue["html_url"],
                issue_author=(issue.get("user") or {}).get("login") or triggered_by,
                title=spec["title"],
                description=spec["description"],
                requirements=spec["requirements"],
                acceptance_criteria=spec["acceptance_criteria"],
                priority=spec["priority"],
                estimated_complexity=spec["estimated_complexity"],
                triggered_by=triggered_by,
                trigger_delivery_id=ctx.delivery_id,
                max_retries=config.max_retries,
                simulated=runtime.codegen_simulated,
                deadline_at=deadline,
                instructions=orjson.dumps(
                    [{"by": triggered_by, "text": instructions}] if instructions else []
                ).decode(),
                pr_fields=orjson.dumps(spec.get("pr_fields") or {}).decode(),
                **({"status": TaskStatus.CREATED} if created else {}),
            )
            if task is not None:
                if created:  # its tracking comment says what starts it
                    await schedule.enqueue_render(conn, task.id, "created")
                else:
                    await schedule.enqueue_advance(conn, task.id, "validate")
                    # The first feedback (👀, then the tracking comment), written beside
                    # the workflow, which never waits for it (app/tasks/feedback.py).
                    await schedule.enqueue_render(conn, task.id, "first", react=True)
                log.info("task %s created for %s#%s", task.id, repository, issue["number"])
                return task
            if created:
                return None  # the REST API answers that the issue has a task
            active = await tasks.active_for_issue(conn, repository, issue["number"])
            if active is None:
                raise RuntimeError("an active task blocked the insert but cannot be found")
            if active.status == TaskStatus.CREATED:
                if instructions:
                    await tasks.add_instructions(conn, active.id, triggered_by, instructions)
                if await begin_created(conn, active, triggered_by, deadline, ctx.delivery_id):
                    await tasks.add_note(
                        conn, active.id, f"{tracking.mention(triggered_by)} started it (attempt 1)."
                    )
                return None
            if active.status == TaskStatus.NEEDS_INFO:
                await tasks.refresh_from_issue(conn, active.id, spec)
                if instructions:
                    await tasks.add_instructions(conn, active.id, triggered_by, instructions)
                await tasks.transition(
                    conn,
                    active.id,
                    from_status=(TaskStatus.NEEDS_INFO,),
                    to_status=TaskStatus.QUEUED,
                    deadline_at=deadline,
                )
                await schedule.enqueue_advance(conn, active.id, f"validate:{ctx.delivery_id}")
                return None
            await tasks.add_note(
                conn,
                active.id,
                f"{tracking.mention(triggered_by)} asked again; this task is already under way, "
                "so nothing new started.",
            )
            await schedule.enqueue_render(conn, active.id, ctx.delivery_id)

        return None

    made = await record()
    if made is not None and not created:
        feedback.greet(runtime, made)  # committed: its 👀 now, not after a job hop


async def begin_created(
    conn: Any,
    task: tasks.Task,
    by: str,
    deadline: datetime,
    key: str,
    *,
    prepare: Callable[[Any, tasks.Task], Awaitable[None]] | None = None,
    fields: dict[str, Any] | None = None,
) -> tasks.Task | None:
    """Start the first attempt of a task the REST API made, in the caller's
    transaction: the one path `create-pr`, `/codegen run` and the label take.
    Its fields were given and checked by the API, so the issue check is done;
    the attempt's job builds the prompt (unless `prepare(conn, task)` stored one)
    and asks the budgets before the run is made, as for a labeled issue.
    `fields` are set on the task (auto-merge). None: it had started already."""
    moved = await tasks.transition(
        conn,
        task.id,
        from_status=(TaskStatus.CREATED,),
        to_status=TaskStatus.GENERATING_PROMPT,
        detail=f"{tracking.mention(by)} started it",
        deadline_at=deadline,
        **(fields or {}),
    )
    if moved is None:
        return None
    if prepare is not None:
        await prepare(conn, moved)
    await workflows.start(conn, task.id)
    await workflows.step(conn, task.id, "validate_task", StepStatus.RUNNING)
    await workflows.step(
        conn, task.id, "validate_task", StepStatus.COMPLETED, "fields given through the REST API"
    )
    await schedule.enqueue_advance(conn, task.id, "attempt:1")
    await schedule.enqueue_render(conn, task.id, f"started:{key}")
    return moved


async def start_from_label(ctx: HandlerContext, gh: GitHubClient, data: dict[str, Any]) -> None:
    """An `issues.labeled` event by a person: the repository's trigger label,
    added by someone with the configured permission, starts a task; anyone else
    is told why nothing started."""
    sender = data["sender"]
    repository = data["repository"]["full_name"]
    number = data["issue"]["number"]
    config, problems, sha = await load_repo_config(gh, repository, ctx.runtime.settings)
    if data["label"]["name"].lower() != config.trigger_label.lower():
        return
    level = await permission_of(gh, repository, sender["login"])
    if not meets(level, config.permission):
        text = (
            f"@{sender['login']} only people with **{config.permission}** access (or more) "
            f"to {repository} can ask codegen-bot to work on an issue, so nothing was "
            f"started. A maintainer can add the `{config.trigger_label}` label instead."
        )
        key = f"denied:{sender['login'].lower()}"
        await post_once(ctx, gh, repository, number, key, text)
        return
    await start_task(ctx, gh, data, config, sender["login"])
    # Said to people who may act on it, not to whoever can add a label; after the
    # task is started, which must not wait for a write.
    if problems:
        await report_config_problems(ctx, gh, repository, number, problems, sha)


async def resume_after_edit(ctx: HandlerContext, gh: GitHubClient, data: dict[str, Any]) -> None:
    """An edit resumes a task waiting for information only when its author may
    start tasks (the label's permission): anyone may edit their own issue, and a
    reader must not replace the text a writer approved and start a run with it.
    Other edits are noted on the task once per person and change nothing."""
    repository = data["repository"]["full_name"]
    issue, sender = data["issue"], data["sender"]
    active = await tasks.active_for_issue(ctx.runtime.pool, repository, issue["number"])
    if active is None or active.status != TaskStatus.NEEDS_INFO:
        return
    config, _, _ = await load_repo_config(gh, repository, ctx.runtime.settings)
    permitted = not is_bot(sender) and meets(
        await permission_of(gh, repository, sender["login"]), config.permission
    )
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        if not permitted:
            login = sender["login"]
            await tasks.add_note(conn, active.id, edit_ignored_note(login, config))
            await schedule.enqueue_render(conn, active.id, f"edit-ignored:{login.lower()}")
            return
        await tasks.refresh_from_issue(conn, active.id, await spec_fields(issue))
        moved = await tasks.transition(
            conn, active.id, from_status=(TaskStatus.NEEDS_INFO,), to_status=TaskStatus.QUEUED
        )
        if moved:
            await schedule.enqueue_advance(conn, active.id, f"validate:{ctx.delivery_id}")


def edit_ignored_note(login: str, config: RepoConfig) -> str:
    """The task's one note per person whose edit could not resume it."""
    return (
        f"@{login} edited the issue, but only people with **{config.permission}** access "
        "(or more) can resume this task by editing it, so the edit was not used. Someone "
        "with that access can edit the issue or comment `/codegen run` to resume it with "
        "the issue as it stands."
    )
