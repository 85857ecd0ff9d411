"""The REST API is imported on its first request (app/api/mount.py). An import
that fails answers as every other API failure does, by the published contract
(a JSON error body, no internals), and is tried again by the next request
rather than leaving the API broken. Real server and database; the failure is
an import the interpreter refuses."""

from __future__ import annotations

import dataclasses
import sys

import app.api
from tests.support.api import READ_KEY, call
from tests.support.bot import running_bot


async def test_an_api_that_cannot_be_imported_answers_500_as_the_api_does(
    flow_settings, monkeypatch
):
    settings = dataclasses.replace(flow_settings, api_keys=(f"dashboard:read:{READ_KEY}",))
    # The next `from app.api import docs` raises ImportError.
    monkeypatch.delattr(app.api, "docs", raising=False)
    monkeypatch.setitem(sys.modules, "app.api.docs", None)
    async with running_bot(settings, worker=False) as bot:
        status, body, headers = await call(bot, "GET", "/api/v1/tasks", key=READ_KEY)
        assert status == 500
        assert headers["Content-Type"].startswith("application/json")
        assert body == {
            "error": "internal",
            "message": "the server could not complete the request",
            "details": [{"field": None, "message": "the server could not complete the request"}],
        }
        assert headers["X-Content-Type-Options"] == "nosniff"

        monkeypatch.undo()  # the module can be imported again
        status, body, _ = await call(bot, "GET", "/api/v1/tasks", key=READ_KEY)
        assert status == 200, body
