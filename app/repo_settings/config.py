"""Per-repository settings from `.github/codegen.yml` on the default branch.

A file that cannot be used never stops the bot: the defaults apply and the
problem is reported (once) where the maintainers will see it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from gidgethub import BadRequest

from app.budgets.decide import Limits, tighter
from app.config import Settings
from app.github import urls
from app.github.client import GitHubClient
from app.pull_requests.placement import PlacementSettings, parse_section
from app.repo_settings.layers import (
    CONFIG_PATH,
    EXTENDS,
    MAX_DEPTH,
    Source,
    extends_of,
    extends_target,
    merge,
    organisation_defaults,
)
from app.text import linear_re
from app.validation.config import ValidationConfig, echo, parse_validation

MAX_CONFIG_CHARS = 32 * 1024  # a settings file is a few hundred bytes
MAX_PROBLEMS = 20
STYLES = ("comprehensive", "concise")
PERMISSIONS = ("triage", "write", "maintain", "admin")
# Where repositories keep instructions for coding agents, in the order looked
# for: the first that exists on the default branch goes into the prompt.
INSTRUCTION_FILES = (
    "AGENTS.md",
    ".github/copilot-instructions.md",
    "CLAUDE.md",
    ".github/codegen-instructions.md",
)
MAX_INSTRUCTION_FILES = 5
_INSTRUCTION_PATH = linear_re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+){0,7}")


@dataclass(frozen=True)
class RepoConfig:
    trigger_label: str = "codegen"
    prompt_style: str = "comprehensive"
    include_codebase_context: bool = True
    include_dependencies: bool = True
    include_validation_criteria: bool = True
    max_retries: int = 2
    timeout_ms: int = 300_000  # the bot's own steps, up to creating the agent run
    run_timeout_ms: int = 3_600_000  # the agent run, from its creation
    permission: str = "write"
    # The files looked for, in order, for the repository's instructions to agents
    # (empty: none are read).
    instructions: tuple[str, ...] = INSTRUCTION_FILES
    extra: dict[str, Any] = field(default_factory=dict)  # the raw keys parsed below
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    # Budgets: the repository's limits on agent runs (0: none of its own), and at
    # most this many review fixes per task (0: none; None: no limit). The
    # installation's values (the environment) are the ceilings a file may lower.
    budgets: Limits = field(default_factory=Limits)
    review_fix_max: int | None = 3
    budget_ceilings: Limits = field(default_factory=Limits)
    review_fix_ceiling: int = 0  # 0: no ceiling
    ci_fix_ceiling: int = 0  # 0: no ceiling
    # Where and how the agent opens its PR (`pull_request:`, app/pull_requests/placement.py)
    pull_request: PlacementSettings = field(default_factory=PlacementSettings)

    @property
    def command_permission(self) -> str:
        return self.validation.command_permission or self.permission

    @classmethod
    def defaults(cls, settings: Settings) -> RepoConfig:
        ceilings = Limits(settings.budget_repo_runs_per_day, settings.budget_repo_concurrent_runs)
        ci_ceiling = settings.budget_ci_fixes_per_task
        validation = ValidationConfig()
        if ci_ceiling and validation.ci_fix_attempts > ci_ceiling:
            validation = replace(validation, ci_fix_attempts=ci_ceiling)
        return cls(
            trigger_label=settings.trigger_label,
            timeout_ms=settings.workflow_timeout_ms,
            run_timeout_ms=settings.agent_run_timeout_ms,
            validation=validation,
            budgets=ceilings,
            review_fix_max=settings.budget_review_fixes_per_task or None,
            budget_ceilings=ceilings,
            review_fix_ceiling=settings.budget_review_fixes_per_task,
            ci_fix_ceiling=ci_ceiling,
        )


# libyaml's parser when the wheel has it (fast, and it caps nesting depth).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(text: str) -> tuple[Any, str | None]:
    """(data, None) or (None, the problem), in time linear in the text."""
    if len(text) > MAX_CONFIG_CHARS:
        return None, (
            f"{CONFIG_PATH} is longer than the {MAX_CONFIG_CHARS:,} characters a settings "
            "file may have; it was not read"
        )
    try:
        # Anchors and aliases first: a few hundred bytes of them expand into
        # millions of values (the "billion laughs"), and settings need none.
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                return None, (
                    f"{CONFIG_PATH}: YAML anchors and aliases are not allowed "
                    f"(line {event.start_mark.line + 1}); write each value out"
                )
        return yaml.load(text, Loader=_LOADER), None  # noqa: S506 - a safe loader
    except RecursionError:
        return None, f"{CONFIG_PATH} is nested too deeply to be a settings file"
    except yaml.YAMLError as exc:
        return None, f"{CONFIG_PATH} is not valid YAML: `{echo(str(exc))}`"
    except (ValueError, OverflowError) as exc:
        # Well-formed YAML whose scalar cannot be built: a 13th month, an
        # integer past Python's digit limit. The constructors raise these bare.
        return None, f"{CONFIG_PATH} is not valid YAML: a value cannot be read (`{echo(str(exc))}`)"


# YAML key (snake_case or the seed's camelCase) -> field
_BOOL_KEYS = {
    "include_codebase_context": "include_codebase_context",
    "includecodebasecontext": "include_codebase_context",
    "include_dependencies": "include_dependencies",
    "includedependencies": "include_dependencies",
    "include_validation_criteria": "include_validation_criteria",
    "includevalidationcriteria": "include_validation_criteria",
}
_VALIDATION_KEYS = {"validate", "validation", "auto_merge", "automerge", "ci_fix", "commands"}
_BUDGET_KEYS = {"runs_per_day": "runs_per_day", "concurrent_runs": "concurrent"}
MOST_BUDGET = 100_000
MOST_REVIEW_FIXES = 100


def _mapping(key: str, value: Any, errors: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        errors.append(f"`{key}` must be a mapping of settings")
        return {}
    return {echo(k).lower(): v for k, v in value.items()}


def _count(key: str, value: Any, high: int, errors: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        errors.append(f"`{key}` must be a whole number from 0 to {high}; got `{echo(value)}`")
        return None
    return value


def _lowered(key: str, value: int, ceiling: int, what: str, errors: list[str]) -> int:
    """A limit the file asks for, within the installation's `ceiling` (0: none):
    a file may lower a limit, never raise it."""
    if ceiling and (value == 0 or value > ceiling):
        errors.append(
            f"`{key}` is {value or 'unlimited'}, above the installation's limit of "
            f"{ceiling} {what}; {ceiling} applies (a repository may lower it, not raise it)"
        )
        return ceiling
    return value


def parse_budgets(
    section: Any, review_fix: Any, defaults: RepoConfig
) -> tuple[dict[str, Any], list[str]]:
    """The `budgets:` and `review_fix:` sections, as changes to `defaults`:

    budgets:
      runs_per_day: 10       # agent runs this repository may start per UTC day
      concurrent_runs: 2     # agent runs in flight at once (0: no limit of its own)
    review_fix:
      max: 2                 # review fixes per task (0 turns them off)
    """
    errors: list[str] = []
    changes: dict[str, Any] = {}
    ceilings = defaults.budget_ceilings
    if section is not None:
        limits = {"runs_per_day": ceilings.runs_per_day, "concurrent": ceilings.concurrent}
        for key, value in _mapping("budgets", section, errors).items():
            name = f"budgets.{key}"
            if key not in _BUDGET_KEYS:
                errors.append(f"unknown setting `{name}`")
            elif (n := _count(name, value, MOST_BUDGET, errors)) is not None:
                field_name = _BUDGET_KEYS[key]
                ceiling = getattr(ceilings, field_name)
                what = "runs a day" if field_name == "runs_per_day" else "runs at once"
                limits[field_name] = tighter(
                    _lowered(name, n, ceiling, f"{what} for a repository", errors), ceiling
                )
        changes["budgets"] = Limits(**limits)
    if review_fix is not None:
        for key, value in _mapping("review_fix", review_fix, errors).items():
            name = f"review_fix.{key}"
            if key != "max":
                errors.append(f"unknown setting `{name}`")
            elif (n := _count(name, value, MOST_REVIEW_FIXES, errors)) is not None:
                ceiling = defaults.review_fix_ceiling
                if ceiling and n > ceiling:
                    n = _lowered(name, n, ceiling, "review fixes per task", errors)
                changes["review_fix_max"] = n
    return changes, errors


def load_mapping(text: str) -> tuple[dict[str, Any], str | None]:
    """A settings file's mapping ({} when empty), or ({}, the problem)."""
    data, problem = _load(text)
    if problem is not None:
        return {}, problem
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, f"{CONFIG_PATH} must be a mapping of settings, not {type(data).__name__}"
    return data, None


def parse_config(text: str, defaults: RepoConfig) -> tuple[RepoConfig, list[str]]:
    """The config a file gives, and what was wrong with it (defaults fill any gap)."""
    data, problem = load_mapping(text)
    if problem is not None:
        return defaults, [problem]
    return parse_mapping(data, defaults)


def parse_mapping(data: dict[str, Any], defaults: RepoConfig) -> tuple[RepoConfig, list[str]]:
    """The config a settings mapping gives, and what was wrong with it."""
    if not data:
        return defaults, []
    errors: list[str] = []
    changes: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    def text_value(key: str, value: Any, allowed: tuple[str, ...] | None = None) -> str | None:
        if not isinstance(value, str) or not value.strip():
            errors.append(f"`{key}` must be a non-empty string")
            return None
        if allowed and value not in allowed:
            errors.append(f"`{key}` must be one of {', '.join(allowed)}; got `{echo(value)}`")
            return None
        return value.strip()

    def int_value(key: str, value: Any, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(
                f"`{key}` must be a whole number from {low} to {high}; got `{echo(value)}`"
            )
            return None
        return value

    items = dict(data)
    budget_items: dict[str, Any] = {}
    prompt = items.pop("prompt", None)
    if prompt is not None:
        if isinstance(prompt, dict):
            for key, value in prompt.items():
                items[f"prompt_{key}" if key == "style" else key] = value
        else:
            errors.append("`prompt` must be a mapping (style, include_* options)")
    for raw_key, value in items.items():
        key = echo(raw_key)
        norm = key.lower()
        if norm in ("trigger_label", "label", "triggerlabel"):
            if (v := text_value(str(key), value)) is not None:
                changes["trigger_label"] = v
        elif norm in ("prompt_style", "style", "promptstyle"):
            if (v := text_value(str(key), value, STYLES)) is not None:
                changes["prompt_style"] = v
        elif norm in _BOOL_KEYS:
            if isinstance(value, bool):
                changes[_BOOL_KEYS[norm]] = value
            else:
                errors.append(f"`{key}` must be true or false; got `{echo(value)}`")
        elif norm in ("retries", "max_retries", "maxretries"):
            if (v := int_value(str(key), value, 0, 5)) is not None:
                changes["max_retries"] = v
        elif norm in ("timeout_minutes", "timeoutminutes"):
            if (v := int_value(str(key), value, 1, 24 * 60)) is not None:
                changes["timeout_ms"] = v * 60_000
        elif norm in ("timeout", "timeout_ms", "workflow_timeout"):
            if (v := int_value(str(key), value, 10_000, 24 * 3_600_000)) is not None:
                changes["timeout_ms"] = v
        elif norm in ("run_timeout_minutes", "runtimeoutminutes"):
            if (v := int_value(str(key), value, 1, 24 * 60)) is not None:
                changes["run_timeout_ms"] = v * 60_000
        elif norm in ("run_timeout", "run_timeout_ms", "runtimeout"):
            if (v := int_value(str(key), value, 60_000, 24 * 3_600_000)) is not None:
                changes["run_timeout_ms"] = v
        elif norm in ("permission", "minimum_permission"):
            if (v := text_value(str(key), value, PERMISSIONS)) is not None:
                changes["permission"] = v
        elif norm in ("instructions", "agent_instructions", "instructions_files"):
            if (paths := instruction_files(str(key), value, errors)) is not None:
                changes["instructions"] = paths
        elif norm in _VALIDATION_KEYS:
            extra[norm] = value
        elif norm in ("budgets", "review_fix"):
            budget_items[norm] = value
        elif norm in ("pull_request", "pullrequest"):
            changes["pull_request"], more = parse_section(value)
            errors += more
        elif norm == EXTENDS:
            continue  # read by the loader (app/repo_settings/layers.py)
        else:
            errors.append(f"unknown setting `{key}`")
    validation, problems = parse_validation(extra)
    budgets, budget_problems = parse_budgets(
        budget_items.get("budgets"), budget_items.get("review_fix"), defaults
    )
    changes.update(budgets)
    ci_ceiling = defaults.ci_fix_ceiling
    if ci_ceiling and validation.ci_fix_attempts > ci_ceiling:
        if "ci_fix" in extra:
            budget_problems.append(
                f"`ci_fix.max_attempts` is {validation.ci_fix_attempts}, above the "
                f"installation's limit of {ci_ceiling} CI fixes per task; {ci_ceiling} applies"
            )
        validation = replace(validation, ci_fix_attempts=ci_ceiling)
    problems = errors + problems + budget_problems
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], f"… and {more} more problem{'s' * (more != 1)}"]
    return replace(defaults, **changes, extra=extra, validation=validation), problems


def instruction_files(key: str, value: Any, errors: list[str]) -> tuple[str, ...] | None:
    """`instructions: false` (read none), one path, or a list of paths looked for
    in order; each a plain path inside the repository."""
    if value is False:
        return ()
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not paths or len(paths) > MAX_INSTRUCTION_FILES:
        errors.append(
            f"`{key}` must be false, a path, or a list of 1 to {MAX_INSTRUCTION_FILES} paths"
        )
        return None
    out = []
    for path in paths:
        ok = isinstance(path, str) and len(path) <= 200 and _INSTRUCTION_PATH.fullmatch(path)
        if not ok or any(part in (".", "..") for part in path.split("/")):
            errors.append(
                f"`{key}`: `{echo(path)}` is not a path inside the repository "
                "(letters, digits, `._-` and `/`, no `..`)"
            )
            return None
        out.append(path)
    return tuple(dict.fromkeys(out))


def decode_content(content: dict[str, Any]) -> str | None:
    if content.get("encoding") != "base64" or not isinstance(content.get("content"), str):
        return None
    try:
        return base64.b64decode(content["content"]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


async def fetch_file(
    gh: GitHubClient, repository: str, path: str, ref: str | None = None
) -> tuple[str | None, str | None]:
    """(text, blob sha) of a file, or (None, None) when it does not exist."""
    url = urls.contents(repository, path, ref)
    try:
        content = await gh.getitem(url)
    except BadRequest as exc:
        if exc.status_code == 404:
            return None, None
        raise
    if not isinstance(content, dict) or content.get("type") != "file":
        return None, None
    return decode_content(content), content.get("sha")


async def _read(gh: GitHubClient, source: Source) -> tuple[str | None, str | None]:
    """(text, blob sha) of a settings file, cached until an event says it may
    have changed, at most a few minutes (app/github/caches.py); an absent file
    too, since GitHub's 404 cannot be asked again conditionally."""
    cache = gh.caches.settings_files
    if source.cache_key not in cache:
        text, sha = await fetch_file(gh, source.repository, source.path)
        # Enough to tell it is too long; a 1 MB file is not kept per repository.
        cache[source.cache_key] = (text[: MAX_CONFIG_CHARS + 1] if text else text), sha
    return cache[source.cache_key]


async def load_repo_config(
    gh: GitHubClient, repository: str, settings: Settings
) -> tuple[RepoConfig, list[str], str | None]:
    """(config, problems, the blob shas of the files read) for a repository: its
    own file over the one it builds on (`_extends`, else the organisation's
    `.github` repository), each cached briefly. A problem in a file it builds on
    is named with that file; a file that cannot be read adds nothing."""
    defaults = RepoConfig.defaults(settings)
    own = Source(repository)
    text, sha = await _read(gh, own)
    data, problem = load_mapping(text) if text is not None else ({}, None)
    layers: list[tuple[Source, dict[str, Any], str | None]] = [(own, data, sha)]
    problems = [problem] if problem else []
    present, value = extends_of(data)
    target, problem = extends_target(value, repository) if present else (None, None)
    if problem:
        problems.append(problem)
    base = target if present else organisation_defaults(repository)
    seen = {own.cache_key}
    while base is not None:
        if base.cache_key in seen or len(layers) > MAX_DEPTH:
            problems.append(
                f"`_extends`: `{base.label}` would make a loop or a chain longer than "
                f"{MAX_DEPTH} files; it was not read"
            )
            break
        seen.add(base.cache_key)
        text, sha = await _read(gh, base)
        if text is None:
            if present:  # named on purpose: say it is not there
                problems.append(
                    f"`_extends`: `{base.label}` does not exist or the App cannot read it"
                )
            break
        data, problem = load_mapping(text)
        if problem:
            problems.append(f"`{base.label}`: {problem}")
            break
        layers.append((base, data, sha))
        present, value = extends_of(data)
        base, problem = extends_target(value, base.repository) if present else (None, None)
        if problem:
            problems.append(f"`{layers[-1][0].label}`: {problem}")
    for source, data, _ in layers:
        _, errors = parse_mapping(data, defaults)
        problems += errors if source == own else [f"`{source.label}`: {e}" for e in errors]
    config, _ = parse_mapping(merge([data for _, data, _ in reversed(layers)]), defaults)
    shas = [sha for _, _, sha in layers if sha]
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], f"… and {more} more problem{'s' * (more != 1)}"]
    return config, problems, "+".join(shas) or None
