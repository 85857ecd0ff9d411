"""Starting a task from an issue (a label or `/codegen run`), once per request,
and the issue comments said on the way: a refusal, the settings file's problems."""

from __future__ import annotations

import logging
from typing import Any

from app import cpu
from app.commands import log_store as command_log
from app.github import comments
from app.github.client import GitHubClient
from app.repo_settings.config import CONFIG_PATH, RepoConfig
from app.runtime import HandlerContext
from app.tasks import schedule
from app.tasks import store as tasks
from app.tasks.issue_spec import parse_issue
from app.tasks.status import TaskStatus

log = logging.getLogger(__name__)


async def spec_fields(issue: dict[str, Any]) -> dict[str, Any]:
    """The issue parsed into a task's fields, off the event loop (65 KB of anything)."""
    labels = [label["name"] for label in issue.get("labels") or [] if isinstance(label, dict)]
    spec = await cpu.run(parse_issue, issue.get("title") or "", issue.get("body"), labels)
    return spec.to_json()


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
) -> None:
    """Make a task for the issue, or (one active task per issue) note the request
    on the active one, resuming it when it was waiting for information. Once per
    request: a delivery (or `/codegen run`, by `command_key`) handled again after
    its job died does nothing more, even if the task it started has ended."""
    runtime = ctx.runtime
    issue = payload["issue"]
    repository = payload["repository"]["full_name"]
    spec = await spec_fields(issue)
    deadline = schedule.deadline_from_now(config.timeout_ms)
    async with runtime.pool.acquire() as conn, conn.transaction():
        if await tasks.started_by(conn, repository, issue["number"], ctx.delivery_id):
            return
        if command_key is not None:
            await command_log.mark_started(conn, command_key)
        task = await tasks.create(
            conn,
            installation_id=ctx.installation_id,
            repository=repository,
            repository_id=payload["repository"].get("id"),
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
        )
        if task is not None:
            await schedule.enqueue_advance(conn, task.id, "validate")
            log.info("task %s created for %s#%s", task.id, repository, issue["number"])
            return
        active = await tasks.active_for_issue(conn, repository, issue["number"])
        if active is None:
            raise RuntimeError("an active task blocked the insert but cannot be found")
        if active.status == TaskStatus.NEEDS_INFO:
            await tasks.refresh_from_issue(conn, active.id, spec)
            await tasks.transition(
                conn,
                active.id,
                from_status=(TaskStatus.NEEDS_INFO,),
                to_status=TaskStatus.QUEUED,
                deadline_at=deadline,
            )
            await schedule.enqueue_advance(conn, active.id, f"validate:{ctx.delivery_id}")
            return
        await tasks.add_note(
            conn,
            active.id,
            f"@{triggered_by} asked again; this task is already under way, so nothing new started.",
        )
        await schedule.enqueue_render(conn, active.id, ctx.delivery_id)
