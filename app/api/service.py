"""What each endpoint does, through the services the webhook handlers use: a
task is made as a labeled issue's is (`app.tasks.start`) but waits in
`created` until `create-pr` (or `/codegen run`, or the label) starts its first
attempt by the same path (`app.tasks.start.begin_created`), a new attempt as
`/codegen retry` (`app.followups.flow.retry`), a stop as `/codegen cancel`
(`app.tasks.stopping`); the prompt comes from the same builder and context."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import gidgethub
from gidgethub import BadRequest

from app.api import errors
from app.api import store as api_store
from app.api.keys import ApiKey
from app.api.models import CreatePr, GeneratePrompt, PrOptions, TaskCreate, TaskFilter
from app.api.texts import issue_body
from app.followups import flow as task_actions
from app.followups import store as followups
from app.github import urls
from app.github.client import GitHubClient, GitHubNotConfigured
from app.pull_requests import store as pull_requests
from app.pull_requests.placement import Overrides
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import HandlerContext, Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import schedule, stopping
from app.tasks import start as task_start
from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.advance import build_task_prompt, placement_again
from app.tasks.request_status import WITHOUT_RUN
from app.tasks.status import RETRYABLE, STOPPABLE, WORKING, TaskStatus
from app.tasks.tracking import mention
from app.validation import store as validations
from prompts.builder import PromptOptions

log = logging.getLogger(__name__)


async def _installation(runtime: Runtime, repository: str) -> int:
    """The App's installation on the repository, or a 422 naming the field."""
    try:
        answer = await runtime.github.app_client().getitem(
            urls.repo_installation(repository), jwt=runtime.github.app_jwt()
        )
    except GitHubNotConfigured:
        raise errors.ApiError(
            503, "unavailable", "the GitHub App is not configured on this server"
        ) from None
    except BadRequest as exc:
        if exc.status_code == 404:
            raise errors.invalid(
                "repository", f"the App is not installed on {repository}"
            ) from None
        raise
    return int(answer["id"])


async def task_or_404(runtime: Runtime, task_id: int) -> tasks.Task:
    task = await tasks.get(runtime.pool, task_id)
    if task is None:
        raise errors.not_found(task_id)
    return task


async def _client(runtime: Runtime, task: tasks.Task) -> GitHubClient:
    return await runtime.github.for_installation(task.installation_id)


async def _issue(gh: GitHubClient, repository: str, number: int) -> dict[str, Any]:
    try:
        issue = await gh.getitem(urls.issue(repository, number))
    except BadRequest as exc:
        if exc.status_code in (404, 410):
            raise errors.invalid("issue_number", f"{repository} has no issue #{number}") from None
        raise
    # A transferred issue's old address redirects to its new one, which the client follows.
    where = str(issue.get("repository_url") or "").lower()
    if issue.get("number") != number or not where.endswith(urls.repo(repository).lower()):
        raise errors.invalid("issue_number", f"#{number} was moved out of {repository}")
    if "pull_request" in issue:
        raise errors.invalid("issue_number", f"#{number} is a pull request, not an issue")
    if issue.get("state") == "closed":
        raise errors.invalid("issue_number", f"#{number} is closed; reopen it to start a task")
    return issue


async def create_task(runtime: Runtime, key: ApiKey, body: TaskCreate) -> tasks.Task:
    """Open the issue (unless one is named) and make its task as a label by a
    permitted person would, with its tracking comment, but `created`: no agent
    run starts until `create-pr` (with its options), `/codegen run` or the
    label starts it. The key's name is who asked."""
    installation_id = await _installation(runtime, body.repository)
    gh = await runtime.github.for_installation(installation_id)
    repo = await gh.getitem(urls.repo(body.repository))
    repository = repo["full_name"]
    config, problems, sha = await load_repo_config(gh, repository, runtime.settings)
    if body.issue_number is not None:
        issue = await _issue(gh, repository, body.issue_number)
        active = await tasks.active_for_issue(runtime.pool, repository, body.issue_number)
        if active is not None:
            raise errors.conflict(
                f"task {active.id} is already under way on #{body.issue_number} ({active.status})"
            )
    else:
        opened = await gh.post(
            urls.issues(repository), data={"title": body.title, "body": issue_body(body, key.name)}
        )
        issue = {**opened, "user": None}  # the bot opened it: the key is its author
    ctx = HandlerContext(
        runtime=runtime,
        delivery_id=f"api:{uuid.uuid4()}",
        installation_id=installation_id,
        received_at=datetime.now(UTC),
    )
    if problems:
        try:
            await task_start.report_config_problems(
                ctx, gh, repository, issue["number"], problems, sha
            )
        except (gidgethub.HTTPException, aiohttp.ClientError, TimeoutError):
            # The issue is open: failing the request now would have the caller's
            # retry open a second one. The note is a courtesy; the task goes on.
            log.warning("%s#%s: the settings note was not posted", repository, issue["number"])
    spec = body.model_dump(
        include={
            "title",
            "description",
            "requirements",
            "acceptance_criteria",
            "priority",
            "estimated_complexity",
        }
    )
    payload = {"issue": issue, "repository": repo}
    await task_start.start_task(ctx, gh, payload, config, key.actor, spec=spec, created=True)
    task = await tasks.started_by(runtime.pool, repository, issue["number"], ctx.delivery_id)
    if task is None:  # another request started one first
        raise errors.conflict(f"a task is already under way on #{issue['number']}")
    return task


async def list_tasks(runtime: Runtime, query: TaskFilter) -> tuple[list[tasks.Task], str | None]:
    found = await tasks.page(
        runtime.pool,
        status=query.status,
        repository=query.repository,
        created_since=query.created_since,
        before_id=int(query.cursor) if query.cursor else None,
        limit=query.limit + 1,
    )
    more = len(found) > query.limit
    found = found[: query.limit]
    return found, (str(found[-1].id) if more else None)


async def generate_prompt(
    runtime: Runtime, key: ApiKey, body: GeneratePrompt
) -> api_store.StoredPrompt:
    """Build and store a prompt for the task; nothing is sent to Codegen."""
    task = await task_or_404(runtime, body.task_id)
    gh = await _client(runtime, task)
    wanted = body.context_options
    options = PromptOptions(
        style=wanted.promptStyle,
        include_codebase_context=wanted.includeCodebaseContext,
        include_dependencies=wanted.includeDependencies,
        include_validation_criteria=wanted.includeValidationCriteria,
    )
    config, _, _ = await load_repo_config(gh, task.repository, runtime.settings)
    text, used = await build_task_prompt(gh, task, options, config, attempt=task.attempt + 1)
    return await api_store.save_prompt(
        runtime.pool,
        task_id=task.id,
        prompt=text,
        style=options.style,
        context_used=used,
        by=key.actor,
    )


@dataclass(frozen=True)
class Started:
    task: tasks.Task
    request_id: int | None
    attempt: int
    message: str


def _refuse_while_working(task: tasks.Task, *, may_start: bool = False) -> None:
    """409 unless a new attempt may start; `may_start`: a `created` task's first
    attempt may (create-pr starts it; a retry has nothing to retry yet)."""
    if task.status == TaskStatus.CREATED:
        if may_start:
            return
        raise errors.conflict(
            f"task {task.id} has not started yet: create-pr starts its first attempt"
        )
    if task.status in WORKING:
        raise errors.conflict(
            f"attempt {max(task.attempt, 1)} of task {task.id} is still running "
            f"({task.status}); cancel it first"
        )
    if task.status == TaskStatus.NEEDS_INFO:
        raise errors.conflict(
            f"task {task.id} is waiting for more information: edit issue #{task.issue_number}"
        )
    if task.status not in RETRYABLE:
        raise errors.conflict(f"task {task.id} is {task.status}; nothing more can be started")


def _repo_options(config: RepoConfig) -> PromptOptions:
    return PromptOptions(
        style=config.prompt_style,
        include_codebase_context=config.include_codebase_context,
        include_dependencies=config.include_dependencies,
        include_validation_criteria=config.include_validation_criteria,
    )


async def create_pr(runtime: Runtime, key: ApiKey, body: CreatePr) -> Started:
    """The task's first attempt (a `created` task) or a new one, with this prompt
    (the one named, or one built now) and the pull request details asked for:
    the prompt is stored as the attempt's in the transaction that starts it, and
    the workflow's job sends it to Codegen (once the budgets admit it) as for
    any attempt."""
    task = await task_or_404(runtime, body.task_id)
    _refuse_while_working(task, may_start=True)
    gh = await _client(runtime, task)
    config, _, _ = await load_repo_config(gh, task.repository, runtime.settings)
    strategy = task_actions.next_strategy(task)
    overrides = placement_overrides(body.options)
    if body.prompt_data is not None:
        stored = await api_store.get_prompt(runtime.pool, body.prompt_data.id, task.id)
        if stored is None:
            raise errors.invalid(
                "prompt_data.id", f"task {task.id} has no prompt {body.prompt_data.id}"
            )
        text, style, used = stored.prompt, stored.style, dict(stored.context_used)
        used["prompt_id"] = stored.id
        if any(v is not None for v in vars(overrides).values()):
            # The stored prompt said where the PR goes; these choices replace that.
            text, used = placement_again(
                task, config, text, used, overrides, attempt=task.attempt + 1
            )
    else:
        options = _repo_options(config)
        previous = await codegen_requests.get(runtime.pool, task.id, task.attempt)
        text, used = await build_task_prompt(
            gh,
            task,
            options,
            config,
            strategy,
            (previous.error or previous.summary) if previous else None,
            overrides,
            attempt=task.attempt + 1,
        )
        style = options.style
    used["requested_by"] = key.actor
    made: dict[str, int] = {}

    async def store_prompt(conn: Any, moved: tasks.Task) -> None:
        attempt = moved.attempt + 1
        request = await codegen_requests.prepare(
            conn,
            task_id=moved.id,
            attempt=attempt,
            strategy=strategy,
            style=style,
            prompt=text,
            context=used,
        )
        if request.agent_run_id is None and request.status in WITHOUT_RUN:
            # An attempt stopped before its run was made left its row: this prompt wins.
            await codegen_requests.update(
                conn, request.id, prompt=text, style=style, context=used, strategy=strategy
            )
        made["request_id"] = request.id
        await tasks.add_note(
            conn, moved.id, _attribution(key, f"started attempt {attempt}", body.options)
        )

    fields = {} if body.options.autoMerge is None else {"auto_merge": body.options.autoMerge}
    if task.status == TaskStatus.CREATED:
        deadline = schedule.deadline_from_now(config.timeout_ms)
        async with runtime.pool.acquire() as conn, conn.transaction():
            moved = await task_start.begin_created(
                conn,
                task,
                key.actor,
                deadline,
                f"api:{uuid.uuid4()}",
                prepare=store_prompt,
                fields=fields,
            )
        if moved is None:
            raise errors.conflict(f"task {task.id} changed state meanwhile; nothing was started")
        return Started(task, made.get("request_id"), 1, f"started attempt 1 of task {task.id}.")
    outcome = await task_actions.retry(
        runtime, task, strategy, key.actor, config.timeout_ms, prepare=store_prompt, fields=fields
    )
    if not outcome.ok:
        raise errors.conflict(outcome.message)
    return Started(task, made.get("request_id"), task.attempt + 1, outcome.message)


def placement_overrides(options: PrOptions) -> Overrides:
    """The caller's choices of where and how the PR is opened."""
    return Overrides(
        base=options.base,
        draft=options.draft,
        branch=options.branchName,
        title=options.prTitle,
        reviewers=None if options.reviewers is None else tuple(options.reviewers),
        labels=None if options.labels is None else tuple(options.labels),
    )


def _attribution(key: ApiKey, what: str, options: PrOptions | None = None) -> str:
    """The tracking comment's line naming the key that asked."""
    extra = ""
    if options is not None and options.autoMerge is not None:
        extra = f" (auto-merge {'on' if options.autoMerge else 'off'})"
    return f"{mention(key.actor)} {what} through the REST API{extra}."


async def retry(runtime: Runtime, key: ApiKey, task_id: int, strategy: str | None) -> Started:
    """`/codegen retry [strategy]`, asked by a key."""
    task = await task_or_404(runtime, task_id)
    _refuse_while_working(task)
    gh = await _client(runtime, task)
    config, _, _ = await load_repo_config(gh, task.repository, runtime.settings)
    attempt = task.attempt + 1

    async def note(conn: Any, moved: tasks.Task) -> None:
        how = f" with strategy `{strategy}`" if strategy else ""
        await tasks.add_note(conn, moved.id, _attribution(key, f"retried (attempt {attempt}){how}"))

    outcome = await task_actions.retry(
        runtime, task, strategy, key.actor, config.timeout_ms, prepare=note
    )
    if not outcome.ok:
        raise errors.conflict(outcome.message)
    return Started(task, None, attempt, outcome.message)


async def cancel(runtime: Runtime, key: ApiKey, task_id: int) -> tuple[tasks.Task, str]:
    """`/codegen cancel`, asked by a key: the same stop, the same statuses."""
    task = await task_or_404(runtime, task_id)
    stoppable: frozenset[TaskStatus] = STOPPABLE
    if stopping.watched_late(task, datetime.now(UTC)):
        stoppable = stoppable | {TaskStatus.TIMED_OUT}
    if task.status not in stoppable:
        raise errors.conflict(f"task {task.id} is not running ({task.status}); nothing to cancel")
    reason = f"cancelled by {mention(key.actor)} through the REST API"
    stopped = await stopping.cancel(runtime, task, reason, from_status=stoppable)
    if stopped is None:
        raise errors.conflict(f"task {task.id} changed state meanwhile; nothing was cancelled")
    return stopped.task, f"cancelled task {task.id}: {stopped.summary()}"


async def status(runtime: Runtime, task_id: int) -> dict[str, Any]:
    """The task and everything recorded about its work, as stored."""
    pool = runtime.pool
    task = await task_or_404(runtime, task_id)
    return {
        "task": task,
        "workflow": await workflows.get(pool, task.id),
        "agent_runs": await codegen_requests.for_task(pool, task.id),
        "pull_requests": await pull_requests.for_task(pool, task.id),
        "validation": await validations.latest_for_task(pool, task.id),
        "followups": await followups.for_task(pool, task.id),
    }
