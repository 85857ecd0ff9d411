"""Regular expressions for text from GitHub, matched in linear time.

Issue and PR bodies, patches, CI output, review hunks and comments are written
by anyone and can be 65,536 characters of anything. Python's `re` backtracks: a
pattern as plain as `<\\s*/?\\s*tag` took minutes on `<` and 65,000 spaces, and a
quoted-string pattern took exponential time on a run of backslashes. RE2 (the
`google-re2` package, module `re2`) compiles every pattern to an automaton whose
matching time is linear in the text, whatever the text. Every module that
matches GitHub text compiles its patterns here, so the engine is chosen once.

RE2 has no lookarounds and no backreferences: write `(?:^|[^\\w])(x)` and read the
group, or check the neighbouring character in Python. Its `\\w`, `\\d`, `\\s` and
`\\b` are ASCII (`\\s` is `[\\t\\n\\f\\r ]`); use `\\pL`, `\\pN` where Unicode matters.
Matching with `pos` costs O(pos) in this binding, so never loop on
`search(text, pos)`: use `finditer`.

The binding's Match.start/end/span take group numbers only: use `span(m, "name")`.

Patterns on our own text (settings, migration file names) may stay on `re`.
"""

from __future__ import annotations

import re

import re2

Pattern = re2._Regexp
Match = re2._Match
IGNORECASE = re.IGNORECASE
MULTILINE = re.MULTILINE
DOTALL = re.DOTALL

#: Python's Unicode `\s` and (near enough) `\w`, for where RE2's ASCII ones would differ.
USPACE_CHARS = r"\s\v\x{1c}-\x{1f}\x{85}\p{Z}"
USPACE = f"[{USPACE_CHARS}]"
UWORD = r"[\pL\pN_]"

_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
_SUPPORTED = re.IGNORECASE | re.MULTILINE | re.DOTALL


def compile(pattern: str, flags: int | re.RegexFlag = 0) -> Pattern:
    """An RE2 pattern; `flags` takes re.IGNORECASE, re.MULTILINE and re.DOTALL.

    Anything else (re.VERBOSE, re.ASCII, ...) is refused rather than ignored, so a
    pattern never silently means something else than it says."""
    if int(flags) & ~_SUPPORTED:
        raise ValueError(f"linear_re.compile supports only I, M and S flags, not {flags!r}")
    inline = "".join(letter for flag, letter in _FLAGS if int(flags) & flag)
    options = re2.Options()
    options.log_errors = False  # an invalid pattern raises re2.error; nothing on stderr
    return re2.compile(f"(?{inline}){pattern}" if inline else pattern, options)


def span(match: Match, group: int | str = 0) -> tuple[int, int]:
    """`match.span(group)`, also for a group name (the binding takes numbers only)."""
    index = match.re.groupindex[group] if isinstance(group, str) else group
    return match.span(index)
