"""The operators' dashboard end to end, in a real headless Chromium (Debian's,
driven by Playwright) against the bot's real server and worker, with tasks
made by the real flows through the GitHub and Codegen fakes: signing in with
GitHub (the fake's OAuth pages), the task list and a task page, the KPI
charts, live updates, and who sees what. Screenshots of each page are kept in
tests/artifacts/ (see tests/README.md)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect
from yarl import URL

from app.dashboard.sessions import SESSION_COOKIE
from tests.support.bot import running_bot
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.dashboard import (
    ADMIN_TOKEN,
    browser_client,
    csrf_of,
    passed_task,
    sign_in_with_github,
    sign_in_with_token,
)
from tests.support.events import pull_request_event
from tests.support.flow import (
    PR_NUMBER,
    QUICK,
    READER,
    REPO,
    WRITER,
    labeled_event,
    wait_until,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def dash_settings(flow_settings, fake_github):
    """A configured App whose user authorization is the fake's, and an operator key."""
    return dataclasses.replace(
        flow_settings,
        github_web_url=fake_github.url,
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
        admin_token=ADMIN_TOKEN,
    )


async def test_a_writer_signs_in_with_github_and_follows_a_task(
    dash_settings, seeded, fake_codegen, example_payload
):
    ARTIFACTS.mkdir(exist_ok=True)
    seeded.oauth_callback_urls = []  # set below, once the bot's address is known
    async with running_bot(dash_settings) as bot:
        seeded.oauth_callback_urls = [bot.url + "/login/callback"]
        task = await passed_task(bot, seeded, fake_codegen, example_payload)
        run = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
        seeded.web_user = WRITER
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                # What the page's own code or the CSP complains about (a missing
                # favicon's 404 is neither).
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if "Security Policy" in m.text else None,
                )
                await page.goto(bot.url + "/")
                await page.click("text=Sign in to the dashboard")
                await page.click("#github-login")
                await page.wait_for_selector("#authorize")  # GitHub's page
                assert await page.inner_text("#web-user") == WRITER
                await page.click("#authorize")
                await page.wait_for_selector("#tasks")
                assert page.url == bot.url + "/dashboard"
                await page.screenshot(path=ARTIFACTS / "dashboard-1-tasks.png", full_page=True)
                assert await page.inner_text(f"#task-{task['id']}-status") == "passed"
                row = page.locator(f"tr[data-task='{task['id']}']")
                assert (
                    await row.locator("a", has_text="#7").get_attribute("href")
                    == (task["issue_url"])
                )
                pr_href = await row.locator("a", has_text="PR").get_attribute("href")
                assert pr_href is not None and pr_href.endswith(f"/pull/{PR_NUMBER}")
                assert WRITER in await row.inner_text()

                # Live: a task started meanwhile appears at the top, no reload.
                seeded.add_issue(REPO, 9, title="Add a <b>dark</b> mode", user="reporter-rae")
                event = labeled_event(seeded, example_payload, WRITER)
                event["issue"] = dict(seeded.issues[REPO][9])
                await bot.deliver("issues", event)
                new_id = await wait_until(
                    lambda: bot.runtime.pool.fetchval("SELECT id FROM tasks WHERE issue_number = 9")
                )
                new_row = page.locator(f"tr[data-task='{new_id}']")
                await expect(new_row).to_be_visible(timeout=15_000)
                assert f"{new_id} · Add a <b>dark</b> mode" in await new_row.inner_text()
                assert await page.locator("#tasks b").count() == 0  # text, not markup
                first = page.locator("#tasks tbody tr").first
                assert await first.get_attribute("data-task") == str(new_id)
                await page.screenshot(path=ARTIFACTS / "dashboard-1b-live.png", full_page=True)

                # The task's page: steps, the run with Codegen's link, the validation.
                await row.locator(f"a[href='/dashboard/tasks/{task['id']}']").click()
                await page.wait_for_selector("#task-status")
                await page.screenshot(path=ARTIFACTS / "dashboard-2-task.png", full_page=True)
                assert await page.inner_text("#task-status") == "passed"
                assert await page.get_attribute("a.run-link", "href") == run["web_url"]
                assert await page.get_attribute("#issue-link", "href") == task["issue_url"]
                tracking = await page.get_attribute("#tracking-link", "href")
                assert tracking == f"{task['issue_url']}#issuecomment-{task['tracking_comment_id']}"
                assert await page.inner_text("#step-create_pr") == "completed"
                body = await page.inner_text("main")
                assert "success" in body and "Attempt 1" in body
                assert not await page.locator("details[open]").count()  # prompts collapsed

                # Live: the PR is merged while the page is open; it changes, no reload.
                marker = await page.evaluate("window.performance.timeOrigin")
                event = pull_request_event(
                    seeded, "closed", REPO, PR_NUMBER, sender=WRITER, merged=True
                )
                await bot.deliver("pull_request", event)
                await expect(page.locator("#task-status")).to_have_text("merged", timeout=15_000)
                assert await page.evaluate("window.performance.timeOrigin") == marker

                # KPIs: charts drawn with today's data.
                await page.goto(bot.url + "/dashboard/kpis")
                await page.screenshot(path=ARTIFACTS / "dashboard-3-kpis.png", full_page=True)
                assert await page.locator("#chart-prs circle.point").count() == 1
                assert await page.locator("#chart-runs circle.point").count() == 1
                prs = await page.inner_text("#chart-prs .latest")
                quality = await page.inner_text("#chart-prompt_quality .latest")
                # The health page is for operators only.
                response = await page.goto(bot.url + "/dashboard/health")
                assert response is not None and response.status == 403
                assert not errors, errors  # no CSP violation, no script error
            finally:
                await browser.close()
        stored_prs = await bot.runtime.pool.fetchval(
            "SELECT count(*) FROM tasks WHERE pr_opened_at::date = now()::date"
        )
        first_run_passed = await bot.runtime.pool.fetchval(
            """SELECT count(*) FROM tasks t WHERE attempt = 1 AND EXISTS (
                   SELECT 1 FROM pull_requests p JOIN validations v ON v.pull_request_id = p.id
                   WHERE p.task_id = t.id AND v.conclusion = 'success')"""
        )
    assert prs == str(stored_prs) == "1"
    assert quality == "100%" and first_run_passed == 1
    # GitHub received the bot's callback URL and gave its state back.
    [exchange] = seeded.oauth_exchanges
    assert exchange["params"]["redirect_uri"] == bot.url + "/login/callback"
    assert "access_token" in exchange["answer"]


async def test_a_reader_sees_nothing_of_the_repository(
    dash_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(dash_settings) as bot, browser_client() as reader:
        task = await passed_task(bot, seeded, fake_codegen, example_payload)
        status, url, page = await sign_in_with_github(reader, bot.url, seeded, READER)
        assert status == 200 and url == bot.url + "/dashboard"
        assert "No tasks" in page and REPO not in page and "Export the table" not in page
        async with reader.get(f"{bot.url}/dashboard/tasks/{task['id']}") as r:
            assert r.status == 404
        async with reader.get(f"{bot.url}/dashboard/tasks.json") as r:
            assert (await r.json())["ids"] == []
        async with reader.get(f"{bot.url}/dashboard/kpis") as r:
            assert 'class="point"' not in await r.text()  # no data of the repository
        # A button of that task, with this session's own token: still nothing.
        async with reader.get(bot.url + "/dashboard") as r:
            logout_token = csrf_of(await r.text(), "/logout")
        async with reader.post(
            f"{bot.url}/dashboard/tasks/{task['id']}/cancel", data={"csrf": logout_token}
        ) as r:
            assert r.status == 403  # the token is for another form
        # Signed out, the pages send to /login.
        async with reader.post(bot.url + "/logout", data={"csrf": logout_token}) as r:
            assert str(r.url) == bot.url + "/login"
        async with reader.get(bot.url + "/dashboard", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
        assert await bot.runtime.pool.fetchval("SELECT status FROM tasks") == "passed"


async def test_a_writer_cancels_from_the_task_page_with_the_commands_permission(
    dash_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(dash_settings) as bot, browser_client() as writer:
        task = await passed_task(bot, seeded, fake_codegen, example_payload)
        await sign_in_with_github(writer, bot.url, seeded, WRITER)
        action = f"/dashboard/tasks/{task['id']}/cancel"
        async with writer.get(f"{bot.url}/dashboard/tasks/{task['id']}") as r:
            page = await r.text()
            for header in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
                assert header in r.headers
            assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
        async with writer.post(bot.url + action, data={"csrf": "forged"}) as r:
            assert r.status == 403
        async with writer.post(bot.url + action, data={"csrf": csrf_of(page, action)}) as r:
            text = await r.text()
            assert r.status == 200 and f"cancelled task {task['id']}" in text
        await bot.wait_idle()
        assert await bot.runtime.pool.fetchval("SELECT status FROM tasks") == "cancelled"
        detail = await bot.runtime.pool.fetchval("SELECT status_detail FROM tasks")
        assert detail == f"cancelled by @{WRITER} on the dashboard"


async def test_the_fakes_oauth_refuses_a_replayed_code_and_a_wrong_state(
    dash_settings, seeded, fake_codegen
):
    async with running_bot(dash_settings, worker=False) as bot, browser_client() as client:
        seeded.web_user = WRITER
        async with client.get(bot.url + "/login/github", allow_redirects=False) as r:
            authorize = r.headers["Location"]
            assert (
                "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
            )
        state = re.search(r"state=([^&]+)", authorize).group(1)  # type: ignore[union-attr]
        async with client.get(authorize) as r:
            assert r.status == 200
        async with client.post(
            f"{seeded.url}/login/oauth/fake-authorize",
            data={
                "client_id": seeded.client_id,
                "redirect_uri": bot.url + "/login/callback",
                "state": "not-the-state",
            },
            allow_redirects=False,
        ) as r:
            forged = r.headers["Location"]
        async with client.get(forged) as r:
            assert r.status == 403 and "not started in this browser" in await r.text()
        async with client.post(
            f"{seeded.url}/login/oauth/fake-authorize",
            data={
                "client_id": seeded.client_id,
                "redirect_uri": bot.url + "/login/callback",
                "state": state,
            },
            allow_redirects=False,
        ) as r:
            good = r.headers["Location"]
        async with client.get(good, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/dashboard"
            assert "Secure" not in r.headers["Set-Cookie"]  # plain http here
        async with browser_client() as other:
            async with other.get(good) as r:  # the same code again, elsewhere
                assert r.status == 403
        assert seeded.oauth_exchanges[-1]["answer"].get("access_token")
        # Behind HTTPS the cookies are Secure.
        async with client.get(
            bot.url + "/login/github", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False
        ) as r:
            assert "Secure" in r.headers["Set-Cookie"]
            assert "redirect_uri=https%3A%2F%2F" in r.headers["Location"]


async def test_the_operator_key_opens_everything(dash_settings, seeded, fake_codegen):
    async with running_bot(dash_settings, worker=False) as bot, browser_client() as client:
        status, url, _ = await sign_in_with_token(client, bot.url, "wrong-key-wrong-key-wrong")
        assert status == 403
        status, url, page = await sign_in_with_token(client, bot.url)
        assert status == 200 and url == bot.url + "/dashboard" and "(operator)" in page
        async with client.get(bot.url + "/dashboard/health") as r:
            assert r.status == 200 and "Dead jobs" in await r.text()
        async with client.get(bot.url + "/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/dashboard"


async def test_operator_key_guesses_from_one_address_are_limited(dash_settings, seeded):
    """Past OPERATOR_KEY_TRIES tries in a window, an address is told to wait
    (429 with Retry-After), the right key included; another address is not."""
    from app.dashboard.signin import OPERATOR_KEY_TRIES

    settings = dataclasses.replace(dash_settings, api_client_address_header="X-Real-IP")
    async with running_bot(settings, worker=False) as bot, browser_client() as client:
        client.headers["X-Real-IP"] = "203.0.113.7"
        for _ in range(OPERATOR_KEY_TRIES):
            status, _, _ = await sign_in_with_token(client, bot.url, "wrong-key-wrong-key-wrong")
            assert status == 403
        async with client.get(bot.url + "/login") as page:
            state = re.search(r'name="state" value="([^"]*)"', await page.text()).group(1)
        async with client.post(
            bot.url + "/login/token", data={"token": ADMIN_TOKEN, "state": state}
        ) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert "Too many sign-ins" in await r.text()
        client.headers["X-Real-IP"] = "203.0.113.8"
        status, url, _ = await sign_in_with_token(client, bot.url)
        assert status == 200 and url == bot.url + "/dashboard"


async def test_signing_out_ends_the_session_in_every_browser(dash_settings, seeded):
    """A copy of the session cookie (another tab's jar, a stolen one) is refused
    once its session signs out, and stays refused; a new sign-in works."""
    async with (
        running_bot(dash_settings, worker=False) as bot,
        browser_client() as first,
        browser_client() as copy,
    ):
        status, url, page = await sign_in_with_token(first, bot.url)
        assert status == 200 and url == bot.url + "/dashboard"
        cookie = first.cookie_jar.filter_cookies(URL(bot.url))[SESSION_COOKIE].value
        copy.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
        async with copy.get(bot.url + "/dashboard", allow_redirects=False) as r:
            assert r.status == 200
        async with first.post(bot.url + "/logout", data={"csrf": csrf_of(page, "/logout")}) as r:
            assert str(r.url) == bot.url + "/login"
        for path in ("/dashboard", "/dashboard/health", "/"):
            async with copy.get(bot.url + path, allow_redirects=False) as r:
                assert r.status in (200, 303), path
                assert r.headers.get("Location") in (None, "/login"), path
                if r.status == 200:
                    assert "Dead jobs" not in await r.text()
        async with copy.get(bot.url + "/login", allow_redirects=False) as r:
            assert r.status == 200  # not sent on to the dashboard
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM dashboard_sign_outs") == 1
        status, url, _ = await sign_in_with_token(first, bot.url)
        assert status == 200 and url == bot.url + "/dashboard"


async def test_buttons_ask_the_repositorys_minimum_and_use_the_commands_services(
    dash_settings, seeded, fake_codegen, example_payload
):
    """A repository whose commands need `maintain` refuses a writer's cancel, as
    `/codegen cancel` would; the operator's retry with a strategy starts the
    next attempt through the same service, naming nobody on GitHub."""
    config = QUICK + "commands:\n  permission: maintain\n"
    async with running_bot(dash_settings) as bot, browser_client() as writer:
        task = await passed_task(bot, seeded, fake_codegen, example_payload, config)
        await sign_in_with_github(writer, bot.url, seeded, WRITER)
        cancel = f"/dashboard/tasks/{task['id']}/cancel"
        async with writer.get(f"{bot.url}/dashboard/tasks/{task['id']}") as r:
            token = csrf_of(await r.text(), cancel)
        async with writer.post(bot.url + cancel, data={"csrf": token}) as r:
            assert r.status == 403 and "as with /codegen cancel" in await r.text()
        action = f"/dashboard/tasks/{task['id']}/retry"
        async with browser_client() as operator:
            await sign_in_with_token(operator, bot.url)
            async with operator.get(f"{bot.url}/dashboard/tasks/{task['id']}") as r:
                token = csrf_of(await r.text(), action)
            async with operator.post(
                bot.url + action, data={"csrf": token, "strategy": "no-such-strategy"}
            ) as r:
                assert r.status == 400
            async with operator.post(
                bot.url + action, data={"csrf": token, "strategy": "simplified_scope"}
            ) as r:
                page = await r.text()
                assert r.status == 200, page
                assert f"started attempt 2 of task {task['id']}" in page
        second = await wait_until(
            lambda: bot.runtime.pool.fetchrow(
                "SELECT * FROM codegen_requests WHERE attempt = 2 AND task_id = $1", task["id"]
            )
        )
        await bot.wait_idle()
    assert second["strategy"] == "simplified_scope"
    assert "with strategy `simplified_scope`" in page
    assert all("@operator" not in c["body"] for c in seeded.comments_on(REPO, 7))
