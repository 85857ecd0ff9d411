"""The REST API's codegen endpoints end to end: a prompt previewed and stored,
a new attempt with it and the pull request options, a retry with a strategy,
a cancel, and the status, against the bot's real server and worker and the
fakes of GitHub and Codegen."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.api import READ_KEY, WRITE_KEY, call, create_pr, task_body
from tests.support.bot import running_bot
from tests.support.flow import CODEGEN_PR, REPO, task_status, wait_until


@pytest.fixture
def api_settings(flow_settings):
    return dataclasses.replace(
        flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}", f"dashboard:read:{READ_KEY}")
    )


async def _task_with_pr(bot) -> dict:
    """A task made through the API whose first run opened a pull request."""
    status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body())
    assert status == 201, task
    await create_pr(bot, task["id"])
    await wait_until(lambda: task_status(bot, "pr_open"))
    await bot.wait_idle()
    return task


def _tracking(fake, number: int) -> str:
    [comment] = [
        c
        for c in fake.comments_on(REPO, number)
        if c["user"]["type"] == "Bot" and "codegen-bot:task:" in c["body"]
    ]
    return comment["body"]


async def test_a_previewed_prompt_is_stored_and_sent_by_create_pr_with_its_options(
    api_settings, seeded, fake_codegen
):
    seeded.set_file(REPO, "AGENTS.md", "Run `make check` before every commit.\n")
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        task = await _task_with_pr(bot)
        body = {
            "task_id": task["id"],
            "context_options": {"promptStyle": "concise", "includeCodebaseContext": False},
        }
        status, answer, _ = await call(bot, "POST", "/api/v1/codegen/generate-prompt", json=body)
        assert status == 201, answer
        data = answer["prompt_data"]
        assert data["task_id"] == task["id"] and data["style"] == "concise"
        assert "Export the table as JSON" in data["prompt"]
        # the repository's instructions to agents, as in the workflow's own prompt
        assert "Run `make check` before every commit." in data["prompt"]
        assert "Run `make check` before every commit." in fake_codegen.created[0]["prompt"]
        assert isinstance(data["context_used"], dict)
        assert len(fake_codegen.created) == 1  # nothing sent to Codegen
        options = {"branchName": "feature/export-json", "prTitle": "Export JSON", "autoMerge": True}
        status, started, _ = await call(
            bot,
            "POST",
            "/api/v1/codegen/create-pr",
            json={"task_id": task["id"], "prompt_data": data, "options": options},
        )
        assert status == 202, started
        assert started["attempt"] == 2 and started["request_id"]
        await wait_until(lambda: len(fake_codegen.created) == 2)
        await wait_until(lambda: task_status(bot, "running"))
        await bot.wait_idle()
        pool = bot.runtime.pool
        request = await pool.fetchrow(
            "SELECT * FROM codegen_requests WHERE id = $1", started["request_id"]
        )
        auto_merge = await pool.fetchval("SELECT auto_merge FROM tasks WHERE id = $1", task["id"])
        status, again, _ = await call(
            bot, "POST", "/api/v1/codegen/create-pr", json={"task_id": task["id"]}
        )
        assert status == 409 and "still running" in again["message"], again
    sent = fake_codegen.created[1]["prompt"]
    assert sent.startswith(data["prompt"])
    assert "branch named `feature/export-json`" in sent
    assert "<pull_request_title>\nExport JSON\n</pull_request_title>" in sent
    assert request["attempt"] == 2 and request["prompt"] == sent and request["style"] == "concise"
    assert auto_merge is True
    text = _tracking(seeded, task["issue_number"])
    assert "API key `ci-runner` started attempt 2 through the REST API (auto-merge on)." in text


async def test_create_pr_without_a_prompt_builds_one_and_refuses_a_foreign_prompt(
    api_settings, seeded, fake_codegen
):
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        task = await _task_with_pr(bot)
        status, error, _ = await call(
            bot,
            "POST",
            "/api/v1/codegen/create-pr",
            json={"task_id": task["id"], "prompt_data": {"id": 999}},
        )
        assert status == 422 and error["details"][0]["field"] == "prompt_data.id", error
        for bad, field in (
            ({"options": {"branchName": "-x; rm"}}, "options.branchName"),
            ({"options": {"prTitle": "two\nlines"}}, "options.prTitle"),
            ({"options": {"prTitle": "nul\x00"}}, "options.prTitle"),
            ({"options": {"colour": "red"}}, "options.colour"),
        ):
            status, error, _ = await call(
                bot, "POST", "/api/v1/codegen/create-pr", json={"task_id": task["id"], **bad}
            )
            assert status == 422 and error["details"][0]["field"] == field, error
        status, error, _ = await call(
            bot, "POST", "/api/v1/codegen/create-pr", json={"task_id": 999}
        )
        assert status == 404, error
        status, started, _ = await call(
            bot, "POST", "/api/v1/codegen/create-pr", json={"task_id": task["id"]}
        )
        assert status == 202, started
        await wait_until(lambda: len(fake_codegen.created) == 2)
    sent = fake_codegen.created[1]["prompt"]
    assert "Export the table as JSON" in sent
    # no options: the repository's placement (its defaults), nothing of an earlier call
    assert "branch named `codegen/" in sent and "replace the details above" not in sent


async def test_retry_takes_a_strategy_and_is_refused_while_a_run_works(
    api_settings, seeded, fake_codegen
):
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        task = await _task_with_pr(bot)
        path = f"/api/v1/codegen/retry/{task['id']}"
        status, error, _ = await call(
            bot, "POST", path, json={"retry_options": {"strategy": "bogus"}}
        )
        assert status == 422 and error["details"][0]["field"] == "retry_options.strategy"
        status, error, _ = await call(bot, "POST", path, key=READ_KEY, json={})
        assert status == 403
        body = {"retry_options": {"strategy": "simplified_scope"}}
        status, started, _ = await call(bot, "POST", path, json=body)
        assert status == 202 and started["attempt"] == 2, started
        await wait_until(lambda: task_status(bot, "running"))
        status, error, _ = await call(bot, "POST", path, json=body)
        assert status == 409 and error["error"] == "conflict", error
        await bot.wait_idle()
        strategy = await bot.runtime.pool.fetchval(
            "SELECT strategy FROM codegen_requests WHERE task_id = $1 AND attempt = 2", task["id"]
        )
        status, error, _ = await call(bot, "POST", "/api/v1/codegen/retry/999", json={})
        assert status == 404
    assert strategy == "simplified_scope" and len(fake_codegen.created) == 2
    text = _tracking(seeded, task["issue_number"])
    assert "API key `ci-runner` retried (attempt 2) with strategy `simplified_scope`" in text


async def test_cancel_stops_the_task_as_the_command_does(api_settings, seeded, fake_codegen):
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body())
        await create_pr(bot, task["id"])
        await wait_until(lambda: task_status(bot, "running"))
        path = f"/api/v1/tasks/{task['id']}/cancel"
        status, error, _ = await call(bot, "POST", path, key=READ_KEY)
        assert status == 403
        status, answer, _ = await call(bot, "POST", path)
        assert status == 200, answer
        assert answer["task"]["status"] == "cancelled"
        assert answer["message"].startswith(f"cancelled task {task['id']}")
        status, error, _ = await call(bot, "POST", path)
        assert status == 409 and "nothing to cancel" in error["message"]
        status, error, _ = await call(bot, "POST", "/api/v1/tasks/999/cancel")
        assert status == 404
        await bot.wait_idle()
        detail = await bot.runtime.pool.fetchval(
            "SELECT status_detail FROM tasks WHERE id = $1", task["id"]
        )
    assert detail == "cancelled by API key `ci-runner` through the REST API"
    assert "cancelled by API key `ci-runner`" in _tracking(seeded, task["issue_number"])


async def test_status_shows_the_workflow_runs_and_pull_requests(api_settings, seeded, fake_codegen):
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(api_settings) as bot:
        task = await _task_with_pr(bot)
        status, found, _ = await call(
            bot, "GET", f"/api/v1/codegen/status/{task['id']}", key=READ_KEY
        )
    assert status == 200, found
    assert found["task"]["id"] == task["id"] and found["task"]["status"] == "pr_open"
    steps = {s["name"]: s for s in found["workflow"]["steps"]}
    assert steps["validate_task"]["status"] == "completed" and steps["validate_task"]["started_at"]
    assert steps["create_pr"]["status"] in ("running", "completed")
    [run] = found["agent_runs"]
    assert run["attempt"] == 1 and run["status"] == "complete" and run["agent_run_id"]
    assert run["pull_requests"][0]["url"] == CODEGEN_PR["url"]
    assert found["followups"] == [] and found["validation"] is None
