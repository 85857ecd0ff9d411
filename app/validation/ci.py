"""The repository's own CI on a commit: other Apps' check runs and legacy
commit statuses, read from GitHub and summed up in one verdict.

`classify` is pure: the check runs (every run, not only the latest, so a check
that failed and then passed on a re-run of the same commit shows as flaky) and
statuses in, a `CiState` out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from app.github import urls
from app.github.client import GitHubClient

_PASSED = {"success", "neutral", "skipped"}
_FAILED = {"failure", "timed_out", "action_required", "startup_failure"}
# `cancelled` and `stale` runs were stopped or replaced, not judged: they neither
# pass nor fail the commit.
_SUMMARY_CHARS = 1500
_NAME_CHARS = 100


def code_name(name: str) -> str:
    """A check's name as Markdown inline code. Names are anyone's (a pull request's
    workflow names its own jobs): no backtick or line break may end the span and
    let the rest be mentions, links or headings in the bot's comment."""
    text = " ".join(name.replace("`", "'").split()) or "?"
    if len(text) > _NAME_CHARS:
        text = text[: _NAME_CHARS - 1] + "…"
    return f"`{text}`"


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # "check_run" | "status"
    state: str  # "pending" | "passed" | "failed" | "ignored"
    conclusion: str | None
    url: str | None
    summary: str
    flaky: bool = False


@dataclass(frozen=True)
class CiState:
    checks: tuple[Check, ...]

    def named(self, state: str) -> list[Check]:
        return [c for c in self.checks if c.state == state]

    @property
    def verdict(self) -> str:
        """ "none" (no CI reported), "pending", "failed" or "passed"."""
        if not self.checks:
            return "none"
        if self.named("pending"):
            return "pending"
        if self.named("failed"):
            return "failed"
        return "passed"

    @property
    def succeeded(self) -> list[Check]:
        """Checks that ran and succeeded: `neutral` and `skipped` pass a commit
        but prove nothing, so they do not count as CI that passed."""
        return [c for c in self.checks if c.state == "passed" and c.conclusion == "success"]

    @property
    def real_failures(self) -> list[Check]:
        """Failures worth sending to the agent: not the flaky ones."""
        return [c for c in self.named("failed") if not c.flaky]

    def to_json(self) -> dict[str, Any]:
        return {"checks": [asdict(c) for c in self.checks]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CiState:
        return cls(tuple(Check(**c) for c in (data or {}).get("checks", [])))

    def line(self) -> str:
        """One line for a summary: counts, and the failing names."""
        if not self.checks:
            return "no CI reported on this commit"
        parts = []
        for state, word in (("passed", "passed"), ("failed", "failed"), ("pending", "pending")):
            items = self.named(state)
            if items:
                names = ""
                if state != "passed":
                    names = " (" + ", ".join(code_name(c.name) for c in items[:5]) + ")"
                parts.append(f"{len(items)} {word}{names}")
        flaky = [c for c in self.checks if c.flaky]
        if flaky:
            parts.append(f"flaky: {', '.join(code_name(c.name) for c in flaky[:5])}")
        return ", ".join(parts) or "no CI reported on this commit"


def _run_summary(run: dict[str, Any]) -> str:
    output = run.get("output") or {}
    text = " — ".join(
        str(part).strip() for part in (output.get("title"), output.get("summary")) if part
    )
    return text[:_SUMMARY_CHARS]


def classify(
    check_runs: list[dict[str, Any]], statuses: list[dict[str, Any]], own_app_slug: str | None
) -> CiState:
    """Latest run per check name decides; a name with both a failure and a
    success on this commit is flaky. Our own check runs are left out."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in check_runs:
        if own_app_slug and (run.get("app") or {}).get("slug") == own_app_slug:
            continue
        by_name.setdefault(run.get("name") or "check", []).append(run)
    checks: list[Check] = []
    for name in sorted(by_name):
        runs = sorted(by_name[name], key=lambda r: (r.get("started_at") or "", r.get("id") or 0))
        latest = runs[-1]
        outcomes = {r.get("conclusion") for r in runs if r.get("status") == "completed"}
        flaky = bool(outcomes & _PASSED) and bool(outcomes & _FAILED)
        conclusion = latest.get("conclusion")
        if latest.get("status") != "completed":
            state = "pending"
        elif conclusion in _PASSED:
            state = "passed"
        elif conclusion in _FAILED:
            state = "failed"
        else:
            state = "ignored"
        checks.append(
            Check(
                name=name,
                kind="check_run",
                state=state,
                conclusion=conclusion,
                url=latest.get("details_url") or latest.get("html_url"),
                summary=_run_summary(latest),
                flaky=flaky,
            )
        )
    for status in statuses:
        value = status.get("state")
        state = {"pending": "pending", "success": "passed"}.get(value, "failed")
        checks.append(
            Check(
                name=status.get("context") or "status",
                kind="status",
                state=state,
                conclusion=value,
                url=status.get("target_url"),
                summary=(status.get("description") or "")[:_SUMMARY_CHARS],
            )
        )
    return CiState(tuple(c for c in checks if c.state != "ignored"))


async def read(gh: GitHubClient, repository: str, sha: str, own_app_slug: str | None) -> CiState:
    """Every check run (all re-runs) and the latest status per context on `sha`."""
    runs = [
        run
        async for run in gh.getiter(
            urls.commit_check_runs(repository, sha),
            iterable_key="check_runs",
        )
    ]
    combined = await gh.getitem(urls.commit_status(repository, sha))
    return classify(runs, list(combined.get("statuses") or []), own_app_slug)
