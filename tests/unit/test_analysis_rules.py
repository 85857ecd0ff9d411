"""app/validation/analysis/rules.py: a repository's ignore globs mean what
fnmatch says they mean, matched in linear time."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from app.validation.analysis.rules import Rules


@pytest.mark.parametrize(
    "glob",
    [
        "vendor/*",
        "*.min.js",
        "docs/**",
        "a?c",
        "[!a]*",
        "x[a-c]y",
        "[]]",
        "[!]]x",
        "a[b",
        "*[z-a]*",
        "file[.]txt",
        "(x)+|y$",
        "\\d",
        "**/*.py",
        "*",
    ],
)
def test_ignore_paths_globs_mean_what_fnmatch_says(glob: str) -> None:
    paths = [
        "vendor/lib/x.py",
        "web/app.min.js",
        "docs/a/b.md",
        "abc",
        "a/c",
        "bcd",
        "xby",
        "xdy",
        "]",
        "!x",
        "]x",
        "a[b",
        "ab",
        "filextxt",
        "file.txt",
        "(x)+|y$",
        "\\d",
        "d",
        "a\nb.py",
        "",
    ]
    rules = Rules(ignore_paths=(glob,))
    for path in paths:
        assert rules.ignored(path) == fnmatchcase(path, glob), (glob, path)
