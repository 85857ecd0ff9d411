"""missing_information (`app.tasks.readiness`): whether an issue says enough
to act on, and what its author is asked to add."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tasks.issue_spec import parse_issue
from app.tasks.readiness import missing_information
from app.tasks.spec import TaskSpec

ISSUES = Path(__file__).resolve().parents[1] / "data" / "issues"
NO_DESCRIPTION = "The issue has no description: say what should change and why."


def body(name: str) -> str:
    return (ISSUES / f"{name}.md").read_text(encoding="utf-8")


def parse(text: str | None, labels: tuple[str, ...] = (), title: str = "A title") -> TaskSpec:
    return parse_issue(title, text, labels)


def test_one_clear_sentence_is_enough():
    task = parse("Add a `--version` flag to the CLI.", title="--version flag")
    assert missing_information(task) == []


def test_requirements_without_description_are_enough():
    task = parse("## Tasks\n- [ ] Add the `/healthz` endpoint returning 200\n")
    assert task.description == ""
    assert missing_information(task) == []


def test_too_short_description():
    task = parse("csv export", title="CSV")
    assert missing_information(task) == [
        "The description is too short to act on (2 words): write at least one full "
        "sentence saying what should change."
    ]


def test_description_that_only_points_at_the_title():
    task = parse("See title.", title="Add CSV export")
    assert missing_information(task) == [
        "The description only says “See title.”: describe the change you want in at "
        "least one full sentence."
    ]


def test_headings_code_and_placeholders_are_not_words():
    task = TaskSpec(
        title="Crash",
        description="### Logs\n\n```\nTraceback (most recent call last): boom\n```\n\nN/A",
    )
    assert missing_information(task) == [NO_DESCRIPTION]


@pytest.mark.parametrize("title", ["", "   ", "[Feature]: ", "[BUG] <short description>", "…"])
def test_template_or_empty_title(title):
    task = parse("Add a `--version` flag to the CLI.", title=title)
    assert missing_information(task) == [
        "The issue has no real title: give it a one-line summary of the change."
    ]


def test_title_and_description_problems_together():
    assert missing_information(parse("", title="[Bug]: ")) == [
        "The issue has no real title: give it a one-line summary of the change.",
        NO_DESCRIPTION,
    ]


def test_missing_information_is_deterministic():
    task = parse(body("issue_form_untouched"))
    assert missing_information(task) == missing_information(task) == [NO_DESCRIPTION]
