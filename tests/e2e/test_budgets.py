"""Budgets end to end: the bot's real server and worker, fake GitHub and
Codegen. 20 labels at once against a daily budget of 5 make exactly 5 runs and
a queue whose tracking comments say each task's place; a task held by the
concurrent limit starts when a run ends; one held by the daily limit starts
when the day rolls over (the date given to the periodic admission); a cancel
takes a task out of the queue (and a retry puts it back); a review fix over
its cap is refused, by command or button; and
`/codegen status` says what is left today."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime, timedelta

from app.budgets import decide
from app.budgets import jobs as budget_jobs
from tests.support.bot import running_bot
from tests.support.commands import (
    PR_NUMBER,
    our_runs,
    replies,
    say,
    task_with_validated_pr,
)
from tests.support.flow import ISSUE_BODY, REPO, WRITER, labeled_event, wait_until
from tests.support.validation import click

ISSUES = range(101, 121)


def _settings(flow_settings, **budgets):
    """Runs that stay active are looked at every 2 s at most: several of them
    polled faster would meet Codegen's read rate limit (429s and retries)."""
    return dataclasses.replace(
        flow_settings, run_poll_first_seconds=0.5, run_poll_max_seconds=2.0, **budgets
    )


def _issues(fake, numbers=ISSUES) -> None:
    for n in numbers:
        fake.add_issue(REPO, n, title=f"Export table {n} as CSV", body=ISSUE_BODY, user="rae")


def _labeled(fake, example_payload, number: int) -> dict:
    payload = labeled_event(fake, example_payload, WRITER)
    payload["issue"] = dict(fake.issues[REPO][number])
    return payload


def _tracking(fake, number: int) -> str | None:
    found = [
        c["body"]
        for c in fake.comments_on(REPO, number)
        if c["user"]["type"] == "Bot" and "codegen-bot:task:" in c["body"]
    ]
    return found[0] if found else None


async def _task_id(bot, number: int) -> int:
    return await bot.runtime.pool.fetchval(
        "SELECT id FROM tasks WHERE issue_number = $1 ORDER BY id DESC LIMIT 1", number
    )


async def _admissions(bot) -> dict[str, int]:
    rows = await bot.runtime.pool.fetch(
        "SELECT state, count(*) AS n FROM budget_admissions GROUP BY state"
    )
    return {r["state"]: r["n"] for r in rows}


async def test_twenty_labels_at_once_against_a_budget_of_five_make_exactly_five_runs(
    flow_settings, seeded, fake_codegen, example_payload
):
    _issues(seeded)
    settings = _settings(flow_settings, max_concurrent_workflows=8, budget_repo_runs_per_day=5)
    async with running_bot(settings) as bot:
        answers = await asyncio.gather(
            *(bot.deliver("issues", _labeled(seeded, example_payload, n)) for n in ISSUES)
        )
        assert [status for status, _ in answers] == [202] * 20
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT count(*) = 20 FROM budget_admissions WHERE blocked_by IS NOT NULL "
                "OR state = 'admitted'"
            ),
            timeout=60,
        )
        await wait_until(lambda: len(fake_codegen.created) >= 5 or None, timeout=30)
        await bot.wait_idle(timeout=30)
        waiting = [n for n in ISSUES if "Waiting for budget" in (_tracking(seeded, n) or "")]
        assert await _admissions(bot) == {"admitted": 5, "waiting": 15}
        await asyncio.sleep(1.0)  # nothing more starts on its own
        assert len(fake_codegen.created) == 5
        assert len(fake_codegen.calls("POST", r"/agent/run$")) == 5
    assert len(waiting) == 15
    places = []
    reset = decide.next_reset(datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    for n in waiting:
        body = _tracking(seeded, n)
        assert body is not None and body.startswith("### codegen-bot · ⏳ Waiting for budget")
        assert "this repository's limit of 5 agent runs a day is used up" in body
        assert f"resets at {reset}" in body
        found = re.search(r"(\d+) ahead of this one", body)
        places.append(int(found.group(1)) if found else 0)
        if not found:
            assert "first in line" in body
    assert sorted(places) == list(range(15))


async def test_a_task_held_by_the_concurrent_limit_starts_when_a_run_ends(
    flow_settings, seeded, fake_codegen, example_payload
):
    _issues(seeded, (101, 102))
    # A short workflow timeout, which the wait in the queue outlasts: it counts
    # from the admission, so the waiting task still starts.
    settings = _settings(flow_settings, budget_repo_concurrent_runs=1, workflow_timeout_ms=4000)
    async with running_bot(settings) as bot:
        await bot.deliver("issues", _labeled(seeded, example_payload, 101))
        await wait_until(lambda: len(fake_codegen.created) == 1 or None)
        await bot.deliver("issues", _labeled(seeded, example_payload, 102))
        await wait_until(lambda: "Waiting for budget" in (_tracking(seeded, 102) or ""))
        held = _tracking(seeded, 102)
        assert "first in line" in held
        assert "this repository's limit of 1 agent run at once is reached" in held
        assert "when one of them ends" in held
        # `/codegen status` on the waiting task: its place and what is left today.
        await say(bot, seeded, "/codegen status", number=102)
        [status] = replies(seeded, 102)
        assert "**Waiting for budget** (first in line)" in status
        assert (
            "- Budget, this repository: 49 of 50 agent runs left today, 1 of 1 at once in use"
            in status
        )
        assert (
            "- Budget, the installation: 199 of 200 agent runs left today, 1 of 20 at once in use"
            in status
        )
        assert "- Daily budgets reset at " in status
        await asyncio.sleep(4.5)  # past the waiting task's first workflow deadline
        assert len(fake_codegen.created) == 1
        # The first run ends: the waiting task starts by itself.
        [first] = fake_codegen.runs
        fake_codegen.set_run(first, status="COMPLETE", summary="nothing to do")
        await wait_until(lambda: len(fake_codegen.created) == 2 or None)
        await wait_until(lambda: "Codegen is working on it" in (_tracking(seeded, 102) or ""))
        assert "Waiting for budget" not in _tracking(seeded, 102)
        assert await _admissions(bot) == {"admitted": 1, "done": 1}
        # The run made is the waiting task's own.
        assert "Export table 102" in fake_codegen.created[1]["prompt"]


async def test_the_day_rolls_over_and_a_cancel_takes_a_task_out_of_the_queue(
    flow_settings, seeded, fake_codegen, example_payload
):
    _issues(seeded, (101, 102, 103))
    settings = _settings(flow_settings, budget_runs_per_day=1)
    async with running_bot(settings) as bot:
        await bot.deliver("issues", _labeled(seeded, example_payload, 101))
        await wait_until(lambda: len(fake_codegen.created) == 1 or None)
        for n in (102, 103):
            await bot.deliver("issues", _labeled(seeded, example_payload, n))
            await wait_until(lambda n=n: "Waiting for budget" in (_tracking(seeded, n) or ""))
        assert "1 ahead of this one" in _tracking(seeded, 103)
        assert "the installation's limit of 1 agent run a day is used up" in _tracking(seeded, 103)
        # A cancel while queued: out of the queue, and the next one moves up.
        await say(bot, seeded, "/codegen cancel", number=102)
        await wait_until(lambda: "Cancelled" in (_tracking(seeded, 102) or ""))
        await wait_until(lambda: "first in line" in (_tracking(seeded, 103) or ""))
        cancelled = await _task_id(bot, 102)
        assert (
            await bot.runtime.pool.fetchval(
                "SELECT state FROM budget_admissions WHERE task_id = $1", cancelled
            )
            == "withdrawn"
        )
        # Still today: nothing starts. Tomorrow (UTC): the next in line starts.
        now = datetime.now(UTC)
        assert await budget_jobs.check(bot.runtime, now) == []
        tomorrow = decide.next_reset(now) + timedelta(seconds=1)
        assert await budget_jobs.check(bot.runtime, tomorrow) == [await _task_id(bot, 103)]
        await wait_until(lambda: len(fake_codegen.created) == 2 or None)
        await wait_until(lambda: "Codegen is working on it" in (_tracking(seeded, 103) or ""))
        await bot.wait_idle()
        assert len(fake_codegen.created) == 2
        assert "Export table 103" in fake_codegen.created[1]["prompt"]
        assert "Cancelled" in _tracking(seeded, 102)
        # The cancelled task is retried: it joins the queue again (today's run is used).
        await say(bot, seeded, "/codegen retry", number=102)
        await wait_until(lambda: "Waiting for budget" in (_tracking(seeded, 102) or ""))
        assert "first in line" in _tracking(seeded, 102)
        assert await _admissions(bot) == {"admitted": 2, "waiting": 1}
        assert len(fake_codegen.created) == 2


async def test_a_review_fix_over_its_cap_is_refused_with_the_reason(
    flow_settings, seeded, fake_codegen, example_payload
):
    settings = dataclasses.replace(flow_settings, budget_review_fixes_per_task=1)
    async with running_bot(settings) as bot:
        sha = await task_with_validated_pr(bot, seeded, fake_codegen, example_payload)
        fake_codegen.script_resume(statuses=["COMPLETE"])
        await say(bot, seeded, "/codegen fix rename ROWS", number=PR_NUMBER)
        await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'complete' FROM agent_followups ORDER BY id LIMIT 1"
            )
        )
        await say(bot, seeded, "/codegen fix and also this", number=PR_NUMBER)
        await bot.wait_idle()
        await say(bot, seeded, "/codegen status", number=PR_NUMBER)
        # The check run's "Fix with Codegen" is a review fix too: refused, in the
        # tracking comment.
        [check_run] = our_runs(seeded, sha)
        await click(bot, seeded, check_run["id"], WRITER, "fix")
        await wait_until(lambda: "clicked “Fix with Codegen”" in (_tracking(seeded, 7) or ""))
        await bot.wait_idle()
    assert len(fake_codegen.resumed) == 1
    [note] = [ln for ln in _tracking(seeded, 7).splitlines() if "Fix with Codegen" in ln]
    assert "has had its 1 review fix " in note and "nothing was sent" in note
    refused, status = replies(seeded, PR_NUMBER)  # a fix that was sent gets a 🚀, no reply
    assert "has had its 1 review fix " in refused and "`review_fix.max`" in refused
    assert "nothing was sent to the agent" in refused
    assert "- Review fixes: 1 of 1 used" in status
    assert "- Budget, this repository: 49 of 50 agent runs left today, 0 of 5 at once" in status
