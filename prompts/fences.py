"""The fence around every piece of outside text sent to the agent (in prompts
and follow-ups): data tags, their neutralising, and clipping to a size. Pure."""

from __future__ import annotations

from app.text import linear_re

_ISSUE_PARTS = (
    "issue_title",
    "issue_description",
    "issue_requirements",
    "issue_acceptance_criteria",
)
#: Tags of the data in follow-up messages to a running agent (CI output,
#: validation findings, a person's fix request and the diff it points at).
FOLLOWUP_TAGS = ("ci_check", "validation_finding", "requester_instructions", "diff_hunk")
_DATA_TAGS = (
    "requester_issue",
    *_ISSUE_PARTS,
    "previous_attempt",
    "pull_request_title",  # the PR's title: the issue's title through a template
    "repository_file",
    "repository_tree",
    *FOLLOWUP_TAGS,
)
# Invisible format characters (zero-width space and joiners, soft hyphen, BOM: `Cf`)
# may sit anywhere in a tag: a reader skips them, so the pattern does too. Any tag
# that starts with a data tag's name is defused (`<ci_check_x` too: harmless).
_GAP = rf"[{linear_re.USPACE_CHARS}\p{{Cf}}]*"
_TAG = linear_re.compile(
    rf"<({_GAP}/?{_GAP})("
    + "|".join("".join(f"{ch}\\p{{Cf}}*" for ch in tag) for tag in _DATA_TAGS)
    + ")",
    linear_re.IGNORECASE,
)
_ATTR_JUNK = linear_re.compile(r"[^\pL\pN_./+\-]")


def neutralise(text: str) -> str:
    """Defuse our data tags inside outside text, so it cannot close its fence."""
    return _TAG.sub(lambda m: "&lt;" + m.group(1) + m.group(2), text)


def attr(path: str) -> str:
    return _ATTR_JUNK.sub("_", path)


def fence(tag: str, text: str, **attributes: str) -> str:
    """``text`` between ``<tag>`` tags as data, the one fence of every prompt and
    follow-up: our data tags inside it are neutralised, so it can neither close
    its fence nor open a fake one (backticks need no care: they fence nothing)."""
    if tag not in _DATA_TAGS:
        raise ValueError(f"{tag!r} is not a data tag")
    attrs = "".join(f' {name}="{attr(value)}"' for name, value in attributes.items())
    return f"<{tag}{attrs}>\n{neutralise(text)}\n</{tag}>"


def file_block(path: str, text: str) -> str:
    return fence("repository_file", text, path=path)


def cut_note(label: str, shown: int, whole: int) -> str:
    if shown == 0:
        return f"({label} omitted to fit the prompt size budget: {whole:,} characters.)"
    return f"({label} truncated: first {shown:,} of {whole:,} characters shown.)"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a line end when one is near."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit]
    newline = cut.rfind("\n")
    if newline > limit // 2:
        cut = cut[:newline]
    return cut.rstrip()
