"""Client for Codegen's agent API (create, follow, resume and ban agent runs).

Contract: Codegen's published OpenAPI description (pinned for the tests in
tests/data/codegen-openapi-subset.json). Every call carries `Authorization: Bearer
<key>`; the org id is part of each path.

Failures are sorted by what helps the user (the policy is app/codegen/pacing.py,
the API's vocabulary app/codegen/runs.py): rate limits (429) wait -- `Retry-After`
when the API sends it -- and retry; 5xx, timeouts and connection errors retry with
exponential backoff and jitter, bounded in attempts and in total time; 401/402/403/
404/422 are answers a retry cannot change and raise `CodegenError` at once, carrying the
API's own message so it can be shown to the user. Creates are also paced on our side
(a sliding 60-second window, 10 by default, as the API allows) so that a burst of tasks
waits its turn instead of collecting 429s: in this process alone by default, or shared
by every process on the database when the service passes `create_limiter`
(app/limits/creates.py).

A create whose answer was lost (5xx or a broken connection after the request was
sent) may still have made a run. Before trying again, the client looks for a run
with the same metadata among the newest runs and returns it instead of making a
second one: the caller's metadata is the request's identity.

The API key is sent only in the Authorization header and never logged or put in an
exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import cachetools
import httpx

from app.codegen import pacing
from app.codegen.pacing import CreateLimiter, RetryPolicy, SlidingWindowLimiter, create_place
from app.codegen.runs import (
    AgentRun,
    CodegenError,
    CreateDeferred,
    PullRequestRef,
    error_message,
    metadata_matches,
    run_state,
)
from app.observability import metrics

# The API's vocabulary, importable from the client as before.
__all__ = [
    "AgentRun",
    "CodegenClient",
    "CodegenError",
    "CreateDeferred",
    "PullRequestRef",
    "SlidingWindowLimiter",
    "error_message",
    "metadata_matches",
    "run_state",
]

log = logging.getLogger(__name__)

USER_AGENT = "codegen-bot"
LIST_LIMIT = 100  # the API's maximum page size for runs and repos
REPO_CACHE_SECONDS = 600.0
FIND_RUN_PAGES = 2  # newest runs scanned for a lost create (200 runs)

# Transport errors raised before the request could have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class CodegenClient:
    """Codegen's agent API for one organization, over httpx with tenacity retries.

    One instance per organization per process. The create limiter is this
    process's own unless `create_limiter` (one shared by every process) is given;
    `creates_per_minute` and `window_seconds` size the process's own."""

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
        create_limiter: CreateLimiter | None = None,
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
        self._policy = RetryPolicy(
            max(1, max_attempts), max_retry_seconds, backoff_base, backoff_max
        )
        self._create_limiter: CreateLimiter = create_limiter or SlidingWindowLimiter(
            creates_per_minute, window_seconds
        )
        self._repo_cache: cachetools.TTLCache[str, dict[str, int]] = cachetools.TTLCache(
            maxsize=1, ttl=REPO_CACHE_SECONDS
        )
        self._repo_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CodegenClient(org_id={self.org_id}, url={self._base!r})"

    # ------------------------------------------------------------------ public calls

    async def create_delay(self) -> float:
        """How long a create would wait for the client-side limit (shared by every
        process when the limiter is): a caller with better things to do (a worker
        slot) can come back later instead."""
        return await self._create_limiter.wait_seconds()

    async def create_run(
        self,
        prompt: str,
        *,
        metadata: dict,
        repo_id: int | None = None,
        max_wait: float | None = None,
    ) -> AgentRun:
        """Start an agent run. `metadata` is stored with the run and identifies the
        request: if an answer is lost, a run with the same metadata is returned rather
        than a second one made. `max_wait`: the longest to wait for a place in the
        create limit before giving up with `CreateDeferred` (None: as long as it takes)."""
        body: dict[str, Any] = {"prompt": prompt, "metadata": metadata}
        if repo_id is not None:
            body["repo_id"] = repo_id
        first = True
        lost_answer = False
        async for attempt in self._policy.retrying():
            with attempt:
                if lost_answer and metadata:
                    existing = await self._find_run_once(metadata, pages=1)
                    if existing is not None:
                        log.info("Codegen create: found run %s from a lost answer", existing.id)
                        return existing
                async with self._create_place(max_wait, sent=not first):
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
        async for attempt in self._policy.retrying():
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

    @contextlib.asynccontextmanager
    async def _create_place(self, max_wait: float | None, *, sent: bool) -> AsyncIterator[None]:
        """A place in the create window for one request, settled when it ends;
        `CreateDeferred` when none is free within `max_wait`."""
        started = time.monotonic()
        async with create_place(self._create_limiter, max_wait) as wait:
            if wait > 0:
                raise CreateDeferred(wait, sent=sent)
            metrics.LIMIT_WAIT_SECONDS.labels(limit="codegen_create").observe(
                time.monotonic() - started
            )
            yield

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
        async for attempt in self._policy.retrying(retry_ambiguous):
            with attempt:
                return await self._send(method, path, json=json, params=params)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

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
        retry_after = pacing.retry_after(response.headers.get("Retry-After"))
        retryable = pacing.retryable_status(status)
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
