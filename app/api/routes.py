"""The API's operations in one table (`OPERATIONS`): each one's path, scope,
request and response definitions and endpoint. The table registers the aiohttp
routes and makes the OpenAPI document (`app.api.openapi`), so a route cannot
be served undocumented or documented unserved."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from app.api import guard, models
from app.api import service as api
from app.api.errors import ApiError, from_github
from app.api.keys import ApiKey, Scope
from app.api.mount import KEYS, LIMITS, PREFIX, RUNTIME, Handler, Route
from app.api.rates import client_address
from app.runtime import Runtime
from app.tasks.status import TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One request that passed the guard."""

    runtime: Runtime
    key: ApiKey
    body: Any  # the validated body model, or None
    query: Any  # the validated query model, or None
    task_id: int | None


Endpoint = Callable[[Call], Awaitable[tuple[int, BaseModel]]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI's template: /api/v1/tasks/{task_id}
    operation_id: str
    summary: str
    scope: Scope
    endpoint: Endpoint
    answers: dict[int, tuple[type[BaseModel], str]]  # success status -> model, description
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    refusals: tuple[int, ...] = field(default=())  # beyond those every operation may give

    @property
    def has_task_id(self) -> bool:
        return "{task_id}" in self.path


def task_out(task: Any) -> models.TaskOut:
    return models.TaskOut.model_validate(task, from_attributes=True)


async def _create_task(call: Call) -> tuple[int, BaseModel]:
    task = await api.create_task(call.runtime, call.key, call.body)
    return 201, task_out(task)


async def _get_task(call: Call) -> tuple[int, BaseModel]:
    assert call.task_id is not None
    return 200, task_out(await api.task_or_404(call.runtime, call.task_id))


async def _list_tasks(call: Call) -> tuple[int, BaseModel]:
    found, cursor = await api.list_tasks(call.runtime, call.query)
    return 200, models.TaskPage(tasks=[task_out(t) for t in found], next_cursor=cursor)


async def _generate_prompt(call: Call) -> tuple[int, BaseModel]:
    stored = await api.generate_prompt(call.runtime, call.key, call.body)
    data = models.PromptData.model_validate(stored, from_attributes=True)
    return 201, models.PromptOut(prompt_data=data)


def _started(started: api.Started) -> models.Started:
    return models.Started(
        task_id=started.task.id,
        request_id=started.request_id,
        attempt=started.attempt,
        status=TaskStatus.GENERATING_PROMPT,
        message=started.message,
    )


async def _create_pr(call: Call) -> tuple[int, BaseModel]:
    return 202, _started(await api.create_pr(call.runtime, call.key, call.body))


async def _retry(call: Call) -> tuple[int, BaseModel]:
    assert call.task_id is not None
    strategy = call.body.retry_options.strategy
    return 202, _started(await api.retry(call.runtime, call.key, call.task_id, strategy))


async def _cancel(call: Call) -> tuple[int, BaseModel]:
    assert call.task_id is not None
    task, message = await api.cancel(call.runtime, call.key, call.task_id)
    return 200, models.Cancelled(task=task_out(task), message=message)


async def _status(call: Call) -> tuple[int, BaseModel]:
    assert call.task_id is not None
    found = await api.status(call.runtime, call.task_id)
    runs = [
        models.AgentRun(
            request_id=r.id,
            **{k: getattr(r, k) for k in models.AgentRun.model_fields if k != "request_id"},
        )
        for r in found["agent_runs"]
    ]
    validation = found["validation"]
    return 200, models.Status(
        task=task_out(found["task"]),
        workflow=found["workflow"],
        agent_runs=runs,
        pull_requests=[
            models.PullRequestOut.model_validate(p, from_attributes=True)
            for p in found["pull_requests"]
        ],
        validation=(
            models.Validation.model_validate(validation, from_attributes=True)
            if validation
            else None
        ),
        followups=[
            models.FollowupOut.model_validate(f, from_attributes=True) for f in found["followups"]
        ],
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        f"{PREFIX}/tasks",
        "createTask",
        "Create a task (opening its issue unless one is named); `create-pr` starts it",
        Scope.WRITE,
        _create_task,
        {
            201: (
                models.TaskOut,
                "The task, `created`: its issue and tracking comment are there, no agent run "
                "yet; `create-pr`, `/codegen run` or the trigger label starts it",
            )
        },
        body=models.TaskCreate,
        refusals=(409, 502, 503),
    ),
    Operation(
        "GET",
        f"{PREFIX}/tasks",
        "listTasks",
        "List tasks, newest first, with filters and a cursor",
        Scope.READ,
        _list_tasks,
        {200: (models.TaskPage, "One page of tasks")},
        query=models.TaskFilter,
    ),
    Operation(
        "GET",
        f"{PREFIX}/tasks/{{task_id}}",
        "getTask",
        "Get a task",
        Scope.READ,
        _get_task,
        {200: (models.TaskOut, "The task")},
    ),
    Operation(
        "POST",
        f"{PREFIX}/tasks/{{task_id}}/cancel",
        "cancelTask",
        "Cancel a task, as `/codegen cancel` does",
        Scope.WRITE,
        _cancel,
        {200: (models.Cancelled, "The task as the cancel left it")},
        refusals=(409,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/codegen/generate-prompt",
        "generatePrompt",
        "Build and store a prompt for a task; nothing is sent to Codegen",
        Scope.WRITE,
        _generate_prompt,
        {201: (models.PromptOut, "The stored prompt")},
        body=models.GeneratePrompt,
        refusals=(502,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/codegen/create-pr",
        "createPr",
        "Start the task's run (its first attempt, or a new one after it ended) with a "
        "prompt and pull request options",
        Scope.WRITE,
        _create_pr,
        {
            202: (
                models.Started,
                "The attempt, started; a job creates its agent run once the budgets allow",
            )
        },
        body=models.CreatePr,
        refusals=(409, 502),
    ),
    Operation(
        "GET",
        f"{PREFIX}/codegen/status/{{task_id}}",
        "getStatus",
        "A task with its workflow steps, agent runs, pull requests, validation and follow-ups",
        Scope.READ,
        _status,
        {200: (models.Status, "Everything recorded about the task's work")},
    ),
    Operation(
        "POST",
        f"{PREFIX}/codegen/retry/{{task_id}}",
        "retryTask",
        "Start a new attempt with a strategy, as `/codegen retry` does",
        Scope.WRITE,
        _retry,
        {202: (models.Started, "The attempt, started; a job builds its prompt and run")},
        body=models.Retry,
        refusals=(409, 502),
    ),
)


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=body, content_type="application/json", headers=headers or {}
    )


def _task_id(request: web.Request) -> int:
    raw = request.match_info["task_id"]
    # isdigit() holds for "²", which int() refuses: ASCII digits only.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= models.BIGINT:
        raise ApiError(404, "not_found", f"task {raw[:40]!r} does not exist", field="task_id")
    return int(raw)


def handler(op: Operation) -> Handler:
    """The aiohttp handler: the guard's checks in order, then the endpoint."""

    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        runtime, limits = app[RUNTIME], app[LIMITS]
        try:
            address = client_address(request, limits.address_header)
            await guard.check_rate(runtime, f"address:{address}", limits)
            key = guard.key_for(app[KEYS], request, op.scope)
            await guard.check_rate(runtime, f"key:{key.name}", limits)
            raw = await guard.read_body(request)
            task_id = _task_id(request) if op.has_task_id else None
            data = guard.parse_json(raw) if op.body is not None else None
            body = guard.validated(op.body, data) if op.body is not None else None
            query = guard.validated(op.query, dict(request.query), "query") if op.query else None
            call = Call(runtime, key, body, query, task_id)

            async def run() -> guard.Answer:
                status, model = await op.endpoint(call)
                return status, orjson.dumps(model.model_dump(mode="json"))

            idem = guard.idempotency_key(request) if op.method == "POST" else None
            if idem is None:
                status, payload = await run()
                return _json(status, payload)
            digest = guard.request_hash(op.method, request.path, data)
            (status, payload), replayed = await guard.once(runtime, key, idem, digest, run)
            return _json(status, payload, {guard.REPLAYED_HEADER: "true"} if replayed else None)
        except ApiError as exc:
            return _json(exc.status, orjson.dumps(exc.body()), exc.headers)
        except Exception as exc:
            mapped = from_github(exc)
            if mapped is not None:
                log.warning("API %s %s: GitHub answered %s", op.method, op.path, mapped.status)
                return _json(mapped.status, orjson.dumps(mapped.body()), mapped.headers)
            log.exception("API %s %s failed", op.method, op.path)
            error = ApiError(500, "internal", "the server could not complete the request")
            return _json(500, orjson.dumps(error.body()))

    return handle


def handlers() -> dict[Route, Handler]:
    """Every operation's handler by its method and path (app/api/mount.py
    registers them)."""
    return {(op.method, op.path): handler(op) for op in OPERATIONS}
