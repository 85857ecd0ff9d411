"""TaskSpec (`app.tasks.spec`): the shape the tasks table stores, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tasks.issue_spec import parse_issue
from app.tasks.spec import TaskSpec

ISSUES = Path(__file__).resolve().parents[1] / "data" / "issues"


def body(name: str) -> str:
    return (ISSUES / f"{name}.md").read_text(encoding="utf-8")


def parse(text: str | None, labels: tuple[str, ...] = (), title: str = "A title") -> TaskSpec:
    return parse_issue(title, text, labels)


def test_to_json_uses_lists():
    task = parse(body("headed_markdown"), ("size/S",), title="Dry run")
    data = task.to_json()
    assert data == {
        "title": "Dry run",
        "description": task.description,
        "requirements": list(task.requirements),
        "acceptance_criteria": list(task.acceptance_criteria),
        "priority": "high",
        "estimated_complexity": "low",
    }
    assert isinstance(data["requirements"], list)
    assert TaskSpec(**data) == task  # rows with lists come back as the same spec


def test_task_spec_rejects_unknown_levels():
    with pytest.raises(ValueError, match="priority"):
        TaskSpec(title="t", description="d", priority="asap")
    with pytest.raises(ValueError, match="estimated_complexity"):
        TaskSpec(title="t", description="d", estimated_complexity="huge")
