"""PR validation, auto-merge and follow-ups under crashes, races and people
without access: each test is a defect a review found, kept so it stays fixed.
Real PostgreSQL, the bot's real server and worker, fake GitHub and Codegen (as in
tests/test_validation.py); crashes are injected inside PostgreSQL (fail_once)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime

from app import cpu
from app.followups import flow as task_actions
from app.queue.store import Job
from app.validation import run as validation_run
from tests.fakes.github.routing import GitHubError
from tests.support.bot import APP_SLUG, running_bot
from tests.support.events import check_run_event, pull_request_event, status_event
from tests.support.flow import INSTALLATION, READER, REPO, fail_once, settle, wait_until
from tests.support.validation import (
    AUTO_MERGE,
    CI_FIX,
    CLEAN_FILES,
    KEY_PATCH,
    PR_NUMBER,
    QUICK,
    ci_run,
    open_pull,
    our_runs,
    start_task_with_pr,
    task_row,
    validation_row,
)
from tests.support.validation import (
    task_in as _task_in,
)

BOT = f"{APP_SLUG}[bot]"


async def test_auto_merged_pr_ends_the_task_as_merged(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The bot's own merge comes back as `pull_request.closed` sent by the App's
    bot user, which dispatch drops as an own event: the merge itself must end the
    PR and the task."""
    seeded.set_file(REPO, ".github/codegen.yml", AUTO_MERGE)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: seeded.pulls[REPO][PR_NUMBER]["merged"] or None)
        await bot.wait_idle()
        event = pull_request_event(seeded, "closed", REPO, PR_NUMBER, sender=BOT)
        assert event["pull_request"]["merged"] is True and event["sender"]["login"] == BOT
        assert (await bot.deliver("pull_request", event))[0] == 202
        await settle(bot)
        task = await task_row(bot)
        pr_state = await bot.runtime.pool.fetchval("SELECT state FROM pull_requests")
    assert pr_state == "merged"
    assert task["status"] == "merged"


async def test_a_readers_pr_saying_fixes_is_not_auto_merged(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Anyone can write `Fixes #7` in a PR body: a reader's PR is neither linked
    to the task nor merged by the bot."""
    seeded.set_file(REPO, ".github/codegen.yml", AUTO_MERGE)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    agent_sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, agent_sha, "tests", "failure")  # the agent's own PR is not merged
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _task_in(bot, "changes_requested"))
        await bot.wait_idle()
        theirs = seeded.add_pull(
            REPO,
            30,
            title="My CSV export",
            body="Fixes #7",
            user=READER,
            head_ref="patch-1",
            files=CLEAN_FILES,
        )
        ci_run(seeded, theirs["head"]["sha"], "tests", "success")
        event = pull_request_event(seeded, "opened", REPO, 30, sender=READER)
        await bot.deliver("pull_request", event)
        await settle(bot)
        linked = await bot.runtime.pool.fetchval(
            "SELECT task_id FROM pull_requests WHERE number = 30"
        )
    assert seeded.calls("PUT", r"/pulls/30/merge$") == [], "merged a reader's PR"
    assert linked is None


async def test_a_try_that_dies_before_the_task_moves_still_moves_it(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The verdict and review are stored, then the worker dies before the task
    moves: the next try still moves it and finishes the tracking comment."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    async with running_bot(flow_settings) as bot:
        await fail_once(bot.runtime.pool, "tasks", "UPDATE", "NEW.status = 'passed'")
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: validation_row(bot, sha))
        await settle(bot)
        task = await task_row(bot)
        failed = await bot.runtime.pool.fetchval(
            "SELECT count(*) FROM jobs WHERE kind = 'validation.run' AND attempts > 1"
        )
    assert failed == 1  # the crash happened, and was retried
    assert task["status"] == "passed"
    assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 1


async def test_a_retried_review_is_not_posted_for_a_superseded_commit(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The review call fails once after the verdict was stored and a push is
    recorded before the retry: the old commit's review is not posted and its
    verdict does not overwrite the new head's."""
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=4.0)
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    key_file = {"filename": "settings.py", "status": "modified", "patch": KEY_PATCH}
    old = open_pull(seeded, [key_file])["head"]["sha"]
    seeded.fail_next("POST", rf"/pulls/{PR_NUMBER}/reviews", 404)
    async with running_bot(settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: validation_row(bot, old))  # verdict stored, review failed
        new = seeded.push(REPO, PR_NUMBER, CLEAN_FILES)
        event = pull_request_event(seeded, "synchronize", REPO, PR_NUMBER, sender="codegen-agent")
        await bot.deliver("pull_request", event)
        await wait_until(lambda: validation_row(bot, new))
        await settle(bot, timeout=30)
        task = await task_row(bot)
    stale = [r for r in seeded.reviews_on(REPO, PR_NUMBER) if r["commit_id"] == old]
    assert stale == [], "the old commit's review was posted after the newer push"
    assert task["status"] == "passed"


async def test_a_ci_fix_retried_after_a_crash_still_sends_its_attempt(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A crash after the attempt is counted and before the follow-up is stored
    rolls both back: the retry spends the one attempt and sends the fix."""
    seeded.set_file(
        REPO, ".github/codegen.yml", CI_FIX.replace("max_attempts: 2", "max_attempts: 1")
    )
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "failure")
    fake_codegen.script_resume(statuses=["COMPLETE"])
    async with running_bot(flow_settings) as bot:
        await fail_once(bot.runtime.pool, "agent_followups", "INSERT")
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
        await settle(bot)
        pr = await bot.runtime.pool.fetchrow("SELECT * FROM pull_requests")
        retried = await bot.runtime.pool.fetchval(
            "SELECT attempts FROM jobs WHERE kind = 'validation.ci_fix'"
        )
    assert retried == 2
    assert pr["ci_fix_attempts"] == 1 and pr["ci_fix_outcome"] is None
    assert len(fake_codegen.resumed) == 1


async def test_two_followups_at_once_resume_the_run_once(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Two follow-ups with different keys at the same moment (two `/codegen fix`
    comments, a fix and a CI fix, two clicks): one is sent, the other told the
    agent is busy."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    open_pull(seeded, CLEAN_FILES)
    fake_codegen.script_resume(statuses=["COMPLETE"])
    fake_codegen.script_resume(statuses=["COMPLETE"])
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        task = await wait_until(lambda: _task_in(bot, "passed"))
        await bot.wait_idle()
        from app.tasks import store as tasks

        loaded = await tasks.get(bot.runtime.pool, task["id"])
        outcomes = await asyncio.gather(
            *(
                task_actions.request_followup(
                    bot.runtime, loaded, kind="fix", key=f"k{i}", instructions="x", by="m"
                )
                for i in range(2)
            )
        )
        await settle(bot)
    assert [o.ok for o in outcomes].count(True) == 1, outcomes
    assert len(fake_codegen.resumed) == 1


def _pull_whose_ci_waits(seeded) -> str:
    """A clean PR (settings QUICK) whose CI is queued and never reports; its head."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    seeded.add_check_run(
        REPO, name="build", head_sha=sha, status="queued", conclusion=None, app_slug="ci"
    )
    return sha


def _dead_job(row) -> Job:
    """The validation job of `row` as the worker hands it to its clean-up."""
    return Job(0, validation_run.RUN_JOB, {"validation_id": row["id"]}, 8, 8, datetime.now(UTC))


async def test_a_validation_whose_job_dies_for_good_is_concluded_and_the_task_moves_on(
    flow_settings, seeded, fake_codegen, example_payload
):
    """CI never reports and the job's worker keeps dying: the clean-up the worker
    runs for a dead job concludes the check run `neutral`, saying why, and the
    task leaves `validating`."""
    sha = _pull_whose_ci_waits(seeded)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, sha, "waiting_ci"))
        await wait_until(lambda: _task_in(bot, "validating"))
        await validation_run.job_died(bot.runtime, _dead_job(row))
        await bot.wait_idle()
        task = await task_row(bot)
        stored = await validation_row(bot, sha)
    [run] = [r for r in seeded.check_runs_for(REPO, sha) if r["name"] == "codegen/validation"]
    assert run["conclusion"] == "neutral"
    assert run["output"]["title"] == "Validation could not finish"
    assert "failed too many times" in run["output"]["summary"]
    assert stored["conclusion"] == "neutral"
    assert task["status"] == "pr_open" and "could not finish" in task["status_detail"]


async def test_a_check_run_whose_answer_was_lost_is_concluded_when_the_job_dies(
    flow_settings, seeded, fake_codegen, example_payload
):
    """An earlier try created the check run and died before recording its id
    (the answer lost), and no later try got further: the dead job's clean-up
    finds the run by its external id and concludes it `neutral`, instead of
    leaving it `in_progress` on GitHub for good."""
    sha = _pull_whose_ci_waits(seeded)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, sha, "waiting_ci"))
        await bot.wait_idle()
        await bot.runtime.pool.execute(  # as if the create's answer never came
            "UPDATE validations SET check_run_id = NULL, check_run_url = NULL WHERE id = $1",
            row["id"],
        )
        await validation_run.job_died(bot.runtime, _dead_job(row))
        await bot.wait_idle()
        stored = await validation_row(bot, sha)
        task = await task_row(bot)
    [run] = our_runs(seeded, sha)
    assert run["status"] == "completed" and run["conclusion"] == "neutral"
    assert run["output"]["title"] == "Validation could not finish"
    assert stored["check_run_id"] == run["id"] and stored["conclusion"] == "neutral"
    assert task["status"] == "pr_open"


async def test_a_validation_superseded_while_its_job_gives_up_stays_superseded(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The clean-up of a dead job reads the validation, concludes its check run
    `neutral` on GitHub, then stores that. A push that supersedes it meanwhile
    wins: the row keeps `superseded` (a status the transition table never leaves),
    concluded (`neutral`, or `cancelled` by its superseded job if that comes last),
    and the new head's validation goes on."""
    old = _pull_whose_ci_waits(seeded)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, old, "waiting_ci"))
        await bot.wait_idle()
        check_run = rf"/check-runs/{row['check_run_id']}$"
        before = len(seeded.calls("PATCH", check_run))
        seeded.delay_next("PATCH", check_run, 3.0)  # room for the push under load
        dying = asyncio.create_task(validation_run.job_died(bot.runtime, _dead_job(row)))
        # It has read the row (`waiting_ci`) and waits on GitHub: now the push.
        await wait_until(lambda: len(seeded.calls("PATCH", check_run)) > before)
        new = seeded.push(REPO, PR_NUMBER, CLEAN_FILES)
        event = pull_request_event(seeded, "synchronize", REPO, PR_NUMBER, sender="codegen-agent")
        assert (await bot.deliver("pull_request", event))[0] == 202
        await wait_until(lambda: validation_row(bot, old, "superseded"))
        assert not dying.done()
        await dying
        await wait_until(lambda: validation_row(bot, new))
        await bot.wait_idle()
        stale = await bot.runtime.pool.fetchrow(
            "SELECT * FROM validations WHERE head_sha = $1", old
        )
    assert stale["status"] == "superseded"
    assert stale["conclusion"] in ("neutral", "cancelled")
    assert stale["title"] == "Validation could not finish"
    [new_run] = our_runs(seeded, new)
    assert new_run["conclusion"] == "success"


async def test_a_late_look_at_pending_ci_does_not_reopen_a_concluded_validation(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Two looks at one waiting validation (its wake-up and a CI event) can
    overlap: one reads CI still pending, the other reads it finished and
    concludes first. The late one then takes the PR's lock to wait again: the
    concluded validation stays `completed` with the CI it concluded on, and
    its check run is not set back to "Waiting for CI"."""
    from datetime import UTC, datetime, timedelta

    from app.pull_requests import store as pull_requests
    from app.validation import ci
    from app.validation import store as validations
    from app.validation.start import wait_for_ci

    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    seeded.add_status(REPO, sha, context="ci/jenkins", state="pending")
    async with running_bot(flow_settings) as bot:
        pool = bot.runtime.pool
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, sha, "waiting_ci"))
        await bot.wait_idle()
        # The late look: the validation and CI as it read them, still pending.
        late = await validations.get(pool, row["id"])
        pending = ci.CiState.from_json(late.ci)
        assert pending.verdict == "pending"
        # The other look: CI finished, the validation is concluded.
        event = status_event(seeded, REPO, sha, context="ci/jenkins", state="success")
        assert (await bot.deliver("status", event))[0] == 202
        done = await wait_until(lambda: validation_row(bot, sha))
        await bot.wait_idle()
        patches = len(seeded.calls("PATCH", rf"/check-runs/{row['check_run_id']}$"))
        pr = await pull_requests.get(pool, row["pull_request_id"])
        gh = await bot.runtime.github.for_installation(INSTALLATION)
        wake = datetime.now(UTC) + timedelta(minutes=30)
        await wait_for_ci(bot.runtime, gh, pr, late, pending, wake)
        after = await validations.get(pool, row["id"])
    assert done["conclusion"] == "success"
    assert after.status == "completed" and after.conclusion == "success"
    assert ci.CiState.from_json(after.ci).verdict == "passed"
    assert len(seeded.calls("PATCH", rf"/check-runs/{row['check_run_id']}$")) == patches
    [run] = our_runs(seeded, sha)
    assert run["status"] == "completed" and run["conclusion"] == "success"


async def test_a_ci_fix_does_not_hold_the_tasks_lock_while_waiting_for_a_cpu_worker(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The CI-fix prompt is built in a CPU worker process; with every worker
    busy the job waits for one, and must not wait holding the task's follow-up
    lock, which a `/codegen cancel` or fix on the same task would queue behind."""
    seeded.set_file(REPO, ".github/codegen.yml", CI_FIX)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "failure")
    fake_codegen.script_resume(statuses=["COMPLETE"])
    done = asyncio.Event()

    async def occupy() -> None:  # every CPU worker busy, a second at a time
        while not done.is_set():
            await cpu.run(time.sleep, 1.0)

    async with running_bot(flow_settings) as bot:
        busy = [asyncio.create_task(occupy()) for _ in range(cpu.WORKERS)]
        started = asyncio.create_task(
            start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        )
        await wait_until(lambda: task_row(bot))
        task_id = (await task_row(bot))["id"]
        key = await bot.runtime.pool.fetchval(
            "SELECT hashtextextended($1, 0)", task_actions.followup_lock(task_id)
        )
        longest = held_since = 0.0
        while not fake_codegen.resumed:
            held = await bot.runtime.pool.fetchval(
                """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                      AND classid = (($1::bigint >> 32) & 4294967295)::oid
                      AND objid = ($1::bigint & 4294967295)::oid
                      AND objsubid = 1""",
                key,
            )
            now = time.monotonic()
            if held:
                held_since = held_since or now
                longest = max(longest, now - held_since)
            else:
                held_since = 0.0
            await asyncio.sleep(0.02)
        done.set()
        await asyncio.gather(started, *busy)
        await settle(bot)
        pr = await bot.runtime.pool.fetchrow("SELECT * FROM pull_requests")
    assert pr["ci_fix_attempts"] == 1 and len(fake_codegen.resumed) == 1
    assert longest < 0.5, f"the follow-up lock was held {longest:.2f}s"


async def test_a_lost_answer_to_a_check_run_created_with_its_verdict_is_not_repeated(
    flow_settings, seeded, fake_codegen, example_payload
):
    """CI has finished, so the check run is created with its verdict and the
    first 50 of its 60 annotations in one POST. GitHub makes it but the answer
    is lost (the try fails), and CI changes before the retry. The retry finds
    the run by its external id: no second check run, no other verdict PATCHed
    into it, the 10 other annotations sent, one review, the task moved on; the
    CI change's own event then updates the verdict."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    todos = "".join(f"+# TODO: item {i}\n" for i in range(60))
    notes = {"filename": "notes.py", "status": "added", "patch": f"@@ -0,0 +1,60 @@\n{todos}"}
    sha = open_pull(seeded, [notes, CLEAN_FILES[1]])["head"]["sha"]
    build = ci_run(seeded, sha, "tests", "success")

    def create_then_lose_the_answer(ctx):
        seeded._extra_routes.remove(route)
        seeded._create_check_run(ctx)  # made on GitHub, never recorded by the bot
        build.update(conclusion="failure")  # CI changes before the retry
        raise GitHubError(403, "the answer is lost")

    route = seeded.add_route(
        "POST",
        "/repos/{owner}/{repo}/check-runs",
        create_then_lose_the_answer,
        permission="checks:write",
        creates_content=True,
    )
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, sha), timeout=30)
        await wait_until(lambda: seeded.reviews_on(REPO, PR_NUMBER) or None)
        await settle(bot)
        row = await validation_row(bot, sha)
        task = await task_row(bot)
        attempts = await bot.runtime.pool.fetchval(
            "SELECT max(attempts) FROM jobs WHERE kind = 'validation.run'"
        )
        [run] = our_runs(seeded, sha)  # found again, not created twice
        [create] = seeded.calls("POST", r"/check-runs$")
        patches = [r.json for r in seeded.calls("PATCH", rf"/check-runs/{run['id']}$")]
        verdict = run["conclusion"]
        event = check_run_event(seeded, "completed", REPO, build["id"], sender="ci-bot")
        assert (await bot.deliver("check_run", event))[0] == 202
        await wait_until(lambda: our_runs(seeded, sha)[0]["conclusion"] == "failure" or None)
        await bot.wait_idle()
    assert attempts == 2
    assert create.json["status"] == "completed" and create.json["conclusion"] == verdict
    assert len(create.json["output"]["annotations"]) == 50
    assert [len(p["output"]["annotations"]) for p in patches] == [10]
    assert all("conclusion" not in p for p in patches), patches
    assert len(seeded.annotations[run["id"]]) == 60
    assert row["check_run_id"] == run["id"] and row["annotations_sent"] == 60
    assert row["conclusion"] == verdict != "failure"
    assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 1
    assert task["status"] == "passed"
