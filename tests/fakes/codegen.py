"""A fake Codegen agent API that enforces Codegen's published contract.

`FakeCodegen` is a real aiohttp server on 127.0.0.1 (random free port). Point the bot's
`CODEGEN_API_URL` at `fake.url`. It checks what the real API checks -- the bearer token,
`org_id` (an integer, and the configured organization), query parameters and request
bodies against the pinned OpenAPI schemas (tests/data/codegen-openapi-subset.json) -- and
answers with the API's shapes: FastAPI's `{"detail": [{"loc", "msg", "type", ...}]}` for
422, `{"message", "status_code"}` with the spec's default messages for 402/403/404/429.
Its server-side rate limits are the published ones (creates: 10 per minute per org;
everything else: 60 per 30 seconds per org), answered with 429 and `Retry-After`.

    async with FakeCodegen(api_key="k", org_id=7) as cg:
        cg.add_repo("octo-org/widgets")
        cg.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[{"url": ...}])
        ...                                    # run the bot with CODEGEN_API_URL=cg.url
        assert cg.created[0]["metadata"]["task_id"] == 1

Order of checks, as FastAPI applies them: unknown route (404/405 `{"detail": ...}`),
scripted failures (`fail_next`), bearer token (401), request validation (422), org
access (403), rate limit (429), then the endpoint (404 for unknown runs/repos).

Run life: a created run answers `initial_status` ("ACTIVE"); with `script_run(...)` the
n-th GET of that run answers `statuses[n-1]` (the last one repeats) and the pull requests,
summary and result appear once the last status is reached. `set_run(...)` sets fields
directly. Resume sets the run back to "ACTIVE" (or what `script_resume(...)` says).

Ban and unban (`StopAgentRunInput`): the spec documents the 200 answer with an empty
schema, so the fake answers `null` (a client must not read anything from it). A ban
puts the run in `banned` and stops it ("STOPPED") if it was still in progress, as the
spec's "stops all current agents for that PR" says; unban takes it out of `banned`.
Both answer 404 for a run the org does not have.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from multidict import CIMultiDict

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
OPENAPI_SUBSET = DATA_DIR / "codegen-openapi-subset.json"

PREFIX = "/v1/organizations/{org_id}"
CREATE_RUN = ("POST", PREFIX + "/agent/run")
GET_RUN = ("GET", PREFIX + "/agent/run/{agent_run_id}")
RESUME_RUN = ("POST", PREFIX + "/agent/run/resume")
BAN_RUN = ("POST", PREFIX + "/agent/run/ban")
UNBAN_RUN = ("POST", PREFIX + "/agent/run/unban")
LIST_RUNS = ("GET", PREFIX + "/agent/runs")
LIST_REPOS = ("GET", PREFIX + "/repos")

PR_FIELDS = frozenset({"id", "title", "url", "created_at", "head_branch_name"})
RUN_FIELDS = frozenset(
    {"status", "web_url", "result", "summary", "source_type", "metadata", "github_pull_requests"}
)
# 401 is not in the spec; Codegen's docs describe it as "Invalid or missing API token".
UNAUTHORIZED_DETAIL = "Invalid or missing API token"
# The spec does not say what an unknown repo_id answers; the fake refuses it (404) so that
# a client sending GitHub's id instead of Codegen's is caught.
UNKNOWN_REPO_MESSAGE = "Repository not found in the organization."
_HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def load_subset() -> dict[tuple[str, str], dict[str, Any]]:
    """The pinned operations keyed by (method, path template)."""
    document = json.loads(OPENAPI_SUBSET.read_text(encoding="utf-8"))
    return {(op["method"], op["path"]): op for op in document["operations"]}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ApiError(Exception):
    """An answer other than 200, raised anywhere in a handler."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


@dataclass
class Recorded:
    """One request the fake received, and the status it answered."""

    method: str
    path: str  # decoded path, without the query string
    query: dict[str, str]
    headers: CIMultiDict[str]
    json: Any  # parsed JSON body, or None (no body / not JSON)
    body: bytes
    status: int = 0
    route: str | None = None  # the matched path template
    started_at: float = field(default_factory=time.time)  # when the request arrived


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    delay: float


@dataclass
class _Script:
    statuses: list[str]
    pull_requests: list[dict[str, Any]] | None
    summary: str | None
    result: str | None
    step: int = 0


@dataclass
class _PendingScript:
    initial_status: str
    script: _Script | None


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Callable[[_Ctx], Awaitable[tuple[int, Any]]]
    bucket: str  # rate-limit bucket: "create" or "standard"


@dataclass
class _Ctx:
    request: web.Request
    op: dict[str, Any]
    path_params: dict[str, Any]
    query: dict[str, Any]
    body: Any


@dataclass
class _Window:
    """Sliding-window counter for one (org, bucket)."""

    limit: int
    seconds: float
    times: deque[float] = field(default_factory=deque)

    def admit(self, now: float) -> float | None:
        """None when admitted (and counted), else seconds until a slot frees."""
        while self.times and now - self.times[0] >= self.seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return self.times[0] + self.seconds - now
        self.times.append(now)
        return None


# ---------------------------------------------------------------------- FastAPI-style 422


_TYPE_ERRORS = {
    "integer": ("int_type", "Input should be a valid integer"),
    "string": ("string_type", "Input should be a valid string"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "number": ("float_type", "Input should be a valid number"),
}


def _literal_message(values: list[Any]) -> str:
    quoted = [repr(v) for v in values]
    if len(quoted) == 1:
        return f"Input should be {quoted[0]}"
    return "Input should be " + ", ".join(quoted[:-1]) + " or " + quoted[-1]


def pydantic_errors(error: ValidationError, loc: list[Any]) -> list[dict[str, Any]]:
    """Translate one jsonschema error into the items FastAPI/pydantic v2 would report."""
    where = [*loc, *error.absolute_path]
    kind = error.validator
    if kind == "anyOf":
        # Optional[X] is anyOf [X, null]: pydantic reports X's errors only.
        nested = [
            e
            for e in (error.context or [])
            if error.schema["anyOf"][e.schema_path[0]].get("type") != "null"  # type: ignore[index]
        ]
        if nested:
            out: list[dict[str, Any]] = []
            for sub in nested:
                out.extend(pydantic_errors(sub, loc))
            return out
    if kind == "required":
        missing = re.match(r"'(.+)' is a required property", error.message)
        name = missing.group(1) if missing else str(error.message)
        return [
            {
                "type": "missing",
                "loc": [*where, name],
                "msg": "Field required",
                "input": error.instance,
            }
        ]
    if kind == "type":
        expected = error.validator_value
        expected = expected[0] if isinstance(expected, list) else expected
        if where[:1] == ["body"] and len(where) == 1 and expected == "object":
            return [
                {
                    "type": "model_attributes_type",
                    "loc": where,
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": error.instance,
                }
            ]
        code, msg = _TYPE_ERRORS.get(str(expected), ("value_error", error.message))
        return [{"type": code, "loc": where, "msg": msg, "input": error.instance}]
    if kind == "enum":
        values = list(error.validator_value)  # type: ignore[arg-type]
        return [
            {
                "type": "literal_error" if len(values) <= 3 else "enum",
                "loc": where,
                "msg": _literal_message(values),
                "input": error.instance,
                "ctx": {"expected": _literal_message(values).removeprefix("Input should be ")},
            }
        ]
    bounds = {
        "minimum": ("greater_than_equal", "greater than or equal to", "ge"),
        "maximum": ("less_than_equal", "less than or equal to", "le"),
        "exclusiveMinimum": ("greater_than", "greater than", "gt"),
        "exclusiveMaximum": ("less_than", "less than", "lt"),
    }
    if kind in bounds:
        code, words, key = bounds[kind]
        limit = error.validator_value
        return [
            {
                "type": code,
                "loc": where,
                "msg": f"Input should be {words} {limit}",
                "input": error.instance,
                "ctx": {key: limit},
            }
        ]
    return [{"type": "value_error", "loc": where, "msg": error.message, "input": error.instance}]


def _validate(value: Any, schema: dict[str, Any], loc: list[Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for error in sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path):
        errors.extend(pydantic_errors(error, loc))
    return errors


def _schema_allows(schema: dict[str, Any], type_name: str) -> bool:
    if schema.get("type") == type_name:
        return True
    return any(_schema_allows(s, type_name) for s in schema.get("anyOf", []))


def _coerce_param(raw: str, schema: dict[str, Any], loc: list[Any]) -> tuple[Any, list[dict]]:
    """A path/query string as FastAPI would parse it for this schema."""
    if _schema_allows(schema, "integer"):
        try:
            value: Any = int(raw.strip())
        except ValueError:
            return None, [
                {
                    "type": "int_parsing",
                    "loc": loc,
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": raw,
                }
            ]
    else:
        value = raw
    return value, _validate(value, schema, loc)


# ---------------------------------------------------------------------- the server


class FakeCodegen:
    """Codegen's agent API on 127.0.0.1 with the published checks and scripted runs."""

    def __init__(
        self,
        *,
        api_key: str = "test-codegen-key",
        org_id: int = 7,
        user_id: int = 1,
        creates_per_window: int = 10,
        create_window_seconds: float = 60.0,
        standard_per_window: int = 60,
        standard_window_seconds: float = 30.0,
        first_run_id: int = 1001,
    ) -> None:
        self.api_key = api_key
        self.org_id = org_id
        self.user_id = user_id
        self.ops = load_subset()
        self._limits = {
            "create": (creates_per_window, create_window_seconds),
            "standard": (standard_per_window, standard_window_seconds),
        }

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

        self.requests: list[Recorded] = []
        self.server_errors: list[BaseException] = []
        self.runs: dict[int, dict[str, Any]] = {}  # AgentRunResponse bodies by id
        self.created: list[dict[str, Any]] = []  # bodies of successful creates
        self.resumed: list[dict[str, Any]] = []  # bodies of successful resumes
        self.banned: set[int] = set()  # runs whose PR is banned (ban minus unban)
        self.bans: list[dict[str, Any]] = []  # bodies of successful bans and unbans, in order
        self.repos: list[dict[str, Any]] = []  # RepoResponse bodies, in list order

        self._run_ids = itertools.count(first_run_id)
        self._repo_ids = itertools.count(501)
        self._pr_ids = itertools.count(9001)
        self._failures: list[_Failure] = []
        self._holds: list[list[Any]] = []
        self._windows: dict[tuple[int, str], _Window] = {}
        self._scripts: dict[int, _Script] = {}
        self._next_create: list[_PendingScript] = []
        self._next_resume: list[_PendingScript] = []
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()
        self._run_validator = Draft202012Validator(self.ops[GET_RUN]["responses"]["200"]["schema"])

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._sock.close()

    async def __aenter__(self) -> FakeCodegen:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ seeding and scripts

    def add_repo(
        self, full_name: str, repo_id: int | None = None, github_id: int | str | None = None
    ) -> dict[str, Any]:
        """Add a repository to the org (as connecting it in Codegen's UI would)."""
        rid = repo_id if repo_id is not None else next(self._repo_ids)
        repo = {
            "id": rid,
            "name": full_name.split("/", 1)[-1],
            "full_name": full_name,
            "description": None,
            "github_id": str(github_id if github_id is not None else 700000 + rid),
            "organization_id": self.org_id,
            "visibility": "private",
            "archived": False,
            "setup_status": "COMPLETE",
            "language": "Python",
        }
        self.repos.append(repo)
        return repo

    def script_run(
        self,
        statuses: list[str] | None = None,
        pull_requests: list[dict[str, Any] | str] | None = None,
        summary: str | None = None,
        result: str | None = None,
        *,
        initial_status: str = "ACTIVE",
    ) -> None:
        """Script the NEXT created run: the n-th GET answers statuses[n-1]; the pull
        requests/summary/result appear with the last status. Scripts queue up in order."""
        self._next_create.append(
            _PendingScript(
                initial_status, self._make_script(statuses, pull_requests, summary, result)
            )
        )

    def script_resume(
        self,
        statuses: list[str] | None = None,
        pull_requests: list[dict[str, Any] | str] | None = None,
        summary: str | None = None,
        result: str | None = None,
        *,
        initial_status: str = "ACTIVE",
    ) -> None:
        """Like script_run, for the run the NEXT resume continues."""
        self._next_resume.append(
            _PendingScript(
                initial_status, self._make_script(statuses, pull_requests, summary, result)
            )
        )

    def set_run(self, run_id: int, **fields: Any) -> dict[str, Any]:
        """Set AgentRunResponse fields of a run directly (and drop its script)."""
        unknown = set(fields) - RUN_FIELDS
        if unknown:
            raise ValueError(f"not AgentRunResponse fields: {sorted(unknown)}")
        run = self.runs[run_id]
        if "github_pull_requests" in fields and fields["github_pull_requests"] is not None:
            fields["github_pull_requests"] = self._pull_requests(fields["github_pull_requests"])
        run.update(fields)
        self._scripts.pop(run_id, None)
        self._check_run(run)
        return run

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` matching requests with `status` (method "*" = any;
        `path_regex` is re.search'ed on the path). `body` defaults to the API's own body
        for that status (the spec's default message; plain "Internal Server Error" for
        500); a str/bytes body is sent as is. `delay` holds the answer back (timeouts)."""
        self._failures.append(
            _Failure(
                method.upper(),
                re.compile(path_regex),
                status,
                dict(headers or {}),
                body,
                times,
                delay,
            )
        )

    def hold_answer_next(
        self, method: str, path_regex: str, seconds: float, *, times: int = 1
    ) -> None:
        """Handle the next matching request (state changes happen) but hold its answer
        back for `seconds`: the window in which a client can die after the server acted."""
        self._holds.append([method.upper(), re.compile(path_regex), seconds, times])

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        """Recorded requests with this method ("*" = any) whose path matches (re.search)."""
        rx = re.compile(path_regex)
        method = method.upper()
        return [r for r in self.requests if method in ("*", r.method) and rx.search(r.path)]

    def max_creates_in(self, seconds: float) -> int:
        """The most successful creates that any window of `seconds` saw (what the
        bot's own pacing must keep at or under the published limit)."""
        times = sorted(
            r.started_at
            for r in self.requests
            if r.method == "POST" and r.path.endswith("/agent/run") and r.status == 200
        )
        most = 0
        start = 0
        for end, t in enumerate(times):
            while start <= end and t - times[start] >= seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    def _make_script(
        self,
        statuses: list[str] | None,
        pull_requests: list[dict[str, Any] | str] | None,
        summary: str | None,
        result: str | None,
    ) -> _Script | None:
        if not statuses and pull_requests is None and summary is None and result is None:
            return None
        prs = self._pull_requests(pull_requests) if pull_requests is not None else None
        return _Script(list(statuses or ["COMPLETE"]), prs, summary, result)

    def _pull_requests(self, items: list[dict[str, Any] | str]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            pr = {"url": item} if isinstance(item, str) else dict(item)
            unknown = set(pr) - PR_FIELDS
            if unknown:
                raise ValueError(f"not GithubPullRequestResponse fields: {sorted(unknown)}")
            pr.setdefault("id", next(self._pr_ids))
            pr.setdefault("title", None)
            pr.setdefault("url", None)
            pr.setdefault("created_at", now_iso())
            pr.setdefault("head_branch_name", None)
            out.append(pr)
        return out

    def _check_run(self, run: dict[str, Any]) -> None:
        errors = list(self._run_validator.iter_errors(run))
        if errors:
            raise ValueError(f"run {run.get('id')} breaks AgentRunResponse: {errors[0].message}")

    # ------------------------------------------------------------------ dispatch

    def _build_routes(self) -> list[_Route]:
        table = [
            (CREATE_RUN, self._create_run, "create"),
            (RESUME_RUN, self._resume_run, "standard"),
            (BAN_RUN, self._ban_run, "standard"),
            (UNBAN_RUN, self._unban_run, "standard"),
            (GET_RUN, self._get_run, "standard"),
            (LIST_RUNS, self._list_runs, "standard"),
            (LIST_REPOS, self._list_repos, "standard"),
        ]
        routes = []
        for (method, template), handler, bucket in table:
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
            routes.append(_Route(method, template, re.compile(f"^{pattern}/?$"), handler, bucket))
        return routes

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        rec = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            json=parsed,
            body=raw,
        )
        self.requests.append(rec)
        try:
            status, body, headers = await self._answer(request, rec, raw)
        except ApiError as exc:
            status, body, headers = exc.status, exc.body, exc.headers
        except Exception as exc:  # a bug in the fake: answer like FastAPI does
            self.server_errors.append(exc)
            status, body, headers = 500, "Internal Server Error", {}
        rec.status = status
        return self._response(status, body, headers)

    def _response(self, status: int, body: Any, headers: dict[str, str]) -> web.Response:
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, headers=headers)
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def _answer(
        self, request: web.Request, rec: Recorded, raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        matches = [r for r in self._routes if r.regex.match(request.path)]
        if not matches:
            return 404, {"detail": "Not Found"}, {}
        route = next((r for r in matches if r.method == request.method), None)
        if route is None:
            return 405, {"detail": "Method Not Allowed"}, {}
        rec.route = route.template
        op = self.ops[(route.method, route.template)]

        failure = self._take_failure(request)
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            body = failure.body if failure.body is not None else self.error_body(op, failure.status)
            return failure.status, body, failure.headers

        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": UNAUTHORIZED_DETAIL}, {}

        match = route.regex.match(request.path)
        assert match is not None
        path_params, query, body, errors = self._validate_request(op, match, request, raw)
        if errors:
            return 422, {"detail": errors}, {}

        if path_params["org_id"] != self.org_id:
            return 403, self.error_body(op, 403), {}

        limit, seconds = self._limits[route.bucket]
        window = self._windows.setdefault((self.org_id, route.bucket), _Window(limit, seconds))
        wait = window.admit(time.monotonic())
        if wait is not None:
            return 429, self.error_body(op, 429), {"Retry-After": str(max(1, math.ceil(wait)))}

        status, answer = await route.handler(_Ctx(request, op, path_params, query, body))
        for hold in list(self._holds):
            if hold[0] in ("*", request.method) and hold[1].search(request.path):
                hold[3] -= 1
                if hold[3] <= 0:
                    self._holds.remove(hold)
                await asyncio.sleep(hold[2])
                break
        return status, answer, {}

    def _take_failure(self, request: web.Request) -> _Failure | None:
        for failure in self._failures:
            if failure.method in ("*", request.method) and failure.path.search(request.path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def error_body(self, op: dict[str, Any], status: int) -> Any:
        """The body the real API sends for `status` on this operation."""
        if status == 422:
            return {
                "detail": [
                    {
                        "type": "missing",
                        "loc": ["body", "prompt"],
                        "msg": "Field required",
                        "input": {},
                    }
                ]
            }
        if status == 401:
            return {"detail": UNAUTHORIZED_DETAIL}
        if status >= 500:
            return _HTTP_REASONS.get(status, "Internal Server Error")
        response = op["responses"].get(str(status))
        if response is None:  # not documented for this operation: any operation's answer
            response = next(
                (
                    o["responses"][str(status)]
                    for o in self.ops.values()
                    if str(status) in o["responses"]
                ),
                None,
            )
        schema = (response or {}).get("schema") or {}
        props = schema.get("properties", {})
        if "message" in props:
            return {"message": props["message"].get("default", ""), "status_code": status}
        return {"detail": _HTTP_REASONS.get(status, "Error")}

    def _validate_request(
        self, op: dict[str, Any], match: re.Match[str], request: web.Request, raw: bytes
    ) -> tuple[dict[str, Any], dict[str, Any], Any, list[dict[str, Any]]]:
        errors: list[dict[str, Any]] = []
        path_params: dict[str, Any] = {}
        for name, param in op["path_parameters"].items():
            value, errs = _coerce_param(match.group(name), param["schema"], ["path", name])
            path_params[name] = value
            errors.extend(errs)
        query: dict[str, Any] = {}
        for name, param in op["query_parameters"].items():
            raw_value = request.query.get(name)
            if raw_value is None:
                if param["required"]:
                    errors.append(
                        {
                            "type": "missing",
                            "loc": ["query", name],
                            "msg": "Field required",
                            "input": None,
                        }
                    )
                query[name] = param["schema"].get("default")
                continue
            value, errs = _coerce_param(raw_value, param["schema"], ["query", name])
            query[name] = value
            errors.extend(errs)
        body: Any = None
        schema = op["request_body_schema"]
        if schema is not None:
            body, errs = self._parse_body(request, raw, schema, op["request_body_required"])
            errors.extend(errs)
        return path_params, query, body, errors

    def _parse_body(
        self, request: web.Request, raw: bytes, schema: dict[str, Any], required: bool
    ) -> tuple[Any, list[dict[str, Any]]]:
        """FastAPI: JSON is parsed when the content type is JSON (or absent)."""
        if not raw:
            if required:
                return None, [
                    {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
                ]
            return None, []
        content_type = request.headers.get("Content-Type")
        mime = (content_type or "").split(";")[0].strip().lower()
        is_json = not content_type or mime == "application/json" or mime.endswith("+json")
        if not is_json:
            body: Any = raw.decode("utf-8", "replace")
        else:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                pos = getattr(exc, "pos", 0)
                error = {
                    "type": "json_invalid",
                    "loc": ["body", pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": getattr(exc, "msg", str(exc))},
                }
                return None, [error]
        return body, _validate(body, schema, ["body"])

    # ------------------------------------------------------------------ endpoints

    def _find_run(self, run_id: int, op: dict[str, Any]) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None or run["organization_id"] != self.org_id:
            raise ApiError(404, self.error_body(op, 404))
        return run

    def _start_script(self, run: dict[str, Any], pending: _PendingScript) -> None:
        run["status"] = pending.initial_status
        if pending.script is None:
            self._scripts.pop(run["id"], None)
        else:
            self._scripts[run["id"]] = pending.script

    async def _create_run(self, ctx: _Ctx) -> tuple[int, Any]:
        body = ctx.body
        if not self.repos:
            raise ApiError(404, self.error_body(ctx.op, 404))
        repo_id = body.get("repo_id")
        if repo_id is not None and not any(r["id"] == repo_id for r in self.repos):
            raise ApiError(404, {"message": UNKNOWN_REPO_MESSAGE, "status_code": 404})
        run_id = next(self._run_ids)
        run = {
            "id": run_id,
            "organization_id": self.org_id,
            "status": "ACTIVE",
            "created_at": now_iso(),
            "web_url": f"https://codegen.com/traces/{run_id}",
            "result": None,
            "summary": None,
            "source_type": "API",
            "github_pull_requests": [],
            "metadata": body.get("metadata"),
        }
        self.runs[run_id] = run
        pending = self._next_create.pop(0) if self._next_create else _PendingScript("ACTIVE", None)
        self._start_script(run, pending)
        self.created.append(body)
        self._check_run(run)
        return 200, run

    async def _get_run(self, ctx: _Ctx) -> tuple[int, Any]:
        run = self._find_run(ctx.path_params["agent_run_id"], ctx.op)
        script = self._scripts.get(run["id"])
        if script is not None:
            index = min(script.step, len(script.statuses) - 1)
            run["status"] = script.statuses[index]
            script.step += 1
            if index == len(script.statuses) - 1:
                if script.pull_requests is not None:
                    run["github_pull_requests"] = script.pull_requests
                if script.summary is not None:
                    run["summary"] = script.summary
                if script.result is not None:
                    run["result"] = script.result
                del self._scripts[run["id"]]
        self._check_run(run)
        return 200, run

    async def _resume_run(self, ctx: _Ctx) -> tuple[int, Any]:
        run = self._find_run(ctx.body["agent_run_id"], ctx.op)
        pending = self._next_resume.pop(0) if self._next_resume else _PendingScript("ACTIVE", None)
        self._start_script(run, pending)
        self.resumed.append(ctx.body)
        self._check_run(run)
        return 200, run

    async def _ban_run(self, ctx: _Ctx) -> tuple[int, Any]:
        run = self._find_run(ctx.body["agent_run_id"], ctx.op)
        self.banned.add(run["id"])
        self.bans.append({"action": "ban", **ctx.body})
        if str(run.get("status") or "").upper() in ("PENDING", "ACTIVE", "RUNNING"):
            run["status"] = "STOPPED"
            self._scripts.pop(run["id"], None)
        self._check_run(run)
        return 200, None

    async def _unban_run(self, ctx: _Ctx) -> tuple[int, Any]:
        run = self._find_run(ctx.body["agent_run_id"], ctx.op)
        self.banned.discard(run["id"])
        self.bans.append({"action": "unban", **ctx.body})
        return 200, None

    async def _list_runs(self, ctx: _Ctx) -> tuple[int, Any]:
        runs = sorted(self.runs.values(), key=lambda r: r["id"], reverse=True)
        if ctx.query.get("user_id") is not None and ctx.query["user_id"] != self.user_id:
            runs = []
        if ctx.query.get("source_type") is not None:
            runs = [r for r in runs if r["source_type"] == ctx.query["source_type"]]
        return 200, self._page(runs, ctx.query["skip"], ctx.query["limit"])

    async def _list_repos(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, self._page(self.repos, ctx.query["skip"], ctx.query["limit"])

    @staticmethod
    def _page(items: list[dict[str, Any]], skip: int, limit: int) -> dict[str, Any]:
        """Codegen's Page: skip/limit in, page/size/pages out (page is 1-based)."""
        return {
            "items": items[skip : skip + limit],
            "total": len(items),
            "page": skip // limit + 1,
            "size": limit,
            "pages": math.ceil(len(items) / limit) if items else 0,
        }
