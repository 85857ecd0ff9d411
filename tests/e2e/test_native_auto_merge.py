"""Merging the way the repository wants (issue 16, item 5): where rulesets or
branch protection require reviews or checks, the bot turns on GitHub's own
auto-merge at the validated head (or uses the merge queue) instead of merging
directly; only where nothing is required does it merge directly. Real
PostgreSQL, the bot's real server and worker, the fake GitHub (GraphQL validated
against GitHub's published schema) and the fake Codegen."""

from __future__ import annotations

import pytest

from app.tasks.status import TaskStatus
from app.validation.keys import AUTO_MERGE_WATCH_JOB
from tests.fakes.github.repos import merge_queue_rule, pull_request_rule, required_checks_rule
from tests.support.bot import running_bot
from tests.support.commands import say
from tests.support.events import pull_request_event
from tests.support.flow import INSTALLATION, PR_NUMBER, REPO, bot_comments, wait_until
from tests.support.validation import (
    AUTO_MERGE,
    CLEAN_FILES,
    ci_run,
    open_pull,
    start_task_with_pr,
    task_in,
)
from tests.support.validation import note_containing as _note_containing


def _allow_merging(seeded, *, auto_merge_setting: bool = True) -> None:
    seeded.set_file(REPO, ".github/codegen.yml", AUTO_MERGE)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    seeded.set_allow_auto_merge(REPO, auto_merge_setting)


def _direct_merges(seeded) -> list:
    return seeded.calls("PUT", rf"/pulls/{PR_NUMBER}/merge$")


def _mutations(seeded, name: str) -> list[dict]:
    return [r for r in seeded.graphql_requests if name in r["query"]]


def _tracking(seeded) -> str:
    [tracking] = bot_comments(seeded)
    return tracking["body"]


async def _validated_pull(bot, seeded, fake_codegen, example_payload, note: str):
    await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
    task = await wait_until(lambda: _note_containing(bot, note))
    await bot.wait_idle()
    return task


async def test_reviews_required_by_a_ruleset_turn_on_native_auto_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(
            bot, seeded, fake_codegen, example_payload, "Auto-merge enabled"
        )
    # no direct merge: GitHub's auto-merge, at the validated head, as configured
    assert _direct_merges(seeded) == []
    [enable] = _mutations(seeded, "enablePullRequestAutoMerge")
    assert "errors" not in enable
    assert enable["variables"] == {
        "pullRequestId": seeded.pulls[REPO][PR_NUMBER]["node_id"],
        "mergeMethod": "SQUASH",
        "expectedHeadOid": sha,
    }
    auto = seeded.pulls[REPO][PR_NUMBER]["auto_merge"]
    assert auto["merge_method"] == "squash" and auto["enabled_at_head"] == sha
    assert seeded.pulls[REPO][PR_NUMBER]["merged"] is False  # waits for the review
    [note] = [n for n in task["notes"] if "Auto-merge enabled" in n]
    assert f"#{PR_NUMBER} (squash) at `{sha[:7]}`" in note
    assert "`main` requires 1 approving review" in note and "not a direct merge" in note
    assert "`main` requires 1 approving review" in _tracking(seeded)
    # a person approves: GitHub merges the validated head
    seeded.add_review(REPO, PR_NUMBER, "LGTM", user="maintainer", state="APPROVED")
    [merged] = seeded.settle_auto_merges(REPO)
    assert merged["head_sha"] == sha and merged["via"] == "auto_merge"


async def test_nothing_required_is_a_direct_merge_at_the_validated_head(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(bot, seeded, fake_codegen, example_payload, "Auto-merged")
    [merge] = [r.json for r in _direct_merges(seeded)]
    assert merge == {"merge_method": "squash", "sha": sha}
    assert seeded.graphql_requests == []
    assert seeded.pulls[REPO][PR_NUMBER]["merged"] is True
    [note] = [n for n in task["notes"] if "Auto-merged" in n]
    assert "nothing is required to merge into `main`" in note
    # the bot read what the branch requires with its own permissions
    assert seeded.calls("GET", r"/rules/branches/main$") and seeded.calls("GET", r"/branches/main$")


async def test_required_checks_of_classic_protection_turn_on_auto_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    seeded.protect_branch(REPO, "main", required_checks=["tests", "lint"])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")  # `lint` has not reported yet
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(
            bot, seeded, fake_codegen, example_payload, "Auto-merge enabled"
        )
    assert _direct_merges(seeded) == []
    assert any("requires the checks `tests`, `lint`" in n for n in task["notes"])
    ci_run(seeded, sha, "lint", "success")
    [merged] = seeded.settle_auto_merges(REPO)
    assert merged["head_sha"] == sha


async def test_reviews_hidden_in_classic_protection_show_as_blocked(
    flow_settings, seeded, fake_codegen, example_payload
):
    """An App without `administration` does not see the required reviews of
    classic protection: the pull's `mergeable_state` "blocked" tells."""
    _allow_merging(seeded)
    seeded.protect_branch(REPO, "main", required_reviews=2)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(
            bot, seeded, fake_codegen, example_payload, "Auto-merge enabled"
        )
    assert _direct_merges(seeded) == []
    assert any("blocked by a requirement of `main`" in n for n in task["notes"])
    assert seeded.pulls[REPO][PR_NUMBER]["auto_merge"]["enabled_at_head"] == sha


async def test_a_merge_queue_rule_queues_the_pull(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [merge_queue_rule("MERGE")])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(bot, seeded, fake_codegen, example_payload, "merge queue")
    assert _direct_merges(seeded) == []  # a merge-queue branch refuses them
    [enqueue] = _mutations(seeded, "enqueuePullRequest")
    assert enqueue["variables"]["expectedHeadOid"] == sha and "errors" not in enqueue
    [merged] = seeded.auto_merges
    assert merged["via"] == "merge_queue" and merged["head_sha"] == sha
    assert any(
        f"Added #{PR_NUMBER} to the merge queue at `{sha[:7]}`" in n
        and "`main` merges through a merge queue" in n
        for n in task["notes"]
    )


async def test_a_merge_queue_waiting_for_reviews_gets_auto_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    """With requirements unmet, auto-merge queues the pull once they are met
    (GitHub: the queue's merge method wins)."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [merge_queue_rule("REBASE"), pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(
            bot, seeded, fake_codegen, example_payload, "Auto-merge enabled"
        )
    assert _mutations(seeded, "enqueuePullRequest") == []
    assert any("GitHub queues it once its requirements are met" in n for n in task["notes"])
    seeded.add_review(REPO, PR_NUMBER, "", user="maintainer", state="APPROVED")
    [merged] = seeded.settle_auto_merges(REPO)
    assert merged["via"] == "merge_queue" and merged["merge_method"] == "rebase"


async def test_a_head_that_moved_is_not_merged(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The head moves while the bot reads the rules: GitHub refuses the
    `expectedHeadOid`, so nothing past the validated commit merges."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    seeded.delay_next("GET", r"/rules/branches/main$", 1.5)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: seeded.calls("GET", r"/rules/branches/main$") or None)
        new = seeded.push(REPO, PR_NUMBER)
        task = await wait_until(lambda: _note_containing(bot, "Not auto-merged"))
        await bot.wait_idle()
    [enable] = _mutations(seeded, "enablePullRequestAutoMerge")
    assert enable["variables"]["expectedHeadOid"] == sha != new
    assert enable["errors"][0]["type"] == "UNPROCESSABLE"
    assert seeded.pulls[REPO][PR_NUMBER]["auto_merge"] is None
    assert _direct_merges(seeded) == [] and seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    assert any("GitHub refused auto-merge" in n and "head sha" in n for n in task["notes"])


async def test_auto_merge_off_in_the_settings_is_noted_with_the_reason(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded, auto_merge_setting=False)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1), required_checks_rule("tests")])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(bot, seeded, fake_codegen, example_payload, "Not auto-merged")
    assert _direct_merges(seeded) == [] and seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    [note] = [n for n in task["notes"] if "Not auto-merged" in n]
    assert "`main` requires 1 approving review and the checks `tests`" in note
    assert "auto-merge is off in this repository" in note and "Allow auto-merge" in note
    assert "Allow auto-merge" in _tracking(seeded)


async def test_requirements_met_already_fall_back_to_the_direct_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Approved before the bot asks: GitHub answers "clean status" (nothing to
    wait for), and the bot merges directly at the validated head."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    seeded.add_review(REPO, PR_NUMBER, "", user="maintainer", state="APPROVED")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(bot, seeded, fake_codegen, example_payload, "Auto-merged")
    [enable] = _mutations(seeded, "enablePullRequestAutoMerge")
    assert "is in clean status" in enable["errors"][0]["message"]
    [merge] = [r.json for r in _direct_merges(seeded)]
    assert merge == {"merge_method": "squash", "sha": sha}
    assert any("met already" in n for n in task["notes"])


async def _watch_now(bot) -> None:
    """The watch looks again after a minute or more: make it due now."""
    await bot.runtime.pool.execute(
        "UPDATE jobs SET run_at = now() WHERE kind = $1 AND status = 'queued'",
        AUTO_MERGE_WATCH_JOB,
    )


async def test_the_merge_github_makes_later_ends_the_task(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub merges as the user who turned auto-merge on, our bot, whose
    `closed` event is dropped: the watch records the merge."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await _validated_pull(bot, seeded, fake_codegen, example_payload, "Auto-merge enabled")
        await _watch_now(bot)  # nothing merged yet: it looks again later
        await bot.wait_idle()
        assert await task_in(bot, TaskStatus.MERGED) is None
        seeded.add_review(REPO, PR_NUMBER, "", user="maintainer", state="APPROVED")
        [merged] = seeded.settle_auto_merges(REPO)
        event = pull_request_event(seeded, "closed", REPO, PR_NUMBER, sender=seeded.bot_login)
        assert event["pull_request"]["merged"] is True
        await bot.deliver("pull_request", event)  # ours: dropped
        await bot.wait_idle()
        assert await task_in(bot, TaskStatus.MERGED) is None
        await _watch_now(bot)
        task = await wait_until(lambda: task_in(bot, TaskStatus.MERGED))
    assert merged["head_sha"] == sha
    assert task["status"] == TaskStatus.MERGED


async def test_a_push_after_auto_merge_turns_it_off(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub keeps auto-merge on across a writer's push: the bot turns its own
    off until the new head passes, so an approval cannot merge an unvalidated head."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await _validated_pull(bot, seeded, fake_codegen, example_payload, "Auto-merge enabled")
        new = seeded.push(REPO, PR_NUMBER, CLEAN_FILES)
        event = pull_request_event(seeded, "synchronize", REPO, PR_NUMBER, sender="codegen-agent")
        assert event["pull_request"]["auto_merge"] is not None
        await bot.deliver("pull_request", event)
        task = await wait_until(lambda: _note_containing(bot, "Auto-merge turned off"))
        await bot.wait_idle()
    assert seeded.auto_merge_disabled == [{"repo": REPO, "number": PR_NUMBER}]
    assert seeded.pulls[REPO][PR_NUMBER]["auto_merge"] is None
    assert any(f"the head moved to `{new[:7]}`" in n for n in task["notes"])
    seeded.add_review(REPO, PR_NUMBER, "", user="maintainer", state="APPROVED")
    assert seeded.settle_auto_merges(REPO) == []  # nothing merges past the validated head
    assert _direct_merges(seeded) == []


async def test_a_queue_branch_with_nothing_left_to_wait_for_queues_the_pull(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub still computing `mergeable_state` ("unknown"): the bot asks for
    auto-merge, GitHub answers "clean status", and the bot queues the pull."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [merge_queue_rule()])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    seeded.pulls[REPO][PR_NUMBER]["mergeable_state"] = "unknown"
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        task = await _validated_pull(bot, seeded, fake_codegen, example_payload, "merge queue")
    [enable] = _mutations(seeded, "enablePullRequestAutoMerge")
    assert "is in clean status" in enable["errors"][0]["message"]
    [enqueue] = _mutations(seeded, "enqueuePullRequest")
    assert enqueue["variables"]["expectedHeadOid"] == sha and "errors" not in enqueue
    assert _direct_merges(seeded) == [] and seeded.auto_merges[0]["via"] == "merge_queue"
    assert any(f"Added #{PR_NUMBER} to the merge queue" in n for n in task["notes"])


async def test_a_cancel_turns_the_bots_auto_merge_off(
    flow_settings, seeded, fake_codegen, example_payload
):
    """`/codegen cancel` after auto-merge is on: GitHub must not merge it."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await _validated_pull(bot, seeded, fake_codegen, example_payload, "Auto-merge enabled")
        await say(bot, seeded, "/codegen cancel")
        await wait_until(lambda: task_in(bot, TaskStatus.CANCELLED))
        await bot.wait_idle()
        await _watch_now(bot)
        task = await wait_until(lambda: _note_containing(bot, "the task stopped"))
        await bot.wait_idle()
    assert seeded.pulls[REPO][PR_NUMBER]["auto_merge"] is None
    assert any(f"Auto-merge turned off on #{PR_NUMBER}" in n for n in task["notes"])
    seeded.add_review(REPO, PR_NUMBER, "", user="maintainer", state="APPROVED")
    assert seeded.settle_auto_merges(REPO) == []


@pytest.mark.parametrize("command", ["/codegen retry", "/codegen cancel"])
async def test_a_cancel_or_a_retry_turns_auto_merge_off_at_once(
    command, flow_settings, seeded, fake_codegen, example_payload
):
    """Not at the watch's next look (up to an hour away): a cancel, or a retry
    that makes a new PR, turns the bot's auto-merge off in the same breath."""
    _allow_merging(seeded)
    seeded.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await _validated_pull(bot, seeded, fake_codegen, example_payload, "Auto-merge enabled")
        assert seeded.pulls[REPO][PR_NUMBER]["auto_merge"] is not None
        fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
        await say(bot, seeded, command)
        await bot.wait_idle()
        off_after_retry = seeded.pulls[REPO][PR_NUMBER]["auto_merge"] is None
    assert off_after_retry
    seeded.add_review(REPO, PR_NUMBER, "", user="maintainer", state="APPROVED")
    assert seeded.settle_auto_merges(REPO) == []
