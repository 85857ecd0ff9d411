"""Texts the API writes: the issue it opens for a task given as fields (in the
shape `app.tasks.issue_spec` reads back, so an edit of the issue re-reads the
same task), and the delivery details `create-pr` adds to a prompt. Pure."""

from __future__ import annotations

from app.api.models import PrOptions, TaskCreate


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


def delivery_details(options: PrOptions) -> str:
    """What the caller asked of the pull request, for the end of the prompt; empty
    when nothing was. The values are validated (a branch name's characters, a
    one-line title), so they cannot add instructions of their own."""
    asks = []
    if options.branchName:
        asks.append(f"- Push the work to a branch named `{options.branchName}`.")
    if options.prTitle:
        asks.append(f"- Title the pull request exactly: {options.prTitle}")
    if not asks:
        return ""
    return "\n\n## Pull request details\n" + "\n".join(asks) + "\n"
