"""Scripted answers: make the next matching requests fail, wait, or hit a rate limit."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.fakes.github.contract import (
    PRIMARY_RATE_LIMIT_DOCS,
)
from tests.fakes.github.routing import (
    DROP,
    LOSE,
    _Script,
)


class ScriptsMixin:
    """Scripted failures and delays (the state lives on `FakeGitHub`)."""

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

    def drop_next(self, method: str, path_regex: str, *, times: int = 1) -> None:
        """Close the connection of the next matching requests without an answer
        (checked before routing: nothing is done), as a connection lost mid-request."""
        self.fail_next(method, path_regex, DROP, times=times)

    def lose_answer_next(self, method: str, path_regex: str, *, times: int = 1) -> None:
        """Do the next matching requests, then answer 502 (a proxy that timed out
        after GitHub acted): what was made exists, the client does not know it."""
        self.fail_next(method, path_regex, LOSE, times=times)

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
