"""Auto-merge merges only a clean pass: the verdict `success`, no security
finding of any severity, and at least one check of the repository's own CI
that succeeded (unless the repository opts out), read again at merge time.
Each test is a hole a review found. Real PostgreSQL, the bot's real server and
worker, fake GitHub and Codegen (as in tests/test_validation.py)."""

from __future__ import annotations

import pytest

from app.validation.ci import CiState, classify
from app.validation.merge_rules import merge_blocker
from tests.support.bot import running_bot
from tests.support.events import check_run_event
from tests.support.flow import INSTALLATION, REPO, bot_comments, wait_until
from tests.support.validation import (
    AUTO_MERGE,
    CLEAN_FILES,
    PR_NUMBER,
    QUICK,
    ci_run,
    open_pull,
    start_task_with_pr,
    validation_row,
)
from tests.support.validation import (
    note_containing as _note_containing,
)

SHA = "a" * 40
SOURCE_ONLY = [CLEAN_FILES[0]]  # no test changed: a warning, so `neutral`
EVAL_FILES = [
    {
        "filename": "widgets/export.py",
        "status": "modified",
        "patch": "@@ -1,2 +1,3 @@\n import csv\n+ROWS = eval(input())\n def export():",
    },
    CLEAN_FILES[1],
]


def _ci(*conclusions: str) -> CiState:
    runs = [
        {"id": i, "name": f"check{i}", "status": "completed", "conclusion": c}
        for i, c in enumerate(conclusions)
    ]
    return classify(runs, [], None)


@pytest.mark.parametrize(
    ("verdict", "findings", "state", "without_ci", "blocked_by"),
    [
        ("success", [], _ci("success"), False, None),
        ("success", [], _ci("success", "skipped"), False, None),
        ("success", [], _ci(), False, "no check of the repository's CI succeeded"),
        ("success", [], _ci("skipped", "neutral"), False, "no check of the repository's CI"),
        ("success", [], _ci(), True, None),
        ("neutral", [], _ci("success"), False, "concluded `neutral`"),
        ("failure", [], _ci("success"), True, "concluded `failure`"),
        (None, [], _ci("success"), False, "concluded `nothing yet`"),
        ("success", [], _ci("success", "failure"), True, "CI failed"),
        (
            "success",
            [{"rule": "security.eval", "title": "Dynamic code evaluation"}],
            _ci("success"),
            False,
            "1 security finding (Dynamic code evaluation)",
        ),
        (
            "success",
            [{"rule": "review.todo", "title": "TODO/FIXME added"}],
            _ci("success"),
            False,
            None,
        ),
    ],
)
def test_merge_blocker(verdict, findings, state, without_ci, blocked_by):
    why = merge_blocker(verdict, findings, state, SHA, without_ci=without_ci)
    if blocked_by is None:
        assert why is None
    else:
        assert why is not None and blocked_by in why


def test_what_the_analysis_could_not_scan_blocks():
    skipped = [["static/app.min.js", "a line longer than the scan limit"]]
    why = merge_blocker("success", [], _ci("success"), SHA, without_ci=False, not_scanned=skipped)
    assert why == "1 file was not fully scanned"


def test_a_pending_check_blocks():
    state = classify(
        [{"id": 1, "name": "slow", "status": "in_progress", "conclusion": None}], [], None
    )
    assert "CI is still running" in (merge_blocker("success", [], state, SHA, without_ci=True))


def _allow_merging(seeded, config: str = AUTO_MERGE) -> None:
    seeded.set_file(REPO, ".github/codegen.yml", config)
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"


def _merges(seeded) -> list:
    return seeded.calls("PUT", rf"/pulls/{PR_NUMBER}/merge$")


async def test_no_ci_at_all_is_not_merged_and_the_comment_says_why(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    open_pull(seeded, CLEAN_FILES)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _note_containing(bot, "no check of the repository's CI"))
        await bot.wait_idle()
    assert _merges(seeded) == [] and seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    [tracking] = bot_comments(seeded)
    assert f"Not auto-merged #{PR_NUMBER}" in tracking["body"]
    assert "merge_without_ci" in tracking["body"]


async def test_a_repository_that_opts_out_of_ci_is_merged_without_it(
    flow_settings, seeded, fake_codegen, example_payload
):
    config = QUICK + "auto_merge:\n  enabled: true\n  merge_without_ci: true\n"
    _allow_merging(seeded, config)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: seeded.pulls[REPO][PR_NUMBER]["merged"] or None)
        await bot.wait_idle()
    [merge] = [r.json for r in _merges(seeded)]
    assert merge == {"merge_method": "squash", "sha": sha}
    assert not any("could not use" in c["body"] for c in bot_comments(seeded))  # a known key


async def test_a_neutral_verdict_is_not_merged(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    sha = open_pull(seeded, SOURCE_ONLY)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        task = await wait_until(lambda: _note_containing(bot, "Not auto-merged"))
        await bot.wait_idle()
        row = await validation_row(bot, sha)
    assert row["conclusion"] == "neutral"
    assert _merges(seeded) == [] and seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    assert any("concluded `neutral`, not `success`" in n for n in task["notes"])


async def test_a_security_warning_blocks_even_when_warnings_pass(
    flow_settings, seeded, fake_codegen, example_payload
):
    warnings_pass = AUTO_MERGE.replace("validation:\n", "validation:\n  warnings: success\n")
    _allow_merging(seeded, warnings_pass)
    sha = open_pull(seeded, EVAL_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        task = await wait_until(lambda: _note_containing(bot, "Not auto-merged"))
        await bot.wait_idle()
        row = await validation_row(bot, sha)
    assert row["conclusion"] == "success"  # a warning, and warnings pass here
    assert _merges(seeded) == [] and seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    assert any("1 security finding (Dynamic code evaluation)" in n for n in task["notes"])


async def test_a_check_that_fails_after_validation_blocks_the_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    _allow_merging(seeded)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    # The review is posted between the verdict and the merge: hold it, so that a
    # check fails (its event not yet delivered) after the verdict saw CI pass.
    seeded.delay_next("POST", rf"/pulls/{PR_NUMBER}/reviews$", 1.5)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        row = await wait_until(lambda: validation_row(bot, sha))
        ci_run(seeded, sha, "lint", "failure")
        task = await wait_until(lambda: _note_containing(bot, "Not auto-merged"))
        await bot.wait_idle()
    assert row["conclusion"] == "success"
    assert _merges(seeded) == [] and seeded.pulls[REPO][PR_NUMBER]["merged"] is False
    assert any(f"CI failed on `{sha[:7]}` (`lint`)" in n for n in task["notes"])


async def test_ci_that_reports_after_the_verdict_and_passes_lets_it_merge(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Held for want of CI is not held for ever: the check's event re-reads it."""
    _allow_merging(seeded)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _note_containing(bot, "no check of the repository's CI"))
        await bot.wait_idle()
        assert _merges(seeded) == []
        late = ci_run(seeded, sha, "tests", "success")
        event = check_run_event(seeded, "completed", REPO, late["id"], sender="ci-bot")
        await bot.deliver("check_run", event)
        await wait_until(lambda: seeded.pulls[REPO][PR_NUMBER]["merged"] or None)
        await bot.wait_idle()
    [merge] = [r.json for r in _merges(seeded)]
    assert merge == {"merge_method": "squash", "sha": sha}
