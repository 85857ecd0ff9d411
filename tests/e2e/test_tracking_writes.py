"""The task's GitHub writes beside its workflow (app/tasks/feedback.py), end to
end: the agent run is created without waiting for a paced write, a new task's
first feedback overtakes the queued writes of older tasks, a tracking comment
state superseded before its turn is never written (the final one always is), a
post that crashed before its id was stored is found rather than repeated, and
one task costs at most 10 GitHub calls from label to pull request. Orders are
read from the fakes' request logs, never from durations."""

from __future__ import annotations

import dataclasses

from tests.support.bot import running_bot
from tests.support.flow import (
    CODEGEN_PR,
    ISSUE_BODY,
    REPO,
    WRITER,
    bot_comments,
    fail_once,
    labeled_event,
    task_status,
    wait_until,
)

PR = CODEGEN_PR
COMMENTS = r"/issues/\d+/comments$"
REACTIONS = r"/issues/\d+/reactions$"
WORKING = "Codegen is working on it"


async def _settled(bot) -> None:
    """Until every job is done, the renders waiting for their turn included."""
    await bot.wait_idle(timeout=40)
    await wait_until(
        lambda: bot.runtime.pool.fetchval(
            "SELECT count(*) = 0 FROM jobs WHERE status IN ('queued', 'running')"
            " AND kind = 'task.render'"
        ),
        timeout=40,
    )


def _tracking_writes(fake_github, number: int = 7) -> list:
    """The bot's posts and edits of tracking comments on issue `number`, in order."""
    ids = {c["id"] for c in fake_github.comments_on(REPO, number)}
    out = []
    for rec in fake_github.requests:
        if rec.method == "POST" and rec.path.endswith(f"/issues/{number}/comments"):
            out.append(rec)
        elif rec.method == "PATCH" and "/issues/comments/" in rec.path:
            if int(rec.path.rsplit("/", 1)[1]) in ids:
                out.append(rec)
    return out


async def test_the_run_is_created_while_the_first_write_is_still_in_flight(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub holds its answer to the 👀 (the installation's turn stays taken): the
    agent run is created and the task reaches its PR meanwhile, and the tracking
    comment, written once the turn comes, shows the PR at once, never a state
    that was over before its write (no "working" post followed by an edit)."""
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    seeded.delay_next("POST", REACTIONS, 6.0)
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        await _settled(bot)
    [reaction] = seeded.calls("POST", REACTIONS)
    [create] = fake_codegen.calls("POST", r"/agent/run$")
    assert create.started_at < reaction.finished_at, "the create waited for the reaction"
    writes = _tracking_writes(seeded)
    assert [w.method for w in writes] == ["POST"], "a superseded state was written"
    assert writes[0].started_at > reaction.finished_at  # after the 👀, its turn spaced
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"] and WORKING not in comment["body"]


async def test_edits_wanted_while_a_write_is_in_flight_coalesce_into_the_newest(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub holds its answer to the tracking comment's post while the run is
    created and opens its PR: of the states asked for meanwhile (working, PR
    opened) only the newest is written, in one edit after the post."""
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    seeded.delay_next("POST", COMMENTS, 6.0)
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        await _settled(bot)
    writes = _tracking_writes(seeded)
    post = writes[0]
    assert post.method == "POST"
    edits = writes[1:]
    assert len(edits) <= 1, "superseded states were each written"
    if WORKING in post.json["body"] or "Picked up" in post.json["body"]:
        [edit] = edits  # the final state is always written
        assert PR["url"] in edit.json["body"]
    for edit in edits:
        assert WORKING not in edit.json["body"]
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]


async def test_a_new_tasks_first_feedback_overtakes_older_tasks_comment_writes(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Two tasks on one installation queue their comment writes behind a post
    GitHub holds; a third issue labeled meanwhile gets its 👀 before any of them."""
    for number in (8, 9):
        seeded.add_issue(REPO, number, title=f"Export {number}", body=ISSUE_BODY, user="rae")
    for _ in range(3):
        fake_codegen.script_run(statuses=["ACTIVE"] * 200)
    seeded.delay_next("POST", COMMENTS, 5.0)

    def label(number: int) -> dict:
        payload = labeled_event(seeded, example_payload, WRITER)
        payload["issue"] = dict(seeded.issues[REPO][number])
        return payload

    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", label(7))
        await bot.deliver("issues", label(8))
        # The first post is in GitHub's hands: the installation's turn is taken.
        await wait_until(lambda: any(r.finished_at == 0 for r in seeded.calls("POST", COMMENTS)))
        await bot.deliver("issues", label(9))
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT count(*) = 3 FROM tasks WHERE tracking_comment_id IS NOT NULL"
                " AND status = 'running'"
            ),
            timeout=40,
        )
        await _settled(bot)
    writes = [r for r in seeded.requests if r.method in ("POST", "PATCH") and r.route]
    held = next(i for i, r in enumerate(writes) if r.path.endswith("/comments"))
    after = writes[held + 1 :]
    eyes_9 = next(i for i, r in enumerate(after) if r.path.endswith("/issues/9/reactions"))
    comment_writes = [i for i, r in enumerate(after) if "/comments" in r.path]
    assert comment_writes, "the other tasks' comments were written after the held post"
    assert eyes_9 < min(comment_writes), [f"{r.method} {r.path}" for r in after]
    assert not seeded.write_overlaps()


async def test_a_post_whose_id_was_lost_in_a_crash_is_found_not_repeated(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The tracking comment reached GitHub, then storing its id failed (a crash
    at that point): the retry looks for the marked comment and keeps it."""
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=0.05)
    async with running_bot(settings) as bot:
        await fail_once(bot.runtime.pool, "tasks", "UPDATE", "NEW.tracking_comment_id IS NOT NULL")
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        await _settled(bot)
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]
    assert len(seeded.calls("POST", r"/issues/7/comments$")) == 1
    assert seeded.calls("GET", r"/issues/7/comments$"), "the retry looked for its comment"


async def test_a_comment_whose_answer_was_lost_is_found_not_posted_twice(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub made the tracking comment and answered 502 (a proxy timing out):
    the bot does not post it again blindly; the job's next try finds it."""
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=0.05)
    seeded.lose_answer_next("POST", r"/issues/7/comments$")
    async with running_bot(settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        await _settled(bot)
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]
    assert [c.status for c in seeded.calls("POST", r"/issues/7/comments$")] == [502]
    assert seeded.calls("GET", r"/issues/7/comments$"), "the retry looked for its comment"


async def test_one_task_costs_at_most_ten_github_calls_from_label_to_pr(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Counted in the fake's request log (installation-token calls), for a
    repository with a README and no manifest (each manifest is one read more):
    the settings (the repository's and its organisation's), the permission, the
    context (tree, languages, README: the repository itself is known from the
    delivery), the 👀, the comment's post (no search for a copy: none can exist;
    posted with the run, so no edit for it), the PR's read and the last edit."""
    del seeded.files[REPO]["pyproject.toml"]
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        await _settled(bot)
    calls = [f"{r.method} {r.path}" for r in seeded.requests if r.route and r.route[:4] != "/app"]
    assert len(calls) <= 10, "\n".join(calls)
    assert not seeded.calls("GET", r"/issues/7/comments$")  # no marker search
    assert not seeded.calls("GET", rf"/repos/{REPO}$")  # known from the delivery
    assert len(seeded.calls("PATCH", r"/issues/comments/\d+$")) == 1  # the PR, only
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]


async def test_a_default_branch_renamed_since_the_label_reads_the_repository(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The delivery named a default branch GitHub no longer has (renamed in the
    meantime): the context reads the repository for the current one."""
    fake_codegen.script_run(statuses=["ACTIVE"] * 50)
    payload = labeled_event(seeded, example_payload, WRITER)
    payload["repository"]["default_branch"] = "renamed-away"
    seeded.fail_next("GET", r"/git/trees/renamed-away$", 404, times=50)
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", payload)
        await wait_until(lambda: task_status(bot, "running"), timeout=30)
    assert seeded.calls("GET", rf"/repos/{REPO}$")
    assert seeded.calls("GET", r"/git/trees/main$")
    assert len(fake_codegen.created) == 1


async def test_a_check_whose_attempt_fails_after_the_move_starts_the_attempt_on_retry(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The issue check moves the task on and starts the attempt in the same job
    (no hop through the queue): storing the attempt's prompt fails once (a crash
    at that point), and the job's retry, going by the task's status, makes the
    one run."""
    fake_codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    async with running_bot(flow_settings) as bot:
        await fail_once(bot.runtime.pool, "codegen_requests", "INSERT")
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"), timeout=30)
        await _settled(bot)
        retried = await bot.runtime.pool.fetchval(
            "SELECT max(attempts) FROM jobs WHERE kind = 'task.advance'"
        )
    assert retried == 2
    assert len(fake_codegen.created) == 1
    [comment] = bot_comments(seeded)
    assert PR["url"] in comment["body"]
