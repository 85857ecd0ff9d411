"""The words of the bot's replies to `/codegen` commands: pure functions of
what the handler looked up. (What a `fix` sends to the agent is in
prompts/followups.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.commands.parse import Command
from app.followups.store import Followup
from app.tasks.request_status import RequestStatus
from app.tasks.requests_store import CodegenRequest
from app.tasks.status import ACTIVE, PR_STAGES, TaskStatus
from app.tasks.store import Task
from app.tasks.tracking import RUN_STATE, duration, pr_link, short_reason
from app.text import inline as inline_text
from app.validation.store import Validation

QUOTE_CHARS = 120


@dataclass(frozen=True)
class Location:
    """Where a review comment sits in the diff."""

    path: str
    line: int | None
    start_line: int | None = None
    diff_hunk: str | None = None

    @classmethod
    def of_review_comment(cls, comment: dict[str, Any]) -> Location | None:
        path = comment.get("path")
        if not path:
            return None
        line = comment.get("line") or comment.get("original_line")
        start = comment.get("start_line") or comment.get("original_start_line")
        return cls(path, line, start if start and start != line else None, comment.get("diff_hunk"))


def quoted(command: Command) -> str:
    """The command as written, as a one-line quote (long instructions cut). Shown
    literally: its @mentions notify nobody and a cut opens no code span."""
    text = "/codegen" + (f" {command.raw}" if command.raw else "")
    first = command.args.split("\n", 1)[0] if command.args else ""
    if first:
        text += f" {first}"
    if len(text) > QUOTE_CHARS or "\n" in command.args:
        text = text[: QUOTE_CHARS - 1].rstrip() + "…"
    return f"> {inline_text.plain(text)}"


def reply(command: Command, text: str) -> str:
    return f"{quoted(command)}\n\n{text}"


def denied(
    actor: str, minimum: str, repository: str, what: str = "give codegen-bot commands"
) -> str:
    """The one reply an hour to someone whose commands on an issue were all refused."""
    return (
        f"@{actor} only people with **{minimum}** access (or more) to {repository} can "
        f"{what}, so nothing was done. Further commands from you here are not answered "
        "for an hour."
    )


def verb_denied(verb: str, minimum: str, repository: str, label: str) -> str:
    """One refused command of a comment whose others its author may give
    (`/codegen run` and `/codegen retry` take the label's permission, the others
    the commands one)."""
    if verb == "run":
        return (
            f"only people with **{minimum}** access (or more) to {repository} can start a "
            f"task (with `/codegen run` or the `{label}` label), so nothing was started."
        )
    if verb == "retry":
        return (
            f"only people with **{minimum}** access (or more) to {repository} can start a "
            f"new agent run (with `/codegen retry`, `/codegen run` or the `{label}` label), "
            "so nothing was started."
        )
    return (
        f"only people with **{minimum}** access (or more) to {repository} can give "
        "codegen-bot this command, so nothing was done."
    )


def ignored(actor: str, found: int, limit: int) -> str:
    """Said when a comment holds more commands than the bot acts on."""
    extra = found - limit
    return (
        f"@{actor} this comment has {found} commands; codegen-bot acts on the first "
        f"{limit} of a comment, so the other {extra} {'was' if extra == 1 else 'were'} "
        "ignored. Write them in a new comment if they are still needed."
    )


def no_task(is_pull: bool) -> str:
    if is_pull:
        return "This pull request is not linked to a codegen-bot task."
    return "There is no codegen-bot task for this issue yet; `/codegen run` starts one."


def review_fix_line(used: int, most: int | None) -> str:
    """`/codegen status`: the task's review fixes against `review_fix.max`."""
    if most is None:
        return f"- Review fixes: {used} used, no limit"
    if most == 0:
        return "- Review fixes: turned off for this repository"
    return f"- Review fixes: {used} of {most} used"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _run_link(request: CodegenRequest) -> str:
    if request.agent_run_id is None:
        return "no agent run yet"
    return inline_text.run_link(request.agent_run_id, request.web_url)


def status_text(
    task: Task,
    requests: Sequence[CodegenRequest],
    validation: Validation | None,
    followups: Sequence[Followup],
    now: datetime,
    budget: Sequence[str] = (),
    waiting: str | None = None,
) -> str:
    """Where the task stands: state, attempts with their runs, PRs, validation,
    timings, and (`budget`) what is left today; `waiting`: its place in the
    budget queue when it waits there."""
    head = f"**Task {task.id}** for #{task.issue_number}: `{task.status}`"
    if task.status_detail:
        head += f" — {task.status_detail}"
    lines = [head, ""]
    if waiting:
        lines += [waiting, ""]
    total = max(task.max_retries + 1, len(requests))
    for request in requests:
        strategy = f", strategy `{request.strategy}`" if request.strategy else ""
        state = RUN_STATE.get(request.status, request.status)
        failed = request.error and request.status == RequestStatus.FAILED
        error = f" ({short_reason(request.error)})" if failed else ""
        lines.append(
            f"- Attempt {request.attempt} of {total}{strategy}: {_run_link(request)}, "
            f"{state}{error}"
        )
    if not requests:
        lines.append(f"- No agent run yet (up to {total} attempts)")
    if task.pull_requests:
        links = ", ".join(pr_link(pr) for pr in task.pull_requests)
        lines.append(f"- Pull request: {links}")
    else:
        lines.append("- Pull request: none yet")
    if validation is not None:
        sha = validation.head_sha[:7]
        if validation.conclusion:
            title = validation.title or validation.conclusion
            shown = f"[{title}]({validation.check_run_url})" if validation.check_run_url else title
            lines.append(f"- Validation of `{sha}`: **{validation.conclusion}**, {shown}")
        else:
            lines.append(f"- Validation of `{sha}`: in progress")
    if followups:
        last = followups[-1]
        lines.append(
            f"- Follow-ups sent to the agent: {len(followups)} (latest by "
            f"@{last.requested_by}: {last.status})"
        )
    made = "Created" if task.status == TaskStatus.CREATED else "Started"
    timing = f"- {made} {_when(task.created_at)}"
    if task.pr_opened_at is not None:
        timing += (
            f"; PR opened after {duration((task.pr_opened_at - task.created_at).total_seconds())}"
        )
    waited = duration((now - task.created_at).total_seconds())
    if task.status == TaskStatus.CREATED:
        timing += "; not started yet: `create-pr`, `/codegen run` or the label starts it"
    elif task.status == TaskStatus.NEEDS_INFO:
        timing += f"; waiting for more information for {waited}"
    elif task.status in ACTIVE:
        timing += f"; working for {waited}"
    elif task.finished_at is not None and task.status not in PR_STAGES:
        spent = (task.finished_at - task.created_at).total_seconds()
        timing += f"; ended after {duration(spent)}"
    lines.append(timing)
    lines.extend(budget)
    if task.tracking_comment_id:
        lines.append(
            f"- [Tracking comment]({task.issue_url}#issuecomment-{task.tracking_comment_id})"
        )
    return "\n".join(lines)
