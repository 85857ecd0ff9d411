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
`review_comments_on`. tests/support/events.py builds webhook payloads from this state.

Every GET answered 200 carries a strong `ETag` (of the body, the Accept header and
the credential: GitHub's ETags differ between tokens); a GET whose `If-None-Match`
names it gets 304 Not Modified without a body and is not counted against the rate
limit (`not_modified` counts them, `not_modified_calls()` lists them).

Routes live in one table (`FakeGitHub._routes`): `Route(method, template, handler,
permission=..., creates_content=...)`. A handler gets a `Ctx` (request, path params, parsed
body, resolved installation/repo) and returns `(status, body)` or `(status, body, headers)`,
or raises `GitHubError`. Tests add endpoints with `fake.add_route(...)`.

This module is the core: state, the route table and dispatch. `FakeGitHub` gets
each resource's seeding, inspection and route handlers from a mixin in its own
module: apps (the App, installations, tokens, users), repos (contents, trees,
permissions), issues (labels, comments, reactions), pulls, reviews, checks (runs
and suites), statuses, webhooks (examples, deliveries, seeding from a payload),
graphql (`POST /graphql`, a branch's merge requirements, auto-merge);
auth checks tokens, permissions and rate limits; scripts makes requests fail or
wait; contract holds the OpenAPI subset and GitHub's documented limits; routing
the small types (`Route`, `Ctx`, ...).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import inspect
import itertools
import json
import math
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode

from aiohttp import web
from jsonschema.exceptions import best_match
from multidict import CIMultiDict

from tests.fakes.github import contract
from tests.fakes.github.apps import AppsMixin
from tests.fakes.github.auth import AuthMixin
from tests.fakes.github.checks import ChecksMixin
from tests.fakes.github.contract import (
    _SECONDARY_MESSAGE,
    DEFAULT_APP_EVENTS,
    DEFAULT_APP_PERMISSIONS,
    DOCS,
    SECONDARY_RATE_LIMIT_DOCS,
    SUPPORTED_API_VERSIONS,
    _describe,
    openapi_operations,
)
from tests.fakes.github.graphql import GraphQLMixin
from tests.fakes.github.issues import IssuesMixin
from tests.fakes.github.oauth import OAuthMixin
from tests.fakes.github.pulls import PullsMixin
from tests.fakes.github.repos import ReposMixin
from tests.fakes.github.reviews import ReviewsMixin
from tests.fakes.github.routing import (
    DROP,
    LOSE,
    Ctx,
    GitHubError,
    Handler,
    Recorded,
    Route,
    _Bucket,
    _Identity,
    _Script,
    _Token,
)
from tests.fakes.github.scripts import ScriptsMixin
from tests.fakes.github.statuses import StatusesMixin
from tests.fakes.github.util import _int_or
from tests.fakes.github.webhooks import WebhooksMixin

# --------------------------------------------------------------------------- the fake


WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class FakeGitHub(
    AuthMixin,
    AppsMixin,
    ReposMixin,
    IssuesMixin,
    PullsMixin,
    ReviewsMixin,
    ChecksMixin,
    StatusesMixin,
    WebhooksMixin,
    OAuthMixin,
    ScriptsMixin,
    GraphQLMixin,
):
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
        self.not_modified = 0  # GETs answered 304 (If-None-Match named the ETag)
        # what installation tokens' expiry is measured by (a test moves it by hours)
        self.clock: Callable[[], float] = time.time

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
        # branch requirements (repos.py) and auto-merge (graphql.py)
        self.branch_rules: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.branch_protection: dict[tuple[str, str], dict[str, Any]] = {}
        self.auto_merges: list[dict[str, Any]] = []  # merges GitHub's auto-merge made
        self.auto_merge_disabled: list[dict[str, Any]] = []
        self.graphql_requests: list[dict[str, Any]] = []
        self.check_suites: dict[int, dict[str, Any]] = {}
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.languages: dict[str, dict[str, int]] = {}
        self.collaborators: dict[str, dict[str, str]] = {}  # full -> login.lower() -> role
        self.transferred_issues: dict[tuple[str, int], tuple[str, int]] = {}  # see issues.py
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
        self._init_oauth()  # the web flow's user tokens (oauth.py)
        self._routes += self._oauth_routes()

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
            R("GET", f"{repo}/installation", self._get_repo_installation, auth="jwt"),
            R("POST", f"{repo}/issues", self._create_issue, iw, creates_content=True),
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
            R(
                "GET",
                f"{repo}/pulls/{{pull_number}}",
                self._get_pull_with_rules,
                "pull_requests:read",
            ),
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
            R(
                "GET",
                f"{repo}/pulls/{{pull_number}}/reviews/{{review_id}}/comments",
                self._list_review_comments,
                "pull_requests:read",
            ),
            R(
                "POST",
                f"{repo}/pulls/{{pull_number}}/requested_reviewers",
                self._request_reviewers,
                "pull_requests:write",
            ),
            R(
                "PUT",
                f"{repo}/pulls/{{pull_number}}/merge",
                self._merge_pull_with_rules,
                "contents:write",
            ),
            R("GET", f"{repo}/rules/branches/{{branch}}", self._get_branch_rules, "metadata:read"),
            R("GET", f"{repo}/branches/{{branch}}", self._get_branch, "contents:read"),
            # GraphQL: each field checks its own permission (graphql.py)
            R("POST", "/graphql", self._graphql),
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

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        # GitHub's web pages of the manifest flow (a browser's, not the API's)
        app.router.add_post("/settings/apps/new", self._web_new_app)
        app.router.add_post("/organizations/{org}/settings/apps/new", self._web_new_app)
        app.router.add_post("/settings/apps/fake-create", self._web_create_app)
        self.add_oauth_pages(app.router)  # GitHub's user authorization pages
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

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        """Recorded requests with this method ("*" = any) whose path matches (re.search)."""
        rx = re.compile(path_regex)
        method = method.upper()
        return [r for r in self.requests if method in ("*", r.method) and rx.search(r.path)]

    def write_overlaps(self) -> list[tuple[Recorded, Recorded]]:
        """Pairs of writes (POST, PATCH, PUT, DELETE) made with one installation's
        tokens whose times overlap: GitHub asks for writes one at a time."""
        writes: dict[int, list[Recorded]] = {}
        for r in self.requests:
            if r.method in WRITE_METHODS and r.installation_id is not None and r.finished_at:
                writes.setdefault(r.installation_id, []).append(r)
        overlaps = []
        for recs in writes.values():
            recs.sort(key=lambda r: r.started_at)
            latest = recs[0]  # the write that ends last among those started so far
            for after in recs[1:]:
                if after.started_at < latest.finished_at:
                    overlaps.append((latest, after))
                if after.finished_at > latest.finished_at:
                    latest = after
        return overlaps

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
        etag = None
        if request.method == "GET" and status == 200 and payload is not None:
            etag, fresh = self._etag(request, payload, identity[0])
            if not fresh:
                status, payload = 304, None  # no body, and not counted (refunded)
        out_headers = self._rate_headers(identity[0])
        out_headers["x-github-request-id"] = request_id
        out_headers["x-github-media-type"] = "github.v3; format=json"
        out_headers["x-github-api-version-selected"] = request.headers.get(
            "X-GitHub-Api-Version", "2022-11-28"
        )
        for k, v in headers.items():
            out_headers[k.lower()] = str(v)
        if etag is not None:
            out_headers["etag"] = etag
        rec.status = status
        rec.finished_at = time.time()
        if isinstance(payload, bytes | str):
            body = payload.encode() if isinstance(payload, str) else payload
            ctype = out_headers.pop("content-type", "text/plain; charset=utf-8")
            return web.Response(
                status=status, body=body, headers=out_headers, content_type=ctype.split(";")[0]
            )
        if status == 304:
            out_headers.pop("content-type", None)
            return web.Response(status=304, headers=out_headers)
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
        lose = False
        for script in self._scripts:
            if script.times > 0 and script.matches(request.method, request.path):
                script.times -= 1
                if script.delay:
                    await asyncio.sleep(script.delay)
                if script.status is None:
                    break
                if script.status == LOSE:
                    lose = True  # done below, then the answer is a 502
                    break
                if script.status == DROP:
                    assert request.transport is not None
                    request.transport.close()  # no answer: the client sees the connection go
                    return 500, {}, {}
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
        validator = contract._validator(route.method, route.template)
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
        if lose:
            return 502, GitHubError(502).body(), {}
        return status, payload, (rest[0] if rest else {})

    def _etag(self, request: web.Request, payload: Any, identity: _Identity) -> tuple[str, bool]:
        """GitHub's conditional GET: a strong ETag (quoted) of the answer's body,
        the Accept header and the credential (GitHub's ETags differ from token to
        token), and whether the answer must be sent (False: `If-None-Match` names
        it, a 304 without body that does not count against the rate limit)."""
        if isinstance(payload, bytes | str):
            body = payload.encode() if isinstance(payload, str) else payload
        else:
            body = json.dumps(payload, sort_keys=True).encode()
        digest = hashlib.sha256()
        for part in (request.headers.get("Authorization", ""), request.headers.get("Accept", "")):
            digest.update(part.encode() + b"\n")
        digest.update(body)
        etag = f'"{digest.hexdigest()[:40]}"'
        wanted = request.headers.get("If-None-Match", "")
        if etag not in {tag.strip() for tag in wanted.split(",")}:
            return etag, True
        key, limit, enforced = identity
        if enforced:  # an authorised 304 is free
            bucket = self._bucket(key, limit)
            bucket.used = max(0, bucket.used - 1)
        self.not_modified += 1
        return etag, False

    def not_modified_calls(self) -> list[Recorded]:
        """The GETs answered 304 Not Modified."""
        return [r for r in self.requests if r.status == 304]

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
