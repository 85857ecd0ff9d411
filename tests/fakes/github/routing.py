"""Request plumbing: a route, what its handler gets (`Ctx`), the record of a request,
GitHub's error shape, and the small records behind tokens, rate-limit buckets and
scripted failures.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.github.contract import _DEFAULT_MESSAGES, DOCS

if TYPE_CHECKING:
    from tests.fakes.github.server import FakeGitHub


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


DROP = 0  # a script's status: close the connection instead of answering
LOSE = -1  # a script's status: do the request, then answer 502 (the answer lost)


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
