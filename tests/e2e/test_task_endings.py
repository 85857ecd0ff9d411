"""How tasks end, seen from GitHub: final tracking comments for merged, closed,
failed and cancelled tasks, status and fix commands at the end of a task, and
events for PRs the bot never saw. Kept from a third review."""

from __future__ import annotations

from tests.support.bot import running_bot
from tests.support.commands import (
    CLEAN_FILES,
    ci_fix_in_flight,
    deliver,
    open_pull,
    reactions,
    replies,
    say,
    task_with_validated_pr,
)
from tests.support.events import pull_request_event
from tests.support.flow import (
    CODEGEN_PR,
    PR_NUMBER,
    PR_URL,
    REPO,
    WRITER,
    bot_comments,
    labeled_event,
    settle,
    task_status,
    tracking,
    wait_until,
)


async def test_status_on_the_issue_shows_verdict_and_links(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        sha = await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        payload = await say(bot, seeded, "/codegen status", number=7)
    [reply] = replies(seeded, 7)
    assert f"[Export CSV]({PR_URL})" in reply
    assert f"Validation of `{sha[:7]}`: **neutral**" in reply
    assert "[agent run " in reply
    assert reactions(seeded, payload) == ["eyes", "rocket"]


async def test_cancel_in_needs_info(flow_settings, seeded, fake_codegen, example_payload):
    seeded.issues[REPO][7]["body"] = ""
    seeded.issues[REPO][7]["title"] = "csv"
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "needs_info"))
        payload = await say(bot, seeded, "/codegen cancel")
        task = await wait_until(lambda: task_status(bot, "cancelled"))
        await settle(bot)
    body = tracking(seeded)
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    assert body.startswith("### codegen-bot · ⏹️ Cancelled")
    assert task["finished_at"] is not None
    # It never got past the information check: it must not claim it was validated.
    assert "- [ ] Task validated" in body, body


async def test_fix_while_a_ci_fix_is_in_flight_is_busy(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await ci_fix_in_flight(bot, seeded, fake_codegen, example_payload)
        payload = await say(bot, seeded, "/codegen fix also rename it", number=PR_NUMBER)
    [reply] = replies(seeded, PR_NUMBER)
    assert "still working on earlier instructions" in reply and f"@{WRITER}" in reply
    assert reactions(seeded, payload) == ["eyes", "confused"]
    assert len(fake_codegen.resumed) == 1


async def test_closed_while_ci_fix_in_flight_ends_final(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await ci_fix_in_flight(bot, seeded, fake_codegen, example_payload)
        await deliver(
            bot,
            "pull_request",
            pull_request_event(seeded, "closed", REPO, PR_NUMBER, sender=WRITER),
        )
        await wait_until(lambda: task_status(bot, "closed"))
        await bot.wait_idle()
        import asyncio

        await asyncio.sleep(2)
        await bot.wait_idle()
    body = tracking(seeded)
    assert body.startswith("### codegen-bot · 🚪")
    assert "agent working" not in body, body


async def test_merged_while_validation_waits_for_ci_ends_final(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", "validation:\n  ci_start_seconds: 0\n")
    sha = open_pull(seeded)["head"]["sha"]
    seeded.add_check_run(
        REPO, name="build", head_sha=sha, status="queued", conclusion=None, app_slug="ci"
    )
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "validating"))
        await deliver(
            bot,
            "pull_request",
            pull_request_event(seeded, "closed", REPO, PR_NUMBER, sender=WRITER, merged=True),
        )
        await wait_until(lambda: task_status(bot, "merged"))
        # The waiting validation ends with the PR (its CI-deadline wake-up stays
        # scheduled, so wait for the check run rather than for an empty queue).
        cancelled = await wait_until(
            lambda: [
                r
                for r in seeded.check_runs_for(REPO, sha)
                if r["name"] == "codegen/validation" and r["conclusion"] == "cancelled"
            ]
        )
        await bot.wait_idle()
    body = tracking(seeded)
    assert len(cancelled) == 1
    assert body.startswith("### codegen-bot · 🎉 Merged")
    assert "in progress" not in body


async def test_failed_task_comment_is_final(flow_settings, seeded, fake_codegen, example_payload):
    seeded.set_file(REPO, ".github/codegen.yml", "retries: 0\n")
    fake_codegen.script_run(statuses=["FAILED"], summary="tests did not pass")
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "failed"))
        await settle(bot)
    body = tracking(seeded)
    assert body.startswith("### codegen-bot · ❌ Failed")
    assert "working" not in body


async def test_closed_event_for_an_unknown_pr_does_nothing(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.add_pull(REPO, 30, title="someone's", body="", user="someone", files=CLEAN_FILES)
    async with running_bot(flow_settings) as bot:
        guid = await deliver(
            bot, "pull_request", pull_request_event(seeded, "closed", REPO, 30, sender=WRITER)
        )
        await settle(bot)
        row = await bot.runtime.pool.fetchrow(
            "SELECT status, error FROM webhook_deliveries WHERE id = $1", guid
        )
        jobs = await bot.runtime.pool.fetch("SELECT kind, status, last_error FROM jobs")
        prs = await bot.runtime.pool.fetchval("SELECT count(*) FROM pull_requests")
    assert row["status"] in ("processed", "ignored")
    assert all(j["status"] == "done" for j in jobs), jobs
    assert prs == 0
    assert bot_comments(seeded) == [] and seeded.comments_on(REPO, 30) == []


async def test_fix_on_a_merged_task_is_refused(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        await deliver(
            bot,
            "pull_request",
            pull_request_event(seeded, "closed", REPO, PR_NUMBER, sender=WRITER, merged=True),
        )
        await wait_until(lambda: task_status(bot, "merged"))
        fake_codegen.script_resume(statuses=["COMPLETE"])
        payload = await say(bot, seeded, "/codegen fix one more thing", number=PR_NUMBER)
        await bot.wait_idle()
    assert len(fake_codegen.resumed) == 0
    assert reactions(seeded, payload) == ["eyes", "confused"]
