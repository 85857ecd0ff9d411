"""Priority and complexity: the levels a task can have, and the words that name
them in an issue-form value, a ``Priority: high`` line, or a label.

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

from app.text import linear_re

PRIORITIES = ("low", "medium", "high", "critical")
COMPLEXITIES = ("low", "medium", "high")
DEFAULT_PRIORITY = "medium"
DEFAULT_COMPLEXITY = "medium"

# What a value is of: also the kind of a form section or `Key: value` line.
PRIORITY = "priority"
COMPLEXITY = "complexity"

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
# Issue text is anyone's: every pattern below is RE2 (linear time, see app/text/linear_re.py),
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
_ALNUM_RUN = linear_re.compile(r"[a-z0-9]+")
_LABEL_JUNK = linear_re.compile(rf"[^\pL\pN_{_SC}:/\-]")


def read_value(kind: str, text: str) -> str | None:
    """The first word of a form value that names a level ("P1 - soon" -> high)."""
    words = _PRIORITY_WORDS if kind == PRIORITY else _COMPLEXITY_WORDS
    for token in _ALNUM_RUN.findall(text.lower()):
        if token in words:
            return words[token]
    return None


def priority_from_labels(labels: Iterable[str]) -> str | None:
    """The highest priority the labels name, None when none names one."""
    return _from_labels(labels, _priority_of_label, PRIORITIES)


def complexity_from_labels(labels: Iterable[str]) -> str | None:
    """The highest complexity the labels name, None when none names one."""
    return _from_labels(labels, _complexity_of_label, COMPLEXITIES)


def _label_key(label: str) -> str:
    text = _LABEL_JUNK.sub(" ", label.lower())
    return " ".join(text.split())


def _priority_of_label(label: str) -> str | None:
    key = _label_key(label)
    m = _PRIORITY_LABEL.match(key)
    if m:
        return read_value(PRIORITY, m.group(1))
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
        return read_value(COMPLEXITY, m.group(1))
    m = _COMPLEXITY_SUFFIX.match(key)
    if m:
        return _COMPLEXITY_WORDS.get(m.group(1))
    return _COMPLEXITY_ALONE.get(key.replace("-", " ").replace("_", " "))


def _from_labels(
    labels: Iterable[str], read: Callable[[str], str | None], order: tuple[str, ...]
) -> str | None:
    values = [v for v in (read(label) for label in labels) if v is not None]
    return max(values, key=order.index) if values else None
