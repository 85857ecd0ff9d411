"""The PR-validation part of `.github/codegen.yml`: which PRs, how strict, how
long to wait for CI, automatic CI fixes and auto-merge. Pure parsing; every
problem is a sentence for the maintainers, and defaults fill any gap.

    validate: all              # or "tasks" (default): only PRs the bot's tasks opened
    validation:
      warnings: neutral        # or success: the conclusion when only warnings are found
      request_changes: false   # true: a failing validation's review requests changes
      review: true             # false: no PR review, only the check run
      ci_timeout_minutes: 30   # then conclude without the CI that has not finished
      ci_start_seconds: 30     # how long to wait for CI to report at all
      large_file_lines: 1000
      ignore_paths: ["vendor/**"]
      disabled_rules: ["review.debug_print"]
    ci_fix:
      max_attempts: 2          # 0 turns the automatic CI fixes off
      delay_seconds: 60        # wait before sending a failure, so a re-run can show it flaky
    auto_merge: true           # or {enabled: true, method: squash|merge|rebase,
                               #     merge_without_ci: false}
    commands:
      permission: write        # minimum permission for /codegen commands
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any

from app.validation.analysis.rules import MAX_GLOB_CHARS, MAX_GLOBS

MERGE_METHODS = ("squash", "merge", "rebase")
PERMISSIONS = ("triage", "write", "maintain", "admin")
ECHO_CHARS = 80
_echo_repr = reprlib.Repr()  # bounded in depth and length, so linear in what it shows
_echo_repr.maxlevel = 3
_echo_repr.maxstring = _echo_repr.maxother = ECHO_CHARS


def echo(value: Any) -> str:
    """A value from the file as a problem sentence quotes it, always inside a
    code span: one line, at most `ECHO_CHARS` characters, whatever its size or
    depth, and no backtick that could end the span (outside one, its `@name`
    would notify someone and its Markdown would render)."""
    text = value if isinstance(value, str) else _echo_repr.repr(value)
    text = " ".join(text[: ECHO_CHARS * 2].replace("`", "'").split())
    return text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 1] + "…"


@dataclass(frozen=True)
class ValidationConfig:
    scope: str = "tasks"
    warnings_conclusion: str = "neutral"
    request_changes: bool = False
    review: bool = True
    ci_timeout_seconds: int = 30 * 60
    ci_start_seconds: int = 30
    large_file_lines: int = 1000
    ignore_paths: tuple[str, ...] = ()
    disabled_rules: frozenset[str] = field(default_factory=frozenset)
    ci_fix_attempts: int = 2
    ci_fix_delay_seconds: int = 60
    auto_merge: bool = False
    merge_method: str = "squash"
    # Auto-merge needs at least one check of the repository's CI to succeed on the
    # commit; a repository without CI must say so explicitly to be merged at all.
    merge_without_ci: bool = False
    command_permission: str | None = None  # None: the label's permission applies


def _mapping(key: str, value: Any, errors: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"`{key}` must be a mapping of settings")
        return {}
    return {echo(k).lower(): v for k, v in value.items()}


def _int(key: str, value: Any, low: int, high: int, errors: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(f"`{key}` must be a whole number from {low} to {high}; got `{echo(value)}`")
        return None
    return value


def _bool(key: str, value: Any, errors: list[str]) -> bool | None:
    if not isinstance(value, bool):
        errors.append(f"`{key}` must be true or false; got `{echo(value)}`")
        return None
    return value


def _choice(key: str, value: Any, allowed: tuple[str, ...], errors: list[str]) -> str | None:
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        errors.append(f"`{key}` must be one of {', '.join(allowed)}; got `{echo(value)}`")
        return None
    return value.strip().lower()


def _strings(key: str, value: Any, errors: list[str]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors.append(f"`{key}` must be a list of strings")
        return None
    return tuple(v.strip() for v in value)


def _globs(key: str, globs: tuple[str, ...], errors: list[str]) -> tuple[str, ...]:
    """At most MAX_GLOBS globs of MAX_GLOB_CHARS: each costs a match per changed path."""
    kept = tuple(g for g in globs if len(g) <= MAX_GLOB_CHARS)
    if len(kept) < len(globs):
        errors.append(f"`{key}`: globs over {MAX_GLOB_CHARS} characters ignored")
    if len(kept) > MAX_GLOBS:
        errors.append(f"`{key}`: only the first {MAX_GLOBS} globs used")
    return kept[:MAX_GLOBS]


def parse_validation(extra: dict[str, Any]) -> tuple[ValidationConfig, list[str]]:
    """The settings from the raw top-level keys `validate`, `validation`,
    `ci_fix`, `auto_merge` and `commands` (lower-cased)."""
    errors: list[str] = []
    out: dict[str, Any] = {}
    if "validate" in extra:
        if (v := _choice("validate", extra["validate"], ("tasks", "all"), errors)) is not None:
            out["scope"] = v
    section = _mapping("validation", extra.get("validation"), errors)
    for key, value in section.items():
        name = f"validation.{key}"
        if key in ("warnings", "warnings_conclusion"):
            if (v := _choice(name, value, ("neutral", "success"), errors)) is not None:
                out["warnings_conclusion"] = v
        elif key == "request_changes":
            if (b := _bool(name, value, errors)) is not None:
                out["request_changes"] = b
        elif key == "review":
            if (b := _bool(name, value, errors)) is not None:
                out["review"] = b
        elif key == "ci_timeout_minutes":
            if (n := _int(name, value, 1, 24 * 60, errors)) is not None:
                out["ci_timeout_seconds"] = n * 60
        elif key == "ci_start_seconds":
            if (n := _int(name, value, 0, 3600, errors)) is not None:
                out["ci_start_seconds"] = n
        elif key == "large_file_lines":
            if (n := _int(name, value, 1, 1_000_000, errors)) is not None:
                out["large_file_lines"] = n
        elif key == "ignore_paths":
            if (s := _strings(name, value, errors)) is not None:
                out["ignore_paths"] = _globs(name, s, errors)
        elif key == "disabled_rules":
            if (s := _strings(name, value, errors)) is not None:
                out["disabled_rules"] = frozenset(s)
        elif key == "scope":
            if (v := _choice(name, value, ("tasks", "all"), errors)) is not None:
                out["scope"] = v
        else:
            errors.append(f"unknown setting `{name}`")
    fix = extra.get("ci_fix")
    if isinstance(fix, bool):
        out["ci_fix_attempts"] = 2 if fix else 0
    else:
        for key, value in _mapping("ci_fix", fix, errors).items():
            name = f"ci_fix.{key}"
            if key == "max_attempts":
                if (n := _int(name, value, 0, 10, errors)) is not None:
                    out["ci_fix_attempts"] = n
            elif key == "delay_seconds":
                if (n := _int(name, value, 0, 3600, errors)) is not None:
                    out["ci_fix_delay_seconds"] = n
            else:
                errors.append(f"unknown setting `{name}`")
    merge = extra.get("auto_merge", extra.get("automerge"))
    if isinstance(merge, bool):
        out["auto_merge"] = merge
    elif merge is not None:
        for key, value in _mapping("auto_merge", merge, errors).items():
            name = f"auto_merge.{key}"
            if key == "enabled":
                if (b := _bool(name, value, errors)) is not None:
                    out["auto_merge"] = b
            elif key in ("method", "merge_method"):
                if (v := _choice(name, value, MERGE_METHODS, errors)) is not None:
                    out["merge_method"] = v
            elif key == "merge_without_ci":
                if (b := _bool(name, value, errors)) is not None:
                    out["merge_without_ci"] = b
            else:
                errors.append(f"unknown setting `{name}`")
    for key, value in _mapping("commands", extra.get("commands"), errors).items():
        if key == "permission":
            if (v := _choice("commands.permission", value, PERMISSIONS, errors)) is not None:
                out["command_permission"] = v
        else:
            errors.append(f"unknown setting `commands.{key}`")
    return ValidationConfig(**out), errors
