"""Recovering from crashes and lasting failures at the later steps (merge,
retry command, review, follow-ups): each test is a defect a second review found,
kept so it stays fixed. Real PostgreSQL, the bot's real server and worker, fake
GitHub and Codegen; crashes injected inside PostgreSQL with fail_once."""

from __future__ import annotations

import dataclasses

from app.followups import flow as task_actions
from tests.support.bot import running_bot
from tests.support.events import issue_comment_event
from tests.support.flow import (
    CODEGEN_PR,
    INSTALLATION,
    REPO,
    WRITER,
    fail_once,
    labeled_event,
    settle,
    wait_until,
)
from tests.support.validation import (
    AUTO_MERGE,
    CLEAN_FILES,
    PR_NUMBER,
    QUICK,
    ci_run,
    click,
    open_pull,
    our_runs,
    start_task_with_pr,
    task_row,
)
from tests.support.validation import (
    task_in as _task_in,
)


async def test_a_merge_job_that_dies_after_merging_still_ends_the_task(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The merge job merges, then dies recording it: its retry sees the pull
    merged on GitHub and ends the PR and the task (GitHub's closed event is our
    bot's own, dropped)."""
    seeded.set_file(REPO, ".github/codegen.yml", AUTO_MERGE)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await fail_once(bot.runtime.pool, "pull_requests", "UPDATE", "NEW.state = 'merged'")
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: seeded.pulls[REPO][PR_NUMBER]["merged"] or None)
        await settle(bot)
        task = await task_row(bot)
        pr_state = await bot.runtime.pool.fetchval("SELECT state FROM pull_requests")
        attempts = await bot.runtime.pool.fetchval(
            "SELECT attempts FROM jobs WHERE kind = 'pull_request.merge'"
        )
    assert attempts == 2  # the crash happened and the merge job was retried
    assert pr_state == "merged", pr_state
    assert task["status"] == "merged", task["status"]


async def test_codegen_retry_that_dies_before_acting_is_not_lost(
    flow_settings, seeded, fake_codegen, example_payload
):
    """`/codegen retry` whose transaction dies (nothing started): the delivery's
    retry starts the attempt, once."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    open_pull(seeded, CLEAN_FILES)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _task_in(bot, "passed"))
        await bot.wait_idle()
        fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
        await fail_once(bot.runtime.pool, "tasks", "UPDATE", "NEW.status = 'generating_prompt'")
        payload = issue_comment_event(seeded, "created", REPO, 7, "/codegen retry", user=WRITER)
        await bot.deliver("issue_comment", payload)
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status IN ('done', 'failed') FROM commands WHERE verb = 'retry'"
            )
        )
        await settle(bot)
        task = await task_row(bot)
        command = await bot.runtime.pool.fetchrow("SELECT * FROM commands WHERE verb = 'retry'")
        delivery_attempts = await bot.runtime.pool.fetchval(
            "SELECT attempts FROM jobs WHERE kind = 'delivery' ORDER BY id DESC LIMIT 1"
        )
    assert delivery_attempts == 2  # the crash happened and the delivery was retried
    assert task["attempt"] == 2, (task["attempt"], task["status"], dict(command))


async def test_a_validation_that_dies_after_its_verdict_does_not_leave_the_task_validating(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The verdict is stored, then posting the review keeps failing (403: the App
    lost pull_requests: write) until the job dies for good: the task still
    follows the verdict instead of staying `validating`."""
    from datetime import UTC, datetime

    from app.queue.store import Job
    from app.validation import run as validation_run
    from tests.support.validation import validation_row

    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    seeded.fail_next(
        "POST",
        rf"/pulls/{PR_NUMBER}/reviews$",
        403,
        body={"message": "Resource not accessible by integration"},
        times=1000,
    )
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, sha, "completed"))
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT attempts >= 2 FROM jobs WHERE kind = 'validation.run' "
                "AND payload->>'validation_id' = $1::text ORDER BY id LIMIT 1",
                str(row["id"]),
            )
        )
        # its last attempt fails the same way: the worker's clean-up runs
        job = Job(0, validation_run.RUN_JOB, {"validation_id": row["id"]}, 8, 8, datetime.now(UTC))
        await validation_run.job_died(bot.runtime, job)
        task = await task_row(bot)
    assert row["conclusion"] == "success"
    assert task["status"] != "validating", task["status_detail"]


async def test_a_followup_whose_send_job_dies_does_not_block_the_task_for_ever(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Codegen answers 503 to every resume until the send job is dead: the
    follow-up ends `failed`, so later fixes and CI fixes are not blocked."""
    from app.tasks import store as tasks

    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    open_pull(seeded, CLEAN_FILES)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        task = await wait_until(lambda: _task_in(bot, "passed"))
        await bot.wait_idle()
        fake_codegen.fail_next("POST", r"/agent/run/resume$", 503, times=10_000)
        loaded = await tasks.get(bot.runtime.pool, task["id"])
        first = await task_actions.request_followup(
            bot.runtime, loaded, kind="fix", key="k1", instructions="x", by=WRITER
        )
        assert first.ok
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'dead' FROM jobs WHERE kind = 'followup.send'"
            ),
            timeout=120,
        )
        status = await bot.runtime.pool.fetchval("SELECT status FROM agent_followups")
        second = await task_actions.request_followup(
            bot.runtime, loaded, kind="fix", key="k2", instructions="y", by=WRITER
        )
    assert status not in ("pending", "sending"), status
    assert second.ok, second.message


async def test_a_retry_click_that_dies_after_starting_the_attempt_starts_it_once(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The "Retry task" click starts attempt 2, then its job dies before recording
    the click; attempt 2 fails meanwhile (no retries left). The job's retry must not
    start attempt 3: the click was one request for one paid run."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK + "retries: 0\n")
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    # The delivery's retry comes after attempt 2 has failed.
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=4.0)
    async with running_bot(settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _task_in(bot, "passed"))
        await settle(bot)
        [check_run] = our_runs(seeded, sha)
        fake_codegen.script_run(statuses=["FAILED"])
        await fail_once(
            bot.runtime.pool,
            "tasks",
            "UPDATE",
            "array_to_string(NEW.notes, ' ') LIKE '%clicked “Retry task”%'",
        )
        await click(bot, seeded, check_run["id"], WRITER, "retry")
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'done' AND attempts = 2 FROM jobs "
                "WHERE kind = 'delivery' ORDER BY id DESC LIMIT 1"
            ),
            timeout=30,
        )
        await bot.wait_idle()  # attempt 3, if it were started, is created by now
        task = await task_row(bot)
    assert len(fake_codegen.created) == 2, "the click's retry started a second new run"
    assert task["attempt"] == 2 and task["status"] == "failed", task["status"]


async def test_a_retry_click_handled_to_the_end_before_a_crash_is_not_handled_again(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The "Retry task" click starts attempt 2 and is recorded, then the job dies
    before the delivery is; attempt 2 fails meanwhile (no retries left). The
    job's retry finds the click done and must not start attempt 3."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK + "retries: 0\n")
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=4.0)
    async with running_bot(settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _task_in(bot, "passed"))
        await settle(bot)
        [check_run] = our_runs(seeded, sha)
        fake_codegen.script_run(statuses=["FAILED"])
        await fail_once(
            bot.runtime.pool,
            "webhook_deliveries",
            "UPDATE",
            "NEW.status = 'processed' AND NEW.event = 'check_run'",
        )
        await click(bot, seeded, check_run["id"], WRITER, "retry")
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'done' AND attempts = 2 FROM jobs "
                "WHERE kind = 'delivery' ORDER BY id DESC LIMIT 1"
            ),
            timeout=30,
        )
        await bot.wait_idle()  # attempt 3, if it were started, is created by now
        task = await task_row(bot)
        clicks = await bot.runtime.pool.fetch("SELECT status FROM commands")
    assert len(fake_codegen.created) == 2, "the click's retry started a second new run"
    assert task["attempt"] == 2 and task["status"] == "failed", task["status"]
    assert [c["status"] for c in clicks] == ["done"]


async def test_a_label_handled_twice_after_a_crash_starts_one_task(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The label's task is made, then the delivery's job dies before it is
    recorded as handled; the task ends meanwhile (Codegen refuses the run). The
    job's retry must not take the same label for a new request and start a
    second task and paid run."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    fake_codegen.fail_next("POST", r"/agent/run$", 402)
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=4.0)
    async with running_bot(settings) as bot:
        await fail_once(
            bot.runtime.pool, "webhook_deliveries", "UPDATE", "NEW.status = 'processed'"
        )
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'done' AND attempts = 2 FROM jobs WHERE kind = 'delivery'"
            ),
            timeout=30,
        )
        await bot.wait_idle()
        tasks = await bot.runtime.pool.fetch("SELECT status FROM tasks")
    assert [t["status"] for t in tasks] == ["failed"], "the label started a second task"
    assert len(fake_codegen.calls("POST", r"/agent/run$")) == 1


async def test_a_poll_that_dies_after_recording_a_failed_run_still_retries(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The poll records the failed run, then dies starting the next attempt: its
    retry sees the run failed again and starts that attempt, rather than being
    refused the attempt's move from `failed` to `failed` until the job dies."""
    fake_codegen.script_run(statuses=["FAILED"], summary="tests did not pass")
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(flow_settings) as bot:
        await fail_once(
            bot.runtime.pool,
            "tasks",
            "UPDATE",
            "OLD.status = 'running' AND NEW.status = 'generating_prompt'",
        )
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: _task_in(bot, "pr_open"), timeout=30)
        await settle(bot)
        requests = await bot.runtime.pool.fetch(
            "SELECT attempt, status FROM codegen_requests ORDER BY attempt"
        )
        first_poll_attempts = await bot.runtime.pool.fetchval(
            "SELECT attempts FROM jobs WHERE kind = 'task.poll' ORDER BY id LIMIT 1"
        )
    assert first_poll_attempts == 2  # the crash happened and the poll was retried
    assert [(r["attempt"], r["status"]) for r in requests] == [(1, "failed"), (2, "complete")]
    assert task["attempt"] == 2


async def test_a_poll_that_dies_after_recording_a_timeout_still_times_out(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The poll records the attempt as timed out, then dies ending the task: its
    retry ends the task `timed_out` (the attempt's move from `timed_out` to
    `timed_out` is a retried look, not a bug) instead of failing it when the job
    dies for good."""
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    settings = dataclasses.replace(flow_settings, agent_run_timeout_ms=1500)
    async with running_bot(settings) as bot:
        await fail_once(bot.runtime.pool, "tasks", "UPDATE", "NEW.status = 'timed_out'")
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status IN ('timed_out', 'failed') FROM tasks ORDER BY id DESC LIMIT 1"
            ),
            timeout=60,
        )
        task = await task_row(bot)
        request = await bot.runtime.pool.fetchrow("SELECT status FROM codegen_requests")
    assert task["status"] == "timed_out", task["status_detail"]
    assert request["status"] == "timed_out"
