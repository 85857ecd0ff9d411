"""Review feedback without a command, end to end: a writer's review asking for
changes on the agent's pull request becomes one follow-up carrying the review
and each comment's place in the diff; readers, bots and approvals send nothing;
the per-task limit holds."""

from __future__ import annotations

from tests.support.bot import running_bot
from tests.support.commands import deliver, task_with_validated_pr
from tests.support.events import review_event
from tests.support.flow import PR_NUMBER, READER, REPO, WRITER, wait_until

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


async def review(bot, seeded, body, *, user=WRITER, state="changes_requested", comments=()):
    """`user` submits a review with these (text, path, line) comments; handled."""
    payload = review_event(seeded, "submitted", REPO, PR_NUMBER, body, user=user, state=state)
    for text, path, line in comments:
        seeded.add_review_comment(
            REPO,
            PR_NUMBER,
            text,
            path=path,
            line=line,
            user=user,
            review_id=payload["review"]["id"],
        )
    await deliver(bot, "pull_request_review", payload)
    await bot.wait_idle()
    return payload


async def followups(bot):
    return await bot.runtime.pool.fetch("SELECT * FROM agent_followups ORDER BY id")


async def tracking_notes(bot) -> list[str]:
    return list(await bot.runtime.pool.fetchval("SELECT notes FROM tasks"))


async def test_a_writers_review_asking_for_changes_sends_one_followup_with_its_comments(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        fake_codegen.script_resume(statuses=["COMPLETE"])
        payload = await review(
            bot,
            seeded,
            "Close, but the limit should come from settings.",
            comments=[
                ("Read this from settings.", "widgets/export.py", 2),
                (f"And never log {TOKEN}.", "widgets/export.py", 2),
            ],
        )
        await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
        sent = await followups(bot)
        await deliver(bot, "pull_request_review", payload)  # the same review again
        await bot.wait_idle()
        notes = await tracking_notes(bot)
        again = await followups(bot)
    [prompt] = [r["prompt"] for r in fake_codegen.resumed]
    assert f"@{WRITER} reviewed pull request #{PR_NUMBER} and requested changes" in prompt
    assert "Close, but the limit should come from settings." in prompt
    assert "Read this from settings." in prompt
    assert prompt.count("<diff_hunk>\nFile: widgets/export.py, line 2\n") == 2
    assert "+ROWS = 10" in prompt
    assert TOKEN not in prompt  # a credential in a comment is redacted
    assert [r["kind"] for r in sent] == ["review"] and len(again) == 1
    assert any(f"@{WRITER} requested changes on #{PR_NUMBER} (2 comments)" in n for n in notes)


async def test_readers_bots_approvals_and_bare_remarks_send_nothing(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        seeded.set_permission(REPO, "dependabot[bot]", "write")
        await review(bot, seeded, "Please rename it.", user=READER)
        await review(bot, seeded, "Looks good", state="approved")
        await review(bot, seeded, "A remark with nothing on the diff", state="commented")
        await review(bot, seeded, "/codegen status", state="changes_requested")  # a command
        sent = await followups(bot)
    assert sent == [] and fake_codegen.resumed == []


async def test_a_comment_only_review_counts_and_the_per_task_limit_holds(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        seeded.set_file(REPO, ".github/codegen.yml", "review_fix:\n  max: 1\n")
        bot.runtime.github.caches.settings_files.clear()  # read afresh, not in two minutes
        fake_codegen.script_resume(statuses=["COMPLETE"])
        await review(
            bot, seeded, "", state="commented", comments=[("Rename ROWS.", "widgets/export.py", 2)]
        )
        await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'complete' FROM agent_followups ORDER BY id LIMIT 1"
            )
        )
        await review(bot, seeded, "One more thing: add a test.")
        sent = await followups(bot)
        notes = await tracking_notes(bot)
    assert [r["kind"] for r in sent] == ["review"] and len(fake_codegen.resumed) == 1
    assert any("not sent to the agent" in n and "review fix" in n for n in notes), notes
