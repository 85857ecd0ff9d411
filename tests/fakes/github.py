"""A fake GitHub REST API that enforces GitHub's published contract.

`FakeGitHub` is a real aiohttp server on 127.0.0.1 (random free port). Point the bot's
GitHub API base URL at `fake.url`. It checks what GitHub checks -- App JWTs, installation
tokens and which repositories they reach, the App's permissions, `User-Agent`/`Accept`,
request bodies against the pinned OpenAPI schemas (tests/data/github-openapi-subset.json)
-- answers with GitHub's error shapes and rate-limit headers, records every request, and
keeps the state it was seeded with or that requests created (labels, comments, reactions,
check runs, reviews ...) in plain dicts that tests assert on.

    private_pem, public_pem = make_app_key()
    async with FakeGitHub(app_id=123, public_key_pem=public_pem) as gh:
        gh.add_repo("octo-org/widgets", installation_id=7)
        gh.add_issue("octo-org/widgets", 1, title="Add a button")
        ...                                   # run the bot with GITHUB_API_URL=gh.url
        assert gh.comments_on("octo-org/widgets", 1)[0]["body"].startswith("On it")

Pull-request life: `add_pull`, `push` (a new head commit, what `synchronize` reports),
`close_pull(merged=...)`, `reopen_pull`, `set_draft`; `merges` records every merge.
Checks: `add_check_run` (another App's run with `app_slug=`, its `output`),
`check_suite_for` / `check_suite_view` (one suite per App and commit, status and
conclusion from its runs), `check_run_view` (a run with its `pull_requests`),
`add_status`. Reviews: `add_review`, `add_review_comment`, `reviews_on`,
`review_comments_on`. tests/events.py builds webhook payloads from this state.

Routes live in one table (`FakeGitHub._routes`): `Route(method, template, handler,
permission=..., creates_content=...)`. A handler gets a `Ctx` (request, path params, parsed
body, resolved installation/repo) and returns `(status, body)` or `(status, body, headers)`,
or raises `GitHubError`. Tests add endpoints with `fake.add_route(...)`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import gzip
import hashlib
import hmac
import html
import inspect
import itertools
import json
import math
import re
import secrets
import socket
import string
import time
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import aiohttp
import jwt
from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from multidict import CIMultiDict

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
OPENAPI_SUBSET = DATA_DIR / "github-openapi-subset.json"
WEBHOOK_EXAMPLES = DATA_DIR / "webhooks-examples-7.6.1.json.gz"

DOCS = "https://docs.github.com/rest"
WEB = "https://github.com"
SECONDARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
PRIMARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
)
SUPPORTED_API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})

PERMISSION_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
# collaborator role -> the `permission` GitHub answers (maintain -> write, triage -> read)
ROLE_TO_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
CHECK_ACTION_LIMITS = {"label": 20, "description": 40, "identifier": 20}
MAX_CHECK_RUN_ACTIONS = 3
ANNOTATION_LEVELS = ("notice", "warning", "failure")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
DEFAULT_APP_PERMISSIONS = {
    "checks": "write",
    "contents": "read",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "read",
}
DEFAULT_APP_EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "issues",
    "label",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
]
MAX_COMMENT_BODY = 65536
MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_PULL_FILES = 3000
CONTENT_MAX_INLINE = 1024 * 1024  # above 1 MB the contents API omits `content`

_SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "{request_id}."
)
_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "Bad credentials",
    403: _SECONDARY_MESSAGE,
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    422: "Validation Failed",
    429: _SECONDARY_MESSAGE,
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: (
        "We couldn't respond to your request in time. Sorry about that. Please try "
        "resubmitting your request and contact us if the problem persists."
    ),
}
_BAD_JWT = "A JSON web token could not be decoded"
_BAD_IAT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the "
    "assertion was issued."
)
_BAD_EXP = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future "
    "time at which the assertion expires."
)
_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future."
_NO_ACCESS = "Resource not accessible by integration"
_TOKEN_ALPHABET = string.ascii_letters + string.digits


# --------------------------------------------------------------------------- data files


@functools.cache
def _load_subset() -> dict[str, Any]:
    return json.loads(OPENAPI_SUBSET.read_text())


def openapi_operations() -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path template) -> operation from tests/data/github-openapi-subset.json."""
    return {(op["method"], op["path"]): op for op in _load_subset()["operations"]}


@functools.cache
def _validator(method: str, path: str) -> Draft202012Validator | None:
    op = openapi_operations().get((method, path))
    if op is None or op["request_body_schema"] is None:
        return None
    Draft202012Validator.check_schema(op["request_body_schema"])
    return Draft202012Validator(op["request_body_schema"])


@functools.cache
def _load_webhook_examples() -> list[dict[str, Any]]:
    return json.loads(gzip.decompress(WEBHOOK_EXAMPLES.read_bytes()))


def load_webhook_examples() -> list[dict[str, Any]]:
    """The pinned @octokit/webhooks-examples list (a fresh deep copy)."""
    return copy.deepcopy(_load_webhook_examples())


def webhook_example(event: str, action: str | None = None, index: int = 0) -> dict[str, Any]:
    """A deep copy of a real example payload for `event` (and `action`, if given)."""
    for entry in _load_webhook_examples():
        if entry["name"] != event:
            continue
        examples = [ex for ex in entry["examples"] if action is None or ex.get("action") == action]
        if len(examples) > index:
            return copy.deepcopy(examples[index])
        raise KeyError(f"{event}/{action}: {len(examples)} examples, no index {index}")
    raise KeyError(f"no webhook examples for event {event!r}")


def sign_webhook(body: bytes, secret: str | bytes) -> str:
    """`X-Hub-Signature-256` value: sha256= + hex HMAC-SHA256 of the raw body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def diff_lines(patch: str) -> tuple[set[int], set[int]]:
    """Line numbers a review comment may target: (LEFT/old side, RIGHT/new side)."""
    left: set[int] = set()
    right: set[int] = set()
    old = new = 0
    for line in patch.splitlines():
        m = _HUNK.match(line)
        if m:
            old, new = int(m[1]), int(m[2])
        elif line.startswith("\\"):
            continue  # "\ No newline at end of file"
        elif line.startswith("+"):
            right.add(new)
            new += 1
        elif line.startswith("-"):
            left.add(old)
            old += 1
        else:
            left.add(old)
            right.add(new)
            old += 1
            new += 1
    return left, right


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


# --------------------------------------------------------------------------- small types


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
    installation_id: int | None = None  # the installation whose token was used
    started_at: float = 0.0
    finished_at: float = 0.0


class GitHubError(Exception):
    """Raise from a handler to answer with GitHub's error shape."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        errors: list[Any] | None = None,
        documentation_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or _DEFAULT_MESSAGES.get(status, "Error")
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self, default_docs: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        out["documentation_url"] = self.documentation_url or default_docs or DOCS
        out["status"] = str(self.status)
        return out


def validation_failed(resource: str, code: str, field_: str, **extra: Any) -> GitHubError:
    """422 `Validation Failed` with one `{"resource", "code", "field"}` error."""
    error = {"resource": resource, "code": code, "field": field_, **extra}
    return GitHubError(422, "Validation Failed", errors=[error])


@dataclass
class Ctx:
    """What a route handler gets."""

    fake: FakeGitHub
    request: web.Request
    route: Route
    params: dict[str, str]  # path parameters, URL-decoded
    query: dict[str, str]
    body: Any  # parsed JSON body (None when there was none)
    installation: dict[str, Any] | None = None  # for installation-token routes
    token: _Token | None = None
    repo: dict[str, Any] | None = None  # resolved from {owner}/{repo}
    full_name: str | None = None  # canonical "owner/name" of `repo`

    def int_param(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise GitHubError(404) from None


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Ctx], "Reply | Awaitable[Reply]"]


@dataclass
class Route:
    """One endpoint. `permission` is "scope:level", alternatives joined by "|"."""

    method: str
    template: str
    handler: Handler
    permission: str | None = None
    creates_content: bool = False  # counts against the content-creation secondary limit
    auth: str | None = None  # "jwt" | "installation" | "none"; default from the path
    regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.auth is None:
            is_app = self.template == "/app" or self.template.startswith("/app/")
            self.auth = "jwt" if is_app else "installation"
        pattern = ""
        for part in re.split(r"(\{[a-z_]+\})", self.template):
            if part.startswith("{"):
                name = part[1:-1]
                # {path} and {ref} may contain slashes
                body = ".+" if name == "path" else ".+?" if name == "ref" else "[^/]+"
                pattern += f"(?P<{name}>{body})"
            else:
                pattern += re.escape(part)
        self.regex = re.compile(f"^{pattern}/?$")


@dataclass
class _Script:
    method: str
    regex: re.Pattern[str]
    status: int | None  # None: only delay, then answer normally
    headers: dict[str, str]
    body: Any
    times: int
    delay: float

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.regex.search(path) is not None


@dataclass
class _Token:
    token: str
    installation_id: int
    expires_at: float
    permissions: dict[str, str]
    repositories: set[str] | None  # canonical full names; None = all of the installation


_Identity = tuple[str, int, bool]  # (rate-limit bucket key, limit, enforced)


@dataclass
class _Bucket:
    limit: int
    used: int = 0
    reset: int = 0


# --------------------------------------------------------------------------- the fake


class FakeGitHub:
    """A fake api.github.com. See the module docstring."""

    def __init__(
        self,
        *,
        app_id: int,
        public_key_pem: bytes,
        app_slug: str = "codegen-bot",
        app_name: str | None = None,
        app_owner: str = "codegen-org",
        client_id: str | None = None,
        rate_limit: int = 5000,
        token_ttl: float = 3600.0,
        latency: float = 0.0,
        content_creation_per_minute: int = 80,
        max_concurrent_requests: int = 100,
        strict_accept: bool = True,
    ) -> None:
        self.app_id = app_id
        self.public_key_pem = public_key_pem
        self.app_slug = app_slug
        self.app_name = app_name or app_slug
        self.app_owner = app_owner
        self.client_id = client_id or f"Iv23li{app_id:014d}"
        self.bot_login = f"{app_slug}[bot]"
        self.app_permissions = dict(DEFAULT_APP_PERMISSIONS)
        self.app_events = list(DEFAULT_APP_EVENTS)
        self.rate_limit = rate_limit
        self.token_ttl = token_ttl
        self.latency = latency
        self.content_creation_per_minute = content_creation_per_minute
        self.max_concurrent_requests = max_concurrent_requests
        self.strict_accept = strict_accept
        self.api_versions = set(SUPPORTED_API_VERSIONS)

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"  # known before start(): seed data URLs
        self.server_errors: list[BaseException] = []  # bugs in handlers (answered 500)
        self.requests: list[Recorded] = []
        self.tokens_issued: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

        # state (canonical "owner/name" keys)
        self.installations: dict[int, dict[str, Any]] = {}
        self.installation_repos: dict[int, set[str]] = {}
        self.repos: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, dict[str, Any]]] = {}
        self.issues: dict[str, dict[int, dict[str, Any]]] = {}
        self.pulls: dict[str, dict[int, dict[str, Any]]] = {}
        self.pull_files: dict[str, dict[int, list[dict[str, Any]]]] = {}
        self.comments: dict[int, dict[str, Any]] = {}  # issue comments by id
        self.review_comments: dict[int, dict[str, Any]] = {}  # PR review comments by id
        self.reactions: dict[int, dict[str, Any]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, list[dict[str, Any]]] = {}  # check run id -> all
        self.check_run_actions: dict[int, list[dict[str, Any]]] = {}
        self.reviews: dict[int, dict[str, Any]] = {}
        # (full, pull number) -> head SHAs pushed to the pull, oldest first (push())
        self.pull_commits: dict[tuple[str, int], list[str]] = {}
        self.merges: list[dict[str, Any]] = []  # {"repo", "number", **merge body, ...}
        self.check_suites: dict[int, dict[str, Any]] = {}
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.languages: dict[str, dict[str, int]] = {}
        self.collaborators: dict[str, dict[str, str]] = {}  # full -> login.lower() -> role
        self.refs: dict[tuple[str, str], str] = {}  # (full, branch) -> sha
        self.users: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.redelivery_requests: list[int] = []
        self.on_redeliver: Callable[[dict[str, Any]], Any] | None = None
        # manifest flow: what the "new GitHub App" page received, the Apps it
        # created (with their secrets) by one-time code, and the codes spent
        self.manifests: list[dict[str, Any]] = []
        self.manifest_apps: dict[str, dict[str, Any]] = {}
        self.spent_manifest_codes: set[str] = set()
        self.web_user = "octocat"  # who is signed in on the fake's web pages

        self._repo_index: dict[str, str] = {}  # lower-case full name -> canonical
        self._repo_installation: dict[str, int] = {}
        self._comment_issue: dict[int, tuple[str, int]] = {}
        self._review_comment_pull: dict[int, tuple[str, int]] = {}
        self._review_pull: dict[int, tuple[str, int]] = {}
        self._reaction_target: dict[int, tuple[str, str, int]] = {}
        self._check_run_repo: dict[int, str] = {}
        self._suite_index: dict[tuple[str, str, int], int] = {}  # (full, sha, app id) -> id
        self._check_suite_repo: dict[int, str] = {}
        self._delivery_requests: dict[int, tuple[str, bytes, dict[str, str]]] = {}
        self._tokens: dict[str, _Token] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._content_times: dict[int, deque[float]] = {}
        self._scripts: list[_Script] = []
        self._extra_routes: list[Route] = []
        self._counters: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ routes table

    def _build_routes(self) -> list[Route]:
        R = Route
        iw = "issues:write|pull_requests:write"
        ir = "issues:read|pull_requests:read"
        repo = "/repos/{owner}/{repo}"
        return [
            R("GET", "/app", self._get_app),
            R("GET", "/app/installations/{installation_id}", self._get_installation),
            R("POST", "/app/installations/{installation_id}/access_tokens", self._create_token),
            R("GET", "/app/hook/deliveries", self._list_deliveries),
            R("POST", "/app/hook/deliveries/{delivery_id}/attempts", self._redeliver),
            R("POST", "/app-manifests/{code}/conversions", self._convert_manifest, auth="none"),
            R("GET", repo, self._get_repo, "metadata:read"),
            R("POST", f"{repo}/labels", self._create_label, iw),
            R("GET", f"{repo}/labels/{{name}}", self._get_label, ir),
            R("POST", f"{repo}/issues/{{issue_number}}/labels", self._add_issue_labels, iw),
            R(
                "DELETE",
                f"{repo}/issues/{{issue_number}}/labels/{{name}}",
                self._remove_issue_label,
                iw,
            ),
            R("GET", f"{repo}/issues/comments/{{comment_id}}", self._get_comment, ir),
            R("PATCH", f"{repo}/issues/comments/{{comment_id}}", self._edit_comment, iw),
            R(
                "POST",
                f"{repo}/issues/comments/{{comment_id}}/reactions",
                self._react_comment,
                iw,
                creates_content=True,
            ),
            R("GET", f"{repo}/issues/{{issue_number}}", self._get_issue, ir),
            R("GET", f"{repo}/issues/{{issue_number}}/comments", self._list_comments, ir),
            R(
                "POST",
                f"{repo}/issues/{{issue_number}}/comments",
                self._create_comment,
                iw,
                creates_content=True,
            ),
            R(
                "POST",
                f"{repo}/issues/{{issue_number}}/reactions",
                self._react_issue,
                iw,
                creates_content=True,
            ),
            R(
                "POST",
                f"{repo}/pulls/comments/{{comment_id}}/reactions",
                self._react_review_comment,
                "pull_requests:write",
                creates_content=True,
            ),
            R(
                "GET",
                f"{repo}/collaborators/{{username}}/permission",
                self._get_permission,
                "metadata:read",
            ),
            R("GET", f"{repo}/contents/{{path}}", self._get_contents, "contents:read"),
            R("GET", f"{repo}/readme", self._get_readme, "contents:read"),
            R("GET", f"{repo}/languages", self._get_languages, "metadata:read"),
            R("GET", f"{repo}/git/trees/{{tree_sha}}", self._get_tree, "contents:read"),
            R("GET", f"{repo}/pulls/{{pull_number}}", self._get_pull, "pull_requests:read"),
            R(
                "GET",
                f"{repo}/pulls/{{pull_number}}/files",
                self._list_pull_files,
                "pull_requests:read",
            ),
            R(
                "POST",
                f"{repo}/pulls/{{pull_number}}/reviews",
                self._create_review,
                "pull_requests:write",
                creates_content=True,
            ),
            R(
                "GET",
                f"{repo}/pulls/{{pull_number}}/reviews",
                self._list_reviews,
                "pull_requests:read",
            ),
            R("PUT", f"{repo}/pulls/{{pull_number}}/merge", self._merge_pull, "contents:write"),
            R(
                "POST",
                f"{repo}/check-runs",
                self._create_check_run,
                "checks:write",
                creates_content=True,
            ),
            R(
                "PATCH",
                f"{repo}/check-runs/{{check_run_id}}",
                self._update_check_run,
                "checks:write",
            ),
            R(
                "GET",
                f"{repo}/check-runs/{{check_run_id}}",
                self._get_check_run,
                "checks:read",
            ),
            R("GET", f"{repo}/commits/{{ref}}/check-runs", self._list_check_runs, "checks:read"),
            R("GET", f"{repo}/commits/{{ref}}/status", self._combined_status, "statuses:read"),
        ]

    def add_route(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        permission: str | None = None,
        creates_content: bool = False,
        auth: str | None = None,
    ) -> Route:
        """Add (or override: added routes match first) an endpoint."""
        route = Route(method, template, handler, permission, creates_content, auth)
        self._extra_routes.insert(0, route)
        return route

    def _match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in itertools.chain(self._extra_routes, self._routes):
            if route.method != method:
                continue
            m = route.regex.match(raw_path)
            if m:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        # GitHub's web pages of the manifest flow (a browser's, not the API's)
        app.router.add_post("/settings/apps/new", self._web_new_app)
        app.router.add_post("/organizations/{org}/settings/apps/new", self._web_new_app)
        app.router.add_post("/settings/apps/fake-create", self._web_create_app)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._sock.close()

    async def __aenter__(self) -> FakeGitHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        """Recorded requests with this method ("*" = any) whose path matches (re.search)."""
        rx = re.compile(path_regex)
        method = method.upper()
        return [r for r in self.requests if method in ("*", r.method) and rx.search(r.path)]

    def comments_on(self, full_name: str, issue_number: int) -> list[dict[str, Any]]:
        full = self._canonical(full_name)
        return [
            c
            for cid, c in sorted(self.comments.items())
            if self._comment_issue.get(cid) == (full, issue_number)
        ]

    def reactions_on(self, kind: str, target_id: int) -> list[dict[str, Any]]:
        """kind: "issue" (target = issue number), "issue_comment", "review_comment"."""
        return [
            r
            for rid, r in sorted(self.reactions.items())
            if self._reaction_target[rid][0] == kind and self._reaction_target[rid][2] == target_id
        ]

    def check_runs_for(self, full_name: str, head_sha: str | None = None) -> list[dict[str, Any]]:
        full = self._canonical(full_name)
        return [
            run
            for rid, run in sorted(self.check_runs.items())
            if self._check_run_repo[rid] == full and head_sha in (None, run["head_sha"])
        ]

    def reviews_on(self, full_name: str, pull_number: int) -> list[dict[str, Any]]:
        full = self._canonical(full_name)
        return [
            r
            for rid, r in sorted(self.reviews.items())
            if self._review_pull[rid] == (full, pull_number)
        ]

    def issue_labels(self, full_name: str, issue_number: int) -> list[str]:
        issue = self.issues[self._canonical(full_name)][issue_number]
        return [label["name"] for label in issue["labels"]]

    # ------------------------------------------------------------------ scripted behaviour

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
        """Answer the next `times` matching requests with `status` (checked before routing
        and auth; `path_regex` is re.search'ed on the decoded path; method "*" = any).
        `body` defaults to GitHub's message for the status; a str/bytes body is sent as is.
        `headers` override the rate-limit headers (e.g. {"x-ratelimit-remaining": "0"})."""
        self._scripts.append(
            _Script(
                method.upper(),
                re.compile(path_regex),
                status,
                dict(headers or {}),
                body,
                times,
                delay,
            )
        )

    def delay_next(self, method: str, path_regex: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next matching requests normally, but only after `seconds`."""
        self._scripts.append(
            _Script(method.upper(), re.compile(path_regex), None, {}, None, times, seconds)
        )

    def secondary_rate_limit_next(
        self,
        method: str,
        path_regex: str,
        *,
        retry_after: int | None = 1,
        status: int = 403,
        times: int = 1,
    ) -> None:
        """403/429 secondary rate limit, with `retry-after` unless retry_after is None."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        self.fail_next(method, path_regex, status, headers=headers, times=times)

    def primary_rate_limit_next(
        self, method: str, path_regex: str, *, reset_in: int = 1, status: int = 403, times: int = 1
    ) -> None:
        """403 with x-ratelimit-remaining: 0 and x-ratelimit-reset `reset_in` s ahead."""
        headers = {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(time.time()) + reset_in),
        }
        body = {
            "message": "API rate limit exceeded for installation.",
            "documentation_url": PRIMARY_RATE_LIMIT_DOCS,
            "status": str(status),
        }
        self.fail_next(method, path_regex, status, headers=headers, body=body, times=times)

    def set_rate_limit(
        self, remaining: int, *, installation_id: int | None = None, reset_in: int = 3600
    ) -> None:
        """Put an installation's (or, with None, the App JWT's) budget at `remaining`."""
        key = "app" if installation_id is None else f"installation:{installation_id}"
        bucket = self._bucket(key, self.rate_limit)
        bucket.used = bucket.limit - remaining
        bucket.reset = int(time.time()) + reset_in

    def expire_tokens(self, installation_id: int | None = None) -> None:
        """Make issued installation tokens expired (GitHub then answers 401)."""
        for tok in self._tokens.values():
            if installation_id in (None, tok.installation_id):
                tok.expires_at = 0

    # ------------------------------------------------------------------ state helpers

    def _next_id(self, kind: str, start: int = 1000) -> int:
        value = self._counters.get(kind, start) + 1
        self._counters[kind] = value
        return value

    def _seen_id(self, kind: str, value: int) -> None:
        self._counters[kind] = max(self._counters.get(kind, 1000), value)

    def _canonical(self, full_name: str) -> str:
        try:
            return self._repo_index[full_name.lower()]
        except KeyError:
            raise KeyError(f"unknown repository {full_name!r}; add_repo() it first") from None

    def canonical(self, full_name: str) -> str:
        """The repository's "owner/name" as added (names are case-insensitive)."""
        return self._canonical(full_name)

    def installation_of(self, full_name: str) -> int:
        """The id of the installation that reaches the repository."""
        return self._repo_installation[self._canonical(full_name)]

    def add_user(
        self, login: str, *, user_id: int | None = None, user_type: str = "User"
    ) -> dict[str, Any]:
        key = login.lower()
        if key in self.users and user_id is None:
            return self.users[key]
        if user_id is None:
            user_id = 10_000_000 + zlib.crc32(key.encode()) % 90_000_000
        api = f"{self.url}/users/{quote(login)}"
        user = {
            "login": login,
            "id": user_id,
            "node_id": _node_id("User" if user_type != "Bot" else "Bot", user_id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{WEB}/{quote(login)}"
            if user_type != "Bot"
            else f"{WEB}/apps/{login.removesuffix('[bot]')}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user_type,
            "site_admin": False,
        }
        self.users[key] = user
        return user

    def user(self, login: str) -> dict[str, Any]:
        key = login.lower()
        if key not in self.users and key == self.bot_login.lower():
            return self.bot_user()
        if key not in self.users:
            self.add_user(login, user_type="Bot" if key.endswith("[bot]") else "User")
        return copy.deepcopy(self.users[key])

    def bot_user(self) -> dict[str, Any]:
        if self.bot_login.lower() not in self.users:
            self.add_user(self.bot_login, user_id=100_000_000 + self.app_id, user_type="Bot")
        return self.user(self.bot_login)

    def app_object(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "slug": self.app_slug,
            "client_id": self.client_id,
            "node_id": _node_id("Integration", self.app_id),
            "owner": self.user(self.app_owner) | {"type": "Organization"},
            "name": self.app_name,
            "description": "",
            "external_url": f"https://{self.app_slug}.example.invalid",
            "html_url": f"{WEB}/apps/{self.app_slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": dict(self.app_permissions),
            "events": list(self.app_events),
            "installations_count": len(self.installations),
        }

    def add_installation(
        self,
        installation_id: int,
        *,
        account: str = "octo-org",
        account_type: str = "Organization",
        permissions: dict[str, str] | None = None,
        repository_selection: str = "all",
        suspended: bool = False,
    ) -> dict[str, Any]:
        owner = self.user(account) | {"type": account_type}
        inst = {
            "id": installation_id,
            "account": owner,
            "repository_selection": repository_selection,
            "access_tokens_url": f"{self.url}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{WEB}/organizations/{account}/settings/installations/{installation_id}",
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": owner["id"],
            "target_type": account_type,
            "permissions": dict(permissions if permissions is not None else self.app_permissions),
            "events": list(self.app_events),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }
        self.installations[installation_id] = inst
        self.installation_repos.setdefault(installation_id, set())
        if suspended:
            self.suspend_installation(installation_id)
        return inst

    def suspend_installation(self, installation_id: int, suspended: bool = True) -> None:
        inst = self.installations[installation_id]
        inst["suspended_at"] = _iso() if suspended else None
        inst["suspended_by"] = self.user(inst["account"]["login"]) if suspended else None

    def remove_installation(self, installation_id: int) -> None:
        """Uninstall: the installation disappears and its tokens stop working."""
        self.installations.pop(installation_id, None)
        for full in self.installation_repos.pop(installation_id, set()):
            self._repo_installation.pop(full, None)
        for key in [k for k, t in self._tokens.items() if t.installation_id == installation_id]:
            del self._tokens[key]

    def add_repo(
        self,
        full_name: str,
        *,
        repo_id: int | None = None,
        default_branch: str = "main",
        installation_id: int = 1,
        private: bool = False,
        head_sha: str | None = None,
    ) -> dict[str, Any]:
        """A repository the installation can reach (the installation is created if new)."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not an owner/name: {full_name!r}")
        if installation_id not in self.installations:
            self.add_installation(installation_id, account=owner)
        if repo_id is None:
            repo_id = self._next_id("repo", 100_000)
        else:
            self._seen_id("repo", repo_id)
        api = f"{self.url}/repos/{full_name}"
        owner_obj = self.user(owner)
        account = self.installations[installation_id]["account"]
        if account["login"].lower() == owner.lower():
            owner_obj["type"] = account["type"]  # an Organization's repo has an org owner
        repo = {
            "id": repo_id,
            "node_id": _node_id("Repository", repo_id),
            "name": name,
            "full_name": full_name,
            "private": private,
            "visibility": "private" if private else "public",
            "owner": owner_obj,
            "html_url": f"{WEB}/{full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "archived": False,
            "disabled": False,
            "default_branch": default_branch,
            "clone_url": f"{WEB}/{full_name}.git",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "pushed_at": "2024-01-01T00:00:00Z",
            "has_issues": True,
            "open_issues_count": 0,
            "topics": [],
            "language": None,
            "permissions": {
                "admin": False,
                "maintain": False,
                "push": False,
                "triage": False,
                "pull": True,
            },
        }
        self._repo_index[full_name.lower()] = full_name
        self.repos[full_name] = repo
        self._repo_installation[full_name] = installation_id
        self.installation_repos.setdefault(installation_id, set()).add(full_name)
        for store in (
            self.labels,
            self.issues,
            self.pulls,
            self.pull_files,
            self.files,
            self.languages,
            self.collaborators,
        ):
            store.setdefault(full_name, {})
        self.refs[(full_name, default_branch)] = head_sha or _fake_sha(full_name, default_branch)
        return repo

    def rename_repo(self, full_name: str, new_full_name: str) -> dict[str, Any]:
        """Rename or transfer (new owner) a repository, keeping its id: everything
        it holds moves to the new name, and the old name answers 404 (GitHub
        redirects it for a while, which a client must not rely on)."""
        old, new = self._canonical(full_name), new_full_name
        owner, _, name = new.partition("/")

        def moved(key: Any) -> Any:
            if isinstance(key, tuple):
                return tuple(new if part == old else part for part in key)
            return new if key == old else key

        for store in (
            self.repos,
            self.labels,
            self.issues,
            self.pulls,
            self.pull_files,
            self.files,
            self.languages,
            self.collaborators,
            self._repo_installation,
            self.refs,
            self.pull_commits,
            self.statuses,
            self._suite_index,
        ):
            for key in [k for k in store if moved(k) != k]:
                store[moved(key)] = store.pop(key)
        for index in (
            self._comment_issue,
            self._review_comment_pull,
            self._review_pull,
            self._reaction_target,
            self._check_run_repo,
            self._check_suite_repo,
        ):
            index.update([(key, moved(value)) for key, value in index.items()])
        for names in [*self.installation_repos.values()] + [
            t.repositories for t in self._tokens.values() if t.repositories is not None
        ]:
            if old in names:
                names.discard(old)
                names.add(new)
        del self._repo_index[old.lower()]
        self._repo_index[new.lower()] = new
        repo = self.repos[new]
        repo.update(
            name=name,
            full_name=new,
            owner=self.user(owner) | {"type": repo["owner"]["type"]},
            html_url=f"{WEB}/{new}",
            url=f"{self.url}/repos/{new}",
            clone_url=f"{WEB}/{new}.git",
        )
        return repo

    def set_permission(self, full_name: str, username: str, permission: str) -> None:
        """Collaborator role: admin|maintain|write|triage|read|none."""
        if permission not in ROLE_TO_PERMISSION:
            raise ValueError(f"unknown permission {permission!r}")
        self.user(username)
        self.collaborators[self._canonical(full_name)][username.lower()] = permission

    def add_label(
        self, full_name: str, name: str, *, color: str = "ededed", description: str | None = None
    ) -> dict[str, Any]:
        full = self._canonical(full_name)
        label_id = self._next_id("label")
        label = {
            "id": label_id,
            "node_id": _node_id("Label", label_id),
            "url": f"{self.url}/repos/{full}/labels/{quote(name, safe='')}",
            "name": name,
            "color": color,
            "default": False,
            "description": description,
        }
        self.labels[full][name.lower()] = label
        return label

    def add_issue(
        self,
        full_name: str,
        number: int | None = None,
        *,
        title: str = "An issue",
        body: str | None = "",
        user: str = "octocat",
        labels: Iterable[str] = (),
        state: str = "open",
        issue_id: int | None = None,
        author_association: str = "NONE",
    ) -> dict[str, Any]:
        full = self._canonical(full_name)
        issues = self.issues[full]
        if number is None:
            number = max(issues, default=0) + 1
        if issue_id is None:
            issue_id = self._next_id("issue", 2_000_000)
        else:
            self._seen_id("issue", issue_id)
        api = f"{self.url}/repos/{full}/issues/{number}"
        issue = {
            "id": issue_id,
            "node_id": _node_id("Issue", issue_id),
            "url": api,
            "repository_url": f"{self.url}/repos/{full}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{WEB}/{full}/issues/{number}",
            "number": number,
            "state": state,
            "title": title,
            "body": body,
            "user": self.user(user),
            "labels": [self._ensure_label(full, name) for name in labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": 0,
            "created_at": _iso(),
            "updated_at": _iso(),
            "closed_at": None,
            "author_association": author_association,
            "reactions": _reaction_summary(api),
            "performed_via_github_app": None,
            "state_reason": None,
        }
        issues[number] = issue
        return issue

    def add_pull(
        self,
        full_name: str,
        number: int | None = None,
        *,
        title: str = "A pull request",
        body: str | None = "",
        user: str = "octocat",
        head_sha: str | None = None,
        head_ref: str = "feature",
        base_ref: str | None = None,
        files: list[dict[str, Any]] | None = None,
        labels: Iterable[str] = (),
        state: str = "open",
        draft: bool = False,
        mergeable: bool | None = True,
        pull_id: int | None = None,
    ) -> dict[str, Any]:
        """A pull request (and its issue). `files`: dicts with filename, patch, status..."""
        full = self._canonical(full_name)
        issue = self.add_issue(
            full, number, title=title, body=body, user=user, labels=labels, state=state
        )
        number = issue["number"]
        head_sha = head_sha or _fake_sha(full, f"pull-{number}")
        base_ref = base_ref or self.repos[full]["default_branch"]
        if pull_id is None:
            pull_id = self._next_id("pull", 3_000_000)
        api = f"{self.url}/repos/{full}/pulls/{number}"
        html = f"{WEB}/{full}/pull/{number}"
        issue["html_url"] = html
        issue["pull_request"] = {
            "url": api,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }
        issue["draft"] = draft
        repo = copy.deepcopy(self.repos[full])
        repo_api = f"{self.url}/repos/{full}"
        pull = {
            "id": pull_id,
            "node_id": _node_id("PullRequest", pull_id),
            "url": api,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue["url"],
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{issue['url']}/comments",
            "statuses_url": f"{repo_api}/statuses/{head_sha}",
            "number": number,
            "state": state,
            "locked": False,
            "active_lock_reason": None,
            "title": title,
            "body": body,
            "user": self.user(user),
            "labels": issue["labels"],
            "milestone": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "draft": draft,
            "head": {
                "label": f"{repo['owner']['login']}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": repo["owner"],
                "repo": repo,
            },
            "base": {
                "label": f"{repo['owner']['login']}:{base_ref}",
                "ref": base_ref,
                "sha": self.refs.get((full, base_ref), _fake_sha(full, base_ref)),
                "user": repo["owner"],
                "repo": repo,
            },
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "issue": {"href": issue["url"]},
                "comments": {"href": f"{issue['url']}/comments"},
                "review_comments": {"href": f"{api}/comments"},
                "review_comment": {"href": f"{repo_api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/commits"},
                "statuses": {"href": f"{repo_api}/statuses/{head_sha}"},
            },
            "merged": False,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": "clean" if mergeable else "unknown",
            "merged_at": None,
            "merged_by": None,
            "merge_commit_sha": None,
            "auto_merge": None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": None,
            "author_association": issue["author_association"],
        }
        self.pulls[full][number] = pull
        self.pull_commits[(full, number)] = [head_sha]
        self.refs[(full, head_ref)] = head_sha
        self.set_pull_files(full, number, files or [])
        return pull

    def set_pull_files(self, full_name: str, number: int, files: list[dict[str, Any]]) -> None:
        full = self._canonical(full_name)
        out = []
        for f in files:
            patch = f.get("patch")
            adds = dels = 0
            if patch is not None:
                for line in patch.splitlines():
                    if line.startswith("+"):
                        adds += 1
                    elif line.startswith("-"):
                        dels += 1
            filename = f["filename"]
            sha = f.get("sha") or hashlib.sha1(filename.encode(), usedforsecurity=False).hexdigest()
            entry = {
                "sha": sha,
                "filename": filename,
                "status": f.get("status", "modified"),
                "additions": f.get("additions", adds),
                "deletions": f.get("deletions", dels),
                "changes": f.get("changes", f.get("additions", adds) + f.get("deletions", dels)),
                "blob_url": f"{WEB}/{full}/blob/{sha}/{filename}",
                "raw_url": f"{WEB}/{full}/raw/{sha}/{filename}",
                "contents_url": f"{self.url}/repos/{full}/contents/{filename}",
            }
            if patch is not None:
                entry["patch"] = patch
            if "previous_filename" in f:
                entry["previous_filename"] = f["previous_filename"]
            out.append(entry)
        self.pull_files[full][number] = out
        pull = self.pulls[full].get(number)
        if pull is not None:
            pull["changed_files"] = len(out)
            pull["additions"] = sum(e["additions"] for e in out)
            pull["deletions"] = sum(e["deletions"] for e in out)

    def push(
        self,
        full_name: str,
        number: int,
        files: list[dict[str, Any]] | None = None,
        *,
        sha: str | None = None,
        force: bool = False,
    ) -> str:
        """A new head commit on pull `number` (what a `synchronize` event reports): a new
        40-hex SHA (unless `sha` is given), `head.sha` and the head branch's ref moved to it,
        the files replaced when `files` is given. `force`: a force-push, the earlier head
        SHAs stop being part of the pull. Returns the new SHA."""
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        history = self.pull_commits.setdefault((full, number), [pull["head"]["sha"]])
        if sha is None:
            sha = _fake_sha(full, f"pull-{number}", f"push-{self._next_id('push', 0)}")
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise ValueError(f"not a 40-hex commit SHA: {sha!r}")
        if sha in history:
            raise ValueError(f"{sha} is already a commit of {full}#{number}")
        if force:
            history[:] = [sha]
        else:
            history.append(sha)
        repo_api = f"{self.url}/repos/{full}"
        pull["head"]["sha"] = sha
        pull["statuses_url"] = f"{repo_api}/statuses/{sha}"
        pull["_links"]["statuses"]["href"] = pull["statuses_url"]
        pull["commits"] = len(history)
        pull["updated_at"] = _iso()
        self.refs[(full, pull["head"]["ref"])] = sha
        if files is not None:
            self.set_pull_files(full, number, files)
        return sha

    def close_pull(
        self,
        full_name: str,
        number: int,
        *,
        merged: bool = False,
        merged_by: str | None = "octocat",
        merge_commit_sha: str | None = None,
    ) -> dict[str, Any]:
        """Close pull `number` (and its issue), merged or not. merged_by None = the App."""
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        if pull["state"] != "open":
            raise ValueError(f"{full}#{number} is already closed")
        now = _iso()
        pull.update(state="closed", closed_at=now, updated_at=now)
        issue = self.issues[full][number]
        issue.update(state="closed", closed_at=now, updated_at=now)
        if merged:
            sha = merge_commit_sha or _fake_sha(full, f"merge-{number}", pull["head"]["sha"])
            pull.update(
                merged=True,
                merged_at=now,
                merge_commit_sha=sha,
                mergeable=None,
                mergeable_state="unknown",
                merged_by=self.bot_user() if merged_by is None else self.user(merged_by),
            )
            issue["pull_request"]["merged_at"] = now
            issue["state_reason"] = "completed"
            self.refs[(full, pull["base"]["ref"])] = sha
        return pull

    def reopen_pull(self, full_name: str, number: int) -> dict[str, Any]:
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        if pull["merged"]:
            raise ValueError(f"{full}#{number} is merged; a merged pull cannot be reopened")
        now = _iso()
        pull.update(state="open", closed_at=None, updated_at=now)
        self.issues[full][number].update(
            state="open", closed_at=None, updated_at=now, state_reason="reopened"
        )
        return pull

    def set_draft(self, full_name: str, number: int, draft: bool = True) -> dict[str, Any]:
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        pull["draft"] = self.issues[full][number]["draft"] = draft
        pull["updated_at"] = _iso()
        return pull

    def add_comment(
        self,
        full_name: str,
        issue_number: int,
        body: str,
        *,
        user: str | None = None,
        comment_id: int | None = None,
        author_association: str = "NONE",
    ) -> dict[str, Any]:
        """An issue comment (user None = the App's bot)."""
        full = self._canonical(full_name)
        issue = self.issues[full][issue_number]
        if comment_id is None:
            comment_id = self._next_id("comment", 1_000_000)
        else:
            self._seen_id("comment", comment_id)
        is_bot = user is None
        now = _iso()
        comment = {
            "id": comment_id,
            "node_id": _node_id("IssueComment", comment_id),
            "url": f"{self.url}/repos/{full}/issues/comments/{comment_id}",
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "issue_url": issue["url"],
            "body": body,
            "user": self.bot_user() if is_bot else self.user(user),
            "created_at": now,
            "updated_at": now,
            "author_association": author_association,
            "performed_via_github_app": self.app_object() if is_bot else None,
            "reactions": _reaction_summary(f"{self.url}/repos/{full}/issues/comments/{comment_id}"),
        }
        self.comments[comment_id] = comment
        self._comment_issue[comment_id] = (full, issue_number)
        issue["comments"] += 1
        return comment

    def delete_comment(self, comment_id: int) -> dict[str, Any]:
        """Delete an issue comment (GET/PATCH on it answer 404 afterwards)."""
        comment = self.comments.pop(comment_id)
        full, number = self._comment_issue.pop(comment_id)
        self.issues[full][number]["comments"] -= 1
        return comment

    def add_review_comment(
        self,
        full_name: str,
        pull_number: int,
        body: str,
        *,
        path: str = "README.md",
        line: int | None = 1,
        side: str = "RIGHT",
        user: str | None = None,
        comment_id: int | None = None,
        review_id: int | None = None,
        commit_id: str | None = None,
        author_association: str = "NONE",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A review comment on a line of the pull's diff (user None = the App's bot).
        `diff_hunk` and `position` are worked out from the file's patch when it has one."""
        full = self._canonical(full_name)
        pull = self.pulls[full][pull_number]
        if comment_id is None:
            comment_id = self._next_id("review_comment", 5_000_000)
        else:
            self._seen_id("review_comment", comment_id)
        now = _iso()
        api = f"{self.url}/repos/{full}/pulls/comments/{comment_id}"
        html = f"{pull['html_url']}#discussion_r{comment_id}"
        patch = next(
            (f.get("patch") for f in self.pull_files[full][pull_number] if f["filename"] == path),
            None,
        )
        hunk, position = _diff_hunk(patch, line, side) if patch and line else ("", None)
        commit = commit_id or pull["head"]["sha"]
        comment = {
            "id": comment_id,
            "node_id": _node_id("PullRequestReviewComment", comment_id),
            "url": api,
            "html_url": html,
            "pull_request_url": pull["url"],
            "pull_request_review_id": review_id,
            "diff_hunk": hunk,
            "path": path,
            "position": position,
            "original_position": position,
            "line": line,
            "original_line": line,
            "side": side,
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "subject_type": "line",
            "commit_id": commit,
            "original_commit_id": commit,
            "body": body,
            "user": self.bot_user() if user is None else self.user(user),
            "created_at": now,
            "updated_at": now,
            "author_association": author_association,
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "pull_request": {"href": pull["url"]},
            },
            "reactions": _reaction_summary(api),
            **(extra or {}),
        }
        if comment.get("start_line") is not None:
            comment["original_start_line"] = comment["start_line"]
            comment["start_side"] = comment.get("start_side") or side
        self.review_comments[comment_id] = comment
        self._review_comment_pull[comment_id] = (full, pull_number)
        return comment

    def add_review(
        self,
        full_name: str,
        pull_number: int,
        body: str | None = "",
        *,
        user: str | None = "octocat",
        state: str = "COMMENTED",
        commit_id: str | None = None,
        review_id: int | None = None,
        author_association: str = "NONE",
    ) -> dict[str, Any]:
        """A submitted review (user None = the App's bot). `state` in the REST spelling
        (APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING) or the webhook one
        (approved, changes_requested, commented, dismissed, pending)."""
        full = self._canonical(full_name)
        pull = self.pulls[full][pull_number]
        state = state.upper()
        if state not in REVIEW_STATES:
            raise ValueError(f"unknown review state {state!r}")
        if review_id is None:
            review_id = self._next_id("review", 80_000_000)
        else:
            self._seen_id("review", review_id)
        html = f"{pull['html_url']}#pullrequestreview-{review_id}"
        review = {
            "id": review_id,
            "node_id": _node_id("PullRequestReview", review_id),
            "user": self.bot_user() if user is None else self.user(user),
            "body": body if body is not None else "",
            "state": state,
            "html_url": html,
            "pull_request_url": pull["url"],
            "_links": {"html": {"href": html}, "pull_request": {"href": pull["url"]}},
            "commit_id": commit_id or pull["head"]["sha"],
            "submitted_at": None if state == "PENDING" else _iso(),
            "author_association": author_association,
        }
        self.reviews[review_id] = review
        self._review_pull[review_id] = (full, pull_number)
        return review

    def review_comments_on(
        self, full_name: str, pull_number: int, *, review_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Review comments on a pull (only those of one review, with review_id)."""
        full = self._canonical(full_name)
        return [
            c
            for cid, c in sorted(self.review_comments.items())
            if self._review_comment_pull[cid] == (full, pull_number)
            and review_id in (None, c["pull_request_review_id"])
        ]

    def add_check_run(
        self,
        full_name: str,
        *,
        name: str,
        head_sha: str,
        status: str = "completed",
        conclusion: str | None = "success",
        app_slug: str | None = None,
        check_run_id: int | None = None,
        output: dict[str, Any] | None = None,
        started_at: str | None = None,
        completed_at: str | None = None,
        details_url: str | None = None,
        external_id: str | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A check run on `head_sha`: of another App when `app_slug` names one (e.g. the
        repository's CI), else of this App. `output`: title/summary/text/annotations, as
        GitHub shows them to readers of the run (the bot reads failing checks' output)."""
        full = self._canonical(full_name)
        if status not in ("queued", "in_progress", "completed", "waiting", "requested", "pending"):
            raise ValueError(f"unknown check run status {status!r}")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise ValueError(f"unknown check run conclusion {conclusion!r}")
        if status == "completed" and conclusion is None:
            raise ValueError("a completed check run needs a conclusion")
        body: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            body["conclusion"] = conclusion
        for key, value in (
            ("output", output),
            ("started_at", started_at),
            ("completed_at", completed_at),
            ("details_url", details_url),
            ("external_id", external_id),
            ("actions", actions),
        ):
            if value is not None:
                body[key] = copy.deepcopy(value)
        return self._new_check_run(full, body, check_run_id=check_run_id, app_slug=app_slug)

    def app_object_for(self, app_slug: str | None) -> dict[str, Any]:
        """The App object of `app_slug`: this App's for None or its own slug, else a
        stable stand-in for another App (its id derived from the slug)."""
        if app_slug is None or app_slug == self.app_slug:
            return self.app_object()
        app_id = 1_000 + zlib.crc32(app_slug.encode()) % 100_000
        return {
            "id": app_id,
            "slug": app_slug,
            "client_id": f"Iv23li{app_id:014d}",
            "node_id": _node_id("Integration", app_id),
            "owner": self.user(app_slug),
            "name": app_slug,
            "description": "",
            "external_url": f"https://{app_slug}.example.invalid",
            "html_url": f"{WEB}/apps/{app_slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": {"checks": "write", "metadata": "read", "statuses": "write"},
            "events": [],
        }

    def check_suite_for(
        self, full_name: str, head_sha: str, *, app_slug: str | None = None
    ) -> dict[str, Any]:
        """The check suite of an App (None = this App) on a commit; GitHub makes one per
        App and commit, and every check run of that App on that commit belongs to it.
        Created on first use. Its status/conclusion follow its runs (check_suite_view)."""
        full = self._canonical(full_name)
        app = self.app_object_for(app_slug)
        key = (full, head_sha, app["id"])
        if key in self._suite_index:
            return self.check_suites[self._suite_index[key]]
        suite_id = self._next_id("check_suite", 5_000_000_000)
        api = f"{self.url}/repos/{full}/check-suites/{suite_id}"
        history = next(
            (h for (f, _), h in self.pull_commits.items() if f == full and head_sha in h), []
        )
        before = history[history.index(head_sha) - 1] if head_sha in history[1:] else None
        branches = self.branches_at(full, head_sha)
        now = _iso()
        suite = {
            "id": suite_id,
            "node_id": _node_id("CheckSuite", suite_id),
            "head_branch": branches[0] if branches else None,
            "head_sha": head_sha,
            "status": "queued",
            "conclusion": None,
            "url": api,
            "before": before or "0" * 40,
            "after": head_sha,
            "pull_requests": [],
            "app": app,
            "created_at": now,
            "updated_at": now,
            "latest_check_runs_count": 0,
            "check_runs_url": f"{api}/check-runs",
            "head_commit": {
                "id": head_sha,
                "tree_id": _fake_sha(full, "tree", head_sha),
                "message": "A commit",
                "timestamp": now,
                "author": {"name": "Octo Cat", "email": "octocat@example.invalid"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "rerequestable": True,
            "runs_rerequestable": True,
        }
        self.check_suites[suite_id] = suite
        self._suite_index[key] = suite_id
        self._check_suite_repo[suite_id] = full
        return suite

    def check_suite_view(self, suite_id: int) -> dict[str, Any]:
        """The suite as GitHub shows it: status/conclusion from its latest runs (the
        stored ones while it has none), pull_requests, the latest runs' count."""
        suite = copy.deepcopy(self.check_suites[suite_id])
        full = self._check_suite_repo[suite_id]
        latest: dict[str, dict[str, Any]] = {}
        for _, run in sorted(self.check_runs.items()):
            if run["check_suite"]["id"] == suite_id:
                latest[run["name"]] = run
        runs = list(latest.values())
        if runs:
            statuses = {r["status"] for r in runs}
            if statuses == {"completed"}:
                suite["status"] = "completed"
                suite["conclusion"] = suite_conclusion([r["conclusion"] for r in runs])
            else:
                suite["status"] = "queued" if statuses == {"queued"} else "in_progress"
                suite["conclusion"] = None
        suite["latest_check_runs_count"] = len(runs)
        suite["pull_requests"] = self.pull_refs_at(full, suite["head_sha"])
        suite["repository"] = copy.deepcopy(self.repos[full])
        return suite

    def branches_at(self, full_name: str, sha: str) -> list[str]:
        """Branch names whose ref points at `sha` (pull head branches first)."""
        full = self._canonical(full_name)
        names = [b for (f, b), s in self.refs.items() if f == full and s == sha]
        heads = {p["head"]["ref"] for p in self.pulls[full].values()}
        return sorted(names, key=lambda b: (b not in heads, b))

    def pull_refs_at(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        """The minimal pull objects GitHub puts in a check run's / suite's
        `pull_requests`: the open pulls whose head is `sha`."""
        full = self._canonical(full_name)
        out = []
        for number, pull in sorted(self.pulls[full].items()):
            if pull["state"] != "open" or pull["head"]["sha"] != sha:
                continue
            out.append(
                {
                    "url": pull["url"],
                    "id": pull["id"],
                    "number": number,
                    "head": _minimal_ref(pull["head"]),
                    "base": _minimal_ref(pull["base"]),
                }
            )
        return out

    def check_run_view(self, run_id: int) -> dict[str, Any]:
        """A check run as the REST API answers it (pull_requests filled in)."""
        run = copy.deepcopy(self.check_runs[run_id])
        run["pull_requests"] = self.pull_refs_at(self._check_run_repo[run_id], run["head_sha"])
        return run

    def add_status(
        self,
        full_name: str,
        sha: str,
        *,
        context: str,
        state: str,
        description: str | None = None,
        target_url: str | None = None,
        creator: str = "ci-bot",
    ) -> dict[str, Any]:
        """A legacy commit status (pending|success|failure|error)."""
        full = self._canonical(full_name)
        if state not in ("pending", "success", "failure", "error"):
            raise ValueError(f"unknown commit status state {state!r}")
        status_id = self._next_id("status")
        user = self.user(creator)
        status = {
            "url": f"{self.url}/repos/{full}/statuses/{sha}",
            "avatar_url": user["avatar_url"],
            "id": status_id,
            "node_id": _node_id("StatusContext", status_id),
            "state": state,
            "description": description,
            "target_url": target_url,
            "context": context,
            "created_at": _iso(),
            "updated_at": _iso(),
            "creator": user,
        }
        self.statuses.setdefault((full, sha), []).insert(0, status)
        return status

    def set_file(self, full_name: str, path: str, content: str | bytes) -> None:
        """A file in the repository's (single) tree; served by contents/readme/trees."""
        data = content.encode() if isinstance(content, str) else content
        self.files[self._canonical(full_name)][path.strip("/")] = data

    def set_languages(self, full_name: str, languages: dict[str, int]) -> None:
        self.languages[self._canonical(full_name)] = dict(languages)

    def add_delivery(
        self,
        *,
        event: str = "issues",
        action: str | None = None,
        guid: str | None = None,
        status_code: int = 200,
        installation_id: int | None = None,
        repository_id: int | None = None,
        redelivery: bool = False,
        duration: float = 0.05,
        delivered_at: str | None = None,
    ) -> dict[str, Any]:
        """A hook delivery as listed by GET /app/hook/deliveries (ids increase)."""
        delivery_id = self._next_id("delivery", 10_000_000_000)
        delivery = {
            "id": delivery_id,
            "guid": guid or str(uuid.uuid4()),
            "delivered_at": delivered_at or _iso(),
            "redelivery": redelivery,
            "duration": duration,
            "status": _delivery_status(status_code),
            "status_code": status_code,
            "event": event,
            "action": action,
            "installation_id": installation_id,
            "repository_id": repository_id,
            "throttled_at": None,
        }
        self.deliveries.append(delivery)
        return delivery

    def issue_token(
        self,
        installation_id: int,
        *,
        ttl: float | None = None,
        repositories: Iterable[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> str:
        """Mint an installation token directly (no HTTP), e.g. for tests that call repo
        endpoints themselves."""
        inst = self.installations[installation_id]
        token = "ghs_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))
        self._tokens[token] = _Token(
            token,
            installation_id,
            time.time() + (self.token_ttl if ttl is None else ttl),
            dict(permissions if permissions is not None else inst["permissions"]),
            None if repositories is None else {self._canonical(r) for r in repositories},
        )
        self.tokens_issued.append(token)
        return token

    def seed_from_event(
        self, payload: dict[str, Any], *, installation_id: int | None = None
    ) -> None:
        """Make the fake know what a webhook payload talks about: its installation,
        repository, issue / pull request, comment and check run (real ids kept)."""
        inst_id = (payload.get("installation") or {}).get("id") or installation_id or 1
        repo = payload.get("repository")
        if inst_id not in self.installations:
            account = (repo or {}).get("owner", {}).get("login") or (
                (payload.get("installation") or {}).get("account") or {}
            ).get("login", "octo-org")
            self.add_installation(inst_id, account=account)
        if not repo:
            return
        full = repo["full_name"]
        if full.lower() not in self._repo_index:
            self.add_user(
                repo["owner"]["login"],
                user_id=repo["owner"]["id"],
                user_type=repo["owner"].get("type", "User"),
            )
            self.add_repo(
                full,
                repo_id=repo["id"],
                default_branch=repo.get("default_branch") or "main",
                installation_id=inst_id,
                private=bool(repo.get("private")),
            )
        full = self._canonical(full)
        for key in ("sender",):
            if payload.get(key):
                self._seed_user(payload[key])
        pr = payload.get("pull_request")
        issue = payload.get("issue")
        if pr and pr["number"] not in self.pulls[full]:
            self._seed_user(pr["user"])
            self.add_pull(
                full,
                pr["number"],
                title=pr.get("title") or "",
                body=pr.get("body"),
                user=pr["user"]["login"],
                head_sha=pr["head"]["sha"],
                head_ref=pr["head"]["ref"],
                base_ref=pr["base"]["ref"],
                labels=[lb["name"] for lb in pr.get("labels") or []],
                state=pr.get("state", "open"),
                draft=bool(pr.get("draft")),
                pull_id=pr["id"],
            )
        if issue and issue["number"] not in self.issues[full]:
            self._seed_user(issue["user"])
            labels = [lb["name"] for lb in issue.get("labels") or []]
            if issue.get("pull_request"):
                self.add_pull(
                    full,
                    issue["number"],
                    title=issue.get("title") or "",
                    body=issue.get("body"),
                    user=issue["user"]["login"],
                    labels=labels,
                    state=issue.get("state", "open"),
                )
            else:
                self.add_issue(
                    full,
                    issue["number"],
                    title=issue.get("title") or "",
                    body=issue.get("body"),
                    user=issue["user"]["login"],
                    labels=labels,
                    state=issue.get("state", "open"),
                    issue_id=issue["id"],
                    author_association=issue.get("author_association", "NONE"),
                )
        comment = payload.get("comment")
        if comment and "pull_request_review_id" in comment and pr:
            if comment["id"] not in self.review_comments:
                self._seed_user(comment["user"])
                self.add_review_comment(
                    full,
                    pr["number"],
                    comment.get("body") or "",
                    path=comment.get("path", ""),
                    line=comment.get("line"),
                    side=comment.get("side") or "RIGHT",
                    user=comment["user"]["login"],
                    comment_id=comment["id"],
                    review_id=comment.get("pull_request_review_id"),
                )
        elif comment and issue and comment["id"] not in self.comments:
            self._seed_user(comment["user"])
            stored = self.add_comment(
                full,
                issue["number"],
                comment.get("body") or "",
                user=comment["user"]["login"],
                comment_id=comment["id"],
                author_association=comment.get("author_association", "NONE"),
            )
            stored["created_at"] = comment.get("created_at", stored["created_at"])
        run = payload.get("check_run")
        if run and run["id"] not in self.check_runs:
            self.add_check_run(
                full,
                name=run["name"],
                head_sha=run["head_sha"],
                status=run.get("status", "queued"),
                conclusion=run.get("conclusion"),
                app_slug=(run.get("app") or {}).get("slug"),
                check_run_id=run["id"],
            )

    def _seed_user(self, user: dict[str, Any]) -> None:
        if user and user.get("login") and user["login"].lower() not in self.users:
            self.add_user(user["login"], user_id=user.get("id"), user_type=user.get("type", "User"))

    # ------------------------------------------------------------------ webhooks out

    async def send_webhook(
        self,
        target_url: str,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        secret: str | bytes,
        guid: str | None = None,
        hook_id: int = 1,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST a delivery the way GitHub does (signed, its headers, 10 s timeout) and
        record it in `deliveries` (so GET /app/hook/deliveries and redelivery see it)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        data = json.loads(body)
        guid = guid or str(uuid.uuid4())
        key = secret.encode() if isinstance(secret, str) else secret
        hdrs = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self.app_id),
            "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": sign_webhook(body, key),
            **(headers or {}),
        }
        return await self._post_delivery(
            target_url, event, data, body, hdrs, redelivery=False, timeout=timeout
        )

    async def _post_delivery(
        self,
        url: str,
        event: str,
        data: Any,
        body: bytes,
        headers: dict[str, str],
        *,
        redelivery: bool,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status_code = resp.status
        except TimeoutError:
            status_code = 0
        except aiohttp.ClientError:
            status_code = -1
        repo = data.get("repository") if isinstance(data, dict) else None
        inst = data.get("installation") if isinstance(data, dict) else None
        delivery = self.add_delivery(
            event=event,
            action=data.get("action") if isinstance(data, dict) else None,
            guid=headers["X-GitHub-Delivery"],
            status_code=max(status_code, 0),
            installation_id=(inst or {}).get("id"),
            repository_id=(repo or {}).get("id"),
            redelivery=redelivery,
            duration=round(time.monotonic() - started, 3),
        )
        if status_code == 0:
            delivery["status"] = "timed out"
        elif status_code == -1:
            delivery["status"] = "failed to connect to host"
        self._delivery_requests[delivery["id"]] = (url, body, headers)
        return delivery

    # ------------------------------------------------------------------ dispatch

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
            started_at=time.time(),
        )
        self.requests.append(rec)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        too_many = self.in_flight > self.max_concurrent_requests
        identity = [self._peek_identity(request.headers.get("Authorization", ""))]
        request_id = secrets.token_hex(8).upper()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            try:
                if too_many:
                    raise GitHubError(
                        403, _SECONDARY_MESSAGE, documentation_url=SECONDARY_RATE_LIMIT_DOCS
                    )
                status, payload, headers = await self._handle(request, rec, raw, identity)
            except GitHubError as exc:
                doc = None
                if rec.route is not None:
                    op = openapi_operations().get((rec.method, rec.route))
                    doc = op and op.get("documentation_url")
                status, payload, headers = exc.status, exc.body(doc), exc.headers
            except Exception as exc:  # a bug in the fake or a test's handler
                self.server_errors.append(exc)
                status, payload, headers = 500, GitHubError(500, repr(exc)).body(), {}
        finally:
            self.in_flight -= 1
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            payload["message"] = payload["message"].replace("{request_id}", request_id)
        out_headers = self._rate_headers(identity[0])
        out_headers["x-github-request-id"] = request_id
        out_headers["x-github-media-type"] = "github.v3; format=json"
        out_headers["x-github-api-version-selected"] = request.headers.get(
            "X-GitHub-Api-Version", "2022-11-28"
        )
        for k, v in headers.items():
            out_headers[k.lower()] = str(v)
        rec.status = status
        rec.finished_at = time.time()
        if isinstance(payload, bytes | str):
            body = payload.encode() if isinstance(payload, str) else payload
            ctype = out_headers.pop("content-type", "text/plain; charset=utf-8")
            return web.Response(
                status=status, body=body, headers=out_headers, content_type=ctype.split(";")[0]
            )
        if status == 204 or payload is None:
            return web.Response(status=status, headers=out_headers)
        return web.Response(
            status=status,
            body=json.dumps(payload).encode(),
            headers=out_headers,
            content_type="application/json",
            charset="utf-8",
        )

    async def _handle(
        self, request: web.Request, rec: Recorded, raw: bytes, identity: list[_Identity]
    ) -> tuple[int, Any, dict[str, str]]:
        """Check, route and answer one request. `identity[0]` (whose rate-limit bucket the
        answer's headers show) is updated once the caller is authenticated."""
        # 1. headers GitHub insists on
        if not request.headers.get("User-Agent"):
            raise GitHubError(
                403,
                "Request forbidden by administrative rules. Please make sure your request has "
                "a User-Agent header (https://docs.github.com/rest/overview/"
                "resources-in-the-rest-api#user-agent-required). Check "
                "https://developer.github.com for other possible causes.",
            )
        accept = request.headers.get("Accept", "")
        if self.strict_accept and not re.search(
            r"application/(vnd\.github|json)", accept, re.IGNORECASE
        ):
            raise GitHubError(
                415,
                f"Unsupported 'Accept' header: {json.dumps([accept])}. "
                "Must accept 'application/json'.",
                documentation_url=f"{DOCS}/overview/media-types",
            )
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in self.api_versions:
            raise GitHubError(
                400,
                f"API version '{version}' is not supported.",
                documentation_url=f"{DOCS}/overview/api-versions",
            )

        # 2. scripted failures / delays
        for script in self._scripts:
            if script.times > 0 and script.matches(request.method, request.path):
                script.times -= 1
                if script.delay:
                    await asyncio.sleep(script.delay)
                if script.status is None:
                    break
                body = script.body
                if body is None:
                    body = GitHubError(script.status).body()
                    if script.status in (403, 429):
                        body["documentation_url"] = SECONDARY_RATE_LIMIT_DOCS
                return script.status, copy.deepcopy(body), dict(script.headers)
        self._scripts = [s for s in self._scripts if s.times > 0]

        # 3. route
        matched = self._match(request.method, request.raw_path.split("?", 1)[0])
        if matched is None:
            raise GitHubError(404, "Not Found")
        route, params = matched
        rec.route = route.template
        ctx = Ctx(self, request, route, params, dict(request.query), None)

        # 4. authentication, rate limit, permissions, repository
        auth = request.headers.get("Authorization", "")
        if route.auth in ("jwt", "installation"):
            identity[0] = ("ip:127.0.0.1", 60, False)
        if route.auth == "jwt":
            self._check_jwt(auth)
            identity[0] = ("app", self.rate_limit, True)
        elif route.auth == "installation":
            tok = self._check_token(auth)
            ctx.token = tok
            ctx.installation = self.installations[tok.installation_id]
            rec.installation_id = tok.installation_id
            identity[0] = (f"installation:{tok.installation_id}", self.rate_limit, True)
        self._count(identity[0])
        if ctx.token is not None:
            self._check_permission(ctx.token, route.permission)
            if "owner" in params and "repo" in params:
                self._resolve_repo(ctx)

        # 5. body
        if raw.strip():
            try:
                ctx.body = json.loads(raw)
            except ValueError:
                raise GitHubError(400, "Problems parsing JSON") from None
        op = openapi_operations().get((route.method, route.template))
        if op is not None and op["request_body_required"] and not raw.strip():
            raise GitHubError(400, "Problems parsing JSON")
        validator = _validator(route.method, route.template)
        if validator is not None and raw.strip():
            error = best_match(validator.iter_errors(ctx.body))
            if error is not None:
                raise GitHubError(422, "Invalid request.\n\n" + _describe(error))

        # 6. secondary limit on content creation, then the handler
        if route.creates_content and ctx.token is not None:
            self._check_content_rate(ctx.token.installation_id)
        result = route.handler(ctx)
        if inspect.isawaitable(result):
            result = await result
        status, payload, *rest = result
        return status, payload, (rest[0] if rest else {})

    # ------------------------------------------------------------------ auth

    def _peek_identity(self, auth: str) -> _Identity:
        cred = auth.partition(" ")[2].strip()
        tok = self._tokens.get(cred)
        if tok is not None:
            return (f"installation:{tok.installation_id}", self.rate_limit, True)
        if cred.count(".") == 2:
            return ("app", self.rate_limit, True)
        return ("ip:127.0.0.1", 60, False)

    def _check_jwt(self, auth: str) -> None:
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not cred.strip():
            raise GitHubError(401, _BAD_JWT)
        try:
            # signature only (RS256 and nothing else); the claims are checked below, the
            # way GitHub checks them (pyjwt's own claim checks differ, e.g. on `iss` types)
            decoded = jwt.PyJWS().decode_complete(
                cred.strip(), self.public_key_pem, algorithms=["RS256"]
            )
            claims = json.loads(decoded["payload"])
            if decoded["header"].get("alg") != "RS256" or not isinstance(claims, dict):
                raise GitHubError(401, _BAD_JWT)
        except (jwt.InvalidTokenError, ValueError):
            raise GitHubError(401, _BAD_JWT) from None
        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not _is_int(iat) or iat > now + 60:
            raise GitHubError(401, _BAD_IAT)
        if not _is_int(exp) or exp <= now:
            raise GitHubError(401, _BAD_EXP)
        if exp - iat > 600:
            raise GitHubError(401, _EXP_TOO_FAR)
        if isinstance(iss, bool) or str(iss) not in (str(self.app_id), self.client_id):
            raise GitHubError(401, "Integration not found")

    def _check_token(self, auth: str) -> _Token:
        if not auth.strip():
            raise GitHubError(401, "Requires authentication")
        scheme, _, cred = auth.strip().partition(" ")
        tok = self._tokens.get(cred.strip())
        if scheme.lower() not in ("token", "bearer") or tok is None:
            raise GitHubError(401, "Bad credentials")
        if tok.expires_at <= time.time() or tok.installation_id not in self.installations:
            raise GitHubError(401, "Bad credentials")
        if self.installations[tok.installation_id]["suspended_at"]:
            raise GitHubError(403, "This installation has been suspended")
        return tok

    def _check_permission(self, tok: _Token, needed: str | None) -> None:
        if needed is None:
            return
        for alt in needed.split("|"):
            scope, _, level = alt.partition(":")
            have = tok.permissions.get(scope, "none")
            if scope == "metadata" and tok.permissions:
                have = max(have, "read", key=PERMISSION_LEVELS.__getitem__)
            if PERMISSION_LEVELS[have] >= PERMISSION_LEVELS[level]:
                return
        raise GitHubError(403, _NO_ACCESS)

    def _resolve_repo(self, ctx: Ctx) -> None:
        full = self._repo_index.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
        tok = ctx.token
        assert tok is not None
        if (
            full is None
            or self._repo_installation.get(full) != tok.installation_id
            or (tok.repositories is not None and full not in tok.repositories)
        ):
            raise GitHubError(404, "Not Found")
        ctx.full_name = full
        ctx.repo = self.repos[full]

    # ------------------------------------------------------------------ rate limits

    def _bucket(self, key: str, limit: int) -> _Bucket:
        now = int(time.time())
        bucket = self._buckets.get(key)
        if bucket is None or bucket.reset <= now:
            bucket = self._buckets[key] = _Bucket(limit=limit, reset=now + 3600)
        return bucket

    def _count(self, identity: _Identity) -> None:
        key, limit, enforced = identity
        bucket = self._bucket(key, limit)
        if enforced and bucket.used >= bucket.limit:
            who = key.replace("installation:", "installation ID ")
            raise GitHubError(
                403,
                f"API rate limit exceeded for {who}.",
                documentation_url=PRIMARY_RATE_LIMIT_DOCS,
            )
        bucket.used += 1

    def _rate_headers(self, identity: _Identity) -> dict[str, str]:
        key, limit, _ = identity
        bucket = self._bucket(key, limit)
        return {
            "x-ratelimit-limit": str(bucket.limit),
            "x-ratelimit-remaining": str(max(bucket.limit - bucket.used, 0)),
            "x-ratelimit-reset": str(bucket.reset),
            "x-ratelimit-used": str(bucket.used),
            "x-ratelimit-resource": "core",
        }

    def _check_content_rate(self, installation_id: int) -> None:
        now = time.monotonic()
        times = self._content_times.setdefault(installation_id, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.content_creation_per_minute:
            raise GitHubError(
                403,
                "You have exceeded a secondary rate limit and have been temporarily blocked "
                "from content creation. Please retry your request again later. If you reach "
                "out to GitHub Support for help, please include the request ID {request_id}.",
                documentation_url=SECONDARY_RATE_LIMIT_DOCS,
                headers={"retry-after": "60"},
            )
        times.append(now)

    # ------------------------------------------------------------------ helpers

    def _paginate(
        self, ctx: Ctx, items: list[Any], *, default: int = 30
    ) -> tuple[list[Any], dict[str, str]]:
        per_page = _int_or(ctx.query.get("per_page"), default)
        per_page = min(max(per_page, 1), 100)
        page = max(_int_or(ctx.query.get("page"), 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.url}{ctx.request.path}"

        def link(p: int, rel: str) -> str:
            q = {**ctx.query, "per_page": str(per_page), "page": str(p)}
            return f'<{base}?{urlencode(q)}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _ensure_label(self, full: str, name: str) -> dict[str, Any]:
        return self.labels[full].get(name.lower()) or self.add_label(full, name)

    def _issue(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.full_name is not None
        issue = self.issues[ctx.full_name].get(ctx.int_param("issue_number"))
        if issue is None:
            raise GitHubError(404, "Not Found")
        return issue

    def _pull(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.full_name is not None
        pull = self.pulls[ctx.full_name].get(ctx.int_param("pull_number"))
        if pull is None:
            raise GitHubError(404, "Not Found")
        return pull

    def _comment(self, ctx: Ctx) -> dict[str, Any]:
        cid = ctx.int_param("comment_id")
        loc = self._comment_issue.get(cid)
        if loc is None or loc[0] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        return self.comments[cid]

    # ------------------------------------------------------------------ manifest flow

    async def _web_new_app(self, request: web.Request) -> web.Response:
        """GitHub's "Create GitHub App" page for a posted manifest: checks it as
        GitHub does (a JSON object with `url` and `hook_attributes.url`), shows
        the name and a button; `state` travels on to the redirect."""
        form = await request.post()
        org = request.match_info.get("org")
        state = request.query.get("state", "")
        try:
            manifest = json.loads(str(form.get("manifest", "")))
        except ValueError:
            manifest = None
        ok = (
            isinstance(manifest, dict)
            and isinstance(manifest.get("url"), str)
            and isinstance(manifest.get("hook_attributes"), dict)
            and isinstance(manifest["hook_attributes"].get("url"), str)
        )
        if not ok:
            return web.Response(status=422, text="Invalid GitHub App manifest")
        assert isinstance(manifest, dict)
        self.manifests.append({"manifest": manifest, "state": state, "org": org})
        owner = org or self.web_user
        esc = html.escape
        page = (
            "<!doctype html><html><head><title>Create GitHub App</title></head><body>"
            f"<h1>Create GitHub App for {esc(owner)}</h1>"
            f"<p>GitHub App name: <strong>{esc(str(manifest.get('name', '')))}</strong></p>"
            f"<p>Webhook URL: {esc(manifest['hook_attributes']['url'])}</p>"
            '<form method="post" action="/settings/apps/fake-create">'
            f'<input type="hidden" name="index" value="{len(self.manifests) - 1}">'
            f'<button id="create" type="submit">Create GitHub App for {esc(owner)}</button>'
            "</form></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _web_create_app(self, request: web.Request) -> web.Response:
        """The button: the App exists, GitHub redirects to `redirect_url` with a
        one-time `code` and the `state` it was given."""
        form = await request.post()
        posted = self.manifests[int(str(form["index"]))]
        manifest = posted["manifest"]
        code = secrets.token_hex(10)
        self.manifest_apps[code] = self._new_manifest_app(manifest, posted["org"])
        target = manifest.get("redirect_url") or manifest["url"]
        query = urlencode({"code": code, "state": posted["state"]})
        raise web.HTTPFound(f"{target}{'&' if '?' in target else '?'}{query}")

    def _new_manifest_app(self, manifest: dict[str, Any], org: str | None) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        app_id = self._next_id("app", 900_000)
        name = str(manifest.get("name") or "my-app")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"
        return {
            "id": app_id,
            "slug": slug,
            "name": name,
            "owner": org or self.web_user,
            "manifest": manifest,
            "pem": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ).decode(),
            "public_pem": key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "webhook_secret": secrets.token_hex(20),
            "client_id": f"Iv23li{secrets.token_hex(7)}",
            "client_secret": secrets.token_hex(20),
        }

    def _convert_manifest(self, ctx: Ctx) -> Reply:
        """`POST /app-manifests/{code}/conversions`: no authentication, each code
        once; from then on this fake is that App (its id, key and slug)."""
        code = ctx.params["code"]
        created = self.manifest_apps.get(code)
        if created is None or code in self.spent_manifest_codes:
            raise GitHubError(404, "Not Found")
        self.spent_manifest_codes.add(code)
        self.app_id = created["id"]
        self.public_key_pem = created["public_pem"]
        self.app_slug = created["slug"]
        self.app_name = created["name"]
        self.client_id = created["client_id"]
        self.bot_login = f"{created['slug']}[bot]"
        self.app_owner = created["owner"]
        self.add_user(self.app_owner)
        hook = created["manifest"].get("hook_attributes") or {}
        self.app_permissions = dict(created["manifest"].get("default_permissions") or {})
        self.app_events = list(created["manifest"].get("default_events") or [])
        answer = self.app_object() | {
            "external_url": created["manifest"].get("url"),
            "description": created["manifest"].get("description"),
            "client_secret": created["client_secret"],
            "webhook_secret": created["webhook_secret"] if hook.get("active", True) else None,
            "pem": created["pem"],
        }
        # the answer keeps to GitHub's published 201 schema (tests/data)
        op = openapi_operations()[("POST", "/app-manifests/{code}/conversions")]
        Draft202012Validator(op["response_schema"]).validate(answer)
        return op["response_status"], answer

    # ------------------------------------------------------------------ /app handlers

    def _get_app(self, ctx: Ctx) -> Reply:
        return 200, self.app_object()

    def _installation_or_404(self, ctx: Ctx) -> dict[str, Any]:
        inst = self.installations.get(ctx.int_param("installation_id"))
        if inst is None:
            raise GitHubError(404, "Not Found")
        return inst

    def _get_installation(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(self._installation_or_404(ctx))

    def _create_token(self, ctx: Ctx) -> Reply:
        inst = self._installation_or_404(ctx)
        if inst["suspended_at"]:
            raise GitHubError(403, "This installation has been suspended")
        body = ctx.body or {}
        inst_repos = self.installation_repos[inst["id"]]
        selected: set[str] | None = None
        if body.get("repositories") or body.get("repository_ids"):
            selected = set()
            by_name = {self.repos[f]["name"].lower(): f for f in inst_repos}
            by_id = {self.repos[f]["id"]: f for f in inst_repos}
            for name in body.get("repositories") or []:
                if name.lower() not in by_name:
                    raise GitHubError(
                        422,
                        "There is at least one repository that does not "
                        "exist or is not accessible to the parent installation.",
                    )
                selected.add(by_name[name.lower()])
            for rid in body.get("repository_ids") or []:
                if rid not in by_id:
                    raise GitHubError(
                        422,
                        "There is at least one repository that does not "
                        "exist or is not accessible to the parent installation.",
                    )
                selected.add(by_id[rid])
        permissions = dict(inst["permissions"])
        if body.get("permissions"):
            for scope, level in body["permissions"].items():
                have = inst["permissions"].get(scope, "none")
                if PERMISSION_LEVELS.get(level, 99) > PERMISSION_LEVELS[have]:
                    raise GitHubError(
                        422, "The permissions requested are not granted to this installation."
                    )
            permissions = dict(body["permissions"])
        token = self.issue_token(inst["id"], permissions=permissions, repositories=selected)
        expires_at = self._tokens[token].expires_at
        answer = {
            "token": token,
            "expires_at": _iso(expires_at),
            "permissions": permissions,
            "repository_selection": "selected"
            if selected is not None
            else inst["repository_selection"],
        }
        if selected is not None:
            answer["repositories"] = [copy.deepcopy(self.repos[f]) for f in sorted(selected)]
        return 201, answer

    def _list_deliveries(self, ctx: Ctx) -> Reply:
        per_page = min(max(_int_or(ctx.query.get("per_page"), 30), 1), 100)
        items = sorted(self.deliveries, key=lambda d: d["id"], reverse=True)
        status = ctx.query.get("status")
        if status == "success":
            items = [d for d in items if 200 <= d["status_code"] < 300]
        elif status == "failure":
            items = [d for d in items if not 200 <= d["status_code"] < 300]
        cursor = ctx.query.get("cursor")
        if cursor:
            m = re.fullmatch(r"v1_(\d+)", cursor)
            if m is None:
                raise GitHubError(422, "Invalid cursor")
            items = [d for d in items if d["id"] < int(m[1])]
        page, rest = items[:per_page], items[per_page:]
        headers = {}
        if rest:
            q = {**ctx.query, "per_page": str(per_page), "cursor": f"v1_{page[-1]['id']}"}
            headers["Link"] = f'<{self.url}/app/hook/deliveries?{urlencode(q)}>; rel="next"'
        return 200, copy.deepcopy(page), headers

    def _redeliver(self, ctx: Ctx) -> Reply:
        delivery_id = ctx.int_param("delivery_id")
        original = next((d for d in self.deliveries if d["id"] == delivery_id), None)
        if original is None:
            raise GitHubError(404, "Not Found")
        self.redelivery_requests.append(delivery_id)
        stored = self._delivery_requests.get(delivery_id)
        if stored is not None:
            url, body, headers = stored
            self._spawn(
                self._post_delivery(
                    url, original["event"], json.loads(body), body, headers, redelivery=True
                )
            )
        else:
            self.add_delivery(
                event=original["event"],
                action=original["action"],
                guid=original["guid"],
                installation_id=original["installation_id"],
                repository_id=original["repository_id"],
                redelivery=True,
            )
        if self.on_redeliver is not None:
            result = self.on_redeliver(copy.deepcopy(original))
            if inspect.isawaitable(result):
                self._spawn(result)
        return 202, {}

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ repo handlers

    def _get_repo(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(ctx.repo)

    def _create_label(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        name = ctx.body["name"].strip()
        if not name:
            raise validation_failed("Label", "missing_field", "name")
        color = ctx.body.get("color", "ededed")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise validation_failed("Label", "invalid", "color")
        description = ctx.body.get("description")
        if description is not None and len(description) > 100:
            raise validation_failed("Label", "invalid", "description")
        if name.lower() in self.labels[ctx.full_name]:
            raise validation_failed("Label", "already_exists", "name")
        return 201, copy.deepcopy(
            self.add_label(ctx.full_name, name, color=color, description=description)
        )

    def _get_label(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        label = self.labels[ctx.full_name].get(ctx.params["name"].lower())
        if label is None:
            raise GitHubError(404, "Not Found")
        return 200, copy.deepcopy(label)

    def _add_issue_labels(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        issue = self._issue(ctx)
        present = {lb["name"].lower() for lb in issue["labels"]}
        for item in (ctx.body or {}).get("labels") or []:
            name = item if isinstance(item, str) else item["name"]
            if name.lower() not in present:
                issue["labels"].append(self._ensure_label(ctx.full_name, name))
                present.add(name.lower())
        issue["updated_at"] = _iso()
        return 200, copy.deepcopy(issue["labels"])

    def _remove_issue_label(self, ctx: Ctx) -> Reply:
        issue = self._issue(ctx)
        name = ctx.params["name"].lower()
        kept = [lb for lb in issue["labels"] if lb["name"].lower() != name]
        if len(kept) == len(issue["labels"]):
            raise GitHubError(404, "Label does not exist")
        issue["labels"][:] = kept
        return 200, copy.deepcopy(kept)

    def _get_issue(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(self._issue(ctx))

    def _create_comment(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        issue = self._issue(ctx)
        body = ctx.body["body"]
        _check_comment_body(body)
        if issue.get("locked"):
            raise GitHubError(403, "Unable to create comment because issue is locked.")
        comment = self.add_comment(ctx.full_name, issue["number"], body)
        return 201, copy.deepcopy(comment)

    def _edit_comment(self, ctx: Ctx) -> Reply:
        comment = self._comment(ctx)
        _check_comment_body(ctx.body["body"])
        comment["body"] = ctx.body["body"]
        comment["updated_at"] = _iso()
        return 200, copy.deepcopy(comment)

    def _get_comment(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(self._comment(ctx))

    def _list_comments(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        issue = self._issue(ctx)
        items = self.comments_on(ctx.full_name, issue["number"])
        since = ctx.query.get("since")
        if since:
            items = [c for c in items if c["updated_at"] >= since]
        chunk, headers = self._paginate(ctx, items)
        return 200, copy.deepcopy(chunk), headers

    def _react(self, ctx: Ctx, kind: str, target_id: int, summary: dict | None) -> Reply:
        assert ctx.full_name is not None
        content = ctx.body["content"]
        me = self.bot_login
        for rid, (k, full, tid) in self._reaction_target.items():
            r = self.reactions[rid]
            if (
                (k, full, tid) == (kind, ctx.full_name, target_id)
                and r["content"] == content
                and r["user"]["login"] == me
            ):
                return 200, copy.deepcopy(r)
        rid = self._next_id("reaction")
        reaction = {
            "id": rid,
            "node_id": _node_id("Reaction", rid),
            "user": self.bot_user(),
            "content": content,
            "created_at": _iso(),
        }
        self.reactions[rid] = reaction
        self._reaction_target[rid] = (kind, ctx.full_name, target_id)
        if summary is not None:
            summary[content] = summary.get(content, 0) + 1
            summary["total_count"] = summary.get("total_count", 0) + 1
        return 201, copy.deepcopy(reaction)

    def _react_issue(self, ctx: Ctx) -> Reply:
        issue = self._issue(ctx)
        return self._react(ctx, "issue", issue["number"], issue.get("reactions"))

    def _react_comment(self, ctx: Ctx) -> Reply:
        comment = self._comment(ctx)
        return self._react(ctx, "issue_comment", comment["id"], comment.get("reactions"))

    def _react_review_comment(self, ctx: Ctx) -> Reply:
        cid = ctx.int_param("comment_id")
        loc = self._review_comment_pull.get(cid)
        if loc is None or loc[0] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        comment = self.review_comments[cid]
        return self._react(ctx, "review_comment", cid, comment.get("reactions"))

    def _get_permission(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None and ctx.repo is not None
        username = ctx.params["username"]
        role = self.collaborators[ctx.full_name].get(username.lower())
        if role is None:
            if username.lower() == ctx.repo["owner"]["login"].lower():
                role = "admin"
            else:
                role = "none" if ctx.repo["private"] else "read"
        permission = ROLE_TO_PERMISSION[role]
        level = PERMISSION_LEVELS[permission]
        user = self.user(username) | {
            "permissions": {
                "admin": level >= 3,
                "maintain": role in ("admin", "maintain"),
                "push": level >= 2,
                "triage": level >= 2 or role == "triage",
                "pull": level >= 1,
            },
            "role_name": role,
        }
        return 200, {"permission": permission, "role_name": role, "user": user}

    # contents

    def _content_entry(self, ctx: Ctx, path: str, data: bytes | None) -> dict[str, Any]:
        full = ctx.full_name
        name = path.rsplit("/", 1)[-1]
        ref = ctx.query.get("ref") or ctx.repo["default_branch"]  # type: ignore[index]
        entry: dict[str, Any] = {
            "type": "file" if data is not None else "dir",
            "name": name,
            "path": path,
            "sha": _git_blob_sha(data) if data is not None else _fake_sha(full or "", path),
            "size": len(data) if data is not None else 0,
            "url": f"{self.url}/repos/{full}/contents/{quote(path)}?ref={quote(ref)}",
            "html_url": f"{WEB}/{full}/{'blob' if data is not None else 'tree'}/{ref}/{path}",
            "git_url": f"{self.url}/repos/{full}/git/blobs/{_git_blob_sha(data or b'')}",
            "download_url": (
                f"https://raw.githubusercontent.com/{full}/{ref}/{path}"
                if data is not None
                else None
            ),
        }
        return entry

    def _file_reply(self, ctx: Ctx, path: str, data: bytes) -> Reply:
        if "vnd.github.raw" in ctx.request.headers.get("Accept", ""):
            return 200, data, {"content-type": "application/vnd.github.raw"}
        entry = self._content_entry(ctx, path, data)
        if len(data) > CONTENT_MAX_INLINE:
            entry |= {"content": "", "encoding": "none"}
        else:
            b64 = base64.b64encode(data).decode()
            entry |= {
                "content": "\n".join(b64[i : i + 60] for i in range(0, len(b64), 60)) + "\n",
                "encoding": "base64",
            }
        return 200, entry

    def _get_contents(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        files = self.files[ctx.full_name]
        path = ctx.params["path"].strip("/")
        if path in files:
            return self._file_reply(ctx, path, files[path])
        children = self._children(files, path)
        if not children:
            raise GitHubError(404, "Not Found")
        return 200, [self._content_entry(ctx, p, files.get(p)) for p in children]

    @staticmethod
    def _children(files: dict[str, bytes], directory: str) -> list[str]:
        prefix = f"{directory}/" if directory else ""
        out: set[str] = set()
        for p in files:
            if p.startswith(prefix):
                head = p[len(prefix) :].split("/", 1)[0]
                out.add(prefix + head)
        return sorted(out)

    def _get_readme(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        files = self.files[ctx.full_name]
        candidates = sorted(
            (p for p in files if "/" not in p and p.lower().startswith("readme")),
            key=lambda p: (p.lower() != "readme.md", p),
        )
        if not candidates:
            raise GitHubError(404, "Not Found")
        return self._file_reply(ctx, candidates[0], files[candidates[0]])

    def _get_languages(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        return 200, dict(self.languages[ctx.full_name])

    def _get_tree(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        files = self.files[ctx.full_name]
        recursive = ctx.query.get("recursive") not in (None, "", "0", "false")
        paths: set[str] = set()
        for p in files:
            parts = p.split("/")
            for i in range(1, len(parts) + 1):
                paths.add("/".join(parts[:i]))
        if not recursive:
            paths = {p for p in paths if "/" not in p}
        tree = []
        for p in sorted(paths):
            data = files.get(p)
            if data is not None:
                tree.append(
                    {
                        "path": p,
                        "mode": "100644",
                        "type": "blob",
                        "sha": _git_blob_sha(data),
                        "size": len(data),
                        "url": f"{self.url}/repos/{ctx.full_name}/git/blobs/{_git_blob_sha(data)}",
                    }
                )
            else:
                sha = _fake_sha(ctx.full_name, "tree:" + p)
                tree.append(
                    {
                        "path": p,
                        "mode": "040000",
                        "type": "tree",
                        "sha": sha,
                        "url": f"{self.url}/repos/{ctx.full_name}/git/trees/{sha}",
                    }
                )
        sha = self.refs.get((ctx.full_name, ctx.params["tree_sha"]), ctx.params["tree_sha"])
        return 200, {
            "sha": sha,
            "url": f"{self.url}/repos/{ctx.full_name}/git/trees/{sha}",
            "tree": tree,
            "truncated": False,
        }

    # pulls

    def _get_pull(self, ctx: Ctx) -> Reply:
        pull = self._pull(ctx)
        pull["labels"] = self.issues[ctx.full_name][pull["number"]]["labels"]  # type: ignore[index]
        return 200, copy.deepcopy(pull)

    def _list_pull_files(self, ctx: Ctx) -> Reply:
        pull = self._pull(ctx)
        files = self.pull_files[ctx.full_name][pull["number"]][:MAX_PULL_FILES]  # type: ignore[index]
        chunk, headers = self._paginate(ctx, files)
        return 200, copy.deepcopy(chunk), headers

    def _create_review(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        body = ctx.body or {}
        event = body.get("event")
        comments = body.get("comments") or []
        text = body.get("body") or ""
        if pull["user"]["login"].lower() == self.bot_login.lower() and event in (
            "APPROVE",
            "REQUEST_CHANGES",
        ):
            verb = "approve" if event == "APPROVE" else "request changes on"
            raise GitHubError(
                422, "Unprocessable Entity", errors=[f"Review Can not {verb} your own pull request"]
            )
        if event in ("REQUEST_CHANGES", "COMMENT") and not text and not comments:
            raise GitHubError(
                422, "Unprocessable Entity", errors=[f"Review body is required for {event} events"]
            )
        commit_id = body.get("commit_id")
        known = self.pull_commits.get((ctx.full_name, pull["number"]), [pull["head"]["sha"]])
        if commit_id is not None and commit_id not in known:
            raise GitHubError(
                422,
                "Unprocessable Entity",
                errors=["The commitOID is not part of the pull request"],
            )
        files = {f["filename"]: f for f in self.pull_files[ctx.full_name][pull["number"]]}
        for c in comments:
            f = files.get(c["path"])
            if f is None:
                raise GitHubError(
                    422, "Unprocessable Entity", errors=["Path could not be resolved"]
                )
            patch = f.get("patch")
            if patch is None:
                raise GitHubError(
                    422, "Unprocessable Entity", errors=["Line could not be resolved"]
                )
            if "line" in c:
                left, right = diff_lines(patch)
                side = c.get("side", "RIGHT")
                ok_lines = right if side == "RIGHT" else left
                start_lines = right if c.get("start_side", side) == "RIGHT" else left
                if (
                    side not in ("LEFT", "RIGHT")
                    or c["line"] not in ok_lines
                    or (
                        "start_line" in c
                        and (c["start_line"] not in start_lines or c["start_line"] > c["line"])
                    )
                ):
                    raise GitHubError(
                        422, "Unprocessable Entity", errors=["Line could not be resolved"]
                    )
            elif "position" in c:
                if not 1 <= c["position"] < len(patch.splitlines()):
                    raise GitHubError(
                        422, "Unprocessable Entity", errors=["Position could not be resolved"]
                    )
            else:
                raise GitHubError(
                    422, "Unprocessable Entity", errors=["Line could not be resolved"]
                )
        state = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }.get(event or "", "PENDING")
        review = self.add_review(
            ctx.full_name, pull["number"], text, user=None, state=state, commit_id=commit_id
        )
        for c in comments:
            extra = {k: c[k] for k in ("start_line", "start_side", "position") if k in c}
            self.add_review_comment(
                ctx.full_name,
                pull["number"],
                c["body"],
                path=c["path"],
                line=c.get("line"),
                side=c.get("side", "RIGHT"),
                review_id=review["id"],
                commit_id=review["commit_id"],
                extra=extra,
            )
        return 200, copy.deepcopy(review)

    def _list_reviews(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        chunk, headers = self._paginate(ctx, self.reviews_on(ctx.full_name, pull["number"]))
        return 200, copy.deepcopy(chunk), headers

    def _merge_pull(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        body = ctx.body or {}
        if pull["merged"] or pull["state"] != "open" or not pull["mergeable"]:
            raise GitHubError(405, "Pull Request is not mergeable")
        if pull["draft"]:
            raise GitHubError(405, "Pull Request is still a draft")
        if body.get("sha") and body["sha"] != pull["head"]["sha"]:
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
        method = body.get("merge_method") or "merge"
        head = pull["head"]["sha"]
        sha = _fake_sha(ctx.full_name, f"{method}-{pull['number']}", head)
        self.close_pull(
            ctx.full_name, pull["number"], merged=True, merged_by=None, merge_commit_sha=sha
        )
        self.merges.append(
            {
                "repo": ctx.full_name,
                "number": pull["number"],
                **copy.deepcopy(body),
                "merge_method": method,
                "head_sha": head,
                "merge_commit_sha": sha,
            }
        )
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    # checks

    def _validate_check_run_body(self, body: dict[str, Any], existing: dict | None) -> None:
        # The pinned schema already holds enums, maxItems and maxLength (checked before the
        # handler runs); the checks marked "limit" repeat GitHub's documented limits so they
        # hold even if a future schema drops them.
        if "status" in body and body["status"] not in (
            "queued",
            "in_progress",
            "completed",
            "waiting",
            "requested",
            "pending",
        ):
            raise GitHubError(  # limit
                422,
                f"Invalid request.\n\nFor 'properties/status', {json.dumps(body['status'])} "
                'is not a member of ["queued", "in_progress", "completed"].',
            )
        if "conclusion" in body and body["conclusion"] not in CHECK_CONCLUSIONS:
            raise GitHubError(  # limit
                422,
                f"Invalid request.\n\nFor 'properties/conclusion', "
                f"{json.dumps(body['conclusion'])} is not a member of "
                f"{json.dumps(list(CHECK_CONCLUSIONS))}.",
            )
        actions = body.get("actions") or []
        if len(actions) > MAX_CHECK_RUN_ACTIONS:
            raise GitHubError(  # limit
                422,
                "Invalid request.\n\nFor 'properties/actions', "
                f"only {MAX_CHECK_RUN_ACTIONS} actions are allowed ({len(actions)} given).",
            )
        for action in actions:
            for key, limit in CHECK_ACTION_LIMITS.items():
                value = action.get(key)
                if not isinstance(value, str):
                    raise GitHubError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
                if len(value) > limit:
                    raise GitHubError(  # limit
                        422,
                        f"Invalid request.\n\nFor 'properties/actions/items/properties/{key}', "
                        f"{json.dumps(value)} is longer than {limit} characters.",
                    )
        if body.get("conclusion") == "stale":
            raise GitHubError(
                422,
                "Invalid request.\n\nYou cannot change a check run "
                "conclusion to stale, only GitHub can set this.",
            )
        if body.get("status") in ("waiting", "requested", "pending"):
            raise GitHubError(
                422,
                f"Invalid request.\n\nOnly GitHub Actions can set a status of {body['status']}.",
            )
        has_conclusion = "conclusion" in body or (existing or {}).get("conclusion")
        if (body.get("status") == "completed" or "completed_at" in body) and not has_conclusion:
            raise GitHubError(422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
        output = body.get("output") or {}
        annotations = output.get("annotations") or []
        if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
            raise GitHubError(
                422,
                "Invalid request.\n\nFor 'properties/output/properties/"
                "annotations', only 50 annotations are allowed per request.",
            )
        for a in annotations:
            if a.get("annotation_level") not in ANNOTATION_LEVELS:
                raise GitHubError(  # limit
                    422,
                    "Invalid request.\n\nFor 'properties/output/properties/annotations/items/"
                    f"properties/annotation_level', {json.dumps(a.get('annotation_level'))} "
                    f"is not a member of {json.dumps(list(ANNOTATION_LEVELS))}.",
                )
            if ("start_column" in a or "end_column" in a) and a["start_line"] != a["end_line"]:
                raise GitHubError(
                    422,
                    "Invalid request.\n\nstart_column and end_column may "
                    "only be used when start_line equals end_line.",
                )
            if a["end_line"] < a["start_line"]:
                raise GitHubError(422, "Invalid request.\n\nend_line must be >= start_line.")
        if body.get("head_sha") is not None and not re.fullmatch(r"[0-9a-f]{40}", body["head_sha"]):
            raise GitHubError(422, f"No commit found for SHA: {body['head_sha']}")

    def _new_check_run(
        self,
        full: str,
        body: dict[str, Any],
        *,
        check_run_id: int | None = None,
        app_slug: str | None = None,
    ) -> dict[str, Any]:
        if check_run_id is None:
            run_id = self._next_id("check_run", 4_000_000_000)
        else:
            run_id = check_run_id
            self._seen_id("check_run", run_id)
        now = _iso()
        status = "completed" if body.get("conclusion") else body.get("status", "queued")
        suite = self.check_suite_for(full, body["head_sha"], app_slug=app_slug)
        suite["updated_at"] = now
        run = {
            "id": run_id,
            "node_id": _node_id("CheckRun", run_id),
            "head_sha": body["head_sha"],
            "external_id": body.get("external_id", ""),
            "url": f"{self.url}/repos/{full}/check-runs/{run_id}",
            "html_url": f"{WEB}/{full}/runs/{run_id}",
            "details_url": body.get("details_url", f"https://{self.app_slug}.example.invalid"),
            "status": status,
            "conclusion": body.get("conclusion"),
            "started_at": body.get("started_at", now),
            "completed_at": body.get("completed_at", now if status == "completed" else None),
            "output": {
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{self.url}/repos/{full}/check-runs/{run_id}/annotations",
            },
            "name": body["name"],
            "check_suite": {"id": suite["id"]},
            "app": copy.deepcopy(suite["app"]),
            "pull_requests": [],  # filled in by check_run_view
        }
        self.check_runs[run_id] = run
        self._check_run_repo[run_id] = full
        self.annotations[run_id] = []
        self.check_run_actions[run_id] = []
        self._apply_check_run_output(run, body)
        return run

    def _apply_check_run_output(self, run: dict[str, Any], body: dict[str, Any]) -> None:
        output = body.get("output")
        if output:
            for key in ("title", "summary", "text"):
                if key in output:
                    run["output"][key] = output[key]
            self.annotations[run["id"]].extend(copy.deepcopy(output.get("annotations") or []))
            run["output"]["annotations_count"] = len(self.annotations[run["id"]])
        if "actions" in body:
            self.check_run_actions[run["id"]] = copy.deepcopy(body["actions"])

    def _create_check_run(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        self._validate_check_run_body(ctx.body, None)
        run = self._new_check_run(ctx.full_name, ctx.body)
        return 201, self.check_run_view(run["id"])

    def _update_check_run(self, ctx: Ctx) -> Reply:
        run_id = ctx.int_param("check_run_id")
        run = self.check_runs.get(run_id)
        if run is None or self._check_run_repo[run_id] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        if run["app"]["slug"] != self.app_slug:
            raise GitHubError(
                403,
                f"Invalid app_id `{self.app_id}` - check run can only be "
                "modified by the GitHub App that created it.",
            )
        body = ctx.body
        self._validate_check_run_body(body, run)
        for key in ("name", "details_url", "external_id", "started_at", "completed_at"):
            if key in body:
                run[key] = body[key]
        if "status" in body:
            run["status"] = body["status"]
        if "conclusion" in body:
            run["conclusion"] = body["conclusion"]
            run["status"] = "completed"
        if run["status"] == "completed" and not run["completed_at"]:
            run["completed_at"] = _iso()
        self._apply_check_run_output(run, body)
        return 200, self.check_run_view(run_id)

    def _get_check_run(self, ctx: Ctx) -> Reply:
        run_id = ctx.int_param("check_run_id")
        if run_id not in self.check_runs or self._check_run_repo[run_id] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        return 200, self.check_run_view(run_id)

    def _list_check_runs(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        ref = ctx.params["ref"]
        sha = self.refs.get((ctx.full_name, ref.removeprefix("heads/")), ref)
        runs = self.check_runs_for(ctx.full_name, sha)
        q = ctx.query
        if q.get("check_name"):
            runs = [r for r in runs if r["name"] == q["check_name"]]
        if q.get("status"):
            runs = [r for r in runs if r["status"] == q["status"]]
        if q.get("app_id"):
            runs = [r for r in runs if str(r["app"]["id"]) == q["app_id"]]
        if q.get("filter", "latest") not in ("latest", "all"):
            raise GitHubError(
                422,
                "Invalid request.\n\nFor 'filter', "
                f'{json.dumps(q["filter"])} is not a member of ["latest", "all"].',
            )
        if q.get("filter", "latest") == "latest":
            # the newest run of each name in each check suite (i.e. per App)
            latest: dict[tuple[int, str], dict[str, Any]] = {}
            for r in runs:
                latest[(r["check_suite"]["id"], r["name"])] = r
            runs = list(latest.values())
        runs = sorted(runs, key=lambda r: r["id"], reverse=True)
        chunk, headers = self._paginate(ctx, runs)
        views = [self.check_run_view(r["id"]) for r in chunk]
        return 200, {"total_count": len(runs), "check_runs": views}, headers

    def _combined_status(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        ref = ctx.params["ref"]
        sha = self.refs.get((ctx.full_name, ref.removeprefix("heads/")), ref)
        latest: dict[str, dict[str, Any]] = {}
        for s in self.statuses.get((ctx.full_name, sha), []):  # newest first
            latest.setdefault(s["context"], s)
        # the combined view lists "simple" statuses: no `creator`
        statuses = [{k: v for k, v in s.items() if k != "creator"} for s in latest.values()]
        states = {s["state"] for s in statuses}
        if states & {"failure", "error"}:
            state = "failure"
        elif not statuses or "pending" in states:
            state = "pending"
        else:
            state = "success"
        return 200, {
            "state": state,
            "statuses": copy.deepcopy(statuses),
            "sha": sha,
            "total_count": len(statuses),
            "repository": copy.deepcopy(ctx.repo),
            "commit_url": f"{self.url}/repos/{ctx.full_name}/commits/{sha}",
            "url": f"{self.url}/repos/{ctx.full_name}/commits/{sha}/status",
        }


# --------------------------------------------------------------------------- utilities


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"{len(kind):02d}:{kind}{ident}".encode()).decode()


def _fake_sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _delivery_status(status_code: int) -> str:
    if 200 <= status_code < 300:
        return "OK"
    return f"Invalid HTTP Response: {status_code}"


def _diff_hunk(patch: str, line: int, side: str = "RIGHT") -> tuple[str, int | None]:
    """GitHub's `diff_hunk` for a comment on `line` (the hunk header down to that line)
    and its `position` (lines below the file's first @@ header), or ("", None)."""
    lines = patch.splitlines()
    old = new = 0
    start = 0
    for i, text in enumerate(lines):
        m = _HUNK.match(text)
        if m:
            old, new, start = int(m[1]), int(m[2]), i
            continue
        if text.startswith("\\"):
            continue
        if text.startswith("+"):
            here, new = ("RIGHT", new), new + 1
        elif text.startswith("-"):
            here, old = ("LEFT", old), old + 1
        else:
            here = ("BOTH", new if side == "RIGHT" else old)
            old, new = old + 1, new + 1
        if here[1] == line and here[0] in (side, "BOTH"):
            return "\n".join(lines[start : i + 1]), i
    return "", None


def _minimal_ref(side: dict[str, Any]) -> dict[str, Any]:
    repo = side["repo"]
    return {
        "ref": side["ref"],
        "sha": side["sha"],
        "repo": {"id": repo["id"], "url": repo["url"], "name": repo["name"]},
    }


# the worst first: a suite's conclusion is the worst of its latest runs' conclusions
_SUITE_CONCLUSION_ORDER = (
    "action_required",
    "timed_out",
    "cancelled",
    "failure",
    "stale",
    "neutral",
    "success",
    "skipped",
)


def suite_conclusion(conclusions: Iterable[str | None]) -> str | None:
    """A check suite's conclusion from its runs' (approximation: the worst one wins;
    neutral and skipped runs do not fail a suite)."""
    present = {c for c in conclusions if c}
    for c in _SUITE_CONCLUSION_ORDER:
        if c in present:
            if c == "neutral" and "success" in present:
                return "success"
            return c
    return None


def _reaction_summary(url: str) -> dict[str, Any]:
    return {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(REACTIONS, 0)}


def _check_comment_body(body: str) -> None:
    if not body.strip():
        raise validation_failed("IssueComment", "missing_field", "body")
    if len(body) > MAX_COMMENT_BODY:
        raise validation_failed(
            "IssueComment",
            "unprocessable",
            "data",
            message=f"Body is too long (maximum is {MAX_COMMENT_BODY} characters)",
        )


def _describe(error: ValidationError) -> str:
    """GitHub-style detail for a schema violation."""
    where = "/".join(str(p) for p in list(error.absolute_schema_path)[:-1])
    instance = json.dumps(error.instance)
    if error.validator == "required":
        missing = next(
            (r for r in error.validator_value if r not in (error.instance or {})),
            error.validator_value[0],
        )
        return f'"{missing}" wasn\'t supplied.'
    if error.validator == "additionalProperties":
        return f"{error.message}."
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        article = "an" if str(expected)[0] in "aeiou" else "a"
        return f"For '{where}', {instance} is not {article} {expected}."
    if error.validator == "enum":
        return f"For '{where}', {instance} is not a member of {json.dumps(error.validator_value)}."
    if error.validator == "maxItems":
        if where.endswith("annotations"):
            return (
                f"For '{where}', only {error.validator_value} annotations are allowed per request."
            )
        return (
            f"For '{where}', {len(error.instance)} items are more than the maximum of "
            f"{error.validator_value}."
        )
    if error.validator == "maxLength":
        shown = instance if len(instance) <= 80 else instance[:77] + '..."'
        return (
            f"For '{where}', {shown} is longer than {error.validator_value} characters "
            f"({len(error.instance)})."
        )
    return f"For '{where}', {error.message}."
