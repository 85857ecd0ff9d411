"""Spending stops when people say stop (issue 9, section 4): `/codegen cancel`
at every stage, a cancel racing the run's creation, and the agent run's own
timeout with late pull requests linked. End to end: real PostgreSQL, the bot's
real server and worker, fake GitHub and Codegen servers."""

from __future__ import annotations

import asyncio
import dataclasses

from tests.support.bot import running_bot
from tests.support.commands import (
    CLEAN_FILES,
    FOREVER,
    ci_fix_in_flight,
    deliver,
    open_pull,
    reactions,
    replies,
    say,
)
from tests.support.events import pull_request_event
from tests.support.flow import (
    CODEGEN_PR,
    INSTALLATION,
    PR_NUMBER,
    PR_URL,
    QUICK,
    REPO,
    WRITER,
    fail_once,
    labeled_event,
    settle,
    task_status,
    tracking,
    wait_until,
)


async def _running_jobs(bot, kind: str) -> bool:
    return await bot.runtime.pool.fetchval(
        "SELECT count(*) > 0 FROM jobs WHERE kind = $1 AND status = 'running'", kind
    )


# ---------------------------------------------------------------- cancel


async def test_cancel_while_the_prompt_is_built_creates_no_run(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The cancel lands while the repository context is being read (GitHub holds
    the tree back; it is read even when the context is cached): the create must
    not happen afterwards."""
    tree = rf"/repos/{REPO}/git/trees/"
    seeded.delay_next("GET", tree, 3.0)
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: seeded.calls("GET", tree) or None)
        assert await task_status(bot, "generating_prompt")
        payload = await say(bot, seeded, "/codegen cancel")
        await wait_until(lambda: task_status(bot, "cancelled"))
        await asyncio.sleep(3.0)  # the held answer arrives; the prompt gets built
        await settle(bot)
        task = await task_status(bot, "cancelled")
        request = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    assert fake_codegen.created == []
    assert fake_codegen.calls("POST", r"/agent/run$") == []
    assert task is not None and f"cancelled by @{WRITER}" in task["status_detail"]
    # The prompt was stored after the cancel; it is marked stopped, never running.
    assert request["status"] == "cancelled" and request["agent_run_id"] is None
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    assert tracking(seeded).startswith("### codegen-bot · ⏹️ Cancelled")


async def test_cancel_after_the_pr_stops_fixes_and_bans_the_run(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A CI fix is in flight on the task's PR: cancel stops following it, bans
    the run at Codegen, refuses fixes, and a later CI failure sends nothing."""
    async with running_bot(flow_settings) as bot:
        await ci_fix_in_flight(bot, seeded, fake_codegen, example_payload)
        [run_id] = fake_codegen.runs
        payload = await say(bot, seeded, "/codegen cancel")
        task = await wait_until(lambda: task_status(bot, "cancelled"))
        await wait_until(lambda: fake_codegen.banned or None)
        await settle(bot)
        fix = await say(bot, seeded, "/codegen fix rename it", number=PR_NUMBER)
        # The agent's push fails CI again: no automatic fix goes out any more.
        sha = seeded.push(REPO, PR_NUMBER, CLEAN_FILES)
        seeded.add_check_run(
            REPO, name="tests", head_sha=sha, conclusion="failure", app_slug="github-actions"
        )
        await deliver(
            bot, "pull_request", pull_request_event(seeded, "synchronize", REPO, PR_NUMBER)
        )
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT count(*) > 0 FROM validations WHERE head_sha = $1 AND status = 'completed'",
                sha,
            )
        )
        await settle(bot)
        followups = await bot.runtime.pool.fetch("SELECT * FROM agent_followups ORDER BY id")
    assert fake_codegen.banned == {run_id}
    assert fake_codegen.bans == [{"action": "ban", "agent_run_id": run_id}]
    assert len(fake_codegen.resumed) == 1  # the first CI fix only; nothing after the cancel
    assert [(f["kind"], f["status"]) for f in followups] == [("ci_fix", "failed")]
    assert f"cancelled by @{WRITER}" in followups[0]["error"]
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    [reply] = replies(seeded, 7)
    assert f"cancelled task {task['id']}" in reply
    assert f"no more automatic CI fixes, review fixes or auto-merge on #{PR_NUMBER}" in reply
    assert "stopped following 1 follow-up" in reply and f"agent run {run_id}" in reply
    body = tracking(seeded)
    assert body.startswith("### codegen-bot · ⏹️ Cancelled")
    assert "Cancelled at `changes_requested`" in body
    assert f"Codegen stopped agent run {run_id}'s agents on the pull request" in body
    assert "agent working" not in body
    [refused] = replies(seeded, PR_NUMBER)
    assert "was cancelled" in refused and "`/codegen retry`" in refused
    assert reactions(seeded, fix) == ["eyes", "confused"]


async def test_a_merge_under_way_when_cancel_lands_does_not_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Auto-merge is on and the merge job is reading the PR (GitHub holds the
    answer back) when the cancel comes: it must not merge afterwards."""
    # Auto-merge takes only a `success` verdict: the PR's missing tests are a
    # warning, which this repository counts as a pass.
    config = QUICK.replace("validation:\n", "validation:\n  warnings: success\n")
    seeded.set_file(REPO, ".github/codegen.yml", config + "auto_merge: true\n")
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    sha = open_pull(seeded)["head"]["sha"]
    seeded.add_check_run(
        REPO, name="tests", head_sha=sha, conclusion="success", app_slug="github-actions"
    )
    # The link job reads the PR first, then the merge job: hold both answers.
    seeded.delay_next("GET", rf"/repos/{REPO}/pulls/{PR_NUMBER}$", 3.0, times=2)
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: _running_jobs(bot, "pull_request.merge"), timeout=30)
        await say(bot, seeded, "/codegen cancel")
        await wait_until(lambda: task_status(bot, "cancelled"))
        await asyncio.sleep(3.0)
        await settle(bot)
    assert seeded.calls("PUT", rf"/pulls/{PR_NUMBER}/merge$") == []
    assert seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    [reply] = replies(seeded, 7)
    assert f"auto-merge on #{PR_NUMBER}" in reply


async def test_cancel_of_a_passed_task_then_a_queued_merge_does_nothing(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A merge job that only runs after the cancel (as one queued before it would)."""
    from app.queue import store as jobs
    from app.validation import keys as validation_keys

    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    sha = open_pull(seeded)["head"]["sha"]
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "passed"))
        await settle(bot)
        await say(bot, seeded, "/codegen cancel")
        await wait_until(lambda: task_status(bot, "cancelled"))
        pr_id = await bot.runtime.pool.fetchval("SELECT id FROM pull_requests")
        await jobs.enqueue(
            bot.runtime.pool,
            validation_keys.MERGE_JOB,
            {"pull_request_id": pr_id, "head_sha": sha},
        )
        await jobs.enqueue(
            bot.runtime.pool,
            validation_keys.CI_FIX_JOB,
            {"pull_request_id": pr_id, "head_sha": sha},
        )
        await settle(bot)
        assert seeded.calls("PUT", rf"/pulls/{PR_NUMBER}/merge$") == []
        assert fake_codegen.resumed == []
        [first] = fake_codegen.runs
        assert fake_codegen.bans == [{"action": "ban", "agent_run_id": first}]
        # A retry makes a new run; the old run's ban stays (documented choice).
        await say(bot, seeded, "/codegen retry")
        await wait_until(lambda: len(fake_codegen.created) == 2 or None)
    assert fake_codegen.banned == {first}
    assert [b["action"] for b in fake_codegen.bans] == ["ban"]


# ---------------------------------------------------------------- the run's own timeout


async def test_a_pr_polled_after_the_run_timeout_is_linked(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    open_pull(seeded)
    fake_codegen.script_run(statuses=FOREVER)
    settings = dataclasses.replace(flow_settings, agent_run_timeout_ms=1000)
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "timed_out"))
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(run_id, status="COMPLETE", github_pull_requests=[CODEGEN_PR])
        await wait_until(lambda: task_status(bot, "passed"), timeout=30)
        linked = await bot.runtime.pool.fetchval("SELECT task_id FROM pull_requests")
        task = await task_status(bot, "passed")
        request = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    assert linked == task["id"] and PR_URL in task["pull_requests"]
    assert request["status"] == "complete"
    body = tracking(seeded)
    assert f"Agent run {run_id} finished late" in body and "which goes on" in body
    assert f"[Export CSV]({PR_URL})" in body


async def test_a_pr_event_after_the_run_timeout_links_the_late_pr(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Late polls are minutes apart: the PR's own event makes the bot look now."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    fake_codegen.script_run(statuses=FOREVER)
    settings = dataclasses.replace(
        flow_settings, agent_run_timeout_ms=1000, run_poll_max_seconds=60.0
    )
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "timed_out"))
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(run_id, status="COMPLETE", github_pull_requests=[CODEGEN_PR])
        open_pull(seeded)
        await deliver(bot, "pull_request", pull_request_event(seeded, "opened", REPO, PR_NUMBER))
        task = await wait_until(lambda: task_status(bot, "passed"), timeout=20)
    assert PR_URL in task["pull_requests"]
    assert f"Agent run {run_id} finished late" in tracking(seeded)


async def test_a_pr_event_naming_a_timed_out_issue_links_nothing_the_run_did_not_report(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Anyone can write `Fixes #7`: only what Codegen reports for the run is linked."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    fake_codegen.script_run(statuses=FOREVER)
    settings = dataclasses.replace(
        flow_settings, agent_run_timeout_ms=1000, run_poll_max_seconds=60.0
    )
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "timed_out"))
        open_pull(seeded, user=WRITER)
        await deliver(bot, "pull_request", pull_request_event(seeded, "opened", REPO, PR_NUMBER))
        await bot.wait_idle()
        task = await task_status(bot, "timed_out")
    assert task is not None and task["pull_requests"] == "[]"


async def test_the_workflow_timeout_bounds_the_bot_s_steps_before_the_run(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Past WORKFLOW_TIMEOUT before the run exists (GitHub slow here), nothing is
    spent: the attempt ends timed out instead of creating the run late."""
    seeded.delay_next("GET", rf"/repos/{REPO}/git/trees/", 2.5)
    settings = dataclasses.replace(flow_settings, workflow_timeout_ms=1000)
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: task_status(bot, "timed_out"))
        await settle(bot)
        request = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    assert fake_codegen.created == []
    assert (
        "could not start the agent run within the workflow timeout (1 s)" in (task["status_detail"])
    )
    assert request["status"] == "cancelled" and request["agent_run_id"] is None
    assert tracking(seeded).startswith("### codegen-bot · ⌛ Timed out")


async def test_cancel_after_the_run_timeout_stops_the_late_pr_from_being_taken(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A timed-out run is still watched for a late PR, which would then be
    validated, fixed and merged: `/codegen cancel` (or closing the issue) must
    stop that too, not answer that there is nothing to cancel."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    fake_codegen.script_run(statuses=FOREVER)
    settings = dataclasses.replace(
        flow_settings, agent_run_timeout_ms=1000, run_poll_max_seconds=60.0
    )
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "timed_out"))
        payload = await say(bot, seeded, "/codegen cancel")
        await bot.wait_idle()
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(run_id, status="COMPLETE", github_pull_requests=[CODEGEN_PR])
        open_pull(seeded)
        await deliver(bot, "pull_request", pull_request_event(seeded, "opened", REPO, PR_NUMBER))
        await bot.wait_idle()
        task = await bot.runtime.pool.fetchrow("SELECT * FROM tasks")
        linked = await bot.runtime.pool.fetchval("SELECT count(*) FROM pull_requests")
    assert task["status"] == "cancelled", task["status"]
    assert task["pull_requests"] == "[]" and linked == 0
    assert seeded.check_runs_for(REPO) == []
    assert reactions(seeded, payload) == ["eyes", "rocket"]


async def test_closing_the_issue_after_the_run_timeout_stops_the_late_pr(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    fake_codegen.script_run(statuses=FOREVER)
    settings = dataclasses.replace(flow_settings, agent_run_timeout_ms=1000)
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "timed_out"))
        closed = labeled_event(seeded, example_payload, WRITER)
        closed["action"] = "closed"
        closed.pop("label")
        await deliver(bot, "issues", closed)
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(run_id, status="COMPLETE", github_pull_requests=[CODEGEN_PR])
        open_pull(seeded)
        await asyncio.sleep(2.0)  # several late polls (0.3 s x 5 apart)
        await bot.wait_idle()
        task = await bot.runtime.pool.fetchrow("SELECT * FROM tasks")
    assert task["status"] == "cancelled", task["status"]
    assert task["pull_requests"] == "[]"


async def test_a_late_link_that_dies_midway_still_links_the_pr(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The late poll records the run's PR on the attempt, then dies before the
    task takes it: its retry must link the PR, not find the attempt no longer
    `timed_out` and drop it for good."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    open_pull(seeded)
    fake_codegen.script_run(statuses=FOREVER)
    settings = dataclasses.replace(flow_settings, agent_run_timeout_ms=1000)
    async with running_bot(settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "timed_out"))
        await fail_once(bot.runtime.pool, "tasks", "UPDATE", "NEW.status = 'pr_open'")
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(run_id, status="COMPLETE", github_pull_requests=[CODEGEN_PR])
        task = await wait_until(lambda: task_status(bot, "passed"), timeout=30)
        crashed = await bot.runtime.pool.fetchval(
            "SELECT count(*) FROM jobs WHERE kind = 'task.poll' AND attempts > 1"
        )
    assert crashed == 1  # the crash happened, and the retry linked the PR
    assert PR_URL in task["pull_requests"]
