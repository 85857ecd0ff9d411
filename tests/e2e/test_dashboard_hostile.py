"""The dashboard against a visitor's hostile input: cookies, a state or a
CSRF token that no page of ours produced (not ASCII, not UTF-8). Each is a
visitor who is not signed in or a form that is refused, never a 500."""

from __future__ import annotations

import asyncio
import dataclasses
from urllib.parse import urlsplit

import pytest

from app.dashboard.web import SECURITY_HEADERS
from tests.support.bot import running_bot
from tests.support.dashboard import (
    ADMIN_TOKEN,
    browser_client,
    csrf_of,
    passed_task,
    sign_in_with_github,
    sign_in_with_token,
)
from tests.support.flow import REPO


@pytest.fixture
def dash_settings(flow_settings, fake_github):
    return dataclasses.replace(
        flow_settings,
        github_web_url=fake_github.url,
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
        admin_token=ADMIN_TOKEN,
    )


async def _status_with_cookie(url: str, path: str, cookie: bytes) -> tuple[int, bytes]:
    """A GET with a Cookie header of raw bytes (no client library sends these)."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
            + b"Cookie: "
            + cookie
            + b"\r\n\r\n"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    return int(answer.split()[1]), answer


async def test_a_forged_cookie_that_is_not_ascii_is_no_session(dash_settings, seeded):
    async with running_bot(dash_settings, worker=False) as bot:
        for cookie in (
            b"codegen_bot_session=\xff.abc",
            "codegen_bot_session=abc.\u00e9".encode(),
            "codegen_bot_session=\u00e9.abc".encode(),
        ):
            status, answer = await _status_with_cookie(bot.url, "/dashboard", cookie)
            assert status == 303 and b"Location: /login" in answer, answer[:300]
            status, answer = await _status_with_cookie(bot.url, "/dashboard/tasks.json", cookie)
            assert status == 401, answer[:300]


async def test_a_state_or_csrf_token_that_is_not_ascii_is_refused(dash_settings, seeded):
    async with running_bot(dash_settings, worker=False) as bot, browser_client() as client:
        async with client.get(bot.url + "/login") as r:  # leaves a signed state cookie
            assert r.status == 200
        async with client.get(bot.url + "/login/callback?code=abc&state=%C3%A9") as r:
            assert r.status == 403, await r.text()
        async with client.post(
            bot.url + "/login/token", data={"token": ADMIN_TOKEN, "state": "\u00e9"}
        ) as r:
            assert r.status == 403, await r.text()
        status, _url, page = await sign_in_with_token(client, bot.url)
        assert status == 200
        assert csrf_of(page, "/logout")
        async with client.post(bot.url + "/logout", data={"csrf": "\u00e9"}) as r:
            assert r.status == 403, await r.text()
            assert "Content-Security-Policy" in r.headers


async def test_list_filters_the_database_or_a_date_cannot_take_are_dropped(dash_settings, seeded):
    """A filter that is not what the field takes is dropped (filters.parse's
    promise): a NUL in the search, the last day there is, a digit int() refuses."""
    async with running_bot(dash_settings, worker=False) as bot, browser_client() as client:
        status, _url, _page = await sign_in_with_token(client, bot.url)
        assert status == 200
        for query in ("q=a%00b", "q=a%FFb", "until=9999-12-31", "before=%C2%B2"):
            for path in ("/dashboard", "/dashboard/tasks.json"):
                async with client.get(f"{bot.url}{path}?{query}") as r:
                    assert r.status == 200, (path, query, await r.text())


async def test_a_page_that_fails_still_sends_the_security_headers(
    dash_settings, seeded, fake_codegen, example_payload
):
    """GitHub failing under a button (its permission check) is our 500, and
    an error page is a page: the CSP and the rest go with it."""
    async with running_bot(dash_settings) as bot, browser_client() as writer:
        task = await passed_task(bot, seeded, fake_codegen, example_payload)
        seeded.set_permission(REPO, "second-writer", "write")  # no permission cached yet
        await sign_in_with_github(writer, bot.url, seeded, "second-writer")
        action = f"/dashboard/tasks/{task['id']}/cancel"
        async with writer.get(f"{bot.url}/dashboard/tasks/{task['id']}") as r:
            page = await r.text()
        seeded.fail_next("GET", r"/collaborators/.*/permission", 500, times=20)
        async with writer.post(bot.url + action, data={"csrf": csrf_of(page, action)}) as r:
            assert r.status == 500, await r.text()
            for name, value in SECURITY_HEADERS.items():
                assert r.headers.get(name) == value, name
