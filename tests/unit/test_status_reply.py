"""`/codegen status`'s timing line says what the task is doing: a task made
through the API that nothing started yet is not "working"."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from app.commands.replies import status_text
from app.tasks.status import TaskStatus
from tests.unit.test_inline_text import NOW, task


@pytest.mark.parametrize(
    ("status", "said", "not_said"),
    [
        (TaskStatus.CREATED, "Created 2026-11-30 11:55 UTC; not started yet", "working"),
        (TaskStatus.NEEDS_INFO, "waiting for more information for 5 min", "working"),
        (TaskStatus.RUNNING, "Started 2026-11-30 11:55 UTC; working for 5 min", "not started"),
    ],
)
def test_the_timing_line_says_what_the_task_is_doing(status, said, not_said) -> None:
    started = NOW - timedelta(minutes=5)
    shown = dataclasses.replace(task([]), status=status, created_at=started, pr_opened_at=None)
    [timing] = [
        line
        for line in status_text(shown, [], None, [], NOW).splitlines()
        if line.startswith(("- Started", "- Created"))
    ]
    assert said in timing
    assert not_said not in timing
