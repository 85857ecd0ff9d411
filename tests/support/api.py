"""Calling the bot's REST API in tests: the keys the API settings hold, a
request helper that returns (status, JSON, headers), and a task's fields."""

from __future__ import annotations

from typing import Any

from app.web.server import make_web_app
from tests.support.flow import REPO

WRITE_KEY = "test-write-key-0123456789abcdef"
READ_KEY = "test-read-key-0123456789abcdef"
_UNSET: Any = object()


async def call(
    bot: Any,
    method: str,
    path: str,
    *,
    key: str | None = _UNSET,
    json: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One request; `key` defaults to the write key (None: no key at all)."""
    sent = dict(headers or {})
    if key is _UNSET:
        key = WRITE_KEY
    if key is not None:
        sent["X-API-Key"] = key
    kwargs: dict[str, Any] = {"headers": sent}
    if json is not None:
        kwargs["json"] = json
    if data is not None:
        kwargs["data"] = data
    async with bot.session.request(method, f"{bot.url}{path}", **kwargs) as response:
        body = await response.json(content_type=None) if await response.read() else None
        return response.status, body, dict(response.headers)


async def create_pr(bot: Any, task_id: int, **body: Any) -> dict[str, Any]:
    """Start the task's attempt (`POST /api/v1/codegen/create-pr`); 202 expected."""
    status, started, _ = await call(
        bot, "POST", "/api/v1/codegen/create-pr", json={"task_id": task_id, **body}
    )
    assert status == 202, started
    return started


def task_body(**change: Any) -> dict[str, Any]:
    body = {
        "title": "Export the table as JSON",
        "description": "The export menu should also offer JSON of the visible rows.",
        "requirements": ["Add an 'Export JSON' item to the export menu"],
        "acceptance_criteria": ["Choosing it downloads `widgets.json`"],
        "priority": "high",
        "estimated_complexity": "low",
        "repository": REPO,
    }
    body.update(change)
    return {k: v for k, v in body.items() if v is not None}


def web_app_routes(bot: Any) -> list[Any]:
    """The routes the bot's web application serves (built as running_bot builds it)."""
    return list(make_web_app(bot.runtime).router.routes())
