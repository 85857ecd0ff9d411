"""How a validated pull request is merged, the way its base branch wants: a
pure decision from what GitHub shows an App without `administration`.

- the rules of rulesets that apply to the branch (`GET .../rules/branches/{b}`):
  `pull_request` (`required_approving_review_count`), `required_status_checks`,
  `merge_queue`;
- classic protection as far as it is visible (`GET .../branches/{b}`):
  `protected` and `protection.required_status_checks` (its required reviews are
  hidden from an App without `administration`);
- the pull's `mergeable_state`: "blocked" means something is required that is
  not met (classic required reviews show only this way).

Where something is required, a direct merge would either be refused or, with a
bypass, skip what the team asked for: GitHub's own auto-merge (or the merge
queue) merges once the requirements are met. Only where nothing is required
does the bot merge directly, at the validated head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.validation.ci import code_name


class MergeWay(StrEnum):
    DIRECT = "direct"  #: nothing required: PUT .../merge at the validated head
    AUTO_MERGE = "auto_merge"  #: GitHub's auto-merge (enablePullRequestAutoMerge)
    MERGE_QUEUE = "merge_queue"  #: the branch merges through its merge queue


@dataclass(frozen=True)
class Requirements:
    """What the base branch requires, as far as the App can see."""

    branch: str
    approvals: int = 0
    checks: tuple[str, ...] = ()
    merge_queue: bool = False
    protected: bool = False
    blocked: bool = False


def requirements(
    branch: str,
    rules: Sequence[Any],
    branch_info: dict[str, Any] | None,
    mergeable_state: str | None,
) -> Requirements:
    """Read GitHub's answers (any of them may be missing or odd: they are data)."""
    approvals, checks, queue = 0, [], False
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        params = rule.get("parameters") if isinstance(rule.get("parameters"), dict) else {}
        kind = rule.get("type")
        if kind == "pull_request":
            count = params.get("required_approving_review_count")
            if isinstance(count, int) and not isinstance(count, bool):
                approvals = max(approvals, count)
        elif kind == "required_status_checks":
            for check in params.get("required_status_checks") or ():
                if isinstance(check, dict) and isinstance(check.get("context"), str):
                    checks.append(check["context"])
        elif kind == "merge_queue":
            queue = True
    protected = False
    if isinstance(branch_info, dict):
        protected = branch_info.get("protected") is True
        protection = branch_info.get("protection")
        classic = protection.get("required_status_checks") if isinstance(protection, dict) else None
        if isinstance(classic, dict):
            checks += [c for c in classic.get("contexts") or () if isinstance(c, str)]
    return Requirements(
        branch=branch,
        approvals=approvals,
        checks=tuple(dict.fromkeys(checks)),
        merge_queue=queue,
        protected=protected,
        blocked=mergeable_state == "blocked",
    )


def choose(req: Requirements) -> tuple[MergeWay, str]:
    """The way to merge and why, in words for the tracking comment."""
    where = code_name(req.branch)  # names are anyone's: a code span they cannot end
    if req.merge_queue:
        return MergeWay.MERGE_QUEUE, f"{where} merges through a merge queue (a ruleset)"
    needs = []
    if req.approvals:
        s = "s" if req.approvals != 1 else ""
        needs.append(f"{req.approvals} approving review{s}")
    if req.checks:
        names = ", ".join(code_name(c) for c in req.checks[:5])
        more = f" and {len(req.checks) - 5} more" if len(req.checks) > 5 else ""
        needs.append(f"the checks {names}{more}")
    if needs:
        return MergeWay.AUTO_MERGE, f"{where} requires {' and '.join(needs)}"
    if req.blocked:
        return MergeWay.AUTO_MERGE, (
            f"GitHub reports the pull request blocked by a requirement of {where} "
            "(branch protection)"
        )
    return MergeWay.DIRECT, f"nothing is required to merge into {where}"
