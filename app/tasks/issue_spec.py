"""A task from a GitHub issue: title, prose, requirements, acceptance criteria,
priority and complexity, read from the issue body and its labels.

Pure functions only (no I/O), so the same issue always gives the same task and
the parser can be tested against real issue shapes.

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

Labels (case-insensitive) set priority and complexity; **labels win over form
fields and prose lines**, because labels are what maintainers set when they
triage, and they can be changed after the issue is written. When several labels
disagree, the highest value wins: under-rating urgency or size is the costlier
mistake.

====================  =========================================================
priority label        meaning
====================  =========================================================
``P0`` ``P1`` ``P2``   critical, high, medium, low (``P4`` is low too)
``P3``
``priority: X``       also ``priority/X``, ``priority-X``, ``prio: X``, ``pri: X``;
                      X is low/lowest/minor/trivial, medium/normal/moderate,
                      high/major/important, critical/urgent/highest/blocker,
                      or P0-P4
``X-priority``        ``high-priority``, ``low priority``, ...
``critical``          also ``urgent``, ``blocker``: critical
====================  =========================================================

====================  =========================================================
complexity label      meaning
====================  =========================================================
``complexity: X``     also ``effort: X``, ``difficulty: X``, ``estimate: X``,
                      with ``/`` or ``-``; X is low/easy/small/simple/trivial,
                      medium/moderate/normal, high/hard/large/complex/difficult
``size/S``            ``size: XS|S|M|L|XL|XXL`` (XS, S low; M medium; L and up high),
                      also small/medium/large
``X-complexity``      ``low-complexity``, ``high effort``, ...
good first issue      also ``beginner friendly``, ``easy``: low
====================  =========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice

from app.text import linear_re

PRIORITIES = ("low", "medium", "high", "critical")
COMPLEXITIES = ("low", "medium", "high")
DEFAULT_PRIORITY = "medium"
DEFAULT_COMPLEXITY = "medium"

#: Fewer words than this (outside code and headings) is too little to act on.
MIN_WORDS = 3

# -- heading table ---------------------------------------------------------

REQUIREMENTS = "requirements"
CRITERIA = "acceptance_criteria"
PRIORITY = "priority"
COMPLEXITY = "complexity"
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
_LIST_KINDS = (REQUIREMENTS, CRITERIA)
_CONTROL_KINDS = (PRIORITY, COMPLEXITY)

# -- values ----------------------------------------------------------------

_PRIORITY_WORDS: dict[str, str] = {
    **dict.fromkeys(("low", "lowest", "minor", "trivial", "p3", "p4"), "low"),
    **dict.fromkeys(("medium", "normal", "moderate", "mid", "med", "p2"), "medium"),
    **dict.fromkeys(("high", "major", "important", "p1"), "high"),
    **dict.fromkeys(
        ("critical", "crit", "urgent", "highest", "blocker", "showstopper", "p0"), "critical"
    ),
}
_COMPLEXITY_WORDS: dict[str, str] = {
    **dict.fromkeys(("low", "easy", "small", "simple", "trivial", "minor", "xs", "s"), "low"),
    **dict.fromkeys(("medium", "moderate", "normal", "mid", "med", "m"), "medium"),
    **dict.fromkeys(
        ("high", "hard", "large", "big", "complex", "difficult", "l", "xl", "xxl", "huge"), "high"
    ),
}
# Issue text is anyone's: every pattern below is RE2 (linear time, see app/linear_re.py),
# with Python's Unicode \s and \w spelled out where RE2's ASCII ones would differ.
_S = linear_re.USPACE
_SC = linear_re.USPACE_CHARS
_W = linear_re.UWORD
_SEP = rf"{_S}*[:/_\- ]{_S}*"
_PRIORITY_LABEL = linear_re.compile(rf"^(?:priority|prio|pri){_SEP}(.+)$")
_P_LABEL = linear_re.compile(r"^(p[0-4])(?:[^\pL\pN_]|$)")
_PRIORITY_SUFFIX = linear_re.compile(rf"^({_W}+)[{_SC}_\-]+priority$")
_PRIORITY_ALONE = {"critical": "critical", "urgent": "critical", "blocker": "critical"}
_COMPLEXITY_LABEL = linear_re.compile(
    rf"^(?:complexity|effort|difficulty|estimate|size){_SEP}(.+)$"
)
_COMPLEXITY_SUFFIX = linear_re.compile(rf"^({_W}+)[{_SC}_\-]+(?:complexity|effort)$")
_COMPLEXITY_ALONE = {"good first issue": "low", "beginner friendly": "low", "easy": "low"}

#: Text that stands for "nothing here" when it is all a section or item says.
_PLACEHOLDERS = frozenset(
    {"_no response_", "no response", "n/a", "na", "none", "nothing", "tbd", "todo", "-", "..."}
)
#: Whole descriptions that only point elsewhere.
_FILLER = frozenset(
    {
        "see title",
        "title says it all",
        "as per title",
        "as title",
        "same as title",
        "see above",
        "fix it",
        "fix this",
        "please fix",
        "please fix this",
        "asap",
        "bump",
        "any update",
        "any updates",
        "wip",
    }
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
_LABEL_LINE = linear_re.compile(
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
_WORD = linear_re.compile(r"[\pL\pN][\pL\pN_'\x{2019}-]*")
_HEADING_SEPARATORS = str.maketrans(dict.fromkeys("&|,(", "/"))
_BOLD_MARKS = linear_re.compile(r"\*\*|__")
_ALNUM_RUN = linear_re.compile(r"[a-z0-9]+")
_LABEL_JUNK = linear_re.compile(rf"[^\pL\pN_{_SC}:/\-]")
_TITLE_PREFIX = linear_re.compile(rf"^{_S}*(\[[^\]]*\]{_S}*:?{_S}*|{_W}+(\([^{_SC}]*\))?:{_S})")
_TAG_LIKE = linear_re.compile(r"<[^>]*>")

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
    """The text of a `Steps to reproduce:` line, as `_LABEL_LINE` reads it, by hand."""
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


@dataclass(frozen=True)
class TaskSpec:
    """What an issue asks for, in the shape the tasks table stores and the prompt
    builder reads. Sequences are tuples so a spec can be hashed and compared."""

    title: str
    description: str
    requirements: tuple[str, ...] = field(default=())
    acceptance_criteria: tuple[str, ...] = field(default=())
    priority: str = DEFAULT_PRIORITY
    estimated_complexity: str = DEFAULT_COMPLEXITY

    def __post_init__(self) -> None:
        # Rows come back from PostgreSQL with lists; keep the spec hashable.
        object.__setattr__(self, "requirements", tuple(self.requirements))
        object.__setattr__(self, "acceptance_criteria", tuple(self.acceptance_criteria))
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {self.priority!r}")
        if self.estimated_complexity not in COMPLEXITIES:
            raise ValueError(
                f"estimated_complexity must be one of {COMPLEXITIES}, "
                f"not {self.estimated_complexity!r}"
            )

    def to_json(self) -> dict:
        """Plain JSON types (lists, not tuples) for a jsonb or text[] column."""
        return {
            "title": self.title,
            "description": self.description,
            "requirements": list(self.requirements),
            "acceptance_criteria": list(self.acceptance_criteria),
            "priority": self.priority,
            "estimated_complexity": self.estimated_complexity,
        }


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
        elif section.kind in _CONTROL_KINDS:
            text = " ".join(t for t, code in section.lines if not code)
            value = _read_value(section.kind, text)
            if value is not None:
                found.setdefault(section.kind, value)
        else:
            rendered = _render_prose(section, found)
            if rendered:
                prose.append(rendered)
    labels = list(labels)
    priority = (
        _from_labels(labels, _priority_of_label, PRIORITIES)
        or found.get(PRIORITY)
        or DEFAULT_PRIORITY
    )
    complexity = (
        _from_labels(labels, _complexity_of_label, COMPLEXITIES)
        or found.get(COMPLEXITY)
        or DEFAULT_COMPLEXITY
    )
    return TaskSpec(
        title=" ".join(title.split()),
        description="\n\n".join(prose),
        requirements=tuple(requirements),
        acceptance_criteria=tuple(criteria),
        priority=priority,
        estimated_complexity=complexity,
    )


def missing_information(task: TaskSpec) -> list[str]:
    """Sentences for the issue author saying what to add before an agent can
    work on it; ``[]`` when the task is actionable.

    Actionable means: a title that is more than a template prefix, and at least
    one real sentence of intent, i.e. ``MIN_WORDS`` words of description prose
    (headings, code and placeholders do not count) or one requirement or
    criterion of that length. The rules are counts, not judgement, so the same
    task always gets the same answer and the answer can be explained."""
    problems: list[str] = []
    if not _real_title(task.title):
        problems.append("The issue has no real title: give it a one-line summary of the change.")
    prose = _prose_text(task.description)
    words = _count_words(prose)
    item_words = max(
        (_count_words(i) for i in (*task.requirements, *task.acceptance_criteria)),
        default=0,
    )
    if item_words >= MIN_WORDS:
        return problems
    normalised = _normalise(prose)
    if normalised in _FILLER:
        problems.append(
            f"The description only says “{prose.strip()}”: describe the change you want "
            "in at least one full sentence."
        )
    elif words == 0:
        problems.append("The issue has no description: say what should change and why.")
    elif words < MIN_WORDS:
        plural = "" if words == 1 else "s"
        problems.append(
            f"The description is too short to act on ({words} word{plural}): write at "
            "least one full sentence saying what should change."
        )
    return problems


def _count_words(text: str) -> int:
    """Words in `text`, counted up to MIN_WORDS: only "enough" or the few there are
    matter, and counting stops early on a 65,536-word body."""
    return sum(1 for _ in islice(_WORD.finditer(text), MIN_WORDS))


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


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "").replace("'", "")
    # `[^\w\s]|_` -> " ", char by char: exact, and linear without a call per match.
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text)
    return " ".join(text.split())


def _kind_of(heading: str) -> str:
    kind = _HEADINGS.get(_normalise(heading))
    if kind:
        return kind
    parts = heading.lower().replace(" and ", "/").translate(_HEADING_SEPARATORS)
    if "/" not in parts:
        return PROSE  # one part, the heading itself: looked up above
    for part in parts.split("/"):
        kind = _HEADINGS.get(_normalise(part))
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


def _is_placeholder(text: str) -> bool:
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
            if not _is_placeholder(text):
                items.append(prefix + text)
        current = None

    def close_paragraph() -> None:
        text = "".join(paragraph).strip()
        paragraph.clear()
        if text and not _is_placeholder(text) and not text.endswith(":"):
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
    if not any(code for _, code in kept) and _is_placeholder(" ".join(_bare(t) for t, _ in kept)):
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
    kind = _HEADINGS.get(_normalise(key))
    if kind not in _CONTROL_KINDS or len(text.split()) > 5:
        return None
    value = _read_value(kind, text)
    return (kind, value) if value is not None else None


def _read_value(kind: str, text: str) -> str | None:
    """The first word of a form value that names a level ("P1 - soon" -> high)."""
    words = _PRIORITY_WORDS if kind == PRIORITY else _COMPLEXITY_WORDS
    for token in _ALNUM_RUN.findall(text.lower()):
        if token in words:
            return words[token]
    return None


# -- labels ------------------------------------------------------------------


def _label_key(label: str) -> str:
    text = _LABEL_JUNK.sub(" ", label.lower())
    return " ".join(text.split())


def _priority_of_label(label: str) -> str | None:
    key = _label_key(label)
    m = _PRIORITY_LABEL.match(key)
    if m:
        return _read_value(PRIORITY, m.group(1))
    m = _P_LABEL.match(key)
    if m:
        return _PRIORITY_WORDS[m.group(1)]
    m = _PRIORITY_SUFFIX.match(key)
    if m:
        return _PRIORITY_WORDS.get(m.group(1))
    return _PRIORITY_ALONE.get(key)


def _complexity_of_label(label: str) -> str | None:
    key = _label_key(label)
    m = _COMPLEXITY_LABEL.match(key)
    if m:
        return _read_value(COMPLEXITY, m.group(1))
    m = _COMPLEXITY_SUFFIX.match(key)
    if m:
        return _COMPLEXITY_WORDS.get(m.group(1))
    return _COMPLEXITY_ALONE.get(key.replace("-", " ").replace("_", " "))


def _from_labels(
    labels: list[str], read: Callable[[str], str | None], order: tuple[str, ...]
) -> str | None:
    values = [v for v in (read(label) for label in labels) if v is not None]
    return max(values, key=order.index) if values else None


# -- missing information -------------------------------------------------------


def _real_title(title: str) -> bool:
    """A title with words left after template prefixes and placeholders."""
    text = _TITLE_PREFIX.sub("", title, count=1)
    text = _TAG_LIKE.sub("", text)
    return bool(_WORD.search(text)) and not _is_placeholder(text)


def _prose_text(description: str) -> str:
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
        if _heading(line) is not None or _is_placeholder(stripped):
            continue
        kept.append(stripped)
    return " ".join(" ".join(kept).split())
