"""What a validation tells reviewers: the check run's conclusion, title,
summary, annotations and buttons, the PR review and its inline comments, and
the follow-up prompts for the agent. Pure functions of stored findings (dicts
from `analysis.model.Finding`) and the CI state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from app.validation.ci import CiState, code_name

CHECK_NAME = "codegen/validation"
MAX_ANNOTATIONS = 50  # per request, GitHub's limit
MAX_SUMMARY = 65_535
MAX_INLINE_COMMENTS = 30
FIX_ACTION = "fix"
RETRY_ACTION = "retry"
ACTIONS = (
    {
        "label": "Fix with Codegen",
        "description": "Send findings and failures to the agent",
        "identifier": FIX_ACTION,
    },
    {
        "label": "Retry task",
        "description": "Start a new Codegen attempt",
        "identifier": RETRY_ACTION,
    },
)
_ICON = {"failure": "❌", "warning": "⚠️", "notice": "ℹ️"}  # noqa: RUF001 - emoji


def conclusion(
    findings: Sequence[dict[str, Any]],
    ci: CiState,
    *,
    ci_timed_out: bool,
    warnings_conclusion: str,
) -> str:
    """Credentials (any failure-level finding) or failed CI fail the check;
    warnings give the configured conclusion; CI that never finished cannot
    give more than neutral."""
    if any(f["severity"] == "failure" for f in findings) or ci.verdict == "failed":
        return "failure"
    if any(f["severity"] == "warning" for f in findings):
        return warnings_conclusion
    if ci_timed_out:
        return "neutral"
    return "success"


def counts(findings: Iterable[dict[str, Any]]) -> dict[str, int]:
    out = {"failure": 0, "warning": 0, "notice": 0}
    for f in findings:
        out[f["severity"]] = out.get(f["severity"], 0) + 1
    return out


def title(verdict: str, findings: Sequence[dict[str, Any]], ci: CiState) -> str:
    c = counts(findings)
    parts = []
    if c["failure"]:
        parts.append(f"{c['failure']} blocking")
    if c["warning"]:
        parts.append(f"{c['warning']} warning{'s' * (c['warning'] != 1)}")
    if ci.verdict == "failed":
        parts.append(f"CI failed ({len(ci.named('failed'))})")
    head = {
        "success": "Passed",
        "neutral": "Passed with remarks",
        "failure": "Failed",
        "cancelled": "Superseded",
    }.get(verdict, verdict)
    return f"{head}: {', '.join(parts)}" if parts else head


def _where(f: dict[str, Any]) -> str:
    return f"`{f['path']}`" + (f" line {f['line']}" if f.get("line") else "")


def summary(
    verdict: str,
    *,
    analysis: dict[str, Any],
    findings: Sequence[dict[str, Any]],
    ci: CiState,
    ci_note: str | None,
    criteria: Sequence[str],
    head_sha: str,
    task_ref: str | None,
) -> str:
    """Readable in ten seconds: the verdict and why, then the facts."""
    c = counts(findings)
    blocking = [f for f in findings if f["severity"] == "failure"]
    lines = [f"**{title(verdict, findings, ci)}** on `{head_sha[:7]}`", ""]
    if blocking:
        lines.append("Blocking:")
        lines += [f"- {_ICON['failure']} {f['title']} in {_where(f)}" for f in blocking[:10]]
        if len(blocking) > 10:
            lines.append(f"- … and {len(blocking) - 10} more (see the annotations)")
        lines.append("")
    ci_failed = ci.named("failed")
    lines.append(f"- **CI:** {ci.line()}" + (f" — {ci_note}" if ci_note else ""))
    for check in ci_failed[:5]:
        flaky = " (flaky: it also passed on this commit)" if check.flaky else ""
        lines.append(f"  - {code_name(check.name)} {check.conclusion}{flaky}")
    lines.append(
        f"- **Findings:** {c['failure']} blocking, {c['warning']} warnings, {c['notice']} notes"
    )
    lines.append(
        f"- **Size:** {analysis.get('size_class', '?')} — {analysis.get('files_changed', 0)} "
        f"files, +{analysis.get('additions', 0)} −{analysis.get('deletions', 0)}"  # noqa: RUF001
    )
    if analysis.get("source_changed"):
        tests = "yes" if analysis.get("tests_changed") else "**no**"
        lines.append(f"- **Tests changed with the source:** {tests}")
    for manifest, lock in analysis.get("manifests_without_lock") or []:
        lines.append(f"- **Lock file:** `{manifest}` changed without {lock}")
    not_scanned = analysis.get("not_scanned") or []
    if not_scanned:
        lines.append(f"- **Not scanned:** {len(not_scanned)} file(s)")
        lines += [f"  - `{path}`: {why}" for path, why in not_scanned[:10]]
        if len(not_scanned) > 10:
            lines.append(f"  - … and {len(not_scanned) - 10} more")
    if task_ref:
        lines.append(f"- **Task:** {task_ref}")
    if criteria:
        lines += ["", "**Reviewer checklist** (the issue's acceptance criteria):"]
        lines += [f"- [ ] {item}" for item in criteria]
    text = "\n".join(lines)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 2] + " …"


def details(findings: Sequence[dict[str, Any]]) -> str:
    """The check run's `text`: every finding, grouped by severity."""
    if not findings:
        return "No findings."
    lines = []
    for level in ("failure", "warning", "notice"):
        group = [f for f in findings if f["severity"] == level]
        if not group:
            continue
        lines.append(f"### {_ICON[level]} {level.title()} ({len(group)})")
        lines += [f"- {_where(f)} — **{f['title']}** ({f['rule']}): {f['message']}" for f in group]
        lines.append("")
    text = "\n".join(lines)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 2] + " …"


def annotations(findings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One annotation per finding; a file-level finding points at line 1."""
    out = []
    for f in findings:
        line = f.get("line") or 1
        out.append(
            {
                "path": f["path"],
                "start_line": line,
                "end_line": line,
                "annotation_level": f["severity"],
                "title": f["title"][:255],
                "message": f["message"][:64_000],
                "raw_details": f["rule"],
            }
        )
    return out


def batches(items: Sequence[Any], size: int = MAX_ANNOTATIONS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def inline_comments(
    findings: Sequence[dict[str, Any]], already: Iterable[str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(finding, review comment) for findings on added lines not commented on
    before (same rule, file and line text), the most severe first."""
    seen = set(already)
    out = []
    for f in findings:
        if not f.get("line") or f["fingerprint"] in seen:
            continue
        seen.add(f["fingerprint"])
        body = f"{_ICON[f['severity']]} **{f['title']}** — {f['message']}\n\n<sub>{f['rule']}</sub>"
        out.append((f, {"path": f["path"], "line": f["line"], "side": "RIGHT", "body": body}))
        if len(out) >= MAX_INLINE_COMMENTS:
            break
    return out


def review_body(verdict: str, findings: Sequence[dict[str, Any]], ci: CiState, inline: int) -> str:
    c = counts(findings)
    head = {
        "success": "✅ codegen-bot validation passed.",
        "neutral": "☑️ codegen-bot validation passed with remarks.",
        "failure": "❌ codegen-bot validation failed.",
    }.get(verdict, f"codegen-bot validation: {verdict}.")
    parts = [head, ""]
    parts.append(
        f"{c['failure']} blocking, {c['warning']} warnings, {c['notice']} notes; CI: {ci.line()}."
    )
    if inline:
        parts.append(f"{inline} comment{'s' * (inline != 1)} below point at the exact lines.")
    parts.append("Details are in the `codegen/validation` check run.")
    return "\n".join(parts)
