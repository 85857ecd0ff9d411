"""Whether an issue says enough for an agent to act on, and if not, what its
author should add: counts, not judgement, so the same task always gets the
same answer and the answer can be explained. Pure functions only."""

from __future__ import annotations

from itertools import islice

from app.tasks.issue_spec import is_placeholder, normalise, prose_text
from app.tasks.spec import TaskSpec
from app.text import linear_re

#: Fewer words than this (outside code and headings) is too little to act on.
MIN_WORDS = 3

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

# Issue text is anyone's: every pattern below is RE2 (linear time).
_S = linear_re.USPACE
_SC = linear_re.USPACE_CHARS
_W = linear_re.UWORD
_WORD = linear_re.compile(r"[\pL\pN][\pL\pN_'\x{2019}-]*")
_TITLE_PREFIX = linear_re.compile(rf"^{_S}*(\[[^\]]*\]{_S}*:?{_S}*|{_W}+(\([^{_SC}]*\))?:{_S})")
_TAG_LIKE = linear_re.compile(r"<[^>]*>")


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
    prose = prose_text(task.description)
    words = _count_words(prose)
    item_words = max(
        (_count_words(i) for i in (*task.requirements, *task.acceptance_criteria)),
        default=0,
    )
    if item_words >= MIN_WORDS:
        return problems
    normalised = normalise(prose)
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


def _real_title(title: str) -> bool:
    """A title with words left after template prefixes and placeholders."""
    text = _TITLE_PREFIX.sub("", title, count=1)
    text = _TAG_LIKE.sub("", text)
    return bool(_WORD.search(text)) and not is_placeholder(text)
