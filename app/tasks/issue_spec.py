"""A task from a GitHub issue: title, prose, requirements, acceptance criteria,
priority and complexity, read from the issue body and its labels.

Pure functions only (no I/O), so the same issue always gives the same task and
the parser can be tested against real issue shapes. What a level word or label
means is in `app.tasks.levels`, the spec's shape in `app.tasks.spec`, and
whether the spec says enough to act on in `app.tasks.readiness`.

This module stays whole although it is longer than the others: it is one
pure parser of markdown bodies, whose line patterns, heading table and section
rules below only make sense together (a line's meaning depends on the section
it is in, and a section's on its heading), and each pattern's hand-written
pre-check must agree with it, side by side.

How the body is read
--------------------
1. HTML comments (template hints) are removed and fenced code blocks are set
   aside, so neither a comment nor a ``## heading`` inside a code block starts a
   section. Code stays in the description verbatim.
2. The body is cut into sections at headings: ATX headings (``## Requirements``),
   lines that are entirely bold (``**Acceptance criteria**``, with or without a
   colon) and, for the list-bearing names below only, a plain label line ending
   in a colon (``Acceptance criteria:``). GitHub issue forms render every field
   as ``### Field label`` followed by its value, so form output is read the same
   way; a value of ``_No response_`` counts as empty.
3. Each heading is normalised (case, punctuation, emoji and a trailing colon
   dropped) and looked up in the table below. A heading such as
   ``Scope / acceptance criteria`` that is not in the table as a whole is split
   at ``/ & | , (`` and " and "; its first recognised part decides.

====================  =========================================================
kind                  headings (normalised)
====================  =========================================================
requirements          requirements, requirement, functional requirements,
                      technical requirements, tasks, task list, tasklist, todo,
                      to do, todos, to dos, subtasks, sub tasks, work items,
                      implementation tasks, deliverables, required changes,
                      what needs to be done
acceptance criteria   acceptance criteria, acceptance criterion, acceptance,
                      acceptance tests, definition of done, dod, done when,
                      success criteria, expected behavior, expected behaviour,
                      expected result(s), expected outcome
priority              priority, importance, urgency
complexity            complexity, estimated complexity, effort, estimated
                      effort, size, estimate, difficulty, t shirt size
description           description, summary, overview, what should happen,
                      problem, problem description, problem statement, feature
                      description, bug description, issue description,
                      describe the bug, describe the feature, proposal
placement (where the  base branch, target branch, draft, open as draft, draft
PR goes; read by      pull request, branch name, reviewers, pull request
placement_fields)     reviewers, pull request labels, pr labels
ignored (about the    prerequisites, code of conduct, is there an existing
reporter, not the     issue for this, existing issues, before submitting,
change)               preflight checklist, are you willing to submit a pr,
                      would you like to work on this
====================  =========================================================

- Requirements and acceptance-criteria sections give items: bullets (``-``,
  ``*``, ``+``, ``1.``, ``1)``) and task-list boxes (``- [ ]``, ``- [x]``, the box
  stripped; a ticked box is still a requirement, since the tick says what
  someone clicked, not what the code does). Continuation lines are joined with
  a space; nested bullets are joined to their parent with ``; ``; a bullet under
  a sub-heading inside the section is prefixed with that sub-heading. A prose
  paragraph in such a section is an item of its own, unless it ends in ``:``
  (it introduces the list). Empty or placeholder items (``…``, ``TBD``) are dropped.
  "Expected behavior" counts as acceptance criteria: in a bug report it is
  exactly what the fix must make true.
- Priority and complexity sections (issue-form dropdowns) and ``Priority: high``
  style lines in the prose set those fields and leave the description.
- Ignored sections lose their list items (the "I have searched" boxes); any
  other text in them stays as prose.
- Everything else is the description, markdown kept, in body order. Headings
  stay, except the description-kind ones above, whose text *is* the
  description. Empty sections (no text, only ``_No response_``, ``N/A``,
  ``None``) vanish with their heading, and so do the hint lines of GitHub's
  default markdown templates ("A clear and concise description of ...").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from app.tasks.levels import (
    COMPLEXITY,
    DEFAULT_COMPLEXITY,
    DEFAULT_PRIORITY,
    PRIORITY,
    complexity_from_labels,
    priority_from_labels,
    read_value,
)
from app.tasks.spec import TaskSpec
from app.text import linear_re

# -- heading table ---------------------------------------------------------

REQUIREMENTS = "requirements"
CRITERIA = "acceptance_criteria"
DESCRIPTION = "description"
IGNORED = "ignored"
PROSE = "prose"

_HEADINGS: dict[str, str] = {
    **dict.fromkeys(
        (
            "requirements",
            "requirement",
            "functional requirements",
            "technical requirements",
            "tasks",
            "task list",
            "tasklist",
            "todo",
            "to do",
            "todos",
            "to dos",
            "subtasks",
            "sub tasks",
            "work items",
            "implementation tasks",
            "deliverables",
            "required changes",
            "what needs to be done",
        ),
        REQUIREMENTS,
    ),
    **dict.fromkeys(
        (
            "acceptance criteria",
            "acceptance criterion",
            "acceptance",
            "acceptance tests",
            "definition of done",
            "dod",
            "done when",
            "success criteria",
            "expected behavior",
            "expected behaviour",
            "expected result",
            "expected results",
            "expected outcome",
        ),
        CRITERIA,
    ),
    **dict.fromkeys(("priority", "importance", "urgency"), PRIORITY),
    **dict.fromkeys(
        (
            "complexity",
            "estimated complexity",
            "effort",
            "estimated effort",
            "size",
            "estimate",
            "difficulty",
            "t shirt size",
        ),
        COMPLEXITY,
    ),
    **dict.fromkeys(
        (
            "description",
            "summary",
            "overview",
            "what should happen",
            "problem",
            "problem description",
            "problem statement",
            "feature description",
            "bug description",
            "issue description",
            "describe the bug",
            "describe the feature",
            "proposal",
        ),
        DESCRIPTION,
    ),
    **dict.fromkeys(
        (
            "prerequisites",
            "code of conduct",
            "is there an existing issue for this",
            "existing issues",
            "before submitting",
            "preflight checklist",
            "are you willing to submit a pr",
            "would you like to work on this",
        ),
        IGNORED,
    ),
}
# Issue-form fields that say where and how the PR is opened (read by
# `placement_fields`, never part of the description): heading -> choice.
PLACEMENT = "placement"
_PLACEMENT_HEADINGS: dict[str, str] = {
    "base branch": "base",
    "target branch": "base",
    "draft": "draft",
    "open as draft": "draft",
    "draft pull request": "draft",
    "branch name": "branch",
    "reviewers": "reviewers",
    "pull request reviewers": "reviewers",
    "pull request labels": "labels",
    "pr labels": "labels",
}
_HEADINGS.update(dict.fromkeys(_PLACEMENT_HEADINGS, PLACEMENT))
_LIST_KINDS = (REQUIREMENTS, CRITERIA)
_CONTROL_KINDS = (PRIORITY, COMPLEXITY)

# Issue text is anyone's: every pattern below is RE2 (linear time, see app/text/linear_re.py),
# with Python's Unicode \s and \w spelled out where RE2's ASCII ones would differ.
_S = linear_re.USPACE
_SC = linear_re.USPACE_CHARS

#: Text that stands for "nothing here" when it is all a section or item says.
_PLACEHOLDERS = frozenset(
    {"_no response_", "no response", "n/a", "na", "none", "nothing", "tbd", "todo", "-", "..."}
)
#: Hint lines of GitHub's default markdown issue templates, left in by people
#: who fill the template in around them (or not at all).
_I = linear_re.IGNORECASE
_TEMPLATE_HINT = linear_re.compile(
    "|".join(
        (
            r"^a clear and concise description of(?:[^\pL\pN_]|$)",
            r"^steps to reproduce the behaviou?r:?$",
            rf"^\p{{Nd}}+\.{_S}+(?:go to|click on|scroll down to) '\.+'$",
            rf"^\p{{Nd}}+\.{_S}+see error\.?$",
            r"^if applicable, add screenshots to help explain your problem\.?$",
            r"^add any other context about the (?:problem|feature request) here\.?$",
        )
    ),
    _I,
)

# -- line patterns ---------------------------------------------------------

_FENCE_OPEN = linear_re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = linear_re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$|^ {0,3}(#{1,6})[ \t]*$")


@cache
def _label_line() -> linear_re.Pattern:
    """What `_label_text` reads, as a pattern: only the tests compile it. RE2 spells
    `{0,60}` of a Unicode class out sixty times, 5.7 MiB of memory in every process
    that imports this module (`benchmarks/memory.py`), for a pattern the service never uses."""
    return linear_re.compile(
        rf"^{_S}*(?P<text>[A-Za-z][\pL\pN_ /&'\x{{2019}}-]{{0,60}}?){_S}*:{_S}*$"
    )


_BULLET = linear_re.compile(
    r"^(?P<indent>[ \t]*)(?:[-*+]|\p{Nd}{1,9}[.)])(?:[ \t]+(?P<text>.*)|[ \t]*)$"
)
_CHECKBOX = linear_re.compile(rf"^\[[ xX]\](?:{_S}+|$)")
_KEY_VALUE = linear_re.compile(
    rf"^{_S}*(?:[-*+]{_S}+)?(?P<key>[A-Za-z][A-Za-z \-]{{0,30}}?){_S}*:{_S}*"
    rf"(?P<value>[^{_SC}].*?){_S}*$"
)
_HEADING_SEPARATORS = str.maketrans(dict.fromkeys("&|,(", "/"))
_BOLD_MARKS = linear_re.compile(r"\*\*|__")

# Each line of a body is tested against several patterns, and a call into RE2 costs
# microseconds: 65,536 blank lines took 2.3 s. A pattern is tried only on a line
# that has what it needs to match (its first character, a colon), so those checks
# must accept every line the pattern could match.


def _may_fence(line: str) -> bool:
    return line.lstrip(" ").startswith(("```", "~~~"))


def _atx(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading line, as `_ATX` reads it, by hand."""
    body = line.lstrip(" ")
    if len(line) - len(body) > 3 or not body.startswith("#"):
        return None
    level = len(body) - len(body.lstrip("#"))
    rest = body[level:]
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    bare = text.rstrip("#")  # a closing `#` run goes when spaces part it from the text
    if bare != text and bare and bare[-1] in " \t":
        text = bare.rstrip(" \t")
    return level, text


def _bullet(line: str) -> tuple[str, str] | None:
    """(indent, text) of a list item line, as `_BULLET` reads it, by hand."""
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)]
    if body[:1] in ("-", "*", "+") and body:
        rest = body[1:]
    else:
        digits = 0
        while digits < len(body) and body[digits].isdecimal():  # \p{Nd}
            digits += 1
        if not 1 <= digits <= 9 or body[digits : digits + 1] not in (".", ")"):
            return None
        rest = body[digits + 1 :]
    if rest and rest[0] not in " \t":
        return None
    return indent, rest.lstrip(" \t")


_LABEL_CHARS = frozenset("_ /&'\u2019-")


def _label_text(line: str) -> str | None:
    """The text of a `Steps to reproduce:` line, as `_label_line()` reads it, by hand."""
    stripped = line.strip()  # Python's whitespace is `_S`
    if not stripped.endswith(":"):
        return None
    text = stripped[:-1].rstrip()
    if not (1 <= len(text) <= 61 and text[0].isascii() and text[0].isalpha()):
        return None
    if all(ch.isalpha() or ch.isnumeric() or ch in _LABEL_CHARS for ch in text[1:]):
        return text
    return None


_HINT_STARTS = ("a clear", "steps to", "if applicable", "add any")
_HINT_STEPS = ("go to", "click on", "scroll down", "see error")


def _template_hint(stripped: str) -> bool:
    head = stripped[:13].casefold()
    if head[:1].isdecimal():
        low = stripped.casefold()
        may = any(step in low for step in _HINT_STEPS)
    else:
        may = head.startswith(_HINT_STARTS)
    return may and _TEMPLATE_HINT.match(stripped) is not None


# -- public functions ------------------------------------------------------


def parse_issue(title: str, body: str | None, labels: Iterable[str]) -> TaskSpec:
    """Read an issue into a task: sections of the body by heading, priority and
    complexity from labels first, then form fields or ``Priority: x`` lines,
    then the defaults (medium/medium). See the module docstring for the tables."""
    lines = _strip_comments((body or "").replace("\r\n", "\n").replace("\r", "\n"))
    sections = _sections(lines)
    requirements: list[str] = []
    criteria: list[str] = []
    prose: list[str] = []
    found: dict[str, str] = {}
    for section in sections:
        if section.kind in _LIST_KINDS:
            items = _items(section.lines)
            (requirements if section.kind == REQUIREMENTS else criteria).extend(items)
        elif section.kind == PLACEMENT:
            continue  # where the PR goes, not what it does: `placement_fields`
        elif section.kind in _CONTROL_KINDS:
            text = " ".join(t for t, code in section.lines if not code)
            value = read_value(section.kind, text)
            if value is not None:
                found.setdefault(section.kind, value)
        else:
            rendered = _render_prose(section, found)
            if rendered:
                prose.append(rendered)
    labels = list(labels)
    priority = priority_from_labels(labels) or found.get(PRIORITY) or DEFAULT_PRIORITY
    complexity = complexity_from_labels(labels) or found.get(COMPLEXITY) or DEFAULT_COMPLEXITY
    return TaskSpec(
        title=" ".join(title.split()),
        description="\n\n".join(prose),
        requirements=tuple(requirements),
        acceptance_criteria=tuple(criteria),
        priority=priority,
        estimated_complexity=complexity,
    )


def placement_fields(body: str | None) -> dict[str, str]:
    """The issue form's answers about the PR (`base`, `draft`, `branch`,
    `reviewers`, `labels`), the first of each, as written (`_No response_` and
    other placeholders dropped); `app.pull_requests.placement` checks them."""
    lines = _strip_comments((body or "").replace("\r\n", "\n").replace("\r", "\n"))
    found: dict[str, str] = {}
    for section in _sections(lines):
        if section.kind != PLACEMENT:
            continue
        choice = _PLACEMENT_HEADINGS.get(normalise(section.title))
        text = "\n".join(t.strip() for t, code in section.lines if not code and t.strip())
        if choice and text and not is_placeholder(text):
            found.setdefault(choice, text[:2000])
    return found


DRAFT_LABELS = ("codegen:draft", "codegen:ready")


def issue_choices(body: str | None, labels: Iterable[str]) -> dict[str, str]:
    """`placement_fields` and, under `label`, a `codegen:draft` or
    `codegen:ready` label (the later word over the `Draft` field)."""
    found = placement_fields(body)
    lowered = {label.lower() for label in labels}
    for label in DRAFT_LABELS:
        if label in lowered:
            found["label"] = label
            break
    return found


# -- body scanning ---------------------------------------------------------


def _strip_comments(text: str) -> list[tuple[str, bool]]:
    """Lines as (text, is_code): HTML comments gone outside code, fences kept."""
    out: list[tuple[str, bool]] = []
    fence: str | None = None
    in_comment = False
    for raw in text.split("\n"):
        if fence is not None:
            out.append((raw, True))
            stripped = raw.strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = None
            continue
        line = raw
        had_comment = in_comment
        if in_comment:
            end = line.find("-->")
            if end < 0:
                continue
            line = line[end + 3 :]
            in_comment = False
        opened = _FENCE_OPEN.match(line) if _may_fence(line) else None
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)  # an info string with a backtick is not a fence
            out.append((line, True))
            continue
        while "<!--" in line:
            had_comment = True
            start = line.index("<!--")
            end = line.find("-->", start + 4)
            if end < 0:
                line = line[:start]
                in_comment = True
                break
            line = line[:start] + line[end + 3 :]
        if had_comment and not line.strip():
            continue  # a line that was only a comment is not a blank line either
        out.append((line.rstrip(), False))
    return out


@dataclass
class _Section:
    heading: str | None  # the heading line as written; None before the first heading
    title: str
    kind: str
    level: int
    lines: list[tuple[str, bool]] = field(default_factory=list)


def _heading(line: str) -> tuple[int, str, str] | None:
    """(level, text, kind) when the line is a heading; bold lines rank below
    every ATX level, label lines below bold ones."""
    atx = _atx(line)
    if atx is not None:
        text = atx[1].strip()
        return atx[0], text, _kind_of(text)
    bold = _bold_text(line)
    if bold is not None:
        text = bold.strip().rstrip(":").strip()
        return 7, text, _kind_of(text)
    text = _label_text(line)
    if text is not None:
        kind = _kind_of(text)
        if kind in _LIST_KINDS and not _bullet(line):
            return 8, text.strip(), kind
    return None


def _bold_text(line: str) -> str | None:
    """The text of a line that is one bold span (`**Steps**:`), else None.

    The span's text holds no `**` or `__`, so it ends at the first one, which must
    be the closing mark, followed by nothing but an optional colon."""
    stripped = line.strip()
    mark = stripped[:2]
    if mark not in ("**", "__"):
        return None
    rest = stripped[2:]
    ends = [i for i in (rest.find("**"), rest.find("__")) if i >= 0]
    end = min(ends, default=-1)
    if end < 1 or rest[end : end + 2] != mark or rest[end + 2 :].strip() not in ("", ":"):
        return None
    return rest[:end]


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "").replace("'", "")
    # `[^\w\s]|_` -> " ", char by char: exact, and linear without a call per match.
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text)
    return " ".join(text.split())


def _kind_of(heading: str) -> str:
    kind = _HEADINGS.get(normalise(heading))
    if kind:
        return kind
    parts = heading.lower().replace(" and ", "/").translate(_HEADING_SEPARATORS)
    if "/" not in parts:
        return PROSE  # one part, the heading itself: looked up above
    for part in parts.split("/"):
        kind = _HEADINGS.get(normalise(part))
        if kind:
            return kind
    return PROSE


def _sections(lines: list[tuple[str, bool]]) -> list[_Section]:
    sections = [_Section(None, "", PROSE, 0)]
    for text, code in lines:
        found = None if code else _heading(text)
        if found is None:
            sections[-1].lines.append((text, code))
            continue
        level, title, kind = found
        current = sections[-1]
        if kind == PROSE and current.kind in _LIST_KINDS and level > current.level:
            current.lines.append((text, code))  # a sub-heading inside a list section
            continue
        sections.append(_Section(text.strip(), title, kind, level))
    return sections


# -- list sections ---------------------------------------------------------


def is_placeholder(text: str) -> bool:
    stripped = text.strip()
    return not stripped.strip(".…_-* ") or stripped.lower() in _PLACEHOLDERS


def _items(lines: list[tuple[str, bool]]) -> list[str]:
    """Items of a requirements or criteria section (rules in the module docstring)."""
    items: list[str] = []
    current: list[str] | None = None  # the item being read, as pieces
    children = 0
    top_indent = 0
    content_indent = 0
    paragraph: list[str] = []
    prefix = ""
    after_blank = False

    def close_item() -> None:
        nonlocal current
        if current is not None:
            text = "".join(current).strip()
            if not is_placeholder(text):
                items.append(prefix + text)
        current = None

    def close_paragraph() -> None:
        text = "".join(paragraph).strip()
        paragraph.clear()
        if text and not is_placeholder(text) and not text.endswith(":"):
            items.append(prefix + text)  # a paragraph ending in ":" introduces a list

    for raw, code in lines:
        if code:
            if current is not None:
                cut = min(content_indent, len(raw) - len(raw.lstrip(" ")))
                current.append("\n" + raw[cut:])
            else:
                paragraph.append("\n" + raw)  # code keeps its lines
            continue
        if not raw.strip():
            after_blank = True
            continue
        sub = _heading(raw)
        if sub is not None:
            close_item()
            close_paragraph()
            prefix = f"{_strip_emphasis(sub[1])}: " if sub[1] else ""
            after_blank = False
            continue
        bullet = _bullet(raw)
        if bullet:
            indent = len(bullet[0].expandtabs(4))
            text = _CHECKBOX.sub("", bullet[1].strip(), count=1).strip()
            if current is not None and indent >= top_indent + 2:
                if text:
                    joined = "".join(current).rstrip()
                    glue = " " if children == 0 and joined.endswith(":") else "; "
                    current[:] = [joined, glue, text]
                    children += 1
            else:
                close_item()
                close_paragraph()
                current, children, top_indent = [text], 0, indent
                content_indent = indent + 2
            after_blank = False
            continue
        indent = len(raw) - len(raw.lstrip())
        if current is not None and (not after_blank or indent >= content_indent):
            current.append(" " + raw.strip())
        else:
            close_item()
            if after_blank:
                close_paragraph()
            paragraph.append(" " + raw.strip())
        after_blank = False
    close_item()
    close_paragraph()
    return items


def _strip_emphasis(text: str) -> str:
    r"""`**a** b _c_` -> `a b c`: a mark (`**`, `__`, `*`, `_`, tried in that order)
    with its closing twin after at least one character is dropped, as the pattern
    `(\*\*|__|\*|_)(.+?)\1` would; scanned by hand, in linear time (a mark with
    no twin is looked for once, not once per occurrence)."""
    out: list[str] = []
    missing: dict[str, int] = {}  # mark -> a position after which it does not occur
    i = 0
    while i < len(text):
        mark = text[i : i + 2]
        end = _find_after(text, mark, i + 3, missing) if mark in ("**", "__") else -1
        if end >= 0:
            out.append(text[i + 2 : end])
            i = end + 2
            continue
        mark = text[i]
        end = _find_after(text, mark, i + 2, missing) if mark in "*_" else -1
        if end >= 0:
            out.append(text[i + 1 : end])
            i = end + 1
        else:
            out.append(mark)
            i += 1
    return "".join(out).strip().rstrip(":")


def _find_after(text: str, mark: str, start: int, missing: dict[str, int]) -> int:
    """text.find(mark, start), remembering a miss so no later search repeats it."""
    if start >= missing.get(mark, len(text) + 1):
        return -1
    found = text.find(mark, start)
    if found < 0:
        missing[mark] = start
    return found


# -- prose sections ----------------------------------------------------------


def _render_prose(section: _Section, found: dict[str, str]) -> str:
    """The section as markdown for the description, '' when it says nothing."""
    kept: list[tuple[str, bool]] = []
    for text, code in section.lines:
        if not code:
            if section.kind == IGNORED and _bullet(text):
                continue
            stripped = text.strip()
            if _template_hint(stripped):
                continue
            control = _control_line(stripped) if ":" in stripped else None
            if control is not None:
                found.setdefault(*control)
                continue
        kept.append((text, code))
    first = 0  # blank lines around the section go (a slice: pop(0) per line is quadratic)
    while first < len(kept) and not kept[first][1] and not kept[first][0].strip():
        first += 1
    kept = kept[first:]
    while kept and not kept[-1][1] and not kept[-1][0].strip():
        kept.pop()
    if not kept:
        return ""
    if not any(code for _, code in kept) and is_placeholder(" ".join(_bare(t) for t, _ in kept)):
        return ""  # nothing but "_No response_", "N/A" or empty bullets
    out: list[str] = []
    if section.heading is not None and section.kind != DESCRIPTION:
        out.extend((section.heading, ""))
    blank = False
    for text, code in kept:
        if not code and not text.strip():
            if not blank:
                out.append("")
            blank = True
            continue
        blank = False
        out.append(text)
    return "\n".join(out)


def _bare(line: str) -> str:
    """A line without its list marker or checkbox."""
    bullet = _bullet(line)
    if bullet:
        line = _CHECKBOX.sub("", bullet[1].strip(), count=1)
    return line.strip()


def _control_line(line: str) -> tuple[str, str] | None:
    """("priority", "high") for a short ``Priority: High`` line, else None."""
    if not line.partition(":")[2].strip():
        return None  # no value after the key's colon (the key has none)
    if "**" in line or "__" in line:
        line = _BOLD_MARKS.sub("", line)
    m = _KEY_VALUE.match(line)
    if not m:
        return None
    key, text = m.groups()  # "key", "value" (the binding looks names up slowly)
    kind = _HEADINGS.get(normalise(key))
    if kind not in _CONTROL_KINDS or len(text.split()) > 5:
        return None
    value = read_value(kind, text)
    return (kind, value) if value is not None else None


def prose_text(description: str) -> str:
    """The words of a description: no code, headings, placeholders or markup."""
    kept: list[str] = []
    fence: str | None = None
    for line in description.split("\n"):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = None
            continue
        opened = _FENCE_OPEN.match(line) if _may_fence(line) else None
        if opened:
            fence = opened.group(1)
            continue
        if _heading(line) is not None or is_placeholder(stripped):
            continue
        kept.append(stripped)
    return " ".join(" ".join(kept).split())
