"""`/codegen` commands in comments, end to end: real PostgreSQL, the bot's real
server and worker, fake GitHub and Codegen servers. Payloads are the
@octokit/webhooks-examples shapes (tests/events.py) with the bodies changed."""

from __future__ import annotations

import re
import uuid
from typing import Any

from app.commands.parse import VERBS
from tests.fakes.github.routing import GitHubError
from tests.support.bot import running_bot
from tests.support.commands import (
    FOREVER,
    deliver,
    logged,
    open_pull,
    our_runs,
    reactions,
    replies,
    say,
    task_with_validated_pr,
    validated,
)
from tests.support.events import issue_comment_event, review_comment_event, review_event
from tests.support.flow import (
    PR_NUMBER,
    PR_URL,
    QUICK,
    READER,
    REPO,
    WRITER,
    bot_comments,
    labeled_event,
    task_status,
    wait_until,
)

# ---------------------------------------------------------------- helpers


async def running_task(bot, fake, codegen, example_payload) -> dict[str, Any]:
    codegen.script_run(statuses=FOREVER)
    await deliver(bot, "issues", labeled_event(fake, example_payload, WRITER))
    return await wait_until(lambda: task_status(bot, "running"))


# ---------------------------------------------------------------- every verb by a writer


async def test_help_lists_every_command_and_gets_a_rocket(flow_settings, seeded, fake_codegen):
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "Hi bot!\n/codegen help")
        rows = await logged(bot)
    [reply] = replies(seeded)
    assert reply.startswith("> /codegen help")
    for verb in VERBS:
        assert f"`/codegen {verb}" in reply
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    assert [(r["verb"], r["status"], r["actor"]) for r in rows] == [("help", "done", WRITER)]
    assert rows[0]["key"] == f"cmd:issue_comment:{payload['comment']['id']}:2"


async def test_a_rocket_answered_502_is_asked_again_not_left_out(
    flow_settings, seeded, fake_codegen
):
    """GitHub answered 502 to the 🚀: a reaction is made once however often it
    is asked (GitHub answers 200 to one already there), so the client asks
    again. Left to the job, its next try finds every command of the comment
    done and ends without reacting: a success would show only its 👀."""

    def refuse_the_first_rocket(ctx):
        if ctx.body["content"] == "rocket":
            seeded._extra_routes.remove(route)
            raise GitHubError(502)
        return seeded._react_comment(ctx)

    route = seeded.add_route(
        "POST",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        refuse_the_first_rocket,
        permission="issues:write|pull_requests:write",
        creates_content=True,
    )
    async with running_bot(flow_settings) as bot:
        payload = issue_comment_event(seeded, "created", REPO, 7, "/codegen help", user=WRITER)
        guid = str(uuid.uuid4())
        assert (await bot.deliver("issue_comment", payload, guid))[0] == 202
        processed = "SELECT status = 'processed' FROM webhook_deliveries WHERE id = $1"
        await wait_until(lambda: bot.runtime.pool.fetchval(processed, guid))
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    posts = seeded.calls("POST", r"/issues/comments/\d+/reactions$")
    assert [c.status for c in posts] == [201, 502, 201]


async def test_run_starts_a_task_exactly_as_the_label_does(flow_settings, seeded, fake_codegen):
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "/codegen run")
        task = await wait_until(lambda: task_status(bot, "running"))
        again = await say(bot, seeded, "/codegen run")
    assert task["triggered_by"] == WRITER and task["issue_number"] == 7
    assert len(fake_codegen.created) == 1
    assert "Export the table as CSV" in fake_codegen.created[0]["prompt"]
    assert any("codegen-bot:task:" in c["body"] for c in bot_comments(seeded))
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    # A second `run` while the first task works starts nothing and says why.
    assert reactions(seeded, again) == ["eyes", "confused"]
    [reply] = replies(seeded)
    assert "already under way" in reply and f"@{WRITER}" in reply


async def test_two_commands_in_one_comment_run_in_order(flow_settings, seeded, fake_codegen):
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "Please:\n/codegen run\n\n/codegen status")
        rows = await logged(bot)
    [reply] = replies(seeded)
    # `status` ran after `run`, so it found the task `run` had just made.
    assert reply.startswith("> /codegen status") and "**Task 1** for #7" in reply
    assert [(r["verb"], r["status"]) for r in rows] == [("run", "done"), ("status", "done")]
    assert reactions(seeded, payload) == ["eyes", "rocket"]


async def test_status_on_the_pr_shows_state_attempts_links_verdict_and_timings(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        sha = await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        payload = await say(bot, seeded, "/codegen status", number=PR_NUMBER)
        empty = await say(bot, seeded, "/codegen status", number=7)
    [reply] = replies(seeded, PR_NUMBER)
    assert "**Task 1** for #7: `passed`" in reply
    assert "Attempt 1 of 3: [agent run " in reply and "complete" in reply
    assert f"[Export CSV]({PR_URL})" in reply
    assert f"Validation of `{sha[:7]}`: **neutral**" in reply  # no CI ran
    assert "Started 20" in reply and "PR opened after" in reply and "ended" not in reply
    assert "Tracking comment" in reply
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    # On the issue, the same task is found (its newest).
    assert "**Task 1** for #7" in replies(seeded, 7)[0]
    assert reactions(seeded, empty) == ["eyes", "rocket"]


async def test_status_without_a_task_says_so(flow_settings, seeded, fake_codegen):
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "/codegen status")
    [reply] = replies(seeded)
    assert "no codegen-bot task for this issue yet" in reply and "/codegen run" in reply
    assert reactions(seeded, payload) == ["eyes", "rocket"]


async def test_retry_while_an_attempt_runs_says_so_and_starts_nothing(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await running_task(bot, seeded, fake_codegen, example_payload)
        payload = await say(bot, seeded, "/codegen retry different_approach")
        requests = await bot.runtime.pool.fetchval("SELECT count(*) FROM codegen_requests")
        [row] = await logged(bot)
    [reply] = replies(seeded)
    assert "still running" in reply and "nothing new was started" in reply
    assert reactions(seeded, payload) == ["eyes", "confused"]
    assert len(fake_codegen.created) == 1 and requests == 1
    assert row["status"] == "failed" and row["args"] == "different_approach"


async def test_retry_after_a_failure_uses_the_strategy_asked_for_then_the_next(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", "retries: 0\n")
    fake_codegen.script_run(statuses=["FAILED"], summary="tests did not pass")
    fake_codegen.script_run(statuses=["FAILED"], summary="still red")
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "failed"))
        first = await say(bot, seeded, "/codegen retry Simplified-Scope")
        await wait_until(lambda: len(fake_codegen.created) == 2 or None)
        await wait_until(lambda: task_status(bot, "failed"))
        second = await say(bot, seeded, "/codegen retry")
        await wait_until(lambda: len(fake_codegen.created) == 3 or None)
        requests = await bot.runtime.pool.fetch(
            "SELECT attempt, strategy, prompt FROM codegen_requests ORDER BY attempt"
        )
    assert [(r["attempt"], r["strategy"]) for r in requests] == [
        (1, None),
        (2, "simplified_scope"),
        (3, "different_approach"),  # no strategy named: the one after the last attempt's
    ]
    assert fake_codegen.created[1]["prompt"] == requests[1]["prompt"]
    assert "Retry with a reduced scope" in requests[1]["prompt"]
    assert "tests did not pass" in requests[1]["prompt"]
    assert "Retry with a different approach" in requests[2]["prompt"]
    # Each attempt pushes to a branch of its own, never onto an earlier attempt's PR.
    branches = [re.search(r"branch named `([^`]+)`", r["prompt"]).group(1) for r in requests]
    assert branches[1:] == [f"{branches[0]}-attempt-2", f"{branches[0]}-attempt-3"]
    assert reactions(seeded, first) == ["eyes", "rocket"]
    assert reactions(seeded, second) == ["eyes", "rocket"]
    assert replies(seeded) == []  # success needs no words: the tracking comment shows it


async def test_fix_resumes_the_run_from_the_pr_and_from_a_review_comment_with_file_and_line(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        fake_codegen.script_resume(statuses=["COMPLETE"])
        payload = await say(
            bot, seeded, "/codegen fix rename ROWS to MAX_ROWS\nand test it", number=PR_NUMBER
        )
        await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'complete' FROM agent_followups ORDER BY id LIMIT 1"
            )
        )
        fake_codegen.script_resume(statuses=["COMPLETE"])
        inline = review_comment_event(
            seeded,
            "created",
            REPO,
            PR_NUMBER,
            "/codegen fix read this from settings instead",
            user=WRITER,
            path="widgets/export.py",
            line=2,
        )
        await deliver(bot, "pull_request_review_comment", inline)
        await wait_until(lambda: len(fake_codegen.resumed) == 2 or None)
        sent = await bot.runtime.pool.fetch("SELECT * FROM agent_followups ORDER BY id")
        await bot.wait_idle()
    first, second = (r["prompt"] for r in fake_codegen.resumed)
    assert "rename ROWS to MAX_ROWS\nand test it" in first
    assert f"@{WRITER} asked for changes on pull request #{PR_NUMBER}" in first
    assert "read this from settings instead" in second
    assert "<diff_hunk>\nFile: widgets/export.py, line 2\n" in second
    assert "+ROWS = 10" in second  # the short diff hunk goes along
    assert [r["kind"] for r in sent] == ["fix", "fix"]
    assert sent[0]["key"] == f"cmd:issue_comment:{payload['comment']['id']}:1"
    assert sent[1]["key"] == f"cmd:review_comment:{inline['comment']['id']}:1"
    assert all(r["pull_request_id"] is not None for r in sent)
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    assert reactions(seeded, inline, "review_comment") == ["eyes", "rocket"]
    assert replies(seeded, PR_NUMBER) == []


async def test_cancel_stops_the_task_and_the_tracking_comment_ends(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        await running_task(bot, seeded, fake_codegen, example_payload)
        payload = await say(bot, seeded, "/codegen cancel")
        task = await wait_until(lambda: task_status(bot, "cancelled"))
        await wait_until(
            lambda: any("Cancelled" in c["body"] for c in bot_comments(seeded)) or None
        )
        again = await say(bot, seeded, "/codegen cancel\n/codegen status")
    assert f"cancelled by @{WRITER}" in task["status_detail"]
    [tracking] = [c for c in bot_comments(seeded) if "codegen-bot:task:" in c["body"]]
    assert tracking["body"].startswith("### codegen-bot · ⏹️ Cancelled")
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    # Nothing left to cancel: said so; the status shows the end.
    assert reactions(seeded, again) == ["eyes", "confused"]
    refused, status = replies(seeded)
    assert "is not running (`cancelled`)" in refused
    assert "`cancelled` — cancelled by @" in status and "ended after" in status


async def test_validate_from_the_issue_and_from_a_review_makes_new_check_runs(
    flow_settings, seeded, fake_codegen, example_payload
):
    async with running_bot(flow_settings) as bot:
        sha = await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        payload = await say(bot, seeded, "/codegen validate")
        await wait_until(lambda: validated(bot, sha, 2))
        review = review_event(
            seeded, "submitted", REPO, PR_NUMBER, "LGTM but\n/codegen validate", user=WRITER
        )
        await deliver(bot, "pull_request_review", review)
        await wait_until(lambda: validated(bot, sha, 3))
        await bot.wait_idle()
        triggers = await bot.runtime.pool.fetch("SELECT trigger FROM validations ORDER BY id")
    runs = our_runs(seeded, sha)
    assert len(runs) == 3 and all(r["conclusion"] == "neutral" for r in runs)
    assert [t["trigger"] for t in triggers][1:] == [f"/codegen validate by @{WRITER}"] * 2
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    # A review has no reactions: the reply is the feedback.
    [reply] = replies(seeded, PR_NUMBER)
    assert reply.startswith("> /codegen validate") and f"validating #{PR_NUMBER} at" in reply


async def test_validate_on_a_pr_the_bot_never_saw_records_and_validates_it(
    flow_settings, seeded, fake_codegen
):
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, 9, body="A person's change", user="someone", head_ref="theirs")["head"][
        "sha"
    ]
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "/codegen validate", number=9)
        await wait_until(lambda: validated(bot, sha))
        await bot.wait_idle()
        pr = await bot.runtime.pool.fetchrow("SELECT * FROM pull_requests WHERE number = 9")
    assert pr["head_sha"] == sha and pr["task_id"] is None and pr["state"] == "open"
    [run] = our_runs(seeded, sha)
    assert run["conclusion"] == "neutral"  # no CI ran
    assert reactions(seeded, payload) == ["eyes", "rocket"]


# ---------------------------------------------------------------- mistakes and strangers


async def test_the_quote_of_a_command_mentions_nobody_and_opens_no_code_span(
    flow_settings, seeded, fake_codegen
):
    async with running_bot(flow_settings) as bot:
        await say(bot, seeded, "/codegen retry sideways @octocat `x" + "y" * 100 + " @acme/all`")
        await logged(bot)
    [reply] = replies(seeded)
    quote = reply.split("\n", 1)[0]
    assert quote.startswith("> /codegen retry sideways @") and "octocat" in quote
    assert "@octocat" not in quote and "@acme" not in quote
    assert quote.count("`") == quote.count("\\`")  # every backtick escaped: no span


async def test_unknown_verb_and_bad_strategy_get_the_nearest_and_help(
    flow_settings, seeded, fake_codegen
):
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "/codegen stauts\n/codegen retry sideways")
        rows = await logged(bot)
    unknown, strategy = replies(seeded)
    assert unknown.startswith("> /codegen stauts")
    assert "did you mean `/codegen status`?" in unknown and "`/codegen help`" in unknown
    assert "`/codegen validate`" in unknown  # the list of commands follows
    assert "`regenerate_prompt`, `different_approach`, `simplified_scope`" in strategy
    assert reactions(seeded, payload) == ["eyes", "confused"]
    assert [(r["verb"], r["status"]) for r in rows] == [("unknown", "failed"), ("retry", "failed")]
    assert fake_codegen.created == []


async def test_a_reader_gets_one_reply_saying_who_may_and_nothing_runs(
    flow_settings, seeded, fake_codegen
):
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "/codegen run\n/codegen status", user=READER)
        rows = await logged(bot)
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    [reply] = replies(seeded)
    assert f"@{READER} only people with **write** access" in reply
    assert reactions(seeded, payload) == []  # a refused comment gets no write but the reply
    assert [r["status"] for r in rows] == ["denied", "denied"]
    assert tasks == 0 and fake_codegen.created == []


async def test_the_minimum_permission_comes_from_codegen_yml(flow_settings, seeded, fake_codegen):
    seeded.set_file(REPO, ".github/codegen.yml", "commands:\n  permission: maintain\n")
    seeded.set_permission(REPO, "boss-bea", "admin")
    async with running_bot(flow_settings) as bot:
        writer = await say(bot, seeded, "/codegen status")
        admin = await say(bot, seeded, "/codegen status", user="boss-bea")
    denial, status = replies(seeded)
    assert f"@{WRITER} only people with **maintain** access" in denial
    assert "no codegen-bot task" in status
    assert reactions(seeded, writer) == []
    assert reactions(seeded, admin) == ["eyes", "rocket"]


async def test_bots_are_ignored_silently(flow_settings, seeded, fake_codegen):
    seeded.set_permission(REPO, "renovate[bot]", "write")
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "/codegen run", user="renovate[bot]")
        rows = await logged(bot)
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert payload["sender"]["type"] == "Bot"
    assert rows == [] and tasks == 0 and replies(seeded) == []
    assert reactions(seeded, payload) == []


async def test_commands_in_a_code_block_or_a_quote_are_ignored(flow_settings, seeded, fake_codegen):
    body = "To start it, write:\n\n```\n/codegen run\n```\n\n> /codegen cancel\n\nThanks!"
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, body)
        rows = await logged(bot)
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert rows == [] and tasks == 0 and replies(seeded) == []
    assert reactions(seeded, payload) == []


# ---------------------------------------------------------------- once only


async def test_the_same_comment_delivered_again_acts_once(
    flow_settings, seeded, fake_codegen, example_payload
):
    fake_codegen.script_run(statuses=FOREVER)
    async with running_bot(flow_settings) as bot:
        payload = issue_comment_event(
            seeded, "created", REPO, 7, "/codegen run\n/codegen status", user=WRITER
        )
        guid = str(uuid.uuid4())
        assert (await bot.deliver("issue_comment", payload, guid))[0] == 202
        assert (await bot.deliver("issue_comment", payload, guid))[0] == 200
        await wait_until(lambda: task_status(bot, "running"))
        # GitHub's "Redeliver" or a replay: the same comment under another GUID.
        await deliver(bot, "issue_comment", payload)
        await deliver(bot, "issue_comment", payload)
        rows = await logged(bot)
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert tasks == 1 and len(fake_codegen.created) == 1
    assert len(replies(seeded)) == 1  # the status reply
    assert reactions(seeded, payload) == ["eyes", "rocket"]
    assert [r["delivery_id"] for r in rows] == [guid, guid]


async def test_an_edited_comment_runs_nothing(flow_settings, seeded, fake_codegen):
    async with running_bot(flow_settings) as bot:
        payload = await say(bot, seeded, "Looks good to me.")
        edited = issue_comment_event(
            seeded,
            "edited",
            REPO,
            7,
            "Looks good to me.\n/codegen run\n/codegen help",
            user=WRITER,
            comment_id=payload["comment"]["id"],
        )
        assert edited["changes"]["body"]["from"] == "Looks good to me."
        await deliver(bot, "issue_comment", edited)
        rows = await logged(bot)
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert rows == [] and tasks == 0 and replies(seeded) == []
    assert reactions(seeded, payload) == [] and fake_codegen.created == []


async def test_on_a_locked_issue_the_command_is_handled_once_and_its_reply_kept(
    flow_settings, seeded, fake_codegen
):
    """GitHub refuses the bot's reply on a locked conversation (403): the command
    still ends once, the delivery is not failed and retried, and the reply's
    text stays in the commands table."""
    async with running_bot(flow_settings) as bot:
        payload = issue_comment_event(seeded, "created", REPO, 7, "/codegen status", user=WRITER)
        seeded.issues[REPO][7]["locked"] = True
        await deliver(bot, "issue_comment", payload)
        rows = await logged(bot)
        attempts = await bot.runtime.pool.fetchval("SELECT max(attempts) FROM jobs")
    assert replies(seeded) == [] and attempts == 1
    assert [(r["verb"], r["status"]) for r in rows] == [("status", "done")]
    assert "no codegen-bot task for this issue yet" in rows[0]["reply"]
    assert reactions(seeded, payload) == ["eyes", "rocket"]


async def test_a_comment_deleted_before_its_reactions_still_gets_its_reply(
    flow_settings, seeded, fake_codegen
):
    """The comment is gone when the bot reacts (404): the reactions are skipped,
    the command is carried out and answered once, and the delivery succeeds."""
    async with running_bot(flow_settings) as bot:
        payload = issue_comment_event(seeded, "created", REPO, 7, "/codegen help", user=WRITER)
        seeded.delete_comment(payload["comment"]["id"])
        await deliver(bot, "issue_comment", payload)
        rows = await logged(bot)
        attempts = await bot.runtime.pool.fetchval("SELECT max(attempts) FROM jobs")
    [reply] = replies(seeded)
    assert reply.startswith("> /codegen help") and attempts == 1
    assert [(r["verb"], r["status"]) for r in rows] == [("help", "done")]


async def test_tracking_comment_counts_attempts_past_the_configured_retries(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", "retries: 0\n")
    fake_codegen.script_run(statuses=["FAILED"], summary="tests did not pass")
    fake_codegen.script_run(statuses=["FAILED"], summary="still red")
    async with running_bot(flow_settings) as bot:
        await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "failed"))
        await say(bot, seeded, "/codegen retry")
        await wait_until(lambda: len(fake_codegen.created) == 2 or None)
        await wait_until(lambda: task_status(bot, "failed"))
        await bot.wait_idle()
    [tracking] = [c["body"] for c in bot_comments(seeded) if "codegen-bot:task:" in c["body"]]
    assert "Codegen attempt 2 of 2" in tracking


async def test_codegen_refusing_a_fix_is_told_in_one_scrubbed_line(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The tracking comment quotes why Codegen refused, as it quotes a failed
    run: first line only, capped, credentials scrubbed; what else the error
    said (an echoed header, a stack) stays out of the public issue."""
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    message = (
        f"prompt rejected (Authorization: Bearer {token})\n"
        "Traceback (most recent call last):\n  File /srv/codegen/api.py\n# Approved" + "x" * 3000
    )
    async with running_bot(flow_settings) as bot:
        await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        fake_codegen.fail_next("POST", r"/agent/run/resume$", 422, body={"message": message})
        await say(bot, seeded, "/codegen fix rename ROWS", number=PR_NUMBER)
        await wait_until(
            lambda: (
                any("Codegen refused the follow-up" in c["body"] for c in bot_comments(seeded))
                or None
            )
        )
        await bot.wait_idle()
    [comment] = bot_comments(seeded)
    body = comment["body"]
    assert "prompt rejected" in body
    assert token not in body and "Traceback" not in body and "/srv/codegen" not in body
    assert "\n# Approved" not in body and "x" * 600 not in body


async def test_a_refused_command_is_echoed_short_and_inside_its_code_span(
    flow_settings, seeded, fake_codegen
):
    """The reply to a malformed command quotes what was written: a 65,000-character
    strategy made a reply GitHub refuses (over 65,536 characters), and backticks
    in it ended the code span, so the bot's reply mentioned whom it named."""
    async with running_bot(flow_settings) as bot:
        await say(bot, seeded, "/codegen retry a`@acme/everyone` " + "x" * 65_000)
        await say(bot, seeded, "/codegen shipit`@acme/everyone`")
        await wait_until(lambda: len(replies(seeded)) == 2 or None)
        await bot.wait_idle()
    for body in replies(seeded):
        assert len(body) < 2_000, len(body)
        assert "is not a" in body
        text = body.split("\n\n", 1)[1]  # the reply after its one-line quote
        assert not any("@acme" in part for part in text.split("`")[0::2]), body
