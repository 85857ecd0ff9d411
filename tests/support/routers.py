"""Dispatch one webhook event to one handler module's router, bedevere-style: a
recording double of our GitHub client instead of GitHub, and a handler context
whose runtime has no database (touching it fails the test), so a router test
shows what a handler decides before it reaches a service.

    gh = RecordingGitHub()
    await dispatch(issues.router, "issues", payload, gh)
    assert gh.writes == []
"""

from __future__ import annotations

import http
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gidgethub import BadRequest, sansio
from gidgethub.routing import Router

from app.config import Settings
from app.github.caches import ReadCaches
from app.runtime import HandlerContext, Runtime

INSTALLATION_ID = 4242


@dataclass
class Call:
    """One request a handler made through the client."""

    method: str
    url: str
    data: Any = None


@dataclass
class RecordingGitHub:
    """Stands in for `app.github.client.GitHubClient`: records every call and
    answers from `answers` (url -> JSON); a GET it has no answer for is GitHub's
    404, a write it has no answer for gets `{}`."""

    answers: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    caches: ReadCaches = field(default_factory=ReadCaches)

    @property
    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def _answer(self, method: str, url: str) -> Any:
        if url in self.answers:
            return self.answers[url]
        if method == "GET":
            raise BadRequest(http.HTTPStatus.NOT_FOUND, "Not Found")
        return {}

    async def getitem(self, url: str, url_vars: Any = None, **kwargs: Any) -> Any:
        self.calls.append(Call("GET", url))
        return self._answer("GET", url)

    async def getiter(self, url: str, url_vars: Any = None, **kwargs: Any) -> Any:
        self.calls.append(Call("GET", url))
        for item in self._answer("GET", url):
            yield item

    async def post(self, url: str, url_vars: Any = None, *, data: Any = None, **kw: Any) -> Any:
        self.calls.append(Call("POST", url, data))
        return self._answer("POST", url)

    async def patch(self, url: str, url_vars: Any = None, *, data: Any = None, **kw: Any) -> Any:
        self.calls.append(Call("PATCH", url, data))
        return self._answer("PATCH", url)

    async def put(self, url: str, url_vars: Any = None, *, data: Any = None, **kw: Any) -> Any:
        self.calls.append(Call("PUT", url, data))
        return self._answer("PUT", url)

    async def delete(self, url: str, url_vars: Any = None, *, data: Any = None, **kw: Any) -> Any:
        self.calls.append(Call("DELETE", url, data))
        return self._answer("DELETE", url)


class Untouchable:
    """A part of the runtime a router test must not reach (the database pool, the
    App, Codegen): any use of it fails the test, naming the part."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the handler used the {self._name} ({attribute})")


def handler_context(settings: Settings | None = None) -> HandlerContext:
    """A context with settings and nothing else: no database, no App, no Codegen."""
    runtime = Runtime(
        settings=settings or Settings(github_webhook_secret="unused"),
        pool=Untouchable("database"),  # type: ignore[arg-type]
        dsn="",
        github=Untouchable("GitHub App"),  # type: ignore[arg-type]
        codegen=Untouchable("Codegen client"),  # type: ignore[arg-type]
        codegen_simulated=False,
    )
    return HandlerContext(
        runtime=runtime,
        delivery_id=str(uuid.uuid4()),
        installation_id=INSTALLATION_ID,
        received_at=datetime.now(UTC),
    )


def event(name: str, payload: dict[str, Any]) -> sansio.Event:
    return sansio.Event(payload, event=name, delivery_id=str(uuid.uuid4()))


async def dispatch(
    router: Router, name: str, payload: dict[str, Any], gh: RecordingGitHub | None = None
) -> RecordingGitHub:
    """Hand one event to `router` as the delivery job does; the client it used."""
    gh = gh if gh is not None else RecordingGitHub()
    await router.dispatch(event(name, payload), gh, handler_context())
    return gh


def routed(router: Router, name: str, action: str | None = None) -> bool:
    """Whether `router` has a handler for this event (and action)."""
    data = {} if action is None else {"action": action}
    return bool(router.fetch(event(name, data)))
