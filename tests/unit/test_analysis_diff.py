"""app/validation/analysis/diff.py: which new-file line each added line of a
unified diff is, the lines a review comment may target."""

from __future__ import annotations

from app.validation.analysis.diff import added_lines
from tests.support.analysis import MULTI_HUNK


def test_added_lines_multi_hunk_exact_numbers() -> None:
    assert added_lines(MULTI_HUNK) == [
        (2, "import re"),
        (3, "import json"),
        (22, "    b = 2"),
        (24, "    d = 4"),
        (42, "x = 2"),
    ]


def test_added_lines_no_newline_marker_does_not_shift_numbers() -> None:
    patch = (
        "@@ -1,2 +1,3 @@\n"
        " first\n"
        "-last\n"
        "\\ No newline at end of file\n"
        "+last\n"
        "+extra\n"
        "\\ No newline at end of file"
    )
    assert added_lines(patch) == [(2, "last"), (3, "extra")]


def test_added_lines_omitted_counts_and_plus_content() -> None:
    assert added_lines("@@ -1 +1 @@\n-old\n+new") == [(1, "new")]
    assert added_lines("@@ -0,0 +1 @@\n++counter;") == [(1, "+counter;")]


def test_added_lines_deletions_only_and_no_patch() -> None:
    assert added_lines("@@ -1,3 +0,0 @@\n-a\n-b\n-c\n") == []
    assert added_lines(None) == []
    assert added_lines("") == []


def test_added_lines_blank_context_without_space_and_crlf() -> None:
    # A context line that lost its leading space still counts as a new-file line.
    patch = "@@ -1,3 +1,4 @@\r\n a\r\n\r\n+b\r\n c\r\n\n"
    assert added_lines(patch) == [(3, "b")]


def test_added_lines_ignores_text_after_a_hunk_is_complete() -> None:
    patch = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\n+++ stray\n"
    assert added_lines(patch) == [(2, "b")]
