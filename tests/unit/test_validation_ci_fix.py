"""What `validation.ci_fix` decides (app/validation/ci_fix.py `decide`): a
pure function of the CI state and the facts the job reads under its lock, so
each branch is checked here without a database, GitHub or an agent run."""

from __future__ import annotations

from app.validation.ci import Check, CiState
from app.validation.ci_fix import (
    AgentBusy,
    AlreadySent,
    Flaky,
    GiveUp,
    Nothing,
    SendFix,
    decide,
)

SHA = "c0ffee1" + "0" * 33


def check(name: str, state: str, *, flaky: bool = False, summary: str = "") -> Check:
    conclusion = {"failed": "failure", "passed": "success", "pending": None}[state]
    url = f"https://ci.example/{name}"
    return Check(name, "check_run", state, conclusion, url, summary, flaky)


FAILING = CiState((check("tests", "failed", summary="2 failed"), check("lint", "passed")))


def facts(**overrides):
    return {"attempts": 0, "most": 2, "already_sent": False, "agent_busy": False, **overrides}


def test_passing_or_unfinished_ci_needs_nothing():
    assert decide(CiState((check("tests", "passed"),)), SHA, **facts()) == Nothing()
    assert decide(CiState((check("tests", "pending"),)), SHA, **facts()) == Nothing()
    assert decide(CiState(()), SHA, **facts()) == Nothing()


def test_a_check_that_failed_then_passed_is_noted_as_flaky_and_not_sent():
    state = CiState((check("tests", "passed", flaky=True), check("lint", "passed")))
    decision = decide(state, SHA, **facts())
    assert isinstance(decision, Flaky) and decision.checks == ("tests",)
    assert decision.note == (
        "CI on `c0ffee1` failed and then passed on a re-run (`tests`): flaky, not sent to Codegen."
    )


def test_only_flaky_failures_are_not_sent_either():
    state = CiState((check("tests", "failed", flaky=True),))
    assert isinstance(decide(state, SHA, **facts()), Flaky)


def test_a_failure_is_sent_as_the_next_attempt_with_the_prompt():
    decision = decide(FAILING, SHA, **facts(attempts=1))
    assert isinstance(decision, SendFix) and decision.attempt == 2
    assert "automatic fix 2 of 2" in decision.instructions
    assert "<ci_check>\nname: tests\nconclusion: failure\n" in decision.instructions
    assert "name: lint" not in decision.instructions
    assert decision.note == (
        "CI failed on `c0ffee1` (`tests`): sent to Codegen, automatic fix 2 of 2."
    )


def test_the_attempts_used_up_give_up_with_the_reason():
    decision = decide(FAILING, SHA, **facts(attempts=2))
    assert decision == GiveUp(
        "CI still fails on `c0ffee1` (`tests`) after 2 automatic fixes; stopping. "
        "Fix it by hand or comment `/codegen fix <instructions>`."
    )
    none_allowed = decide(FAILING, SHA, **facts(most=1, attempts=1))
    assert isinstance(none_allowed, GiveUp) and "after 1 automatic fix;" in none_allowed.note


def test_a_busy_agent_is_waited_for_before_counting_an_attempt():
    assert decide(FAILING, SHA, **facts(agent_busy=True)) == AgentBusy()
    # ... even with its attempts used up: its push may fix this.
    assert decide(FAILING, SHA, **facts(agent_busy=True, attempts=2)) == AgentBusy()


def test_a_fix_recorded_by_a_try_that_died_is_only_noted():
    decision = decide(FAILING, SHA, **facts(already_sent=True, attempts=1, agent_busy=True))
    assert decision == AlreadySent(
        "CI failed on `c0ffee1` (`tests`): sent to Codegen, automatic fix 1 of 2."
    )
