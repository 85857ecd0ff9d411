"""Texts the API writes: the issue it opens for a task given as fields (in the
shape `app.tasks.issue_spec` reads back, so an edit of the issue re-reads the
same task). Pure. (Where and how the PR is opened is said by
`app.pull_requests.placement`, for every prompt.)"""

from __future__ import annotations

from app.api.models import TaskCreate


def issue_body(task: TaskCreate, key_name: str) -> str:
    lines = [task.description.strip() or task.title, ""]
    if task.requirements:
        lines += ["## Requirements", *(f"- {r.strip()}" for r in task.requirements), ""]
    if task.acceptance_criteria:
        lines += [
            "## Acceptance criteria",
            *(f"- [ ] {c.strip()}" for c in task.acceptance_criteria),
            "",
        ]
    lines += [
        f"Priority: {task.priority}",
        f"Complexity: {task.estimated_complexity}",
        "",
        f"<sub>Opened through the codegen-bot REST API with the API key `{key_name}`.</sub>",
    ]
    return "\n".join(lines)
