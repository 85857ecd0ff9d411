"""Whether a validated commit may be merged by the bot: a pure rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.repo_settings.config import RepoConfig
from app.validation import ci
from app.validation.store import Validation


def stored_merge_blocker(
    validation: Validation, verdict: str | None, state: ci.CiState, config: RepoConfig
) -> str | None:
    """`merge_blocker` for a stored validation of its head commit."""
    return merge_blocker(
        verdict,
        validation.findings or [],
        state,
        validation.head_sha,
        without_ci=config.validation.merge_without_ci,
        not_scanned=(validation.analysis or {}).get("not_scanned") or (),
    )


def merge_blocker(
    verdict: str | None,
    findings: Sequence[dict[str, Any]],
    state: ci.CiState,
    sha: str,
    *,
    without_ci: bool,
    not_scanned: Sequence[Any] = (),
) -> str | None:
    """Why a validated commit must not be merged by the bot, or None.

    A merge is the one step no person looks at, so only a clean pass goes
    through: the verdict `success` (not `neutral`), no security finding of any
    severity and nothing the analysis left unscanned, no CI failing or still
    running, and at least one check of the repository's own CI that succeeded
    (unless the repository opted out with `auto_merge.merge_without_ci`)."""
    if verdict != "success":
        return f"validation of `{sha[:7]}` concluded `{verdict or 'nothing yet'}`, not `success`"
    security = [f for f in findings if str(f.get("rule", "")).startswith("security.")]
    if security:
        titles = ", ".join(sorted({str(f.get("title")) for f in security})[:3])
        count = len(security)
        return f"{count} security finding{'s' * (count != 1)} ({titles})"
    if not_scanned:
        count = len(not_scanned)
        return f"{count} file{'s were' if count != 1 else ' was'} not fully scanned"
    if state.verdict in ("failed", "pending"):
        word = "failed" if state.verdict == "failed" else "is still running"
        names = ", ".join(ci.code_name(c.name) for c in state.named(state.verdict)[:5])
        return f"CI {word} on `{sha[:7]}` ({names})"
    if not state.succeeded and not without_ci:
        return (
            f"no check of the repository's CI succeeded on `{sha[:7]}` (set "
            "`auto_merge.merge_without_ci: true` to merge without CI)"
        )
    return None
