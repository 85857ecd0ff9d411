"""Pull-request files, diffs and stored findings for the analysis, report and
follow-up prompt tests."""

from __future__ import annotations

from app.validation.analysis.model import PullFile


def new_file(name: str, lines: list[str], status: str = "added") -> PullFile:
    """A PullFile whose whole content is added, lines numbered from 1."""
    patch = f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)
    return PullFile(name, status, len(lines), 0, patch)


# Three hunks; its added lines are new-file lines 2, 3, 22, 24 and 42.
MULTI_HUNK = (
    "@@ -1,4 +1,5 @@\n"  # new lines 1..5
    " import os\n"  # 1
    "-import sys\n"
    "+import re\n"  # 2
    "+import json\n"  # 3
    " \n"  # 4
    " def f():\n"  # 5
    "@@ -20,3 +21,4 @@ def g():\n"  # new lines 21..24
    "     a = 1\n"  # 21
    "+    b = 2\n"  # 22
    "     c = 3\n"  # 23
    "+    d = 4\n"  # 24
    "@@ -40,2 +42,2 @@\n"  # new lines 42..43
    "-x = 1\n"
    "+x = 2\n"  # 42
    " y = 3\n"  # 43
)


def finding(severity="warning", line=3, rule="review.todo", path="app.py", text="x = 1"):
    """A stored finding, as a validation keeps it."""
    return {
        "rule": rule,
        "category": rule.split(".")[0],
        "severity": severity,
        "title": f"{rule} title",
        "message": f"{rule} message",
        "path": path,
        "line": line,
        "line_text": text,
        "fingerprint": f"{rule}:{path}:{text}",
    }
