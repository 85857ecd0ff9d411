"""Build the agent prompt for a task: pure, deterministic, size-bounded.

Templates are the ``*.md`` files beside this module, filled with
:class:`string.Template` (``$name`` placeholders; a literal dollar is ``$$``).
``string.Template`` was chosen over ``str.format`` because issue text and
repository files are full of ``{braces}`` and only the template, never a value,
is scanned for placeholders. One extra convention: a placeholder alone on its
line is an optional block, and when its value is empty the line disappears
together with the blank line after it, so a switched-off section leaves no gap.

=========================  ====================================================
file                       role
=========================  ====================================================
comprehensive.md           full prompt: task, repository context, rules, done
concise.md                 short prompt: task and rules only
issue.md                   the requester's words, fenced as data
delivery_rules.md          one PR against the default branch, tests, conventions
definition_of_done.md      checklist (comprehensive, include_validation_criteria)
strategy_<name>.md         what a retry changes, one file per :data:`STRATEGIES`
=========================  ====================================================

Everything that comes from outside (the issue, the previous attempt's report,
README, CONTRIBUTING, manifests, the file tree) sits between XML-style tags
that the prompt declares to be data: ``<requester_issue>`` (holding
``<issue_title>``, ``<issue_description>``, ``<issue_requirements>`` and
``<issue_acceptance_criteria>``), ``<previous_attempt>``, ``<repository_file>``
and ``<repository_tree>``. Any of those tag names inside such text is
neutralised (``<`` becomes ``&lt;``, whatever the case or spacing), so no text
can close its fence, or open a fake one, and speak as the prompt. Requirements
and criteria are numbered R1, R2, ... and AC1, AC2, ... so the rules outside the
fence can refer to them without quoting the requester's words.

The size budget (``PromptOptions.max_chars``) is met by cutting context, in a
fixed order (dependency manifests, README, CONTRIBUTING, file tree), each cut
marked in the text and recorded in ``Prompt.context_used["truncated"]``. The
task itself (title, description, requirements, criteria) and the rules are
never cut, so a huge issue gives a prompt over budget rather than a partial task.

The fences live in :mod:`prompts.fences` and the repository sections in
:mod:`prompts.repository`; this module assembles the prompt from them.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from app.tasks.spec import TaskSpec
from app.text import linear_re
from prompts.fences import clip, cut_note, fence, neutralise
from prompts.repository import (
    CONTRIBUTING_CHARS,
    INSTRUCTIONS_CHARS,
    MANIFESTS_CHARS,
    README_CHARS,
    TREE_CHARS,
    RepoContext,
    dependencies_section,
    instructions_section,
    repository_section,
)

STYLES = ("comprehensive", "concise")
STRATEGIES = ("regenerate_prompt", "different_approach", "simplified_scope")

PREVIOUS_ATTEMPT_CHARS = 2_000
MENTION_CHARS = 4_000  # each person's words added by a mention

#: What goes first when the prompt is over budget: largest and least needed first.
BUDGET_ORDER = ("manifests", "readme", "contributing", "tree", "instructions")

_LOGIN_JUNK = linear_re.compile(r"[^A-Za-z0-9_.\-\[\]]")
_BLOCK_LINE = re.compile(r"^\s*\$(\w+)\s*$")


@dataclass(frozen=True)
class PromptOptions:
    """Per-repository switches (from .github/codegen.yml) and the size budget."""

    style: str = "comprehensive"
    include_codebase_context: bool = True
    include_dependencies: bool = True
    include_validation_criteria: bool = True
    max_chars: int = 24_000
    # The branch the PR goes to when not the default one (a checked git ref:
    # the repository's or the task's `pull_request.base`).
    base_branch: str | None = None

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {self.style!r}")
        if self.max_chars <= 0:
            raise ValueError("max_chars must be positive")


DEFAULT_OPTIONS = PromptOptions()


@dataclass(frozen=True)
class Prompt:
    """The prompt text and a JSON-ready record of what went into it.

    ``truncated`` is true when anything was cut: an excerpt cap (a long README,
    the previous attempt's report) or the size budget; ``context_used["truncated"]``
    says which, from how many characters to how many, and why."""

    text: str
    context_used: dict
    truncated: bool


def build_prompt(
    task: TaskSpec,
    *,
    issue_number: int,
    issue_url: str,
    requester: str,
    repo: RepoContext,
    options: PromptOptions = DEFAULT_OPTIONS,
    strategy: str | None = None,
    previous_attempt: str | None = None,
) -> Prompt:
    """The prompt asking for one pull request that implements ``task``.

    ``strategy`` (one of :data:`STRATEGIES`) is for a retry and changes the
    prompt as its name says; ``previous_attempt`` is what the failed run
    reported, quoted as data in the retry section (ignored without a strategy).
    Same arguments, same text."""
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or None, not {strategy!r}")
    fixed = _fixed_parts(
        task, issue_number, issue_url, requester, repo, options, strategy, previous_attempt
    )
    limits = {
        "manifests": MANIFESTS_CHARS,
        "readme": README_CHARS,
        "contributing": CONTRIBUTING_CHARS,
        "tree": TREE_CHARS,
        "instructions": INSTRUCTIONS_CHARS,
    }
    text, cuts, sections, kept = _render(fixed, repo, options, limits)
    excerpts = dict(cuts)  # what the excerpt caps alone cut
    for name in BUDGET_ORDER:
        while len(text) > options.max_chars and kept.get(name, 0) > 0:
            limits[name] = max(0, kept[name] - (len(text) - options.max_chars))
            text, cuts, sections, kept = _render(fixed, repo, options, limits)
    truncated = dict(fixed.cuts)
    for key, (whole, shown) in cuts.items():
        by_excerpt = key in excerpts and shown == excerpts[key][1]
        reason = "excerpt" if by_excerpt else "budget"
        truncated[key] = {"from_chars": whole, "kept_chars": shown, "reason": reason}
    context_used = {
        "style": options.style,
        "strategy": strategy,
        "sections": sections,
        "manifests": sorted(repo.manifests) if "dependencies" in sections else [],
        "instructions": repo.instructions[0] if "instructions" in sections else None,
        "requirements": len(task.requirements),
        "acceptance_criteria": len(task.acceptance_criteria),
        "truncated": dict(sorted(truncated.items())),
        "chars": len(text),
        "max_chars": options.max_chars,
        "over_budget": len(text) > options.max_chars,
    }
    return Prompt(text=text, context_used=context_used, truncated=bool(truncated))


# -- the parts that never change size ------------------------------------------


@dataclass(frozen=True)
class _Fixed:
    values: dict[str, str]  # template values other than the context sections
    sections: tuple[str, ...]  # sections present before the context ones
    cuts: dict[str, dict]  # excerpt cuts outside the budget (previous attempt)
    requirements: int
    criteria: int
    deferring: bool  # simplified scope: the PR leaves part of the issue open


def _fixed_parts(
    task: TaskSpec,
    issue_number: int,
    issue_url: str,
    requester: str,
    repo: RepoContext,
    options: PromptOptions,
    strategy: str | None,
    previous_attempt: str | None,
) -> _Fixed:
    login = _LOGIN_JUNK.sub("", requester) or "unknown"
    deferring = strategy == "simplified_scope"
    issue_ref = f"Part of #{issue_number}" if deferring else f"Fixes #{issue_number}"
    issue_ref_reason = (
        " (not `Fixes`: the issue stays open for the deferred part)"
        if deferring
        else " (so the issue closes when the pull request is merged)"
    )
    common = {
        "issue_number": str(issue_number),
        "issue_url": issue_url,
        "requester": login,
        "default_branch": options.base_branch or repo.default_branch,
        "repo_full_name": repo.full_name,
        "issue_ref": issue_ref,
    }
    sections: list[str] = []
    cuts: dict[str, dict] = {}
    strategy_text = ""
    if strategy is not None:
        previous, cut = _previous_block(previous_attempt)
        if cut:
            cuts["previous_attempt"] = cut
        strategy_text = _fill(
            _template(f"strategy_{strategy}.md"),
            {**common, "previous": previous, **_scope_values(task)},
        )
        sections.append("strategy")
    issue_text = _fill(_template("issue.md"), {**common, "issue_text": _issue_text(task)})
    sections.append("issue")
    if task.instructions:
        issue_text += "\n\n" + _mention_text(task, cuts)
        sections.append("mention_instructions")
    values = {
        **common,
        "priority": task.priority,
        "complexity": task.estimated_complexity,
        "strategy": strategy_text,
        "issue": issue_text,
        "issue_ref_reason": issue_ref_reason,
        "validation_rule": "",
        "definition_of_done": "",
    }
    if options.include_validation_criteria and options.style == "concise":
        values["validation_rule"] = (
            "- Done means: every in-scope item above holds, and a test shows each in-scope "
            "acceptance criterion."
            if deferring
            else "- Done means: every requirement and acceptance criterion in the issue holds, "
            "and a test shows each criterion."
        )
    return _Fixed(
        values=values,
        sections=tuple(sections),
        cuts=cuts,
        requirements=len(task.requirements),
        criteria=len(task.acceptance_criteria),
        deferring=deferring,
    )


def _previous_block(previous_attempt: str | None) -> tuple[str, dict | None]:
    report = (previous_attempt or "").strip()
    if not report:
        return "(The previous attempt left no report.)", None
    shown = clip(report, PREVIOUS_ATTEMPT_CHARS)
    block = f"<previous_attempt>\n{neutralise(shown)}\n</previous_attempt>"
    if len(shown) == len(report):
        return block, None
    note = f"\n(Report truncated: first {len(shown):,} of {len(report):,} characters shown.)"
    return block + note, {"from_chars": len(report), "kept_chars": len(shown), "reason": "excerpt"}


def _refs(prefix: str, first: int, last: int) -> str:
    """R2, "R2 and R3" or "R2 to R5"."""
    if last == first:
        return f"{prefix}{first}"
    joiner = " and " if last == first + 1 else " to "
    return f"{prefix}{first}{joiner}{prefix}{last}"


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def _scope_values(task: TaskSpec) -> dict[str, str]:
    """Words for the strategy and done templates about what is (not) in scope."""
    n_req, n_ac = len(task.requirements), len(task.acceptance_criteria)
    whole = []
    if n_req:
        whole.append(f"all {n_req} requirement{'s' if n_req > 1 else ''} ({_refs('R', 1, n_req)})")
    if n_ac:
        whole.append(
            f"all {n_ac} acceptance criteri{'a' if n_ac > 1 else 'on'} ({_refs('AC', 1, n_ac)})"
        )
    scope = " and ".join(whole) if whole else "the change the title and description ask for"
    core: list[str] = []
    deferred: list[str] = []
    if n_req:
        core.append("requirement R1")
        if n_req > 1:
            deferred.append(f"requirement{'s' if n_req > 2 else ''} {_refs('R', 2, n_req)}")
    if n_ac:
        core.append("acceptance criterion AC1")
        if n_ac > 1:
            deferred.append(f"acceptance criteri{'a' if n_ac > 2 else 'on'} {_refs('AC', 2, n_ac)}")
    if core:
        core_text = " and ".join(core) + " from the issue"
    else:
        core_text = "the smallest change that does what the issue's title and description ask"
    deferred_text = (
        " and ".join(deferred)
        if deferred
        else "any optional extras or follow-ups the description mentions"
    )
    return {"scope": scope, "core": core_text, "deferred": deferred_text}


def _issue_text(task: TaskSpec) -> str:
    """The task in the requester's words, neutralised, never shortened. Each part
    has its own tag: a description ending in "## Out of scope" must not seem to
    hold the requirements that follow it."""
    parts = [f"<issue_title>{neutralise(task.title)}</issue_title>"]
    if task.description.strip():
        description = neutralise(task.description.strip())
        parts.append(f"<issue_description>\n{description}\n</issue_description>")
    for tag, prefix, items in (
        ("issue_requirements", "R", task.requirements),
        ("issue_acceptance_criteria", "AC", task.acceptance_criteria),
    ):
        if items:
            lines = [f"<{tag}>"]
            for number, item in enumerate(items, 1):
                first, *rest = neutralise(item).split("\n")
                lines.append(f"- {prefix}{number}. {first}")
                lines.extend(f"  {line}" if line else "" for line in rest)
            lines.append(f"</{tag}>")
            parts.append("\n".join(lines))
    return "\n".join(parts)


def _mention_text(task: TaskSpec, cuts: dict[str, dict]) -> str:
    """What the people who asked for the task by a mention added, each in their
    own fence, capped (they were never shortened on the way in)."""
    blocks = []
    for index, (by, words) in enumerate(task.instructions):
        login = _LOGIN_JUNK.sub("", by) or "unknown"
        words = words.strip()
        excerpt = clip(words, MENTION_CHARS)
        block = _fill(
            _template("mention.md"),
            {"by": login, "instructions": fence("requester_instructions", excerpt, author=login)},
        )
        if len(excerpt) < len(words):
            cuts[f"mention:{index}"] = {
                "from_chars": len(words),
                "kept_chars": len(excerpt),
                "reason": "excerpt",
            }
            block += "\n\n" + cut_note(f"@{login}'s words", len(excerpt), len(words))
        blocks.append(block)
    return "\n\n".join(blocks)


# -- context sections, rendered under limits -----------------------------------


def _render(
    fixed: _Fixed, repo: RepoContext, options: PromptOptions, limits: dict[str, int]
) -> tuple[str, dict[str, tuple[int, int]], list[str], dict[str, int]]:
    """(text, cuts as key -> (whole, kept), sections included, kept chars per
    budget group) for one set of limits."""
    cuts: dict[str, tuple[int, int]] = {}
    kept: dict[str, int] = {}
    sections = list(fixed.sections)
    comprehensive = options.style == "comprehensive"
    contributing = (repo.contributing or "").strip()

    repository = ""
    contributing_shown = False
    if comprehensive and options.include_codebase_context:
        repository, contributing_shown = repository_section(repo, limits, cuts, kept, sections)
    # The repository's own rules for agents, whatever the style: they say how
    # its changes are built and checked.
    instructions = instructions_section(repo, limits["instructions"], cuts, kept)
    if instructions:
        sections.append("instructions")
    dependencies = ""
    if comprehensive and options.include_dependencies and repo.manifests:
        dependencies = dependencies_section(repo, limits["manifests"], cuts, kept)
        sections.append("dependencies")

    if contributing_shown:
        conventions_where = " (CONTRIBUTING, excerpted above)"
    elif contributing:
        conventions_where = " (read CONTRIBUTING in the repository first)"
    else:
        conventions_where = ""
    values = {**fixed.values, "conventions_where": conventions_where}
    values["delivery_rules"] = _fill(_template("delivery_rules.md"), values)
    sections.append("delivery_rules")
    if comprehensive and options.include_validation_criteria:
        values["definition_of_done"] = _fill(
            _template("definition_of_done.md"), {**values, **_done_values(fixed)}
        )
        sections.append("definition_of_done")
    values["repository"] = repository
    values["dependencies"] = dependencies
    values["instructions"] = instructions
    text = _fill(_template(f"{options.style}.md"), values)
    return text.rstrip("\n") + "\n", cuts, sections, kept


def _done_values(fixed: _Fixed) -> dict[str, str]:
    """The two checklist lines that depend on how many items the issue has."""
    deferring, n_req, n_ac = fixed.deferring, fixed.requirements, fixed.criteria
    if n_req == 0:
        req = "The change the issue describes is implemented."
    elif deferring:
        req = "R1 is implemented" + (
            f"; {_refs('R', 2, n_req)} {_are(n_req - 1)} listed as deferred in the pull "
            "request body."
            if n_req > 1
            else "."
        )
    else:
        req = f"Every requirement from the issue ({_refs('R', 1, n_req)}) is implemented."
    if n_ac == 0:
        ac = "A test demonstrates the behaviour the issue asks for."
    elif deferring:
        ac = "AC1 holds and a test shows it" + (
            f"; {_refs('AC', 2, n_ac)} {_are(n_ac - 1)} listed as deferred." if n_ac > 1 else "."
        )
    else:
        ac = f"Each acceptance criterion ({_refs('AC', 1, n_ac)}) holds, and a test shows it."
    return {"requirements_done": req, "criteria_done": ac}


@cache
def _template(name: str) -> str:
    return files("prompts").joinpath(name).read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    """``string.Template`` with optional blocks (see the module docstring)."""
    out: list[str] = []
    skip_blank = False
    for line in template.splitlines():
        block = _BLOCK_LINE.match(line)
        if block and not values[block.group(1)]:
            skip_blank = True
            continue
        if skip_blank and not line.strip():
            skip_blank = False
            continue
        skip_blank = False
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return string.Template("\n".join(out)).substitute(values)
