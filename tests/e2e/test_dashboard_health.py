"""The dashboard's health page in a real headless Chromium, for an operator: a
job that died (a real delivery whose task insert crashed, with one attempt
allowed) is shown with its last error and retried from the page, after which
the flow goes on; a stored delivery is run again with its Redeliver button."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.support.bot import running_bot
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.dashboard import (
    ADMIN_TOKEN,
    browser_client,
    csrf_of,
    passed_task,
    sign_in_with_token,
)
from tests.support.flow import (
    INSTALLATION,
    REPO,
    WRITER,
    fail_once,
    labeled_event,
    wait_until,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def one_attempt(flow_settings):
    """Any failure kills a job at once; the operator key opens the dashboard."""
    return dataclasses.replace(flow_settings, admin_token=ADMIN_TOKEN, job_max_attempts=1)


async def test_a_dead_job_is_retried_from_the_health_page(
    one_attempt, seeded, fake_codegen, example_payload
):
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_bot(one_attempt) as bot:
        pool = bot.runtime.pool
        await fail_once(pool, "tasks", "INSERT")
        status, _ = await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        assert status == 202
        dead = await wait_until(
            lambda: pool.fetchrow("SELECT id, kind, last_error FROM jobs WHERE status = 'dead'")
        )
        assert "simulated crash" in dead["last_error"]
        assert await pool.fetchval("SELECT count(*) FROM tasks") == 0
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(bot.url + "/login")
                await page.fill("input[name=token]", ADMIN_TOKEN)
                await page.click("#token-login button")
                await page.wait_for_selector("#tasks, #no-tasks")
                await page.click("text=Health")
                await page.wait_for_selector("#dead-jobs")
                await page.screenshot(path=ARTIFACTS / "dashboard-4-health.png", full_page=True)
                row = page.locator(f"tr[data-job='{dead['id']}']")
                assert dead["kind"] in await row.inner_text()
                assert "simulated crash" in await row.inner_text()
                assert await page.inner_text("#queue-dead") == "1"
                await page.click(f"#retry-job-{dead['id']}")
                await expect(page.locator("#notice")).to_have_text(f"job {dead['id']} queued again")
                # The retried delivery makes its task; the page's figures follow live.
                task = await wait_until(lambda: pool.fetchrow("SELECT * FROM tasks"))
                await expect(page.locator("#queue-dead")).to_have_text("0", timeout=15_000)
                await page.screenshot(
                    path=ARTIFACTS / "dashboard-5-health-after.png", full_page=True
                )
            finally:
                await browser.close()
        await bot.wait_idle()
        job = await pool.fetchrow("SELECT status, attempts FROM jobs WHERE id = $1", dead["id"])
    assert job["status"] == "done"
    assert task["triggered_by"] == WRITER


async def test_a_delivery_is_run_again_with_its_button(one_attempt, seeded, example_payload):
    async with running_bot(one_attempt) as bot, browser_client() as client:
        pool = bot.runtime.pool
        # A delivery the bot handles and ignores (not its label).
        event = labeled_event(seeded, example_payload, WRITER, label="bug")
        status, _ = await bot.deliver("issues", event, delivery="guid-to-run-again")
        assert status == 202
        await bot.wait_idle()
        assert await pool.fetchval(
            "SELECT status FROM webhook_deliveries WHERE id = 'guid-to-run-again'"
        ) in ("processed", "ignored")
        await sign_in_with_token(client, bot.url)
        async with client.get(bot.url + "/dashboard/health") as r:
            page = await r.text()
        assert "guid-to" in page and "issues.labeled" in page
        action = "/dashboard/deliveries/guid-to-run-again/redeliver"
        async with client.post(bot.url + action, data={"csrf": "nope"}) as r:
            assert r.status == 403
        jobs_before = await pool.fetchval("SELECT count(*) FROM jobs")
        async with client.post(bot.url + action, data={"csrf": csrf_of(page, action)}) as r:
            assert r.status == 200
            assert "delivery guid-to-run-again queued again" in await r.text()
        await bot.wait_idle()
        assert await pool.fetchval("SELECT count(*) FROM jobs") == jobs_before + 1
        async with client.get(bot.url + "/dashboard/health.json") as r:
            figures = (await r.json())["text"]
        assert figures["queue-dead"] == "0" and figures["queue-ready"] == "0"
    # Someone without the operator's session gets nothing of it.
    async with running_bot(one_attempt, worker=False) as bot, browser_client() as client:
        async with client.get(bot.url + "/dashboard/health.json") as r:
            assert r.status == 401
        async with client.post(bot.url + action, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"


async def test_budgets_and_limiters_are_shown_from_their_tables(
    one_attempt, seeded, fake_codegen, example_payload
):
    """After a real run: the repository's budget use today, the Codegen create
    window and the installation's GitHub write lease, as their tables hold them."""
    async with running_bot(one_attempt) as bot, browser_client() as operator:
        await passed_task(bot, seeded, fake_codegen, example_payload)
        pool = bot.runtime.pool
        admitted = await pool.fetchval(
            """SELECT count(*) FROM budget_admissions
               WHERE admitted_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                    AT TIME ZONE 'UTC'"""
        )
        windows = await pool.fetch("SELECT key FROM shared_windows")
        leases = await pool.fetch("SELECT installation_id FROM github_write_leases")
        await sign_in_with_token(operator, bot.url)
        async with operator.get(bot.url + "/dashboard/health") as r:
            page = await r.text()
    assert admitted == 1 and windows and leases
    row = re.search(
        rf'<tr data-repository="{REPO}"><td>{REPO}</td><td class="runs-today">(\d+)</td>', page
    )
    assert row and int(row.group(1)) == admitted
    assert all(w["key"] in page for w in windows)
    assert f"<td>{INSTALLATION}</td>" in page
