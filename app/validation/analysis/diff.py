"""Unified-diff hunks: which line of the new file each added line is.

One cohesive pure parser."""

from __future__ import annotations

from collections.abc import Iterator

from app.text import linear_re

#: Longer added lines (minified bundles, data) are only searched for tokens that name
#: their issuer (`ghp_...`, `AKIA...`, keys), not for guessed credentials.
MAX_LINE_CHARS = 4000

# At most 9 digits: a longer count is no real hunk, and int() of 65,000 digits raises.
_HUNK = linear_re.compile(r"^@@ -(\d{1,9})(?:,(\d{1,9}))? \+(\d{1,9})(?:,(\d{1,9}))? @@ ?(.*)$")


def diff_lines(patch: str | None) -> Iterator[tuple[str, int | None, str, str]]:
    """Yield (tag, new-file line or None for removed, text, hunk context) per diff line.

    Hunk header counts decide where a hunk ends, so a blank context line that lost
    its leading space, or trailing text after the last hunk, cannot shift numbering.
    """
    if not patch:
        return
    old_left = new_left = 0
    new_no = 0
    context = ""
    in_hunk = False
    for raw in patch.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        header = _HUNK.match(line) if line.startswith("@@") else None
        if header:
            old_left = int(header.group(2)) if header.group(2) is not None else 1
            new_left = int(header.group(4)) if header.group(4) is not None else 1
            new_no = int(header.group(3))
            context = header.group(5)
            in_hunk = True
            continue
        if not in_hunk or line.startswith("\\"):  # "\ No newline at end of file"
            continue
        if old_left <= 0 and new_left <= 0:
            in_hunk = False
            continue
        tag = line[:1]
        if tag == "+":
            yield "+", new_no, line[1:], context
            new_no += 1
            new_left -= 1
        elif tag == "-":
            yield "-", None, line[1:], context
            old_left -= 1
        elif tag in (" ", ""):
            yield " ", new_no, line[1:], context
            new_no += 1
            new_left -= 1
            old_left -= 1


def added_lines(patch: str | None) -> list[tuple[int, str]]:
    """(new-file line number, text without the leading '+') of each added line in a unified
    diff patch: exactly the lines a review comment with `side: RIGHT` may target.

    Handles several hunks, '\\ No newline at end of file', hunk headers with omitted
    counts (@@ -1 +1 @@), context and removed lines.
    """
    return [(no, text) for tag, no, text, _ in diff_lines(patch) if tag == "+" and no]
