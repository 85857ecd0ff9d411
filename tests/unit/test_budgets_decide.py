"""The budgets' pure parts: the admission plan, the words of the queue and of
`/codegen status`, the review-fix cap, and the `budgets:` / `review_fix:`
sections of `.github/codegen.yml` (a repository may lower, never raise)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from app.budgets import decide
from app.budgets.decide import Limit, Limits, Usage, Waiting
from app.config import Settings, load_settings
from app.repo_settings.config import RepoConfig, parse_config

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _queue(*repos: str) -> list[Waiting]:
    return [Waiting(i, repo, Limits()) for i, repo in enumerate(repos, start=1)]


def test_tighter_treats_zero_as_no_limit():
    assert decide.tighter(0, 5) == 5
    assert decide.tighter(5, 0) == 5
    assert decide.tighter(3, 5) == 3
    assert decide.tighter(0, 0) == 0


def test_the_plan_admits_in_order_while_the_daily_limit_allows():
    queue = _queue(*["a/b"] * 20)
    plan = decide.plan(queue, {}, Limits(runs_per_day=5), Usage())
    assert [limit for _, limit in plan] == [None] * 5 + [Limit.INSTALLATION_DAILY] * 15


def test_runs_already_counted_leave_less_room():
    queue = _queue("a/b", "a/b", "a/b")
    used = {"a/b": Usage(runs_today=1, in_flight=1)}
    plan = decide.plan(queue, used, Limits(concurrent=2), Usage(1, 1))
    assert [limit for _, limit in plan] == [
        None,
        Limit.INSTALLATION_CONCURRENT,
        Limit.INSTALLATION_CONCURRENT,
    ]


def test_a_repository_held_by_its_own_limit_does_not_hold_back_another():
    queue = [
        Waiting(1, "a/full", Limits(concurrent=1)),
        Waiting(2, "a/full", Limits(concurrent=1)),
        Waiting(3, "a/free", Limits(concurrent=1)),
    ]
    plan = decide.plan(queue, {"a/full": Usage(0, 1)}, Limits(), Usage(0, 1))
    assert [(w.id, limit) for w, limit in plan] == [
        (1, Limit.REPO_CONCURRENT),
        (2, Limit.REPO_CONCURRENT),
        (3, None),
    ]


def test_a_daily_limit_is_named_before_a_concurrent_one():
    repo = Limits(runs_per_day=2, concurrent=1)
    assert decide.holding(repo, Usage(2, 1), Limits(), Usage(2, 1)) == Limit.REPO_DAILY
    assert (
        decide.holding(Limits(concurrent=1), Usage(0, 1), Limits(runs_per_day=1), Usage(1, 1))
        == Limit.INSTALLATION_DAILY
    )
    assert decide.holding(repo, Usage(1, 0), Limits(), Usage(1, 0)) is None


def test_no_limits_admit_everything():
    plan = decide.plan(_queue(*["a/b"] * 50), {}, Limits(), Usage(10_000, 10_000))
    assert all(limit is None for _, limit in plan)


def test_the_day_is_the_utc_day():
    assert decide.day_start(NOON) == datetime(2026, 11, 30, tzinfo=UTC)
    assert decide.next_reset(NOON) == datetime(2026, 12, 1, tzinfo=UTC)


def test_the_place_counts_the_queue_the_limit_applies_to():
    assert decide.ahead(Limit.REPO_DAILY, 2, 9) == 2
    assert decide.ahead(Limit.REPO_CONCURRENT, 2, 9) == 2
    assert decide.ahead(Limit.INSTALLATION_CONCURRENT, 2, 9) == 9


def test_the_queue_line_says_why_where_and_until_when():
    text = decide.queue_text(Limit.REPO_DAILY, 5, 3, decide.next_reset(NOON))
    assert "3 ahead of this one" in text
    assert "this repository's limit of 5 agent runs a day is used up" in text
    assert "resets at 2026-12-01 00:00 UTC" in text
    assert "`/codegen cancel`" in text
    first = decide.queue_text(Limit.INSTALLATION_CONCURRENT, 1, 0, NOON)
    assert "first in line" in first
    assert "the installation's limit of 1 agent run at once is reached" in first
    assert "when one of them ends" in first


def test_status_says_what_is_left_today():
    lines = decide.budget_lines(
        Limits(5, 2), Usage(3, 1), Limits(0, 0), Usage(7, 4), decide.next_reset(NOON)
    )
    assert lines[0] == (
        "- Budget, this repository: 2 of 5 agent runs left today, 1 of 2 at once in use"
    )
    assert lines[1] == (
        "- Budget, the installation: no daily limit (7 started today), "
        "4 in flight, no limit at once"
    )
    assert "2026-12-01 00:00 UTC" in lines[2]
    over = decide.budget_lines(Limits(1, 0), Usage(3, 0), Limits(), Usage(), NOON)
    assert over[0].startswith("- Budget, this repository: 0 of 1 agent runs left today")


def test_review_fixes_are_capped_per_task():
    assert decide.review_fix_refusal(4, 2, 3) is None
    refused = decide.review_fix_refusal(4, 3, 3)
    assert refused and "task 4 has had its 3 review fixes" in refused
    assert "`review_fix.max`" in refused
    off = decide.review_fix_refusal(4, 0, 0)
    assert off and "turned off" in off


def _defaults(**env: str) -> RepoConfig:
    return RepoConfig.defaults(load_settings(env, dotenv=None))


def test_the_environment_gives_the_budgets_and_their_defaults():
    settings = Settings()
    assert (settings.budget_runs_per_day, settings.budget_concurrent_runs) == (200, 20)
    assert (settings.budget_repo_runs_per_day, settings.budget_repo_concurrent_runs) == (50, 5)
    assert settings.budget_review_fixes_per_task == 3
    config = _defaults(BUDGET_REPO_RUNS_PER_DAY="7", BUDGET_REVIEW_FIXES_PER_TASK="0")
    assert config.budgets == Limits(7, 5)
    assert config.review_fix_max is None  # 0: no limit
    assert _defaults().review_fix_max == 3


def test_a_repository_may_lower_its_budgets():
    text = "budgets:\n  runs_per_day: 10\n  concurrent_runs: 2\nreview_fix:\n  max: 1\n"
    config, problems = parse_config(text, _defaults())
    assert problems == []
    assert config.budgets == Limits(10, 2)
    assert config.review_fix_max == 1


def test_a_repository_cannot_raise_its_budgets():
    text = (
        "budgets:\n  runs_per_day: 500\n  concurrent_runs: 0\nreview_fix:\n  max: 9\n"
        "ci_fix:\n  max_attempts: 5\n"
    )
    config, problems = parse_config(text, _defaults(BUDGET_CI_FIXES_PER_TASK="1"))
    assert config.budgets == Limits(50, 5)
    assert config.review_fix_max == 3
    assert config.validation.ci_fix_attempts == 1
    assert len(problems) == 4, problems
    assert any("`budgets.runs_per_day` is 500" in p and "50 applies" in p for p in problems)
    assert any("`budgets.concurrent_runs` is unlimited" in p for p in problems)
    assert any("`review_fix.max` is 9" in p for p in problems)
    assert any("`ci_fix.max_attempts` is 5" in p for p in problems)


def test_the_ci_fix_ceiling_applies_without_a_file_too():
    assert _defaults(BUDGET_CI_FIXES_PER_TASK="1").validation.ci_fix_attempts == 1
    assert _defaults().validation.ci_fix_attempts == 2


def test_no_installation_limit_leaves_the_repository_free():
    defaults = _defaults(BUDGET_REPO_RUNS_PER_DAY="0", BUDGET_REPO_CONCURRENT_RUNS="0")
    config, problems = parse_config("budgets:\n  runs_per_day: 400\n", defaults)
    assert problems == [] and config.budgets == Limits(400, 0)


def test_hostile_budget_sections_are_problems_not_crashes():
    defaults = _defaults()
    for text in (
        "budgets: 3\n",
        "budgets: [1, 2]\n",
        "budgets:\n  runs_per_day: -1\n",
        "budgets:\n  runs_per_day: true\n",
        "budgets:\n  runs_per_day: 99999999999999999999\n",
        "budgets:\n  runs_per_day: '5'\n",
        "budgets:\n  " + "x" * 5000 + ": 1\n",
        "review_fix: nope\n",
        "review_fix:\n  max: 1.5\n",
        "review_fix:\n  other: 1\n",
    ):
        config, problems = parse_config(text, defaults)
        assert problems, text
        assert all(len(p) < 400 for p in problems), text
        assert config.budgets == dataclasses.replace(defaults).budgets
        assert config.review_fix_max == 3
