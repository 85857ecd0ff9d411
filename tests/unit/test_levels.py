"""Priority and complexity (`app.tasks.levels`) as an issue's labels, form
fields and `Priority: x` lines set them, read through parse_issue."""

from __future__ import annotations

import pytest

from app.tasks.issue_spec import parse_issue
from app.tasks.spec import TaskSpec


def parse(text: str | None, labels: tuple[str, ...] = (), title: str = "A title") -> TaskSpec:
    return parse_issue(title, text, labels)


@pytest.mark.parametrize(
    ("label", "priority"),
    [
        ("priority: high", "high"),
        ("Priority: High", "high"),
        ("priority/low", "low"),
        ("priority-critical", "critical"),
        ("prio: urgent", "critical"),
        ("priority: P1", "high"),
        ("P0", "critical"),
        ("p1", "high"),
        ("P2", "medium"),
        ("P3", "low"),
        ("P0 - drop everything", "critical"),
        ("high-priority", "high"),
        ("low priority", "low"),
        ("critical", "critical"),
        ("urgent", "critical"),
        ("🔥 priority: critical", "critical"),
    ],
)
def test_priority_labels(label, priority):
    assert parse("Some text here.", (label,)).priority == priority


@pytest.mark.parametrize(
    ("label", "complexity"),
    [
        ("complexity: low", "low"),
        ("complexity/high", "high"),
        ("effort: high", "high"),
        ("effort/small", "low"),
        ("difficulty: hard", "high"),
        ("size/XS", "low"),
        ("size/S", "low"),
        ("size/M", "medium"),
        ("size/L", "high"),
        ("size/XL", "high"),
        ("size: large", "high"),
        ("good first issue", "low"),
        ("good-first-issue", "low"),
        ("low-complexity", "low"),
    ],
)
def test_complexity_labels(label, complexity):
    assert parse("Some text here.", (label,)).estimated_complexity == complexity


@pytest.mark.parametrize(
    "label", ["bug", "enhancement", "p2p", "priority-queue", "size", "codegen"]
)
def test_unrelated_labels_leave_the_defaults(label):
    task = parse("Some text here.", (label,))
    assert (task.priority, task.estimated_complexity) == ("medium", "medium")


def test_when_labels_disagree_the_highest_wins():
    task = parse("Some text here.", ("P3", "priority: high", "good first issue", "size/L"))
    assert (task.priority, task.estimated_complexity) == ("high", "high")


def test_labels_win_over_form_fields():
    form = "### Description\n\nAdd a flag.\n\n### Priority\n\nLow\n\n### Complexity\n\nHigh\n"
    assert (parse(form).priority, parse(form).estimated_complexity) == ("low", "high")
    labelled = parse(form, ("priority: critical", "size/S"))
    assert (labelled.priority, labelled.estimated_complexity) == ("critical", "low")
    assert labelled.description == "Add a flag."


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("Priority: high", "priority", "high"),
        ("**Priority:** Critical", "priority", "critical"),
        ("- Effort: small", "estimated_complexity", "low"),
        ("Size: L", "estimated_complexity", "high"),
    ],
)
def test_priority_and_complexity_lines_in_prose(line, field, value):
    task = parse(f"Add retries to the uploader.\n\n{line}\n")
    assert getattr(task, field) == value
    assert task.description == "Add retries to the uploader."


def test_a_sentence_starting_with_priority_is_prose():
    text = "Priority: the queue must drain high-value jobs before the rest of the batch."
    task = parse(text)
    assert task.priority == "medium"
    assert task.description == text


def test_unreadable_form_value_leaves_the_default():
    task = parse("### Description\n\nAdd a flag.\n\n### Priority\n\nwhenever\n")
    assert task.priority == "medium"
    assert task.description == "Add a flag."
