"""parse_issue against realistic issue bodies (tests/data/issues/) and small
inline ones for each rule; whether the fixture bodies say enough to act on.
Levels, TaskSpec and the missing-information rules have their own files
(test_levels.py, test_task_spec.py, test_readiness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tasks.issue_spec import parse_issue
from app.tasks.readiness import missing_information
from app.tasks.spec import TaskSpec

ISSUES = Path(__file__).parents[1] / "data" / "issues"
NO_DESCRIPTION = "The issue has no description: say what should change and why."


def body(name: str) -> str:
    return (ISSUES / f"{name}.md").read_text(encoding="utf-8")


def parse(text: str | None, labels: tuple[str, ...] = (), title: str = "A title") -> TaskSpec:
    return parse_issue(title, text, labels)


# -- fixture bodies ------------------------------------------------------------


def test_plain_prose_issue_is_all_description():
    task = parse(body("plain_prose"), title="Answer 401, not 500, on a bad signature")
    assert task.description == body("plain_prose").strip()
    assert task.requirements == ()
    assert task.acceptance_criteria == ()
    assert (task.priority, task.estimated_complexity) == ("medium", "medium")
    assert missing_information(task) == []


def test_headed_markdown_issue():
    task = parse(body("headed_markdown"))
    assert task.requirements == (
        "`sync --dry-run` reads the same sources as a real sync and computes the same plan.",
        "It prints one line per change: the table name; the primary key; "
        "the kind of change (insert, update, delete)",
        "It exits 0 when there is nothing to change and 2 otherwise.",
        "Nothing is written: no rows, no sync cursor, no audit entry.",
        "Note that `--dry-run` must also work when the database is read-only.",
    )
    assert task.acceptance_criteria == (
        "Running `sync --dry-run` twice in a row prints the same plan.",
        "A test runs it against a read-only database and it succeeds.",
        "The `--help` text documents the flag.",
    )
    # "Summary" is the description itself: its heading goes, other headings stay.
    assert task.description.startswith("Add a `--dry-run` flag to the `sync` command")
    assert "## Summary" not in task.description
    assert "## Motivation\n\nOperators want" in task.description
    assert "## Out of scope\n\nColour output" in task.description
    assert "## Requirements" not in task.description
    assert "Acceptance" not in task.description
    # The "Priority: high" line set the priority and left the description.
    assert task.priority == "high"
    assert "Priority" not in task.description
    assert missing_information(task) == []


def test_checkbox_task_list():
    task = parse(body("checkbox_tasks"))
    assert task.requirements == (
        "Backend: Add the `PATCH /api/settings` endpoint",
        "Backend: Validate `timezone` against the IANA list and return 422 with the "
        "field name when it is unknown",
        "Frontend: Replace `LegacySettingsForm` with `SettingsForm`",
        "Frontend: Show field errors from the 422 response under each field",
    )
    # "Definition of done:" is a plain label line; the empty box is dropped.
    assert task.acceptance_criteria == (
        "The old form component is deleted",
        "Cypress test `settings.cy.ts` passes",
    )
    assert task.description == (
        "Tracking issue for moving the settings page to the new form components."
    )
    assert not any("[" in item for item in task.requirements + task.acceptance_criteria)


def test_issue_form_output():
    task = parse(body("issue_form_feature"), title="Export reports as CSV")
    assert task.description == (
        "Let people export a report as CSV from the report page, using the filters that are\n"
        "currently applied.\n"
        "\n"
        "### Use case\n"
        "\n"
        "Finance copies the table by hand into a spreadsheet every month."
    )
    assert task.acceptance_criteria == (
        'An "Export CSV" button sits next to "Print"',
        "The file name is `<report-slug>-<yyyy-mm-dd>.csv`",
    )
    assert task.requirements == ()
    # Dropdown values: "High (blocks a customer)" and an effort of "S".
    assert task.priority == "high"
    assert task.estimated_complexity == "low"
    for gone in ("_No response_", "Alternatives considered", "Code of Conduct", "### Effort"):
        assert gone not in task.description
    assert missing_information(task) == []


def test_untouched_issue_form_needs_information():
    task = parse(body("issue_form_untouched"), title="[Feature]: add webhooks")
    assert task.description == ""
    assert task.requirements == task.acceptance_criteria == ()
    assert task.priority == "medium"
    assert missing_information(task) == [NO_DESCRIPTION]


def test_markdown_bug_report_template():
    task = parse(body("bug_report"), title="Blank page after uploading a large avatar")
    assert task.description.startswith(
        "Uploading an avatar larger than 2 MB shows a blank page instead of an error message."
    )
    # Steps to reproduce stay in the description, with their heading.
    steps = '**To Reproduce**\n\n1. Go to Profile > Avatar\n2. Choose a 3 MB PNG\n3. Press "Save"'
    assert steps in task.description
    # The default template's hint lines and empty sections are gone.
    for hint in (
        "A clear and concise description",
        "Steps to reproduce the behavior",
        "**Screenshots**",
        "Additional context",
        "If applicable",
    ):
        assert hint not in task.description
    assert " - OS: macOS 14" in task.description
    # Expected behaviour is what the fix must make true.
    assert task.acceptance_criteria == (
        'The form shows "Images must be 2 MB or smaller" under the file field and keeps '
        "the old avatar.",
    )
    # "## Requirements" inside an HTML comment is not a section.
    assert task.requirements == ()
    assert "Maintainers only" not in task.description
    assert missing_information(task) == []


def test_issue_form_bug_report():
    task = parse(body("bug_report_form"), title="parse_duration rejects 90m")
    assert task.acceptance_criteria == (
        '`parse_duration("90m")` returns 5400',
        "Minutes above 59 are accepted when they are the only unit",
    )
    assert task.description.startswith('### Current Behavior\n\n`parse_duration("1h30m")`')
    assert (
        "### Steps To Reproduce\n\n```python\nfrom timeutil import parse_duration\n\n"
        'parse_duration("90m")\n```' in task.description  # code kept verbatim, blank line too
    )
    assert "```markdown\n- OS: Ubuntu 24.04" in task.description
    for gone in ("existing issue", "I have searched", "Anything else", "_No response_"):
        assert gone not in task.description


def test_headings_inside_code_blocks_and_comments_are_not_sections():
    task = parse(body("code_blocks"))
    assert task.requirements == (
        "Resolve `include:` paths relative to the including file",
        "Detect include cycles and report the chain, e.g.:\n```\na.yml -> b.yml -> a.yml\n```",
        "Later keys override earlier ones",
    )
    assert task.acceptance_criteria == ()
    # The code blocks stay in the description verbatim, fake headings and all.
    assert (
        "```yaml\n## Requirements\n# (this is a comment in the YAML file, not a heading)\n"
        "include:\n  - ../base.yml\n- [ ] not a task either\n```" in task.description
    )
    assert "~~~markdown\n### Acceptance criteria\n- this fenced block" in task.description
    assert "hidden in a comment" not in task.description


def test_empty_body_needs_information():
    task = parse(body("empty"), title="Add CSV export")
    assert task == TaskSpec(title="Add CSV export", description="")
    assert missing_information(task) == [NO_DESCRIPTION]


# -- headings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "kind"),
    [
        ("## Requirements", "requirements"),
        ("### requirements", "requirements"),
        ("# Functional Requirements", "requirements"),
        ("**Requirements**", "requirements"),
        ("**Requirements:**", "requirements"),
        ("**Requirements**:", "requirements"),
        ("__Tasks__", "requirements"),
        ("Requirements:", "requirements"),
        ("## To do", "requirements"),
        ("## TODO", "requirements"),
        ("## To-Do", "requirements"),
        ("## Tasks 📝", "requirements"),
        ("## Acceptance Criteria", "acceptance_criteria"),
        ("### Acceptance criteria ✅", "acceptance_criteria"),
        ("**Acceptance Criteria**", "acceptance_criteria"),
        ("Acceptance criteria:", "acceptance_criteria"),
        ("## Definition of Done", "acceptance_criteria"),
        ("## Expected behaviour", "acceptance_criteria"),
        ("### Expected Behavior", "acceptance_criteria"),
        ("## Scope / acceptance criteria", "acceptance_criteria"),
        ("## Success criteria ##", "acceptance_criteria"),
    ],
)
def test_recognised_headings(heading, kind):
    task = parse(f"Intro text for the change.\n\n{heading}\n- first item\n- second item\n")
    assert getattr(task, kind) == ("first item", "second item")
    assert task.description == "Intro text for the change."


@pytest.mark.parametrize("heading", ["## Notes", "**Context**", "## Steps to reproduce"])
def test_other_headings_stay_in_the_description(heading):
    task = parse(f"{heading}\n- first item\n- second item\n")
    assert task.requirements == task.acceptance_criteria == ()
    assert task.description == f"{heading}\n\n- first item\n- second item"


def test_plain_label_lines_only_for_list_sections():
    # "Notes:" is not in the table, so it is prose, not a heading.
    task = parse("Notes:\n- keep the old flag\n\nTo do:\n- add the new flag\n")
    assert task.requirements == ("add the new flag",)
    assert task.description == "Notes:\n- keep the old flag"


def test_a_same_level_heading_ends_a_list_section_and_a_deeper_one_groups_items():
    task = parse(
        "## Requirements\n"
        "### API\n- add `GET /items`\n"
        "**UI**\n- list the items\n"
        "## Notes\n- this is prose again\n"
    )
    assert task.requirements == ("API: add `GET /items`", "UI: list the items")
    assert task.description == "## Notes\n\n- this is prose again"


def test_requirements_from_several_sections_are_concatenated_in_order():
    task = parse("## Tasks\n- one\n## Notes\ntext here\n## Requirements\n- two\n")
    assert task.requirements == ("one", "two")


# -- items ---------------------------------------------------------------------


def test_bullet_kinds_and_checkboxes():
    task = parse(
        "## Requirements\n"
        "- dash\n* star\n+ plus\n1. dot\n2) paren\n"
        "- [ ] open box\n- [x] ticked box\n- [X] upper box\n* [ ] starred box\n"
        "- [ ]\n- [ ] …\n- ...\n- TBD\n-\n"
    )
    assert task.requirements == (
        "dash",
        "star",
        "plus",
        "dot",
        "paren",
        "open box",
        "ticked box",
        "upper box",
        "starred box",
    )


def test_multi_line_items_are_joined():
    task = parse(
        "## Acceptance criteria\n"
        "- the report lists every\n"
        "  row of the table\n"
        "- lazy continuation\n"
        "without indentation\n"
        "\n"
        "  and an indented paragraph after a blank line\n"
        "- three\n"
    )
    assert task.acceptance_criteria == (
        "the report lists every row of the table",
        "lazy continuation without indentation and an indented paragraph after a blank line",
        "three",
    )


def test_nested_items_join_their_parent():
    task = parse(
        "## Requirements\n"
        "- Support formats:\n  - CSV\n  - JSON\n"
        "- Log each export\n  - with the user id\n"
        "- Plain\n"
    )
    assert task.requirements == (
        "Support formats: CSV; JSON",
        "Log each export; with the user id",
        "Plain",
    )


def test_prose_in_a_list_section():
    task = parse(
        "## Requirements\n"
        "All of the following:\n\n"
        "- one\n- two\n\n"
        "The old endpoint keeps working until v3.\n"
    )
    # The intro ending in ":" is dropped; a standalone paragraph is an item.
    assert task.requirements == ("one", "two", "The old endpoint keeps working until v3.")


def test_section_of_prose_only_gives_one_item_per_paragraph():
    task = parse(
        "### Acceptance criteria\n\nExports finish in under 5 s for 10k rows.\n\nNo data leaks.\n"
    )
    assert task.acceptance_criteria == (
        "Exports finish in under 5 s for 10k rows.",
        "No data leaks.",
    )


def test_code_in_a_list_section_keeps_its_lines():
    task = parse(
        "## Acceptance criteria\n\nThis call succeeds:\n\n```python\nclient.get('/items')\n"
        "assert ok\n```\n"
    )
    assert task.acceptance_criteria == (
        "This call succeeds:\n```python\nclient.get('/items')\nassert ok\n```",
    )


def test_html_comments_are_removed_everywhere_but_code():
    task = parse(
        "Make the cache configurable. <!-- inline hint -->\n"
        "<!-- a whole-line hint -->\n"
        "## Requirements\n"
        "- add `cache_ttl` <!-- in seconds? -->\n"
        "<!--\n- a commented-out item\n-->\n"
        "- document it\n"
        "```html\n<!-- kept: it is code -->\n```\n"
    )
    assert task.requirements == (
        "add `cache_ttl`",
        "document it\n```html\n<!-- kept: it is code -->\n```",
    )
    assert task.description == "Make the cache configurable."


def test_crlf_and_none_bodies():
    crlf = parse("Fix the crash on start.\r\n\r\n## Requirements\r\n- one\r\n- two\r\n")
    assert crlf.requirements == ("one", "two")
    assert crlf.description == "Fix the crash on start."
    assert parse(None).description == ""


def test_title_whitespace_is_collapsed():
    assert parse("", title="  Add   CSV\texport \n").title == "Add CSV export"
