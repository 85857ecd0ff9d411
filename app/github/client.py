"""GitHub App authentication and the REST client every handler uses.

One aiohttp session for the process; an App JWT minted with pyjwt; one cached
installation token per installation, refreshed before it expires; retries for
5xx and rate limits (bounded in count and time); writes to one installation
paced one at a time, spaced by the write interval: in this process alone
(`LocalWritePacing`, the default) or across every process on the database
(app/limits/writes.py, which the service wires in).

API economy: every GET made with an installation token is kept with its ETag
(app/github/caches.py) and asked again with `If-None-Match`; GitHub's 304 (no
body, not counted against the rate limit) serves the kept answer. GitHub's
ETags depend on the token too, so one token per installation is kept for as
long as it is good: minted once per hour at most, and forgotten early only when
GitHub refuses it (401): the refused request is then made once more with a new
one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp
import cachetools
import gidgethub
import jwt
from cryptography.hazmat.primitives import serialization
from gidgethub import aiohttp as gh_aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
)

from app.github import urls
from app.github.caches import ReadCaches, credential_fingerprint
from app.observability import metrics

log = logging.getLogger(__name__)

USER_AGENT = "codegen-bot"
JWT_CLOCK_SKEW = 60
JWT_LIFETIME = 9 * 60  # GitHub allows at most 10 minutes
# An App JWT is used again for this long: each new one is an RSA signature
# (~2 ms on the event loop), and every installation's first token needs one.
JWT_REUSE_SECONDS = 60
# A token (good for an hour) is used until this long before it expires: long
# enough for a request and its quick retries, short enough that a busy
# installation mints once in 59 minutes, not 55.
TOKEN_REFRESH_MARGIN = 60
MIN_TOKEN_KEEP = 60
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Failures a request is asked again after: any connection failure or timeout
# for a request that may safely be repeated; for a POST only a connection
# never made, refused or not made in time (the request cannot have reached
# GitHub; aiohttp raises ConnectionTimeoutError only while connecting).
_MAY_HAVE_ARRIVED = (aiohttp.ClientConnectionError, asyncio.TimeoutError)
_NEVER_ARRIVED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# POSTs that make nothing a second ask would make twice, asked again as a GET:
# GraphQL (as before); an installation token's mint (a second token is as
# good, the first stays valid; every job and API request waits on it); a
# reaction (GitHub answers 200 to one already there; a command's last one is
# made after its job recorded the commands done, so no later try makes it).
_REPEATABLE_POSTS = ("/graphql", "/access_tokens", "/reactions")
_FRESH_ON_304 = frozenset({"etag", "link"})  # and x-ratelimit-*: a 304's, not the kept

Response = tuple[int, Mapping[str, str], bytes]


class GitHubNotConfigured(Exception):
    """The App id / private key are not set, so nothing can be asked of GitHub."""


def make_app_jwt(app_id: int, private_key: Any, now: float | None = None) -> str:
    """`private_key`: the PEM text, or the key loaded from it (`load_signing_key`)."""
    issued = int(now if now is not None else time.time()) - JWT_CLOCK_SKEW
    claims = {"iat": issued, "exp": issued + JWT_LIFETIME, "iss": str(app_id)}
    return jwt.encode(claims, private_key, algorithm="RS256")


def load_signing_key(private_key: str) -> Any:
    """The App's PEM key loaded once: loading checks the RSA key (~30 ms of CPU
    on the event loop), which every JWT would otherwise do again."""
    return serialization.load_pem_private_key(private_key.encode(), password=None)


def retry_delay(status: int, headers: Mapping[str, str], body: bytes, now: float) -> float | None:
    """Seconds to wait before retrying an answer, or None when it must not be retried.

    Follows GitHub's guidance: `retry-after` first; then an exhausted primary
    limit waits for `x-ratelimit-reset`; a secondary limit without either waits
    a minute."""
    if status < 400:
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None and status in (403, 429, 500, 502, 503, 504):
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
            except (TypeError, ValueError):
                return 60.0
    if status in (403, 429):
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - now) + 1.0
            except ValueError:
                return 60.0
        if status == 429 or b"secondary rate limit" in body.lower():
            return 60.0
        return None  # a real "forbidden"
    if status >= 500:
        return 0.0  # the retry policy adds exponential backoff
    return None


class WritePacing(Protocol):
    """Who may write to an installation now: one write at a time per
    installation, spaced by the write interval."""

    def turn(self, installation_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for the installation's turn; the write is made inside."""
        ...

    def backlog(self, installation_id: int) -> float:
        """Seconds before a write to the installation made now would start (an
        estimate, without I/O)."""
        ...

    async def aclose(self) -> None:
        """Let go of whatever the pacing holds (leases, connections)."""
        ...


class _Pacer:
    """Serialises writes to one installation with a minimum spacing."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lock = asyncio.Lock()
        self.last = 0.0
        self.queued = 0

    def backlog(self) -> float:
        """Seconds before a write made now would start, going by who is queued."""
        next_free = max(0.0, self.last + self.interval - time.monotonic())
        ahead = self.queued + (1 if self.lock.locked() else 0)
        return next_free + ahead * self.interval

    async def __aenter__(self) -> None:
        self.queued += 1
        try:
            await self.lock.acquire()
        finally:
            self.queued -= 1
        wait = self.last + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def __aexit__(self, *exc: object) -> None:
        self.last = time.monotonic()
        self.lock.release()


class LocalWritePacing:
    """Write pacing within this process only: enough for one process, and for
    tools and tests without a database."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pacers: dict[int, _Pacer] = {}

    def _pacer(self, installation_id: int) -> _Pacer:
        return self._pacers.setdefault(installation_id, _Pacer(self.interval))

    @contextlib.asynccontextmanager
    async def turn(self, installation_id: int) -> AsyncIterator[None]:
        started = time.monotonic()
        async with self._pacer(installation_id):
            metrics.LIMIT_WAIT_SECONDS.labels(limit="github_write").observe(
                time.monotonic() - started
            )
            yield

    def backlog(self, installation_id: int) -> float:
        return self._pacer(installation_id).backlog()

    async def aclose(self) -> None:
        """Nothing is held outside the process."""


class GitHubClient(gh_aiohttp.GitHubAPI):
    """gidgethub's client with retries, pacing and metrics at the transport."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        oauth_token: str | None = None,
        installation_id: int | None = None,
        pacing: WritePacing | None = None,
        max_attempts: int = 5,
        max_retry_seconds: float = 300.0,
        max_single_wait: float = 120.0,
        caches: ReadCaches | None = None,
        on_refused: Callable[[int, str], Awaitable[str]] | None = None,
    ) -> None:
        """`on_refused(installation_id, authorization)`: told when GitHub answers
        401 to this client's installation token; gives the token to use instead."""
        super().__init__(session, USER_AGENT, oauth_token=oauth_token, base_url=base_url)
        self._on_refused = on_refused
        self.installation_id = installation_id
        # The App's caches, shared by every client it builds (a fresh set when alone).
        self.caches = caches if caches is not None else ReadCaches()
        self._pacing = pacing if installation_id is not None else None
        self._max_attempts = max_attempts
        self._max_retry_seconds = max_retry_seconds
        self._max_single_wait = max_single_wait

    def write_backlog(self) -> float:
        """How long a write would wait for this installation's turn (0 unpaced).
        A job with several writes ahead can give its worker slot back instead."""
        if self._pacing is None or self.installation_id is None:
            return 0.0
        return self._pacing.backlog(self.installation_id)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Response:
        response = await self._request_once(method, url, headers, body)
        if response[0] != 401 or self.installation_id is None or self._on_refused is None:
            return response
        # The token expired under a long job or a clock behind GitHub's, or was
        # revoked: asked once more with a new one, which this client keeps using.
        used = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        try:
            token = await self._on_refused(self.installation_id, used)
        except gidgethub.HTTPException:
            return response  # no new token (the installation is gone): GitHub's 401
        if used.endswith(f" {token}"):
            return response
        self.oauth_token = token
        renewed = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        renewed["authorization"] = f"token {token}"
        return await self._request_once(method, url, renewed, body)

    async def _request_once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        if method == "GET" and self.installation_id is not None:
            return await self._conditional_get(url, headers)
        if self._pacing is not None and method in _WRITE_METHODS:
            assert self.installation_id is not None
            async with self._pacing.turn(self.installation_id):
                return await self._with_retries(method, url, headers, body)
        return await self._with_retries(method, url, headers, body)

    async def _conditional_get(self, url: str, headers: Mapping[str, str]) -> Response:
        """A GET asked again with the ETag of its last answer; a 304 serves that
        answer (with the 304's rate-limit and Link headers). Kept per installation, URL and
        Accept, and only for the token it was read with."""
        assert self.installation_id is not None
        lowered = {k.lower(): v for k, v in headers.items()}
        cache = self.caches.conditional
        key = (self.installation_id, url, lowered.get("accept", ""))
        credential = credential_fingerprint(lowered.get("authorization", ""))
        kept = cache.get(key, credential)
        if kept is not None:
            lowered["if-none-match"] = kept.etag
        status, resp_headers, data = await self._with_retries("GET", url, lowered, b"")
        if status == 304 and kept is not None:
            cache.not_modified += 1
            served = kept.headers.copy()
            # The Link too: a list grown past this page leaves it (and its ETag) as
            # it was, but now names a next page.
            for name, value in resp_headers.items():
                if name.lower().startswith("x-ratelimit-") or name.lower() in _FRESH_ON_304:
                    served[name] = value
            return 200, served, kept.body
        if status == 200:
            cache.put(key, credential, resp_headers, data)
        return status, resp_headers, data

    def _wait(self, state: RetryCallState) -> float:
        backoff = min(30.0, 0.5 * 2 ** (state.attempt_number - 1))
        if state.outcome is not None and not state.outcome.failed:
            status, headers, body = state.outcome.result()
            delay = retry_delay(status, headers, body, time.time()) or 0.0
            if status >= 500 and delay == 0.0:
                delay = backoff
            return min(delay, self._max_single_wait)
        return backoff

    def _should_retry(self, response: Response) -> bool:
        status, headers, body = response
        delay = retry_delay(status, headers, body, time.time())
        return delay is not None and delay <= self._max_single_wait

    def _should_retry_post(self, response: Response) -> bool:
        """Only when GitHub said it did nothing: a rate limit, or "later"."""
        status, headers, _body = response
        said_later = status in (403, 429) or "retry-after" in headers
        return said_later and self._should_retry(response)

    async def _with_retries(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """A request asked again while GitHub's answer allows it. A POST that may
        have been done (a 5xx, a dropped connection, a timeout) is not: asked
        again, it would post a second comment, review or check run. Its error
        goes to the job, whose next try looks for what the first one made."""
        if method != "POST" or url.endswith(_REPEATABLE_POSTS):
            should, errors = self._should_retry, _MAY_HAVE_ARRIVED
        else:
            should, errors = self._should_retry_post, _NEVER_ARRIVED
        retrying = AsyncRetrying(
            retry=retry_if_result(should) | retry_if_exception_type(errors),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts) | stop_after_delay(self._max_retry_seconds),
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            sleep=asyncio.sleep,
        )
        return await retrying(self._send, method, url, headers, body)

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        try:
            status, resp_headers, data = await super()._request(method, url, headers, body)
        except (TimeoutError, aiohttp.ClientError):
            metrics.GITHUB_CALLS.labels(method=method, status="0").inc()
            raise
        metrics.GITHUB_CALLS.labels(method=method, status=str(status)).inc()
        remaining = resp_headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            metrics.GITHUB_RATE_REMAINING.labels(installation=str(self.installation_id or 0)).set(
                int(remaining)
            )
        if status >= 400:
            log.info("GitHub answered %s to %s %s", status, method, urls.loggable(url))
        return status, resp_headers, data


class GitHubApp:
    """The App's identity: JWT, installation tokens, and clients built on them."""

    def __init__(
        self,
        *,
        app_id: int | None,
        private_key: str | None,
        api_url: str,
        session: aiohttp.ClientSession,
        app_slug: str | None = None,
        write_interval: float = 1.0,
        retry_options: dict[str, Any] | None = None,
        caches: ReadCaches | None = None,
        write_pacing: WritePacing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`write_pacing`: who may write to an installation when; by default this
        process's own, spaced by `write_interval`. `clock`: epoch seconds, what
        token expiry is measured by."""
        self.app_id = app_id
        self.caches = caches if caches is not None else ReadCaches()
        self._private_key = private_key
        self._signing_key: Any = None  # loaded from `_private_key` at the first JWT
        self._jwt: tuple[int, float, str] | None = None  # (app id, made at, JWT)
        self.api_url = api_url.rstrip("/")
        self.session = session
        self._slug = app_slug
        self.write_pacing: WritePacing = write_pacing or LocalWritePacing(write_interval)
        self._retry_options = retry_options or {}
        self.clock = clock
        # installation -> (token, expiry in epoch seconds), kept until the margin
        # before expiry by `clock` (the wall clock; a test moves it by hours).
        self._tokens: cachetools.TLRUCache[int, tuple[str, float, float]] = cachetools.TLRUCache(
            maxsize=4096, ttu=self._token_ttu, timer=lambda: self.clock()
        )
        self._token_locks: dict[int, asyncio.Lock] = {}
        self.tokens_minted = 0

    @staticmethod
    def _token_ttu(_key: int, value: tuple[str, float, float], _now: float) -> float:
        # value: (token, expiry by GitHub, minted at by our clock). A clock far
        # ahead of GitHub's would see every new token expired: keep it a minute
        # anyway rather than mint at every call (GitHub's 401 drops it if bad).
        token_expiry, minted_at = value[1], value[2]
        return max(token_expiry - TOKEN_REFRESH_MARGIN, minted_at + MIN_TOKEN_KEEP)

    @property
    def configured(self) -> bool:
        return self.app_id is not None and self._private_key is not None

    def app_jwt(self) -> str:
        if not self.configured:
            raise GitHubNotConfigured(
                "GitHub App is not configured: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY"
            )
        assert self.app_id is not None and self._private_key is not None
        now = time.time()
        kept = self._jwt
        if kept is not None and kept[0] == self.app_id and 0 <= now - kept[1] < JWT_REUSE_SECONDS:
            return kept[2]
        if self._signing_key is None:
            self._signing_key = load_signing_key(self._private_key)
        token = make_app_jwt(self.app_id, self._signing_key, now)
        self._jwt = (self.app_id, now, token)
        return token

    def _client(self, token: str | None, installation_id: int | None) -> GitHubClient:
        return GitHubClient(
            self.session,
            base_url=self.api_url,
            oauth_token=token,
            installation_id=installation_id,
            caches=self.caches,
            pacing=self.write_pacing,
            on_refused=self._token_refused,
            **self._retry_options,
        )

    def app_client(self) -> GitHubClient:
        """A client for `/app/...` calls; pass `jwt=app.app_jwt()` to each."""
        return self._client(None, None)

    async def installation_token(self, installation_id: int) -> str:
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return cached[0]
        lock = self._token_locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is not None:
                return cached[0]
            answer = await self.app_client().post(
                f"/app/installations/{installation_id}/access_tokens",
                data=b"",
                jwt=self.app_jwt(),
            )
            expires = datetime.fromisoformat(answer["expires_at"].replace("Z", "+00:00"))
            self._tokens[installation_id] = (answer["token"], expires.timestamp(), self.clock())
            self.tokens_minted += 1
            return answer["token"]

    def reconfigure(self, *, app_id: int, private_key: str, app_slug: str | None) -> None:
        """Act as another App identity from now on (the manifest flow registered
        one while the server runs); tokens of the old identity are dropped."""
        self.app_id = app_id
        self._private_key = private_key
        self._signing_key = None
        self._jwt = None
        self._slug = app_slug
        self._tokens.clear()

    async def aclose(self) -> None:
        """Let go of the write pacing's leases and connection (the session is the
        caller's)."""
        await self.write_pacing.aclose()

    def forget_token(self, installation_id: int) -> None:
        self._tokens.pop(installation_id, None)
        self.caches.conditional.forget_installation(installation_id)

    async def _token_refused(self, installation_id: int, authorization: str) -> str:
        """GitHub answered 401 to a token: drop it if it is still the one kept
        (not if another request already replaced it), so one refusal costs at
        most one new token; the token to use now."""
        cached = self._tokens.get(installation_id)
        if cached is not None and authorization.endswith(f" {cached[0]}"):
            log.info(
                "GitHub refused installation %s's token; a new one will be minted", installation_id
            )
            self._tokens.pop(installation_id, None)
        return await self.installation_token(installation_id)

    async def for_installation(self, installation_id: int) -> GitHubClient:
        token = await self.installation_token(installation_id)
        return self._client(token, installation_id)

    async def slug(self) -> str:
        """The App's slug; its bot user is `<slug>[bot]`."""
        if self._slug is None:
            answer = await self.app_client().getitem("/app", jwt=self.app_jwt())
            self._slug = answer["slug"]
        return self._slug

    async def bot_login(self) -> str:
        """The login of the App's bot user, the author of everything the bot
        writes: the one place it is spelled."""
        return f"{await self.slug()}[bot]"
