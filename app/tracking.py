"""The tracking comment's text: one pure function of the task and its attempts,
so every edit shows the whole state and a retry renders the same words."""

from __future__ import annotations

from .codegen_requests import CodegenRequest
from .tasks import Task

_HEADLINE = {
    "queued": "👀 Picked up: checking the issue",
    "generating_prompt": "📝 Writing the prompt",
    "running": "⚙️ Codegen is working on it",
    "needs_info": "✋ Needs more information",
    "pr_open": "✅ Pull request opened",
    "validating": "🔍 Validating the pull request",
    "passed": "✅ Pull request passed validation",
    "changes_requested": "🛠️ Changes requested on the pull request",
    "merged": "🎉 Merged",
    "failed": "❌ Failed",
    "cancelled": "⏹️ Cancelled",
    "timed_out": "⌛ Timed out",
}


def _check(done: bool) -> str:
    return "[x]" if done else "[ ]"


def render(task: Task, attempts: list[CodegenRequest]) -> str:
    status = task.status
    latest = attempts[-1] if attempts else None
    lines = [f"### codegen-bot · {_HEADLINE.get(status, status)}", ""]
    total = task.max_retries + 1
    validated = status not in ("queued", "needs_info")
    prompt_ready = latest is not None
    pr_open = bool(task.pull_requests)
    lines.append(
        f"- {_check(validated)} Task validated"
        + (
            f" (priority {task.priority}, complexity {task.estimated_complexity})"
            if validated
            else ""
        )
    )
    if prompt_ready:
        strategy = f", strategy `{latest.strategy}`" if latest.strategy else ""
        lines.append(f"- [x] Prompt ready ({latest.style}{strategy})")
    else:
        lines.append("- [ ] Prompt ready")
    for request in attempts:
        run = (
            f"[agent run {request.agent_run_id}]({request.web_url})"
            if request.web_url
            else (f"agent run {request.agent_run_id}" if request.agent_run_id else "agent run")
        )
        sim = " — simulated, no real agent ran" if task.simulated else ""
        outcome = {
            "prepared": "starting",
            "creating": "starting",
            "running": "working",
            "complete": "complete",
            "failed": "failed",
            "cancelled": "stopped",
            "timed_out": "timed out",
        }[request.status]
        done = request.status in ("complete",)
        label = f"Codegen attempt {request.attempt} of {total}: {run} {outcome}{sim}"
        if request.error and request.status == "failed":
            label += f" ({request.error})"
        lines.append(f"- {_check(done)} {label}")
    if not attempts:
        lines.append("- [ ] Codegen working")
    if pr_open:
        links = ", ".join(
            f"[{pr.get('title') or pr['url']}]({pr['url']})" for pr in task.pull_requests
        )
        lines.append(f"- [x] Pull request opened: {links}")
    else:
        lines.append("- [ ] Pull request opened")
    lines.append(
        "- [ ] Validation"
        if status in ("pr_open", "validating") or not pr_open
        else "- [x] Validation"
    )
    lines.append("")
    if status == "needs_info":
        lines.append(f"**What is missing:** {task.status_detail or 'more detail'}")
        lines.append("Edit the issue (or label it again) and the task resumes.")
    elif status == "pr_open":
        lines.append(f"@{task.issue_author} the pull request is ready for review.")
    elif status == "failed":
        lines.append(f"**Why:** {task.status_detail or 'unknown error'}")
        lines.append(
            f"@{task.issue_author} nothing more will happen on its own. "
            f"@{task.triggered_by} or a maintainer can label the issue again "
            "(or comment `/codegen retry`) to start over."
        )
    elif status == "cancelled":
        lines.append(f"Stopped: {task.status_detail or 'cancelled'}. No further runs.")
    elif status == "timed_out":
        lines.append(f"**Why:** {task.status_detail or 'the workflow took too long'}")
        lines.append(f"@{task.issue_author} label the issue again to start over.")
    for note in task.notes:
        lines.append(f"> {note}")
    lines.append("")
    lines.append(f"<sub>task {task.id} · requested by @{task.triggered_by}</sub>")
    return "\n".join(lines)
