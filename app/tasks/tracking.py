"""The tracking comment's text: one pure function of the task and its attempts,
so every edit shows the whole state and a retry renders the same words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.followups.status import FollowupStatus
from app.followups.store import Followup
from app.observability.logs import redactor
from app.tasks.request_status import RequestStatus
from app.tasks.requests_store import CodegenRequest
from app.tasks.status import WITH_AGENT, TaskStatus
from app.tasks.store import Task
from app.text import inline as inline_text

REASON_CHARS = 300
# A task's `triggered_by` (and `issue_author`) when the REST API started it: an
# API key's name, shown as such and never as an @mention (app/api/keys.py).
API_ACTOR = "api-key:"


def mention(login: str) -> str:
    """`@login` for a person; an API key's name in words (it mentions nobody)."""
    if login.startswith(API_ACTOR):
        return f"API key `{login.removeprefix(API_ACTOR)}`"
    return f"@{login}"


_HEADLINE: dict[str, str] = {
    TaskStatus.CREATED: "🗒️ Created: waiting to be started",
    TaskStatus.QUEUED: "👀 Picked up: checking the issue",
    TaskStatus.GENERATING_PROMPT: "📝 Writing the prompt",
    TaskStatus.RUNNING: "⚙️ Codegen is working on it",
    TaskStatus.NEEDS_INFO: "✋ Needs more information",
    TaskStatus.PR_OPEN: "✅ Pull request opened",
    TaskStatus.VALIDATING: "🔍 Validating the pull request",
    TaskStatus.PASSED: "✅ Pull request passed validation",
    TaskStatus.CHANGES_REQUESTED: "🛠️ Changes requested on the pull request",
    TaskStatus.MERGED: "🎉 Merged",
    TaskStatus.CLOSED: "🚪 Pull request closed without merging",
    TaskStatus.FAILED: "❌ Failed",
    TaskStatus.CANCELLED: "⏹️ Cancelled",
    TaskStatus.TIMED_OUT: "⌛ Timed out",
}


# A task whose prompt is ready and whose run waits for the budgets to allow it.
BUDGET_HEADLINE = "⏳ Waiting for budget"

# A simulated run's end, said plainly: what happened and what a real run would do.
SIMULATED_HEADLINE = "🧪 Simulated run finished: no pull request"
SIMULATED_TEXT = (
    "Simulated run: no pull request was opened and no code was written; with a Codegen "
    "API key the agent would now implement this and open a pull request, which the bot "
    "would then validate."
)


def ended_simulated(task: Task, attempts: Sequence[CodegenRequest]) -> bool:
    """The task ended because its simulated run completed (not stopped by a person)."""
    return (
        task.simulated
        and task.status == TaskStatus.CANCELLED
        and bool(attempts)
        and attempts[-1].status == "complete"
    )


def _check(done: bool) -> str:
    return "[x]" if done else "[ ]"


# An agent run's stored status, in words.
RUN_STATE = {
    RequestStatus.PREPARED: "starting",
    RequestStatus.CREATING: "starting",
    RequestStatus.RUNNING: "working",
    RequestStatus.COMPLETE: "complete",
    RequestStatus.FAILED: "failed",
    RequestStatus.CANCELLED: "stopped",
    RequestStatus.TIMED_OUT: "timed out",
}


def duration(seconds: float) -> str:
    """ "3 d 4 h", "2 h 5 min", "7 min", "40 s": two units at most."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def job_failure_reason(error: str | None, task_id: int | None) -> str:
    """Why a job that failed for good gave up, in words fit for a public issue,
    pull request or notification: what happened and the task id to look it up
    by. The exception text (SQL, URLs, tokens) stays in the jobs table and the
    logs."""
    if error is None:
        why = "its job failed too many times"
    elif error.startswith("lease expired"):
        why = "the worker running it stopped responding too many times"
    else:
        why = "the bot hit an internal error it could not get past"
    task = f"task {task_id}; " if task_id is not None else ""
    return f"{why} ({task}the details are in the bot's logs)"


def short_reason(text: str | None) -> str:
    """A stored reason as shown in public: its first line, known secrets
    scrubbed, at most `REASON_CHARS` characters."""
    lines = (text or "").strip().splitlines()
    first = redactor.scrub(lines[0].strip()) if lines else ""
    if len(first) > REASON_CHARS or len(lines) > 1:
        first = first[: REASON_CHARS - 1].rstrip() + "…"
    return first


def pr_link(pr: dict[str, Any]) -> str:
    """A PR as Codegen reported it: its title and URL are the agent's text, so the
    title is shown literally (no forged link or mention) and only a GitHub pull
    request URL is linked."""
    return inline_text.link(str(pr.get("title") or ""), str(pr.get("url") or ""))


_FOLLOWUP_KIND = {
    "fix": "instructions",
    "ci_fix": "CI failure",
    "findings": "validation findings",
    "review": "review",
}
_FOLLOWUP_STATE = {
    FollowupStatus.PENDING: "sending",
    FollowupStatus.SENDING: "sending",
    FollowupStatus.RUNNING: "agent working",
    FollowupStatus.COMPLETE: "done",
    FollowupStatus.FAILED: "failed",
}


def render(
    task: Task,
    attempts: list[CodegenRequest],
    followups: Sequence[Followup] = (),
    validation: dict[str, Any] | None = None,
    permission: str = "write",
    budget_wait: str | None = None,
    trigger_label: str | None = None,
) -> str:
    """`permission`: the repository's label permission, which an edit that resumes
    a task waiting for information takes. `budget_wait`: the line saying why
    and where the task waits in the budget queue, when it does. `trigger_label`:
    the repository's label, named where it would start a `created` task."""
    status = task.status
    latest = attempts[-1] if attempts else None
    simulated_end = ended_simulated(task, attempts)
    headline = SIMULATED_HEADLINE if simulated_end else _HEADLINE.get(status, status)
    waiting = budget_wait if status == TaskStatus.GENERATING_PROMPT else None
    if waiting:
        headline = BUDGET_HEADLINE
    lines = [f"### codegen-bot · {headline}", ""]
    # A `/codegen retry` can go past the configured retries.
    total = max(task.max_retries + 1, task.attempt, len(attempts))
    # Past the information check only if it was passed, whatever the task became.
    validated = bool(attempts) or status in WITH_AGENT
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
        run = inline_text.run_link(request.agent_run_id, request.web_url)
        sim = " — simulated, no real agent ran" if task.simulated else ""
        outcome = RUN_STATE[request.status]
        done = request.status == RequestStatus.COMPLETE
        label = f"Codegen attempt {request.attempt} of {total}: {run} {outcome}{sim}"
        if request.error and request.status == RequestStatus.FAILED:
            label += f" ({short_reason(request.error)})"
        lines.append(f"- {_check(done)} {label}")
    if not attempts:
        lines.append("- [ ] Codegen working")
    if pr_open:
        links = ", ".join(pr_link(pr) for pr in task.pull_requests)
        lines.append(f"- [x] Pull request opened: {links}")
    elif simulated_end:
        lines.append("- [ ] Pull request opened: none, the run was simulated")
    else:
        lines.append("- [ ] Pull request opened")
    if validation and validation.get("conclusion"):
        link = (
            f"[{validation['title']}]({validation['url']})"
            if validation.get("url")
            else (validation["title"])
        )
        lines.append(f"- [x] Validation of `{validation['sha'][:7]}`: {link}")
    elif validation:
        lines.append(f"- [ ] Validation of `{validation['sha'][:7]}` in progress")
    else:
        lines.append("- [ ] Validation")
    for followup in followups:
        who = f"@{followup.requested_by}"
        state = _FOLLOWUP_STATE[followup.status]
        failed = followup.error and followup.status == FollowupStatus.FAILED
        error = f" ({short_reason(followup.error)})" if failed else ""
        done = _check(followup.status == FollowupStatus.COMPLETE)
        lines.append(
            f"- {done} Follow-up ({_FOLLOWUP_KIND.get(followup.kind, followup.kind)}"
            f", {who}) to agent run {followup.agent_run_id}: {state}{error}"
        )
    lines.append("")
    if waiting:
        lines.append(waiting)
    if simulated_end:
        lines.append(SIMULATED_TEXT)
        lines.append(
            f"{mention(task.triggered_by)} once the bot has a Codegen API key, comment "
            "`/codegen retry` (or label the issue again) for a real run."
        )
    elif status == TaskStatus.CREATED:
        label = f"the `{trigger_label}` label" if trigger_label else "the trigger label"
        lines.append(
            "Made through the REST API; no agent run has started. The API's `create-pr` "
            f"(`POST /api/v1/codegen/create-pr`), a `/codegen run` comment or {label} by "
            f"someone with **{permission}** access (or more) starts it."
        )
    elif status == TaskStatus.NEEDS_INFO:
        lines.append(f"**What is missing:** {task.status_detail or 'more detail'}")
        lines.append(
            f"An edit of the issue by someone with **{permission}** access (or more), or "
            "their `/codegen run` or new label, resumes the task; others' edits are noted, "
            "not used."
        )
    elif status in (TaskStatus.PR_OPEN, TaskStatus.PASSED):
        lines.append(f"{mention(task.issue_author)} the pull request is ready for review.")
    elif status == TaskStatus.CHANGES_REQUESTED:
        lines.append("Validation found problems; see the pull request's checks and review.")
    elif status == TaskStatus.MERGED:
        took = ""
        if task.merged_at is not None:
            spent = (task.merged_at - task.created_at).total_seconds()
            took = f" {duration(spent)} from label to merge"
        lines.append(f"Merged{took}.")
    elif status == TaskStatus.CLOSED:
        lines.append(f"{task.status_detail or 'The pull request was closed without merging'}.")
    elif status == TaskStatus.FAILED:
        lines.append(f"**Why:** {short_reason(task.status_detail) or 'unknown error'}")
        lines.append(
            f"{mention(task.issue_author)} nothing more will happen on its own. "
            f"{mention(task.triggered_by)} or a maintainer can label the issue again "
            "(or comment `/codegen retry`) to start over."
        )
    elif status == TaskStatus.CANCELLED:
        lines.append(f"Stopped: {task.status_detail or 'cancelled'}. No further runs.")
    elif status == TaskStatus.TIMED_OUT:
        lines.append(f"**Why:** {short_reason(task.status_detail) or 'the workflow took too long'}")
        lines.append(f"{mention(task.issue_author)} label the issue again to start over.")
    for note in task.notes:
        lines.append(f"> {note}")
    lines.append("")
    lines.append(f"<sub>task {task.id} · requested by {mention(task.triggered_by)}</sub>")
    return "\n".join(lines)
