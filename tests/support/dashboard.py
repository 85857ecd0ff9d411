"""Signing in to the dashboard as a browser would, for the dashboard tests: the
GitHub fake's OAuth pages with a cookie-keeping client, or the operator key."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import aiohttp

from tests.support.flow import QUICK, REPO, wait_until
from tests.support.validation import (
    CLEAN_FILES,
    ci_run,
    open_pull,
    start_task_with_pr,
    validation_row,
)

ADMIN_TOKEN = "operator-key-for-the-dashboard-tests"


def browser_client() -> aiohttp.ClientSession:
    """Keeps cookies like a browser (also for 127.0.0.1)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in_with_github(client: aiohttp.ClientSession, bot_url: str, fake: Any, login: str):
    """Through GitHub's (the fake's) authorize page as `login`; the final response."""
    fake.web_user = login
    async with client.get(bot_url + "/login/github") as page:
        assert page.status == 200, await page.text()
        text = await page.text()
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', text))
    async with client.post(
        f"{fake.url}/login/oauth/fake-authorize", data={k: unescape(v) for k, v in fields.items()}
    ) as response:
        return response.status, str(response.url), await response.text()


async def sign_in_with_token(client: aiohttp.ClientSession, bot_url: str, token: str = ADMIN_TOKEN):
    async with client.get(bot_url + "/login") as page:
        state = re.search(r'name="state" value="([^"]*)"', await page.text()).group(1)  # type: ignore[union-attr]
    async with client.post(bot_url + "/login/token", data={"token": token, "state": state}) as r:
        return r.status, str(r.url), await r.text()


def csrf_of(page: str, action: str) -> str:
    """The CSRF token of the form posting to `action` on a page."""
    match = re.search(
        rf'action="{re.escape(action)}"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"',
        page,
    )
    assert match, f"no form for {action}"
    return match.group(1)


async def passed_task(bot, fake, codegen, example_payload, config: str = QUICK) -> dict:
    """A task whose agent run opened a PR that passed validation (the real flow)."""
    fake.set_file(REPO, ".github/codegen.yml", config)
    pull = open_pull(fake, CLEAN_FILES)
    ci_run(fake, pull["head"]["sha"], "tests", "success")
    await start_task_with_pr(bot, fake, codegen, example_payload)
    await wait_until(lambda: validation_row(bot, pull["head"]["sha"]))
    await bot.wait_idle()
    row = await bot.runtime.pool.fetchrow("SELECT * FROM tasks ORDER BY id DESC LIMIT 1")
    assert row["status"] == "passed"
    return dict(row)
