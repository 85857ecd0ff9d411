"""Client for Codegen's agent API (create, follow, resume and ban agent runs).

Contract: Codegen's published OpenAPI description (pinned for the tests in
tests/data/codegen-openapi-subset.json). Every call carries `Authorization: Bearer
<key>`; the org id is part of each path.

Failures are sorted by what helps the user: rate limits (429) wait -- `Retry-After`
when the API sends it -- and retry; 5xx, timeouts and connection errors retry with
exponential backoff and jitter, bounded in attempts and in total time; 401/402/403/
404/422 are answers a retry cannot change and raise `CodegenError` at once, carrying the
API's own message so it can be shown to the user. Creates are also paced on our side
(a sliding 60-second window, 10 by default, as the API allows) so that a burst of tasks
waits its turn instead of collecting 429s.

A create whose answer was lost (5xx or a broken connection after the request was
sent) may still have made a run. Before trying again, the client looks for a run
with the same metadata among the newest runs and returns it instead of making a
second one: the caller's metadata is the request's identity.

The API key is sent only in the Authorization header and never logged or put in an
exception message.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import cachetools
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

log = logging.getLogger(__name__)

USER_AGENT = "codegen-bot"
LIST_LIMIT = 100  # the API's maximum page size for runs and repos
REPO_CACHE_SECONDS = 600.0
FIND_RUN_PAGES = 2  # newest runs scanned for a lost create (200 runs)

_RUNNING = frozenset({"PENDING", "ACTIVE", "RUNNING"})
_COMPLETE = frozenset({"COMPLETE", "COMPLETED"})
_FAILED = frozenset({"FAILED", "ERROR"})
_CANCELLED = frozenset({"CANCELLED", "CANCELED", "STOPPED"})
# A retry cannot change these answers.
_FINAL_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 409, 410, 413, 422})
# Transport errors raised before the request could have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def run_state(status: str | None) -> str:
    """Collapse Codegen's run status into "running", "complete", "failed" or "cancelled".

    Case-insensitive. Values not seen before count as still running, so a new status
    never ends a task early; the caller's overall timeout bounds the wait."""
    value = (status or "").strip().upper()
    if value in _COMPLETE:
        return "complete"
    if value in _FAILED:
        return "failed"
    if value in _CANCELLED:
        return "cancelled"
    return "running"


class CodegenError(Exception):
    """Codegen refused or could not answer a call.

    `message` is the API's own message (fit to show a user); `retryable` says whether
    trying the same call later can succeed (rate limits, 5xx, network) or not."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        # the request may have been processed although no answer arrived
        self.ambiguous = ambiguous

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.message} (HTTP {self.status})"


@dataclass(frozen=True)
class PullRequestRef:
    """A pull request an agent run opened (GithubPullRequestResponse)."""

    id: int | None
    url: str
    title: str | None
    head_branch: str | None


@dataclass(frozen=True)
class AgentRun:
    """The parts of AgentRunResponse the bot acts on."""

    id: int
    status: str
    web_url: str | None
    summary: str | None
    result: str | None
    pull_requests: tuple[PullRequestRef, ...]
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AgentRun:
        """Parse an AgentRunResponse body; pull requests without a URL are dropped."""
        prs = tuple(
            PullRequestRef(
                id=pr.get("id"),
                url=pr["url"],
                title=pr.get("title"),
                head_branch=pr.get("head_branch_name"),
            )
            for pr in data.get("github_pull_requests") or ()
            if isinstance(pr, Mapping) and pr.get("url")
        )
        return cls(
            id=int(data["id"]),
            status=str(data.get("status") or ""),
            web_url=data.get("web_url"),
            summary=data.get("summary"),
            result=data.get("result"),
            pull_requests=prs,
            metadata=dict(data.get("metadata") or {}),
        )


def error_message(status: int, body: bytes, reason: str = "") -> str:
    """The API's own words for a failed call, readable by a person.

    Handles Codegen's `{"message": ..., "status_code": ...}`, FastAPI's
    `{"detail": "..."}` and `{"detail": [{"loc", "msg", ...}]}` (422), and non-JSON
    bodies from proxies."""
    fallback = f"Codegen answered HTTP {status}" + (f" {reason}" if reason else "")
    try:
        data = httpx.Response(status, content=body).json()
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        if text and len(text) <= 300 and not text.startswith("<"):
            return text
        return fallback
    if isinstance(data, dict):
        if isinstance(data.get("message"), str) and data["message"].strip():
            return data["message"].strip()
        detail = data.get("detail")
        if isinstance(detail, str) and detail.strip():
            return detail.strip()
        if isinstance(detail, list) and detail:
            parts = [_validation_item(item) for item in detail]
            return "Invalid request: " + "; ".join(p for p in parts if p)
    return fallback


def _validation_item(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    loc = [str(p) for p in item.get("loc") or ()]
    if len(loc) > 1 and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    msg = str(item.get("msg") or item.get("type") or "invalid")
    return f"{'.'.join(loc)}: {msg}" if loc else msg


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def metadata_matches(run_metadata: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """True when every key of `wanted` is in the run's metadata with the same value.

    Empty `wanted` matches nothing: it cannot identify a request."""
    if not run_metadata or not wanted:
        return False
    return all(k in run_metadata and run_metadata[k] == v for k, v in wanted.items())


class SlidingWindowLimiter:
    """At most `limit` acquisitions in any `window` seconds; waits for a free slot."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until an acquisition would not wait (0 when one is free now)."""
        now = time.monotonic()
        live = [t for t in self._times if now - t < self.window]
        if len(live) < self.limit:
            return 0.0
        return live[len(live) - self.limit] + self.window - now

    async def acquire(self) -> None:
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                await asyncio.sleep(self._times[0] + self.window - now)


class CodegenClient:
    """Codegen's agent API for one organization, over httpx with tenacity retries.

    One instance per organization per process: the create limiter lives here."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        org_id: int,
        http: httpx.AsyncClient | None = None,
        max_attempts: int = 5,
        max_retry_seconds: float = 120,
        creates_per_minute: int = 10,
        window_seconds: float = 60.0,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        timeout: float = 30.0,
    ) -> None:
        self._base = api_url.rstrip("/") + f"/v1/organizations/{int(org_id)}"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self.org_id = int(org_id)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0))
        self._max_attempts = max(1, max_attempts)
        self._max_retry_seconds = max_retry_seconds
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._create_limiter = SlidingWindowLimiter(creates_per_minute, window_seconds)
        self._repo_cache: cachetools.TTLCache[str, dict[str, int]] = cachetools.TTLCache(
            maxsize=1, ttl=REPO_CACHE_SECONDS
        )
        self._repo_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CodegenClient(org_id={self.org_id}, url={self._base!r})"

    # ------------------------------------------------------------------ public calls

    def create_delay(self) -> float:
        """How long a create would wait for the client-side limit: a caller with
        better things to do (a worker slot) can come back later instead."""
        return self._create_limiter.delay()

    async def create_run(
        self, prompt: str, *, metadata: dict, repo_id: int | None = None
    ) -> AgentRun:
        """Start an agent run. `metadata` is stored with the run and identifies the
        request: if an answer is lost, a run with the same metadata is returned rather
        than a second one made."""
        body: dict[str, Any] = {"prompt": prompt, "metadata": metadata}
        if repo_id is not None:
            body["repo_id"] = repo_id
        await self._create_limiter.acquire()
        first = True
        lost_answer = False
        async for attempt in self._retrying():
            with attempt:
                if lost_answer and metadata:
                    existing = await self._find_run_once(metadata, pages=1)
                    if existing is not None:
                        log.info("Codegen create: found run %s from a lost answer", existing.id)
                        return existing
                if not first:
                    await self._create_limiter.acquire()
                first = False
                try:
                    data = await self._send("POST", "/agent/run", json=body)
                except CodegenError as exc:
                    lost_answer = lost_answer or exc.ambiguous
                    raise
                return AgentRun.from_api(data)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def get_run(self, run_id: int) -> AgentRun:
        """Current status, result and pull requests of a run."""
        data = await self._call("GET", f"/agent/run/{int(run_id)}")
        return AgentRun.from_api(data)

    async def resume_run(self, run_id: int, prompt: str) -> AgentRun:
        """Continue a paused or finished run with follow-up instructions.

        Not idempotent: a request Codegen may have carried out (its answer lost to
        a timeout or a 5xx) is not sent again here, since the agent would do the
        work twice; the error says it is `ambiguous`, and the caller looks at the
        run before sending again. A refusal before acting (429) is retried."""
        data = await self._call(
            "POST",
            "/agent/run/resume",
            json={"agent_run_id": int(run_id), "prompt": prompt},
            retry_ambiguous=False,
        )
        return AgentRun.from_api(data)

    async def ban_run(self, run_id: int) -> None:
        """Stop Codegen's agents on the run's pull request and keep its own CI
        check-suite fixes off that PR (`POST .../agent/run/ban`). Idempotent, so a
        retry after a lost answer is harmless. The answer's body is not documented
        (an empty schema) and is not read."""
        await self._call("POST", "/agent/run/ban", json={"agent_run_id": int(run_id)})

    async def unban_run(self, run_id: int) -> None:
        """Undo `ban_run`: Codegen may act on the run's pull request again."""
        await self._call("POST", "/agent/run/unban", json={"agent_run_id": int(run_id)})

    async def find_run(self, metadata: dict, *, pages: int = FIND_RUN_PAGES) -> AgentRun | None:
        """The newest run whose metadata contains `metadata` (among the newest
        `pages` x 100 runs), e.g. to recover a run whose create answer was lost."""
        found: AgentRun | None = None
        async for attempt in self._retrying():
            with attempt:
                found = await self._find_run_once(metadata, pages=pages)
        return found

    async def repo_id(self, full_name: str) -> int | None:
        """Codegen's id for a GitHub `owner/name`, or None if the org lacks the repo.

        The whole org's repo list is fetched (all pages) and cached for 10 minutes, so
        a burst of tasks costs one listing."""
        key = full_name.strip().lower()
        repos = self._repo_cache.get("repos")
        if repos is None:
            async with self._repo_lock:
                repos = self._repo_cache.get("repos")
                if repos is None:
                    repos = await self._list_repos()
                    self._repo_cache["repos"] = repos
        return repos.get(key)

    async def aclose(self) -> None:
        """Close the HTTP client if this instance made it."""
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------------ internals

    async def _list_repos(self) -> dict[str, int]:
        repos: dict[str, int] = {}
        skip = 0
        while True:
            page = await self._call("GET", "/repos", params={"skip": skip, "limit": LIST_LIMIT})
            items = page.get("items") or []
            for repo in items:
                if repo.get("full_name") and repo.get("id") is not None:
                    repos[str(repo["full_name"]).lower()] = int(repo["id"])
            skip += len(items)
            total = page.get("total")
            if not items or len(items) < LIST_LIMIT or (isinstance(total, int) and skip >= total):
                return repos

    async def _find_run_once(self, metadata: Mapping[str, Any], *, pages: int) -> AgentRun | None:
        for number in range(pages):
            page = await self._send(
                "GET", "/agent/runs", params={"skip": number * LIST_LIMIT, "limit": LIST_LIMIT}
            )
            items = page.get("items") or []
            for item in items:
                if metadata_matches(item.get("metadata"), metadata):
                    return AgentRun.from_api(item)
            if len(items) < LIST_LIMIT:
                break
        return None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_ambiguous: bool = True,
    ) -> Any:
        """One API call with the retry policy (`retry_ambiguous=False`: a request
        that may have been carried out is not sent again)."""
        async for attempt in self._retrying(retry_ambiguous):
            with attempt:
                return await self._send(method, path, json=json, params=params)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _retrying(self, retry_ambiguous: bool = True) -> AsyncRetrying:
        def again(exc: BaseException) -> bool:
            if not isinstance(exc, CodegenError) or not exc.retryable:
                return False
            return retry_ambiguous or not exc.ambiguous

        return AsyncRetrying(
            retry=retry_if_exception(again),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts)
            | stop_before_delay(self._max_retry_seconds),
            reraise=True,
            sleep=asyncio.sleep,
        )

    def _wait(self, state: RetryCallState) -> float:
        """`Retry-After` when given, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, CodegenError) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """One HTTP request; any failure becomes a CodegenError saying if it may be retried."""
        try:
            response = await self._http.request(
                method, self._base + path, json=json, params=params, headers=self._headers
            )
        except httpx.TimeoutException as exc:
            log.info("Codegen %s %s timed out (%s)", method, path, type(exc).__name__)
            raise CodegenError(
                "Codegen did not answer in time",
                retryable=True,
                ambiguous=not isinstance(exc, _NOT_SENT),
            ) from None
        except httpx.TransportError as exc:
            log.info("Codegen %s %s failed: %s", method, path, type(exc).__name__)
            raise CodegenError(
                "Codegen could not be reached",
                retryable=True,
                ambiguous=not isinstance(exc, _NOT_SENT),
            ) from None
        status = response.status_code
        if status < 400:
            try:
                return response.json()
            except ValueError:
                log.warning("Codegen %s %s answered %s with a non-JSON body", method, path, status)
                raise CodegenError(
                    "Codegen answered with an unreadable body", status=status, retryable=True
                ) from None
        message = error_message(status, response.content, response.reason_phrase)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        retryable = status == 429 or (status >= 500 and status not in (501, 505))
        if status in _FINAL_STATUSES:
            retryable = False
        log.info(
            "Codegen %s %s answered %s%s",
            method,
            path,
            status,
            f" (retry after {retry_after:g}s)" if retry_after is not None else "",
        )
        raise CodegenError(
            message,
            status=status,
            retryable=retryable,
            retry_after=retry_after if status == 429 or status >= 500 else None,
            ambiguous=status >= 500,
        )
