"""The pure parts of PR validation: CI classification, the verdict rules, the
check run's texts and annotation batches, inline comments, and the settings."""

from __future__ import annotations

from app.validation import ci
from app.validation import report as check_report
from app.validation.config import parse_validation
from tests.support.analysis import finding


def run(name, conclusion, *, status="completed", run_id=1, app="ci-app", started="", **output):
    return {
        "id": run_id,
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "started_at": started,
        "app": {"slug": app},
        "details_url": f"https://ci.example/{run_id}",
        "output": output,
    }


def test_no_ci_at_all_is_none_and_our_own_runs_do_not_count():
    state = ci.classify([run("codegen/validation", "success", app="me")], [], "me")
    assert state.verdict == "none"
    assert state.line() == "no CI reported on this commit"


def test_latest_run_per_name_decides_and_mixed_outcomes_are_flaky():
    runs = [
        run("tests", "failure", run_id=1, started="2026-01-01T00:00:00Z"),
        run("tests", "success", run_id=2, started="2026-01-01T00:05:00Z"),
        run("lint", "failure", run_id=3, title="2 errors", summary="E501 line too long"),
    ]
    state = ci.classify(runs, [], "me")
    by_name = {c.name: c for c in state.checks}
    assert by_name["tests"].state == "passed" and by_name["tests"].flaky
    assert by_name["lint"].state == "failed" and not by_name["lint"].flaky
    assert by_name["lint"].summary == "2 errors — E501 line too long"
    assert state.verdict == "failed"
    assert [c.name for c in state.real_failures] == ["lint"]


def test_a_failure_after_a_pass_on_the_same_commit_is_flaky_and_not_sent():
    runs = [
        run("tests", "success", run_id=1, started="2026-01-01T00:00:00Z"),
        run("tests", "failure", run_id=2, started="2026-01-01T00:05:00Z"),
    ]
    state = ci.classify(runs, [], None)
    assert state.verdict == "failed"
    assert state.real_failures == []


def test_pending_runs_and_statuses_keep_ci_pending_and_errors_fail():
    state = ci.classify(
        [run("build", None, status="in_progress")],
        [{"context": "ci/legacy", "state": "success"}],
        None,
    )
    assert state.verdict == "pending"
    state = ci.classify(
        [], [{"context": "ci/legacy", "state": "error", "description": "boom"}], None
    )
    assert state.verdict == "failed"
    assert state.named("failed")[0].summary == "boom"


def test_cancelled_and_stale_runs_are_neither_pass_nor_fail():
    state = ci.classify([run("old", "cancelled"), run("gone", "stale")], [], None)
    assert state.verdict == "none"


def test_ci_state_round_trips_through_json():
    state = ci.classify([run("lint", "failure", title="bad")], [], None)
    assert ci.CiState.from_json(state.to_json()) == state


def test_verdict_rules():
    passed = ci.classify([run("t", "success")], [], None)
    failed = ci.classify([run("t", "failure")], [], None)
    none = ci.CiState(())
    kw = {"ci_timed_out": False, "warnings_conclusion": "neutral"}
    assert check_report.conclusion([], passed, **kw) == "success"
    assert check_report.conclusion([], none, **kw) == "success"
    assert check_report.conclusion([finding("failure")], passed, **kw) == "failure"
    assert check_report.conclusion([], failed, **kw) == "failure"
    assert check_report.conclusion([finding("warning")], passed, **kw) == "neutral"
    assert (
        check_report.conclusion(
            [finding("warning")], passed, ci_timed_out=False, warnings_conclusion="success"
        )
        == "success"
    )
    assert check_report.conclusion([finding("notice")], passed, **kw) == "success"
    timed_out = {"ci_timed_out": True, "warnings_conclusion": "success"}
    assert check_report.conclusion([], passed, **timed_out) == "neutral"


def test_120_annotations_go_in_batches_of_50():
    findings = [finding(line=i + 1) for i in range(120)]
    chunks = list(check_report.batches(check_report.annotations(findings)))
    assert [len(c) for c in chunks] == [50, 50, 20]
    first = chunks[0][0]
    assert first == {
        "path": "app.py",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "warning",
        "title": "review.todo title",
        "message": "review.todo message",
        "raw_details": "review.todo",
    }


def test_file_level_findings_are_annotated_on_line_one_but_never_inline():
    findings = [finding(line=None, rule="analysis.lockfile", path="package.json")]
    assert check_report.annotations(findings)[0]["start_line"] == 1
    assert check_report.inline_comments(findings, []) == []


def test_inline_comments_skip_what_was_commented_before_and_repeats():
    a = finding(line=3, text="password = 'x'", rule="security.secret_assignment")
    moved = {**a, "line": 9}  # the same line after a push above it
    b = finding(line=4, text="print(x)", rule="review.debug_print")
    pairs = check_report.inline_comments([a, moved, b], [b["fingerprint"]])
    assert len(pairs) == 1
    f, comment = pairs[0]
    assert f is a
    assert comment["path"] == "app.py" and comment["line"] == 3 and comment["side"] == "RIGHT"
    assert "security.secret_assignment" in comment["body"]


def test_summary_reads_in_ten_seconds():
    state = ci.classify([run("tests", "failure"), run("lint", "success")], [], None)
    findings = [
        finding("failure", line=1, rule="security.private_key", path="deploy/key.pem"),
        finding("warning"),
    ]
    text = check_report.summary(
        "failure",
        analysis={
            "size_class": "S",
            "files_changed": 2,
            "additions": 30,
            "deletions": 4,
            "source_changed": True,
            "tests_changed": False,
            "manifests_without_lock": [["package.json", "package-lock.json"]],
        },
        findings=findings,
        ci=state,
        ci_note=None,
        criteria=["Clicking the button downloads `widgets.csv`"],
        head_sha="0123456789abcdef0123456789abcdef01234567",
        task_ref="https://github.com/o/r/issues/7 (task 3)",
    )
    first = text.splitlines()[0]
    assert first == "**Failed: 1 blocking, 1 warning, CI failed (1)** on `0123456`"
    assert "security.private_key title in `deploy/key.pem` line 1" in text
    assert "1 passed, 1 failed (`tests`)" in text
    assert "- **Tests changed with the source:** **no**" in text
    assert "`package.json` changed without package-lock.json" in text
    assert "- [ ] Clicking the button downloads `widgets.csv`" in text


def test_actions_fit_githubs_limits():
    assert len(check_report.ACTIONS) <= 3
    for action in check_report.ACTIONS:
        assert len(action["label"]) <= 20
        assert len(action["description"]) <= 40
        assert len(action["identifier"]) <= 20


def test_validation_settings_parse_with_defaults_and_clear_errors():
    config, errors = parse_validation({})
    assert errors == [] and config.scope == "tasks" and config.ci_fix_attempts == 2
    config, errors = parse_validation(
        {
            "validate": "all",
            "validation": {"warnings": "success", "ci_timeout_minutes": 5, "request_changes": True},
            "ci_fix": {"max_attempts": 3, "delay_seconds": 0},
            "auto_merge": {"enabled": True, "method": "rebase"},
            "commands": {"permission": "maintain"},
        }
    )
    assert errors == []
    assert config.scope == "all" and config.warnings_conclusion == "success"
    assert config.ci_timeout_seconds == 300 and config.request_changes
    assert config.ci_fix_attempts == 3 and config.ci_fix_delay_seconds == 0
    assert config.auto_merge and config.merge_method == "rebase"
    assert config.command_permission == "maintain"
    config, errors = parse_validation(
        {"validate": "some", "auto_merge": {"method": "octopus"}, "validation": {"colour": 1}}
    )
    assert config.scope == "tasks" and config.merge_method == "squash"
    assert errors == [
        "`validate` must be one of tasks, all; got `some`",
        "unknown setting `validation.colour`",
        "`auto_merge.method` must be one of squash, merge, rebase; got `octopus`",
    ]
    config, _ = parse_validation({"auto_merge": True, "ci_fix": False})
    assert config.auto_merge and config.ci_fix_attempts == 0
