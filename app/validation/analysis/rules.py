"""A repository's knobs for the analysis: rules turned off and paths ignored.

Ignored paths are globs in the installer's text, matched with RE2."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from app.text import linear_re


@dataclass(frozen=True)
class Rules:
    """Per-repository knobs. `disabled` holds rule ids or dotted prefixes ("review")."""

    large_file_additions: int = 1000
    disabled: frozenset[str] = field(default_factory=frozenset)
    ignore_paths: tuple[str, ...] = ()
    max_findings: int = 1000

    def enabled(self, rule: str) -> bool:
        """False when the rule or one of its dotted prefixes is disabled."""
        parts = rule.split(".")
        return not any(".".join(parts[:i]) in self.disabled for i in range(1, len(parts) + 1))

    def ignored(self, path: str) -> bool:
        """True when an fnmatch glob matches (`*` also crosses `/`)."""
        return any(
            path.startswith(head) and path.endswith(tail) and p.fullmatch(path) is not None
            for head, tail, p in _glob_patterns(self.ignore_paths)
        )


#: Globs are the installer's text: fnmatch compiles each to a backtracking `re`
#: (1,000 globs like `*a*a*…*b` on 3,000 long paths took 6.8 s of CPU), so they are
#: capped here as in the configuration and matched with RE2 in linear time.
MAX_GLOBS = 20  # x 3,000 paths of 200 chars ~ 0.25 s when no head or tail spares RE2
MAX_GLOB_CHARS = 200
_NOTHING = r"[^\x00-\x{10ffff}]"  # RE2 has no (?!): a class no character is in


def _class_char(c: str) -> str:
    return f"\\x{{{ord(c):x}}}"


def _glob_class(body: str) -> str:
    """An fnmatch `[...]` body (without brackets) as an RE2 class. As fnmatch: a
    leading `!` negates, `a-z` is a range, a reversed range matches nothing, and
    every other character stands for itself."""
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    items: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            if lo <= hi:
                items.append(f"{_class_char(lo)}-{_class_char(hi)}")
            i += 3
        else:
            items.append(_class_char(body[i]))
            i += 1
    if not items:
        return "." if negate else _NOTHING
    return f"[{'^' if negate else ''}{''.join(items)}]"


def glob_regex(glob: str) -> str:
    """fnmatch's meaning of `glob` as an RE2 pattern for a full match: `*` is any
    run (crossing `/`), `?` any one character, `[...]` a class (an unclosed `[` is
    literal), everything else literal."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":  # `**` is `*`
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":  # a leading `]` is a member
                j += 1
            j = glob.find("]", j)
            if j < 0:
                out.append(r"\[")
            else:
                out.append(_glob_class(glob[i:j]))
                i = j + 1
        else:
            out.append(_class_char(c) if not c.isalnum() else c)
    return "(?s)" + "".join(out)


_WILD = linear_re.compile(r"[*?\[]")


@lru_cache(maxsize=64)
def _glob_patterns(globs: tuple[str, ...]) -> tuple[tuple[str, str, linear_re.Pattern], ...]:
    """Each glob compiled once per configuration (Rules is rebuilt per PR, the
    tuple of globs is the cache key), at most MAX_GLOBS of MAX_GLOB_CHARS, with
    its literal head and tail: a str test that spares most RE2 calls (~2 us each)."""
    out = []
    for glob in [g for g in globs if len(g) <= MAX_GLOB_CHARS][:MAX_GLOBS]:
        wild = [m.start() for m in _WILD.finditer(glob)]
        head, tail = (glob[: wild[0]], glob[wild[-1] + 1 :]) if wild else (glob, glob)
        out.append((head, tail if "]" not in tail else "", linear_re.compile(glob_regex(glob))))
    return tuple(out)


DEFAULT_RULES = Rules()
