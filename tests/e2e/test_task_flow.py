"""Labeled issue → task → prompt → Codegen agent run → pull request, end to end:
real PostgreSQL, the bot's real server and worker, fake GitHub and Codegen
servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from aiohttp import web

from tests.support.bot import running_bot
from tests.support.flow import (
    ISSUE_BODY,
    READER,
    REPO,
    WRITER,
    bot_comments,
    labeled_event,
    task_status,
    wait_until,
)

PR = {
    "url": f"https://github.com/{REPO}/pull/8",
    "title": "Export CSV",
    "id": 8,
    "head_branch_name": "codegen/export-csv",
    "created_at": "2026-11-25T10:00:00Z",
}


async def test_writer_label_makes_one_run_and_one_comment_ending_at_the_pr(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=["ACTIVE", "ACTIVE", "COMPLETE"], pull_requests=[PR])
    async with running_bot(flow_settings) as bot:
        status, _ = await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        assert status == 202
        task = await wait_until(lambda: task_status(bot, "pr_open"))

    assert len(fake_codegen.created) == 1
    create = fake_codegen.created[0]
    prompt = create["prompt"]
    assert "Export the table as CSV" in prompt
    assert 'Add an "Export CSV" button to the table toolbar' in prompt
    assert "Clicking the button downloads `widgets.csv`" in prompt
    assert "Fixes #7" in prompt
    assert create["metadata"] == {
        "task_id": task["id"],
        "repository": REPO,
        "issue": 7,
        "attempt": 1,
        "source": "codegen-bot",
        "repository_id": seeded.repos[REPO]["id"],  # found again by it after a rename
    }
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]
    assert "@reporter-rae" in comment["body"]
    assert "Pull request opened" in comment["body"]
    issue_reactions = [r["content"] for r in seeded.reactions.values()]
    assert "eyes" in issue_reactions
    assert task["requirements"] == [
        'Add an "Export CSV" button to the table toolbar',
        "Export only the rows that match the current filter",
    ]
    assert task["triggered_by"] == WRITER and task["trigger_delivery_id"]
    async with running_bot(flow_settings, worker=False) as bot:
        steps = await bot.runtime.pool.fetchval(
            "SELECT steps::text FROM workflow_executions WHERE task_id = $1", task["id"]
        )
        request = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    assert '"validate_task"' in steps and '"completed"' in steps
    assert request["prompt"] == prompt and request["status"] == "complete"


async def test_a_pr_title_from_codegen_forges_no_link_or_mention_in_the_comment(
    flow_settings, seeded, fake_codegen, example_payload
):
    title = "Export](https://evil.example) @acme/everyone `x"
    other = dict(PR, url="https://evil.example/acme/widgets/pull/9", title="Other", id=9)
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[dict(PR, title=title), other])
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"))
        await bot.wait_idle()
    [comment] = bot_comments(seeded)
    [line] = [ln for ln in comment["body"].splitlines() if "Pull request opened:" in ln]
    assert line.count("](") == 1 and line.count(f"]({PR['url']})") == 1
    assert "@acme" not in line and "](https://evil" not in line
    assert "(https://evil" not in line  # the other PR's URL is shown, not linked


async def test_reader_label_spends_nothing_and_gets_one_comment(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, READER))
        await bot.deliver("issues", labeled_event(seeded, example_payload, READER))
        await bot.wait_idle()
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks") == 0
    assert fake_codegen.created == []
    [comment] = bot_comments(seeded)
    assert f"@{READER}" in comment["body"] and "write" in comment["body"]


async def test_same_delivery_twice_and_a_second_label_make_one_run(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 50)
    async with running_bot(flow_settings) as bot:
        payload = labeled_event(seeded, example_payload, WRITER)
        guid = str(uuid.uuid4())
        assert (await bot.deliver("issues", payload, guid))[0] == 202
        assert (await bot.deliver("issues", payload, guid))[0] == 200
        await wait_until(lambda: task_status(bot, "running"))
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: _comment_contains(seeded, "already under way"))
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks") == 1
    assert len(fake_codegen.created) == 1
    assert len(bot_comments(seeded)) == 1


async def _comment_contains(fake_github, text: str) -> bool:
    return any(text in c["body"] for c in bot_comments(fake_github))


async def test_codegen_429_then_500_then_success_makes_one_run(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.fail_next("POST", r"/agent/run$", 429, headers={"Retry-After": "0"})
    fake_codegen.fail_next("POST", r"/agent/run$", 500)
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[PR])
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"))
    assert len(fake_codegen.runs) == 1
    statuses = [c.status for c in fake_codegen.calls("POST", r"/agent/run$")]
    assert statuses[-1] == 200 and 429 in statuses and 500 in statuses


async def test_codegen_402_fails_with_the_plan_message_and_no_retry(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.fail_next(
        "POST",
        r"/agent/run$",
        402,
        body={"message": "Plan limit reached: upgrade to continue", "status_code": 402},
    )
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "failed"))
        await bot.wait_idle()
    assert len(fake_codegen.calls("POST", r"/agent/run$")) == 1
    assert "Plan limit reached" in task["status_detail"]
    [comment] = bot_comments(seeded)
    assert "Plan limit reached" in comment["body"] and "Failed" in comment["body"]


async def test_two_failed_runs_then_complete_use_the_three_strategies(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=["ACTIVE", "FAILED"], summary="tests did not pass")
    fake_codegen.script_run(statuses=["ERROR"], summary="could not install dependencies")
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    settings = dataclasses.replace(flow_settings)
    async with running_bot(settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        requests = await bot.runtime.pool.fetch(
            "SELECT attempt, strategy, status FROM codegen_requests ORDER BY attempt"
        )
    assert [(r["attempt"], r["strategy"], r["status"]) for r in requests] == [
        (1, None, "failed"),
        (2, "regenerate_prompt", "failed"),
        (3, "different_approach", "complete"),
    ]
    prompts = [c["prompt"] for c in fake_codegen.created]
    assert len(prompts) == 3 and len(set(prompts)) == 3
    assert "tests did not pass" in prompts[1]
    assert "could not install dependencies" in prompts[2]
    assert task["attempt"] == 3
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]


async def test_runs_failing_past_the_retries_end_failed(
    flow_settings, seeded, fake_codegen, example_payload
):
    for _ in range(3):
        fake_codegen.script_run(statuses=["FAILED"], summary="the agent gave up")
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "failed"), timeout=30)
    assert len(fake_codegen.created) == 3
    assert [c["metadata"]["attempt"] for c in fake_codegen.created] == [1, 2, 3]
    assert "simplified_scope" not in task["status_detail"]
    assert "all 3 agent runs failed" in task["status_detail"]


async def test_more_retries_than_strategies_reuse_the_last_strategy(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", "retries: 4\n")
    for _ in range(5):
        fake_codegen.script_run(statuses=["FAILED"], summary="nope")
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "failed"), timeout=30)
        strategies = await bot.runtime.pool.fetch(
            "SELECT strategy FROM codegen_requests ORDER BY attempt"
        )
    assert len(fake_codegen.created) == 5
    assert [r["strategy"] for r in strategies] == [
        None,
        "regenerate_prompt",
        "different_approach",
        "simplified_scope",
        "simplified_scope",
    ]
    assert "all 5 agent runs failed" in task["status_detail"]


async def test_a_run_past_its_run_timeout_times_out_with_the_reason(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    settings = dataclasses.replace(flow_settings, agent_run_timeout_ms=1500)
    async with running_bot(settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "timed_out"), timeout=30)
        await bot.wait_idle()
        request = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    [comment] = bot_comments(seeded)
    assert "Timed out" in comment["body"] and "working" not in comment["body"].split("\n")[0]
    [run_id] = fake_codegen.runs
    assert task["status_detail"].startswith(
        f"agent run {run_id} did not finish within the run timeout (1 s)"
    )
    assert "linked" in task["status_detail"] and task["status_detail"] in comment["body"]
    assert request["status"] == "timed_out"
    # Timed out after the run's own timeout, counted from the run's creation.
    assert task["finished_at"] - request["run_created_at"] >= timedelta(seconds=1.5)


async def test_a_run_longer_than_the_workflow_timeout_completes(
    flow_settings, seeded, fake_codegen, example_payload
):
    """WORKFLOW_TIMEOUT bounds the bot's own steps; the agent run has its own
    timeout (per repository here), so a run outlasting the first is not lost."""
    seeded.set_file(REPO, ".github/codegen.yml", "run_timeout_minutes: 60\n")
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    settings = dataclasses.replace(
        flow_settings, workflow_timeout_ms=2000, agent_run_timeout_ms=1000
    )
    async with running_bot(settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "running"))
        await asyncio.sleep(3.0)  # past both the workflow's and the default run timeout
        assert await task_status(bot, "running")
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(run_id, status="COMPLETE", github_pull_requests=[PR])
        task = await wait_until(lambda: task_status(bot, "pr_open"))
    assert PR["url"] in task["pull_requests"]
    assert task["deadline_at"] - task["created_at"] > timedelta(minutes=59)


async def test_issue_closed_mid_run_cancels(flow_settings, seeded, fake_codegen, example_payload):
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "running"))
        polls_before = len(fake_codegen.calls("GET", r"/agent/run/\d+$"))
        closed = labeled_event(seeded, example_payload, WRITER)
        closed["action"] = "closed"
        closed.pop("label")
        await bot.deliver("issues", closed)
        task = await wait_until(lambda: task_status(bot, "cancelled"))
        await wait_until(lambda: _comment_contains(seeded, "Cancelled"))
        await asyncio.sleep(1.0)
        polls_after = len(fake_codegen.calls("GET", r"/agent/run/\d+$"))
    assert polls_after - polls_before <= 1  # at most the poll already in flight
    assert "closed" in task["status_detail"]


async def test_thin_issue_needs_info_then_resumes_when_edited(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.issues[REPO][7]["body"] = ""
    seeded.issues[REPO][7]["title"] = "csv"
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[PR])
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "needs_info"))
        await wait_until(lambda: _comment_contains(seeded, "What is missing"))
        assert fake_codegen.created == []
        seeded.issues[REPO][7]["body"] = ISSUE_BODY
        edited = labeled_event(seeded, example_payload, WRITER)
        edited["action"] = "edited"
        edited.pop("label")
        edited["changes"] = {"body": {"from": ""}}
        await bot.deliver("issues", edited)
        resumed = await wait_until(lambda: task_status(bot, "pr_open"))
    assert resumed["id"] == task["id"]
    assert len(fake_codegen.created) == 1
    assert len(bot_comments(seeded)) == 1


async def test_worker_killed_right_after_creating_the_run_follows_it_after_restart(
    flow_settings, seeded, fake_codegen, example_payload, tmp_path
):
    """SIGKILL the serve process while Codegen holds back its answer to the create
    (the run exists; the bot never learned its id). The restarted process must find
    the run by its metadata and follow it, never create a second one."""
    import signal

    from tests.support.serve import free_port, serve_env, start_serve, wait_healthy

    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    fake_codegen.hold_answer_next("POST", r"/agent/run$", 4.0)
    port = free_port()
    env = serve_env(
        flow_settings.database_url,
        flow_settings.github_api_url,
        port,
        CODEGEN_API_KEY="cg-test-key",
        CODEGEN_ORG_ID="7",
        CODEGEN_API_URL=fake_codegen.url,
        JOB_LEASE_SECONDS="2",
        RUN_POLL_FIRST_SECONDS="0.1",
        RUN_POLL_MAX_SECONDS="0.3",
    )
    first = await start_serve(env, tmp_path)
    try:
        await wait_healthy(port)
        async with running_bot(flow_settings, worker=False) as intake:
            await intake.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        for _ in range(200):
            if fake_codegen.runs:
                break
            await asyncio.sleep(0.05)
        assert len(fake_codegen.runs) == 1, "the run was created"
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        await first.wait()
    second = await start_serve(env, tmp_path)
    try:
        await wait_healthy(port)
        async with running_bot(flow_settings, worker=False) as view:
            task = await wait_until(lambda: task_status(view, "pr_open"), timeout=30)
            request = await view.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    [run_id] = fake_codegen.runs
    assert request["agent_run_id"] == run_id
    assert len(fake_codegen.created) == 1  # never created again
    assert task["pull_requests"] and PR["url"] in task["pull_requests"]
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]


async def test_repository_config_is_honoured_and_a_bad_file_is_reported_once(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(
        REPO,
        ".github/codegen.yml",
        "trigger_label: ai-please\nprompt:\n  style: concise\nretries: lots\n",
    )
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[PR])
    async with running_bot(flow_settings) as bot:
        # The default label no longer triggers anything.
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await bot.wait_idle()
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks") == 0
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER, "ai-please"))
        await wait_until(lambda: task_status(bot, "pr_open"))
        style = await bot.runtime.pool.fetchval("SELECT style FROM codegen_requests")
    assert style == "concise"
    problems = [c for c in bot_comments(seeded) if "could not use" in c["body"]]
    assert len(problems) == 1  # reported once although two deliveries read the file
    assert "`retries` must be a whole number" in problems[0]["body"]


async def test_simulated_codegen_without_an_api_key_says_so(app_settings, seeded, example_payload):
    settings = dataclasses.replace(
        app_settings, run_poll_first_seconds=0.05, run_poll_max_seconds=0.1
    )
    assert settings.codegen_simulated
    async with running_bot(settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "cancelled"))
    assert task["simulated"] is True and task["pull_requests"] == "[]"
    [comment] = bot_comments(seeded)
    assert "simulated" in comment["body"]
    assert "codegen.invalid" in comment["body"]
    assert "Simulated run: no pull request was opened" in comment["body"]


@contextlib.asynccontextmanager
async def notification_receiver() -> AsyncIterator[tuple[str, list[dict]]]:
    """A Slack-compatible webhook on 127.0.0.1: its URL and the bodies it got."""
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_completion_is_posted_to_the_notification_webhook(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[PR])
    async with notification_receiver() as (url, received):
        settings = dataclasses.replace(flow_settings, notify_webhook_url=url)
        async with running_bot(settings) as bot:
            await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
            await wait_until(lambda: task_status(bot, "pr_open"))
            await bot.wait_idle()
    [message] = received
    assert message["status"] == "pr_open"
    assert PR["url"] in message["text"] and f"{REPO}#7" in message["text"]
    assert message["pull_requests"][0]["url"] == PR["url"]


TOKEN = "ghs_" + "T0k3n" * 8
INTERNAL = (
    f"INSERT INTO codegen_requests (task_id, prompt) failed for "
    f"https://x-access-token:{TOKEN}@github.com/{REPO}.git"
)


async def test_an_internal_error_is_neither_posted_nor_notified(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A task that fails for good on an exception says a short reason and its
    task id on the issue and to the notification webhook; the exception text
    (SQL, a URL with a token) stays in the database, the token scrubbed."""
    pool = await asyncpg.connect(flow_settings.database_url)
    try:
        await pool.execute(
            f"""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '{INTERNAL}'; END $$"""
        )
        await pool.execute(
            """CREATE TRIGGER refuse BEFORE INSERT ON codegen_requests
               FOR EACH ROW EXECUTE FUNCTION refuse()"""
        )
    finally:
        await pool.close()
    async with notification_receiver() as (url, received):
        settings = dataclasses.replace(flow_settings, notify_webhook_url=url, job_max_attempts=2)
        async with running_bot(settings) as bot:
            await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
            task = await wait_until(lambda: task_status(bot, "failed"), timeout=60)
            await wait_until(lambda: _comment_contains(seeded, "Failed"))
            await wait_until(lambda: received)
            await bot.wait_idle()
            errors = [
                r["last_error"]
                for r in await bot.runtime.pool.fetch(
                    "SELECT last_error FROM jobs WHERE last_error IS NOT NULL"
                )
            ]
    [comment] = bot_comments(seeded)
    [message] = received
    for public in (comment["body"], json.dumps(message)):
        for detail in ("codegen_requests", "INSERT", "x-access-token", TOKEN, "Error"):
            assert detail not in public, (detail, public)
        assert f"task {task['id']}" in public
    assert "internal error" in task["status_detail"]
    assert message["status"] == "failed" and message["task_id"] == task["id"]
    # The full error is kept for the operator, without the token.
    assert any("INSERT INTO codegen_requests" in e for e in errors), errors
    assert not any(TOKEN in e for e in errors), errors


async def test_removing_the_label_cancels(flow_settings, seeded, fake_codegen, example_payload):
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "running"))
        unlabeled = labeled_event(seeded, example_payload, WRITER)
        unlabeled["action"] = "unlabeled"
        await bot.deliver("issues", unlabeled)
        task = await wait_until(lambda: task_status(bot, "cancelled"))
        await wait_until(lambda: _comment_contains(seeded, "Cancelled"))
    assert "removed the label" in task["status_detail"]
    statuses = await _request_statuses(flow_settings)
    assert statuses == ["cancelled"]


async def _request_statuses(settings) -> list[str]:
    async with running_bot(settings, worker=False) as view:
        rows = await view.runtime.pool.fetch("SELECT status FROM codegen_requests ORDER BY attempt")
    return [r["status"] for r in rows]


async def test_a_job_that_keeps_failing_fails_the_task_and_finishes_the_comment(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    fake_codegen.fail_next("GET", r"/agent/run/\d+$", 503, times=10_000)
    settings = dataclasses.replace(flow_settings, job_max_attempts=2)
    async with running_bot(settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "failed"), timeout=60)
        await wait_until(lambda: _comment_contains(seeded, "Failed"))
    assert "could not get past" in task["status_detail"]
    [comment] = bot_comments(seeded)
    assert "working" not in comment["body"].splitlines()[0]


async def test_complete_without_a_pull_request_fails_quoting_codegen(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(
        statuses=["ACTIVE", "COMPLETE"], summary="I could not find the table component."
    )
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "failed"))
        await wait_until(lambda: _comment_contains(seeded, "could not find the table"))
    assert "I could not find the table component." in task["status_detail"]
    assert len(fake_codegen.created) == 1  # not retried: the run did not fail


@pytest.mark.parametrize("final", ["CANCELLED", "STOPPED"])
async def test_a_stopped_run_cancels_the_task(
    flow_settings, seeded, fake_codegen, example_payload, final
):
    fake_codegen.script_run(statuses=["ACTIVE", final])
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "cancelled"))
        await wait_until(lambda: _comment_contains(seeded, "Cancelled"))
    assert final.lower() in task["status_detail"]
    assert len(fake_codegen.created) == 1


async def test_a_task_job_dead_by_lease_expiry_fails_the_task(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A poll job whose process died on its last attempt never ran its clean-up:
    the worker that reclaims it fails the task and finishes the comment."""
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "running"))
    async with running_bot(flow_settings, worker=False) as view:
        # As a worker killed on the last attempt leaves it: running, lease lapsed.
        await view.runtime.pool.execute(
            """UPDATE jobs SET status = 'running', attempts = max_attempts,
                      lease_owner = 'ghost', lease_expires_at = now() - interval '1 s'
               WHERE kind = 'task.poll' AND status = 'queued'"""
        )
    async with running_bot(flow_settings) as bot:
        task = await wait_until(lambda: task_status(bot, "failed"))
        await wait_until(lambda: _comment_contains(seeded, "Failed"))
    assert "stopped responding" in task["status_detail"]
