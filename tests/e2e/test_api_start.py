"""A task made through the REST API waits `created` until something starts it:
the documented sequence (create → generate-prompt → create-pr) makes its one
run with the stored prompt and the options; `/codegen run` or the label on its
issue start it once; a cancel stops it before any run; and its run counts
against the same budgets as a label's. The bot's real server and worker, the
embedded PostgreSQL, the fakes of GitHub and Codegen."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.api import READ_KEY, WRITE_KEY, call, create_pr, task_body
from tests.support.bot import running_bot
from tests.support.commands import FOREVER, deliver, replies, say
from tests.support.flow import (
    CODEGEN_PR,
    INSTALLATION,
    QUICK,
    REPO,
    WRITER,
    labeled_event,
    task_status,
    wait_until,
)
from tests.support.validation import CLEAN_FILES, PR_NUMBER, ci_run, open_pull


@pytest.fixture
def api_settings(flow_settings):
    return dataclasses.replace(
        flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}", f"dashboard:read:{READ_KEY}")
    )


def _tracking(fake, number: int) -> str:
    [comment] = [
        c
        for c in fake.comments_on(REPO, number)
        if c["user"]["type"] == "Bot" and "codegen-bot:task:" in c["body"]
    ]
    return comment["body"]


async def _created(bot, **change) -> dict:
    status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body(**change))
    assert status == 201, task
    assert task["status"] == "created"
    return task


async def _tracking_says_created(bot, fake, number: int) -> str:
    await wait_until(lambda: "Created: waiting" in (_maybe_tracking(fake, number) or ""))
    await bot.wait_idle()
    return _tracking(fake, number)


def _maybe_tracking(fake, number: int) -> str | None:
    found = [
        c["body"]
        for c in fake.comments_on(REPO, number)
        if c["user"]["type"] == "Bot" and "codegen-bot:task:" in c["body"]
    ]
    return found[0] if found else None


async def test_the_documented_sequence_makes_one_run_with_the_stored_prompt_and_options(
    api_settings, seeded, fake_codegen
):
    # The repository does not auto-merge; the task asks for it, and its PR is merged.
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(api_settings) as bot:
        task = await _created(bot, issue_number=7)
        text = await _tracking_says_created(bot, seeded, 7)
        assert text.startswith("### codegen-bot · 🗒️ Created: waiting to be started")
        assert "`create-pr`" in text and "`/codegen run`" in text and "`codegen` label" in text
        assert fake_codegen.created == []  # nothing runs before create-pr
        body = {"task_id": task["id"], "context_options": {"promptStyle": "concise"}}
        status, answer, _ = await call(bot, "POST", "/api/v1/codegen/generate-prompt", json=body)
        assert status == 201, answer
        data = answer["prompt_data"]
        options = {"branchName": "feature/export-json", "prTitle": "Export JSON", "autoMerge": True}
        started = await create_pr(bot, task["id"], prompt_data=data, options=options)
        assert started["attempt"] == 1 and started["request_id"]
        await wait_until(lambda: seeded.pulls[REPO][PR_NUMBER]["merged"] or None, timeout=30)
        await bot.wait_idle()
        status, again, _ = await call(
            bot, "POST", "/api/v1/codegen/create-pr", json={"task_id": task["id"]}
        )
        # merged: the task is over for good
        assert status == 409 and "merged" in again["message"], again
        pool = bot.runtime.pool
        requests = await pool.fetch(
            "SELECT id, attempt, prompt, style FROM codegen_requests WHERE task_id = $1",
            task["id"],
        )
        row = await pool.fetchrow("SELECT status, auto_merge FROM tasks WHERE id = $1", task["id"])
    [sent] = fake_codegen.created  # THE run: the first attempt, with the options
    assert sent["prompt"].startswith(data["prompt"])
    assert "branch named `feature/export-json`" in sent["prompt"]
    assert "<pull_request_title>\nExport JSON\n</pull_request_title>" in sent["prompt"]
    [request] = requests
    assert request["id"] == started["request_id"] and request["attempt"] == 1
    assert request["prompt"] == sent["prompt"] and request["style"] == "concise"
    assert row["status"] == "merged" and row["auto_merge"] is True
    assert seeded.calls("PUT", rf"/pulls/{PR_NUMBER}/merge$")
    text = _tracking(seeded, 7)
    assert "API key `ci-runner` started attempt 1 through the REST API (auto-merge on)." in text


async def test_codegen_run_starts_a_created_task_once(api_settings, seeded, fake_codegen):
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(api_settings) as bot:
        task = await _created(bot, issue_number=7)
        await _tracking_says_created(bot, seeded, 7)
        status, error, _ = await call(bot, "POST", f"/api/v1/codegen/retry/{task['id']}", json={})
        assert status == 409 and "has not started yet" in error["message"], error
        await say(bot, seeded, "/codegen run")
        await wait_until(lambda: task_status(bot, "running"))
        await say(bot, seeded, "/codegen run")
        await bot.wait_idle()
        row = await bot.runtime.pool.fetchrow(
            "SELECT id, attempt FROM tasks WHERE issue_number = 7"
        )
    assert len(fake_codegen.created) == 1
    assert row["id"] == task["id"] and row["attempt"] == 1
    assert f"> @{WRITER} started it (attempt 1)." in _tracking(seeded, 7)
    assert any(f"task {task['id']} is already under way" in r for r in replies(seeded))
    assert "Export the table as JSON" in fake_codegen.created[0]["prompt"]  # the API's fields


async def test_the_label_starts_a_created_task_once(
    api_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(api_settings) as bot:
        task = await _created(bot, issue_number=7)
        await _tracking_says_created(bot, seeded, 7)
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "running"))
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await bot.wait_idle()
        count = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
        status, found, _ = await call(
            bot, "GET", f"/api/v1/codegen/status/{task['id']}", key=READ_KEY
        )
    assert status == 200, found
    assert count == 1 and len(fake_codegen.created) == 1
    assert found["task"]["status"] == "running"
    steps = {s["name"]: s["status"] for s in found["workflow"]["steps"]}
    assert steps["validate_task"] == "completed"
    assert "Codegen is working on it" in _tracking(seeded, 7)


async def test_cancel_stops_a_created_task_before_any_run(api_settings, seeded, fake_codegen):
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(api_settings) as bot:
        task = await _created(bot)
        number = task["issue_number"]
        await _tracking_says_created(bot, seeded, number)
        status, answer, _ = await call(bot, "POST", f"/api/v1/tasks/{task['id']}/cancel")
        assert status == 200 and answer["task"]["status"] == "cancelled", answer
        await bot.wait_idle()
        assert fake_codegen.created == []
        assert "Cancelled" in _tracking(seeded, number)
        # a finished task: create-pr is a new attempt, as for any other
        started = await create_pr(bot, task["id"])
        assert started["attempt"] == 1
        await wait_until(lambda: task_status(bot, "running"))
        await bot.wait_idle()
    assert len(fake_codegen.created) == 1


async def test_an_api_run_counts_against_the_budget_a_label_used(
    api_settings, seeded, fake_codegen, example_payload
):
    settings = dataclasses.replace(api_settings, budget_repo_runs_per_day=1)
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "running"))
        task = await _created(bot)
        number = task["issue_number"]
        await create_pr(bot, task["id"])
        await wait_until(lambda: "Waiting for budget" in (_maybe_tracking(seeded, number) or ""))
        await bot.wait_idle()
        states = await bot.runtime.pool.fetch(
            "SELECT task_id, state FROM budget_admissions ORDER BY task_id"
        )
        status = await bot.runtime.pool.fetchval(
            "SELECT status FROM tasks WHERE id = $1", task["id"]
        )
    assert len(fake_codegen.created) == 1  # the label's run only
    assert [r["state"] for r in states] == ["admitted", "waiting"]
    assert states[1]["task_id"] == task["id"] and status == "generating_prompt"
    text = _tracking(seeded, number)
    assert text.startswith("### codegen-bot · ⏳ Waiting for budget")
    assert "this repository's limit of 1 agent run" in text and "first in line" in text
