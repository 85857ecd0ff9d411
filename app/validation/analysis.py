"""Static analysis of a pull request's changed files, from `GET .../pulls/{n}/files`.

Pure (no I/O) so that it is fast, deterministic and testable without GitHub. Patches
are anyone's text: every pattern is RE2 (linear time, app/linear_re.py), and lines
longer than MAX_LINE_CHARS get only the credential scan; what was not scanned is
listed in `Analysis.not_scanned`. The output feeds a check run (annotations) and a PR review (inline
comments). GitHub answers 422 to a review comment on a line that is not in the
diff, so every line-level finding sits on an ADDED line, numbered as in the NEW
file; findings that concern a whole file have `line=None`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from app.text import linear_re, secret_shapes

# --------------------------------------------------------------------------- model


def _int(value: Any) -> int:
    """GitHub sends ints; anything else (None, junk) counts as 0 rather than crash."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class PullFile:
    """One entry of `GET /repos/{o}/{r}/pulls/{n}/files`."""

    filename: str
    status: str
    additions: int
    deletions: int
    patch: str | None
    previous_filename: str | None = None

    @classmethod
    def from_api(cls, entry: dict[str, Any]) -> PullFile:
        """Build from the API's JSON, tolerating missing or null keys."""
        patch = entry.get("patch")
        previous = entry.get("previous_filename")
        return cls(
            filename=str(entry.get("filename") or ""),
            status=str(entry.get("status") or "modified"),
            additions=_int(entry.get("additions")),
            deletions=_int(entry.get("deletions")),
            patch=patch if isinstance(patch, str) else None,
            previous_filename=previous if isinstance(previous, str) and previous else None,
        )


SEVERITIES = ("failure", "warning", "notice")  # GitHub's annotation_level, most severe first
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# rule id -> (severity, title). Titles stay <= 60 chars (check-run annotation titles).
RULE_CATALOG: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "security.private_key": ("failure", "Private key committed"),
        "security.aws_key": ("failure", "AWS access key id committed"),
        "security.github_token": ("failure", "GitHub token committed"),
        "security.slack_token": ("failure", "Slack token or webhook committed"),
        "security.google_api_key": ("failure", "Google API key committed"),
        "security.stripe_key": ("failure", "Stripe live key committed"),
        "security.jwt": ("failure", "JSON Web Token committed"),
        "security.secret_assignment": ("failure", "Hard-coded credential"),
        "security.url_credentials": ("failure", "Password in a URL"),
        "security.auth_header": ("failure", "Credential in an Authorization header"),
        "security.test_credential": ("notice", "Credential-like value in a test file"),
        "security.env_file": ("failure", "Environment file committed"),
        "security.eval": ("warning", "Dynamic code evaluation"),
        "security.shell_true": ("warning", "Subprocess with shell=True"),
        "security.unpickle": ("warning", "Unsafe deserialization"),
        "security.tls_verify_off": ("warning", "TLS certificate verification disabled"),
        "security.sql_format": ("warning", "SQL built by string formatting"),
        "review.todo": ("notice", "TODO/FIXME added"),
        "review.debug_print": ("warning", "Debug statement left in code"),
        "review.commented_code": ("notice", "Commented-out code"),
        "review.no_tests": ("warning", "Source changed without test changes"),
        "analysis.lockfile": ("warning", "Dependency manifest changed without lock file"),
        "analysis.binary": ("notice", "Binary file in pull request"),
        "analysis.large_file": ("warning", "Very large file change"),
    }
)


@dataclass(frozen=True)
class Finding:
    """One problem; `line` is a new-file line of an added line, or None (whole file)."""

    rule: str
    category: str
    severity: str
    title: str
    message: str
    path: str
    line: int | None
    line_text: str = ""

    @property
    def fingerprint(self) -> str:
        """sha256 of (rule, path, whitespace-normalised line_text), without the line number,
        so a finding that only moved (rebase, lines added above) keeps its identity."""
        normalised = " ".join(self.line_text.split())
        raw = "\x00".join((self.rule, self.path, normalised))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class Analysis:
    """PR-level facts. size_class by additions+deletions over all files (ignored paths
    included): XS < 10 <= S < 100 <= M < 500 <= L < 1000 <= XL."""

    files_changed: int
    additions: int
    deletions: int
    size_class: str
    source_changed: bool
    tests_changed: bool
    source_files: tuple[str, ...]
    test_files: tuple[str, ...]
    manifests_without_lock: tuple[tuple[str, str], ...]
    binary_files: tuple[str, ...]
    large_files: tuple[str, ...]
    # (path, why) for files or lines the line rules did not read: no patch from
    # GitHub (binary, too large), or lines over MAX_LINE_CHARS (tokens only).
    not_scanned: tuple[tuple[str, str], ...] = ()


def size_class(changed_lines: int) -> str:
    """XS < 10, S < 100, M < 500, L < 1000, else XL (the PR size label)."""
    for limit, name in ((10, "XS"), (100, "S"), (500, "M"), (1000, "L")):
        if changed_lines < limit:
            return name
    return "XL"


# --------------------------------------------------------------------------- diffs

#: Longer added lines (minified bundles, data) are only searched for tokens that name
#: their issuer (`ghp_...`, `AKIA...`, keys), not for guessed credentials.
MAX_LINE_CHARS = 4000

# At most 9 digits: a longer count is no real hunk, and int() of 65,000 digits raises.
_HUNK = linear_re.compile(r"^@@ -(\d{1,9})(?:,(\d{1,9}))? \+(\d{1,9})(?:,(\d{1,9}))? @@ ?(.*)$")


def _diff_lines(patch: str | None) -> Iterator[tuple[str, int | None, str, str]]:
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
    return [(no, text) for tag, no, text, _ in _diff_lines(patch) if tag == "+" and no]


# --------------------------------------------------------------------------- paths

_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec"})
_TEST_NAMES = (
    "test_*.py",
    "*_test.py",
    "conftest.py",
    "*_test.go",
    "*.test.[jt]s",
    "*.test.[jt]sx",
    "*.test.mjs",
    "*.test.cjs",
    "*.spec.[jt]s",
    "*.spec.[jt]sx",
    "*.spec.mjs",
    "*.spec.cjs",
    "*Test.java",
    "*Tests.java",
    "*Test.kt",
    "*_spec.rb",
)
_SOURCE_EXTS = frozenset(
    "py js mjs cjs ts jsx tsx go rs java kt rb php c cc cpp h hpp cs swift scala m".split()
)
_JS_EXTS = frozenset("js mjs cjs ts jsx tsx vue svelte".split())
_DOC_EXTS = frozenset("md markdown rst txt adoc asciidoc".split())
_BINARY_EXTS = frozenset(
    """png jpg jpeg gif bmp ico webp tif tiff psd pdf zip gz tgz bz2 xz 7z rar tar jar war ear
    class exe dll so dylib a o obj lib bin dat pyc pyo pyd whl egg woff woff2 ttf otf eot
    mp3 mp4 mov avi wav ogg flac webm mkv sqlite db parquet pkl pickle npy npz h5 onnx""".split()
)
# Directories whose Python/JS files are meant to print (scripts, examples, tools).
_PRINTING_DIRS = frozenset(
    "scripts script examples example bin tools docs benchmarks demo demos notebooks".split()
)
_PRINTING_FILES = frozenset({"__main__.py", "cli.py", "setup.py", "manage.py", "conftest.py"})

# manifest basename -> acceptable lock files in the same directory
_MANIFESTS: dict[str, tuple[str, ...]] = {
    "package.json": ("package-lock.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb"),
    "pyproject.toml": ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock"),
    "Pipfile": ("Pipfile.lock",),
    "Gemfile": ("Gemfile.lock",),
    "Cargo.toml": ("Cargo.lock",),
    "go.mod": ("go.sum",),
    "composer.json": ("composer.lock",),
}
_LOCK_FILES = frozenset(
    {lock for locks in _MANIFESTS.values() for lock in locks} | {"npm-shrinkwrap.json"}
)
_ENV_TEMPLATES = frozenset({"example", "sample", "template", "dist"})

_HASH_COMMENT_EXTS = frozenset("py rb sh bash zsh pl pm r ps1 tf php yaml yml toml".split())
_SLASH_COMMENT_EXTS = frozenset(
    "js mjs cjs ts jsx tsx go rs java kt kts c cc cpp h hpp cs swift scala m php dart "
    "groovy vue svelte".split()
)
_DASH_COMMENT_EXTS = frozenset("sql lua hs".split())


def _ext(path: str) -> str:
    base = posixpath.basename(path)
    return base.rsplit(".", 1)[1].lower() if "." in base.lstrip(".") else ""


def is_test_file(path: str) -> bool:
    """A file in a test/tests/__tests__/spec directory or named like a test."""
    parts = path.split("/")
    if any(part.lower() in _TEST_DIRS for part in parts[:-1]):
        return True
    return any(fnmatchcase(parts[-1], pattern) for pattern in _TEST_NAMES)


def is_source_file(path: str) -> bool:
    """Code (by extension) that is not a test; docs and config are neither."""
    return _ext(path) in _SOURCE_EXTS and not is_test_file(path)


def _is_env_file(path: str) -> bool:
    base = posixpath.basename(path)
    if base == ".env":
        return True
    if not base.startswith(".env."):
        return False
    return not _ENV_TEMPLATES.intersection(base.lower().split(".")[2:])


def _is_binary(f: PullFile) -> bool:
    if f.status == "removed":
        return False
    if _ext(f.filename) in _BINARY_EXTS:
        return True
    # GitHub omits `patch` for binaries and reports no line counts for them.
    return f.patch is None and f.additions == 0 and f.deletions == 0


# --------------------------------------------------------------------------- credentials

_REDACTED = "[REDACTED]"
# Files whose values are literals even unquoted (`POSTGRES_PASSWORD=...`, `password: x`);
# in code an unquoted value is a variable.
_CONFIG_EXTS = frozenset(
    "env yml yaml ini cfg conf cnf properties toml sh bash zsh tfvars npmrc pypirc".split()
)
_CONFIG_NAMES = frozenset({"Dockerfile", ".npmrc", ".pypirc", ".netrc", ".pgpass", ".envrc"})
# Translations: `"password": "Passwort"` is a label, not a credential.
_LOCALE_DIRS = frozenset("locale locales i18n l10n lang langs translations".split())
_LOCALE_EXTS = frozenset("po pot xlf xliff strings resx arb ftl".split())
_FIXTURE_DIRS = frozenset("fixtures fixture testdata test_data __fixtures__ mocks".split())


def _unquoted_values(path: str) -> bool:
    base = posixpath.basename(path)
    return _ext(path) in _CONFIG_EXTS or base in _CONFIG_NAMES or base.startswith(".env")


def _is_locale_file(path: str) -> bool:
    parts = path.lower().split("/")
    return _ext(path) in _LOCALE_EXTS or any(p in _LOCALE_DIRS for p in parts[:-1])


def _is_fixture(path: str) -> bool:
    return is_test_file(path) or any(p in _FIXTURE_DIRS for p in path.lower().split("/")[:-1])


def redact(text: str) -> str:
    """The text with every credential value replaced by [REDACTED] (the shapes of
    app/secret_shapes.py); applied to each Finding.line_text, CI output and review
    hunks sent to the agent, so none of them carries a secret."""
    return secret_shapes.redact(text, _REDACTED, unquoted=True, keep_armour=True)


# --------------------------------------------------------------------------- code rules

_COMMENT_MARKERS = ("#", "//", "/*", "*", "--", "<!--")  # a line starting so is a comment
# RE2 has no lookbehind: a leading `(?:^|[^...])` stands for `(?<![...])` where only
# "is there a match" matters; where more does, the neighbour is checked in Python.
_EVAL_CALL = linear_re.compile(r"(?:eval|exec)\s*\(")
_NEW_FUNCTION = linear_re.compile(r"\bnew\s+Function\s*\(")
_EVAL_DEFINITIONS = ("def ", "function ", "fn ", "func ")
_SHELL_TRUE = linear_re.compile(r"\bshell\s*=\s*True\b")
_UNPICKLE = linear_re.compile(
    r"\b(?:c?[pP]ickle|_pickle|dill|shelve)\.(?:loads?|Unpickler|open)\s*\("
    r"|\bcPickle\b|\byaml\.unsafe_load(?:_all)?\s*\("
)
_YAML_LOAD = linear_re.compile(r"\byaml\.load(?:_all)?\s*\(")
_YAML_SAFE = linear_re.compile(r"Loader\s*=\s*(?:yaml\.)?C?(?:Safe|Base)Loader\b")
_TLS_OFF = linear_re.compile(
    r"\bverify\s*=\s*False\b|\bssl\._create_unverified_context\b|\bCERT_NONE\b"
    r"|\bcheck_hostname\s*=\s*False\b|\brejectUnauthorized[\"']?\s*:\s*false\b"
    r"|\bInsecureSkipVerify\s*:\s*true\b"
    r"|\bNODE_TLS_REJECT_UNAUTHORIZED[\"']?\s*[=:]\s*[\"']?0"
)
_SQL_UPPER = linear_re.compile(r"\b(?:SELECT|INSERT|UPDATE|DELETE)\b.*\b(?:FROM|INTO|SET|WHERE)\b")
_SQL_LOWER = linear_re.compile(
    r"\bselect\b.+\bfrom\b.+\bwhere\b|\binsert\s+into\s+\S+\s*(?:\(|values\b)"
    r"|\bupdate\s+\S+\s+set\s+\w+\s*=|\bdelete\s+from\s+\S+\s+where\b"
)
_SQL_WORD = linear_re.compile(
    r"\b(?:select|insert|update|delete|from|into|set|where|values)\b", linear_re.IGNORECASE
)
# A string literal per quote kind (RE2 has no backreference), a triple quote tried
# before a single one as the old `(?P<q>"""|'''|["'`])...(?P=q)` did; the prefix
# (f, rb, ...) is read in Python.
_STRING = linear_re.compile(
    r'"""(?P<b1>(?:\\.|[^\\\n])*?)"""'
    r"|'''(?P<b2>(?:\\.|[^\\\n])*?)'''"
    r'|"(?P<b3>(?:\\.|[^"\\\n])*)"'
    r"|'(?P<b4>(?:\\.|[^'\\\n])*)'"
    r"|`(?P<b5>(?:\\.|[^`\\\n])*)`"
)
_STRING_BODIES = ("b1", "b2", "b3", "b4", "b5")
_STRING_PREFIX = frozenset("rRbBuUfF")
_F_FIELD = linear_re.compile(r"(?:^|[^{])\{(?:[^{}][^}]*)?\}")  # {x}, not {{x}}
_TODO_WORDS = ("TODO", "FIXME", "XXX", "HACK")
_TODO = linear_re.compile(
    r"(?:#|//|/\*|<!--|^\s*\*|^\s*--|^\s*;).*?\b(?:TODO|FIXME|XXX|HACK)\b(?:[^-]|$)"
)
_PRINT = linear_re.compile(r"(?:^|[^\w.])print\s*\(")
_CONSOLE = linear_re.compile(r"(?:^|[^\w.])console\.(?:log|debug)\s*\(")
_DEBUGGER = linear_re.compile(
    r"(?:^|[^\w.])debugger\s*;|(?:^|[^\w.])breakpoint\s*\(\s*\)"
    r"|\b(?:i?pdb|pudb)\.set_trace\s*\(|\bbinding\.pry\b"
)
_PHP_DUMP = linear_re.compile(r"(?:^|[^\w>$:])(?:dd|var_dump)\s*\(")
_FIRST_WORD = linear_re.compile(rf"[^{linear_re.USPACE_CHARS}(:]*")
_CODE_KEYWORDS = frozenset(
    """def class if elif else for while return import from const let var function try except
    raise with async await func fn pub package""".split()
)


# Strings one of which a line must hold for the pattern to match: a regex call costs
# microseconds, `in` nanoseconds, and most of a 300,000-line PR matches nothing.
_NEEDLES: dict[linear_re.Pattern, tuple[str, ...]] = {
    _SHELL_TRUE: ("shell",),
    _UNPICKLE: ("ickle", "dill", "shelve", "unsafe_load"),
    _YAML_LOAD: ("yaml.load",),
    _TLS_OFF: (
        "verify",
        "_create_unverified_context",
        "CERT_NONE",
        "check_hostname",
        "rejectUnauthorized",
        "InsecureSkipVerify",
        "NODE_TLS_REJECT_UNAUTHORIZED",
    ),
    _DEBUGGER: ("debugger", "breakpoint", "set_trace", "binding.pry"),
    _PRINT: ("print",),
    _CONSOLE: ("console.",),
    _PHP_DUMP: ("dd", "var_dump"),
}
_SQL_NEEDLES = ("SELECT", "INSERT", "UPDATE", "DELETE", "select", "insert", "update", "delete")


def _hit(pattern: linear_re.Pattern, text: str, active: frozenset[linear_re.Pattern]) -> bool:
    """pattern.search(text), skipped when the text, or the whole patch (`active`: the
    patterns one of whose needles the patch holds), lacks every needle of the pattern."""
    if pattern not in active:
        return False
    return any(n in text for n in _NEEDLES[pattern]) and pattern.search(text) is not None


def _active(patch: str) -> frozenset[linear_re.Pattern]:
    return frozenset(p for p, needles in _NEEDLES.items() if any(n in patch for n in needles))


def _is_word_char(ch: str) -> bool:
    """Python's `\\w`: a letter, a digit or `_`."""
    return ch.isalnum() or ch == "_"


def _has_eval(text: str) -> bool:
    """eval(/exec( not after a word character, `.` or `$`, nor in its own definition."""
    if _NEW_FUNCTION.search(text):
        return True
    if "eval" not in text and "exec" not in text:
        return False
    for m in _EVAL_CALL.finditer(text):
        start = m.start()
        before = text[start - 1] if start else ""
        if before and (_is_word_char(before) or before in ".$"):
            continue
        if text[max(0, start - 9) : start].endswith(_EVAL_DEFINITIONS):
            continue
        return True
    return False


def _string_prefix(text: str, quote: int) -> str:
    """The 1-2 letter prefix (f, rb, ...) of the string literal whose quote is at `quote`."""
    for size in (2, 1):
        start = quote - size
        if start < 0 or not all(ch in _STRING_PREFIX for ch in text[start:quote]):
            continue
        if start == 0 or not _is_word_char(text[start - 1]):
            return text[start:quote]
    return ""


def _formatted_after(rest: str) -> bool:
    """`% x`, `.format(` or `+ x` right after a string literal."""
    rest = rest.lstrip()
    if rest.startswith("%"):
        nxt = rest[1:].lstrip()[:1]
        return bool(nxt) and (_is_word_char(nxt) or nxt in "([{")
    if rest.startswith(".format"):
        return rest[len(".format") :].lstrip().startswith("(")
    if rest.startswith("+"):
        nxt = rest[1:].lstrip()[:1]
        return bool(nxt) and (_is_word_char(nxt) or nxt == "(")
    return False


def _concatenated_before(head: str) -> bool:
    """`x +` or `f(a) +` right before a string literal."""
    head = head.rstrip()
    if not head.endswith("+"):
        return False
    last = head[:-1].rstrip()[-1:]
    return bool(last) and (_is_word_char(last) or last in ")]")


# Per string literal of a line: at most this many are looked at (a line of more
# is data, not a query), each with this many characters either side of it. Each
# look used to copy the rest of the line: 27 ms for a line of 500 `"select"`.
_MAX_LINE_STRINGS = 16
_NEAR = 256
_SQL_WORDS = ("select", "insert", "update", "delete", "from", "into", "set", "where", "values")


def _sql_formatted(text: str) -> bool:
    if not any(n in text for n in _SQL_NEEDLES):
        return False
    if not (_SQL_UPPER.search(text) or _SQL_LOWER.search(text)):
        return False
    for count, m in enumerate(_STRING.finditer(text)):
        if count >= _MAX_LINE_STRINGS:
            break
        # By number: the binding rebuilds its name table on each lookup by name.
        index, body = next((i, b) for i, b in enumerate(m.groups()) if b is not None)
        group = _STRING_BODIES[index]
        lowered = body.lower()
        if not any(word in lowered for word in _SQL_WORDS) or not _SQL_WORD.search(body):
            continue
        start, end = m.span()
        prefix = _string_prefix(text, start).lower()
        if "f" in prefix and _F_FIELD.search(body):
            return True
        if group == "b5" and "${" in body:
            return True
        head = start - len(prefix)
        after, before = text[end : end + _NEAR], text[max(0, head - _NEAR) : head]
        if _formatted_after(after) or _concatenated_before(before):
            return True
    return False


def _yaml_unsafe(text: str, active: frozenset[linear_re.Pattern]) -> bool:
    return _hit(_YAML_LOAD, text, active) and not _YAML_SAFE.search(text)


def _comment_body(text: str, ext: str) -> str | None:
    """The text of a whole-line comment in this language, else None."""
    stripped = text.strip()
    markers: list[str] = []
    if ext in _SLASH_COMMENT_EXTS:
        markers.append("//")
    if ext in _HASH_COMMENT_EXTS:
        markers.append("#")
    if ext in _DASH_COMMENT_EXTS:
        markers.append("--")
    for marker in markers:
        if stripped.startswith(marker):
            return stripped[len(marker) :].strip()
    return None


def _looks_like_code(body: str) -> bool:
    if not body:
        return False
    if body.endswith((";", "{", "}", ")")):
        return True
    first = _FIRST_WORD.match(body)[0]
    return first in _CODE_KEYWORDS and len(body) > len(first)


# --------------------------------------------------------------------------- analysis


@lru_cache(maxsize=64)
def _redacted_line(text: str) -> str:
    """redact(), once per line however many findings it has (a line of a dense PR has
    several, and redaction costs regex calls)."""
    return redact(text)


def _finding(rule: str, path: str, line: int | None, message: str, text: str = "") -> Finding:
    severity, title = RULE_CATALOG[rule]
    if len(text) > MAX_LINE_CHARS:  # not redacted (guessed credentials are not looked for)
        text = f"[a line of {len(text):,} characters, not shown]"
    return Finding(
        rule=rule,
        category=rule.split(".", 1)[0],
        severity=severity,
        title=title,
        message=message,
        path=path,
        line=line,
        line_text=_redacted_line(text) if text else "",
    )


_MESSAGES = {
    "security.private_key": "A private key was added. Remove it, rotate the key (it stays in "
    "git history) and load it from a secret store.",
    "security.aws_key": "An AWS access key id was added. Revoke the key in IAM and load "
    "credentials from the environment or a secret manager.",
    "security.github_token": "A GitHub token was added. Revoke it now and pass it to the code "
    "through a secret instead.",
    "security.slack_token": "A Slack token was added. Revoke it and read it from a secret.",
    "security.google_api_key": "A Google API key was added. Restrict or regenerate it and load "
    "it from configuration outside the repository.",
    "security.stripe_key": "A Stripe live key was added. Roll the key in the Stripe "
    "dashboard and load it from a secret store.",
    "security.jwt": "A JSON Web Token was added; until it expires it grants what it claims. "
    "Revoke the session or key that signed it and load tokens at run time.",
    "security.url_credentials": "A URL with a password was added. Change the password and "
    "pass it through the environment or a secret store, not the connection string.",
    "security.auth_header": "An Authorization header with a literal credential was added. "
    "Revoke the credential and read it from the environment or a secret store.",
    "security.test_credential": "A test file holds a credential-like value. If it is real, "
    "rotate it; if it is a fixture, it is fine (this note does not block).",
    "security.eval": "eval/exec/new Function runs arbitrary code. Parse the input instead "
    "(json, ast.literal_eval) or dispatch on known values.",
    "security.shell_true": "shell=True lets shell metacharacters in arguments run commands. "
    "Pass an argument list with shell=False.",
    "security.unpickle": "Deserializing untrusted data with pickle/dill/yaml.load can execute "
    "code. Use json or yaml.safe_load.",
    "security.tls_verify_off": "TLS certificate verification is turned off, allowing "
    "man-in-the-middle attacks. Keep verification on and configure a CA bundle if needed.",
    "security.sql_format": "SQL is built by string formatting, which allows SQL injection. "
    "Pass values as query parameters (%s, ?, $1).",
    "review.todo": "A TODO/FIXME/XXX/HACK comment was added. Resolve it or link an issue that "
    "tracks it.",
    "review.debug_print": "This looks like a debugging statement. Remove it or use the "
    "project's logger.",
    "review.commented_code": "This block of commented-out code should be deleted; git history "
    "keeps the old version.",
}


_GUESS_ORDER = (secret_shapes.URL_CREDENTIALS, secret_shapes.AUTH_HEADER, secret_shapes.ASSIGNMENT)


@dataclass(frozen=True)
class _CredentialScan:
    """How one file's lines are scanned for credentials (see _credential_findings)."""

    path: str
    unquoted: bool
    guesses: bool
    fixture: bool

    @classmethod
    def of(cls, path: str) -> _CredentialScan:
        return cls(path, _unquoted_values(path), not _is_locale_file(path), _is_fixture(path))


#: Credential-like names (`token=`, `password:`) looked at per line: each costs
#: ~20 us, and a line of 4,000 `token=a;` has 500. The rest of a denser line is
#: reported as not scanned for guessed credentials (tokens are still found).
MAX_LINE_GUESSES = 16


def _credential_findings(
    text: str, no: int, scan: _CredentialScan, *, long_line: bool, dense: list[int]
) -> list[Finding]:
    """Each token kind on the line; else the first guessed kind (URL, header,
    assignment). Guesses are notices in tests and fixtures, and not looked for in
    translations or over-long lines; a placeholder token (`AKIA...EXAMPLE`) is no finding."""
    path = scan.path
    guesses = scan.guesses and not long_line
    found = secret_shapes.find(
        text, unquoted=scan.unquoted, guesses=guesses, max_guesses=MAX_LINE_GUESSES
    )
    if any(s.kind == secret_shapes.DENSE for s in found):
        dense[0] += 1
    tokens = [s.kind for s in found if s.kind in secret_shapes.TOKEN_KINDS and not s.placeholder]
    if tokens:
        rules = [f"security.{kind}" for kind in dict.fromkeys(tokens)]
        return [_finding(rule, path, no, _MESSAGES[rule], text) for rule in rules]
    guessed = {s.kind: s for s in found if s.kind in secret_shapes.GUESSED_KINDS}
    kind = next((k for k in _GUESS_ORDER if k in guessed), None)
    if kind is None:
        return []
    if scan.fixture:
        rule = "security.test_credential"
        return [_finding(rule, path, no, _MESSAGES[rule], text)]
    if kind == secret_shapes.ASSIGNMENT:
        msg = (
            f"`{guessed[kind].name[:100]}` is assigned a hard-coded credential. Remove "
            "it, rotate it and read it from the environment or a secret store."
        )
        return [_finding("security.secret_assignment", path, no, msg, text)]
    rule = f"security.{kind}"
    return [_finding(rule, path, no, _MESSAGES[rule], text)]


def _scan_lines(f: PullFile) -> tuple[list[Finding], int, int]:
    """The file's line findings, how many added lines were too long to scan, and
    how many had too many credential-like names to guess at them all."""
    path, ext = f.filename, _ext(f.filename)
    base = posixpath.basename(path)
    test = is_test_file(path)
    code_rules = ext not in _DOC_EXTS and base not in _LOCK_FILES
    parts = path.split("/")
    printing_dir = len(parts) == 1 or any(p in _PRINTING_DIRS for p in parts[:-1])
    check_print = ext == "py" and not test and not printing_dir and base not in _PRINTING_FILES
    check_console = ext in _JS_EXTS and not test and not printing_dir
    out: list[Finding] = []
    block: list[tuple[int, str]] = []  # consecutive code-looking comment lines
    skipped = 0  # added lines over MAX_LINE_CHARS
    dense = [0]  # added lines past MAX_LINE_GUESSES candidate names

    def flush_block() -> None:
        if len(block) >= 3:
            no, text = block[0]
            msg = _MESSAGES["review.commented_code"]
            out.append(_finding("review.commented_code", path, no, msg, text))
        block.clear()

    patch = f.patch or ""
    active = _active(patch)
    credentials = _CredentialScan.of(path) if secret_shapes.might_hold(patch) else None
    evals = "eval" in patch or "exec" in patch or "Function" in patch
    sql = any(n in patch for n in _SQL_NEEDLES)
    todo = any(word in patch for word in _TODO_WORDS)
    for no, text in added_lines(f.patch):
        long_line = len(text) > MAX_LINE_CHARS
        if long_line:
            skipped += 1
        if credentials is not None:
            out += _credential_findings(text, no, credentials, long_line=long_line, dense=dense)
        if long_line:
            continue  # a minified bundle or data: tokens only, "not scanned" otherwise
        if not code_rules:
            continue

        body = _comment_body(text, ext)
        code_comment = body is not None and _looks_like_code(body)
        if not (code_comment and block and block[-1][0] == no - 1):
            flush_block()  # the run of consecutive commented-out code lines ended
        if code_comment:
            block.append((no, text))
        if todo and any(word in text for word in _TODO_WORDS) and _TODO.search(text):
            out.append(_finding("review.todo", path, no, _MESSAGES["review.todo"], text))
        if text.lstrip().startswith(_COMMENT_MARKERS):
            continue

        checks = (
            ("security.eval", evals and _has_eval(text)),
            ("security.shell_true", _hit(_SHELL_TRUE, text, active)),
            ("security.unpickle", _hit(_UNPICKLE, text, active) or _yaml_unsafe(text, active)),
            ("security.tls_verify_off", _hit(_TLS_OFF, text, active)),
            ("security.sql_format", sql and _sql_formatted(text)),
            (
                "review.debug_print",
                _hit(_DEBUGGER, text, active)
                or (check_print and _hit(_PRINT, text, active))
                or (check_console and _hit(_CONSOLE, text, active))
                or (ext == "php" and _hit(_PHP_DUMP, text, active)),
            ),
        )
        for rule, hit in checks:
            if hit:
                out.append(_finding(rule, path, no, _MESSAGES[rule], text))
    flush_block()
    return out, skipped, dense[0]


_TOML_HEADER = linear_re.compile(r"^\s*\[\[?([^\]]+)\]\]?\s*(?:#.*)?$")
_DEPS_ARRAY = linear_re.compile(r"^\s*[\"']?[\w.-]*dependencies[\"']?\s*=\s*\[")
_REQUIREMENT = linear_re.compile(r"^\s*[\"'][A-Za-z0-9][\w.-]*(?:\[[^\]]*\])?\s*(?:[<>=!~]=?|@)")
_POETRY_DEP = linear_re.compile(
    r"^\s*([A-Za-z0-9][\w.-]*)\s*=\s*(?:[\"'][\^~<>=!*]*\d|\{.*version)"
)


def _pyproject_touches_dependencies(patch: str | None) -> bool:
    """True when a changed line of pyproject.toml is (probably) a dependency.

    Hunks seldom include their TOML table header, so besides tracking headers and
    `dependencies = [` arrays seen in the hunk, a changed line that looks like a
    requirement ("pkg>=1", `pkg = "^1.2"`) counts on its own.
    """
    in_table = in_array = False
    current_context = None
    for tag, _, text, context in _diff_lines(patch):
        if context != current_context:  # a new hunk: its header context is our only hint
            current_context = context
            in_table = "dependenc" in context and context.lstrip().startswith("[")
            in_array = bool(_DEPS_ARRAY.match(context)) and "]" not in context.split("[", 1)[1]
        stripped = text.strip()
        changed = tag in "+-" and stripped and not stripped.startswith("#")
        header = _TOML_HEADER.match(text)
        if header:
            in_table = "dependenc" in header.group(1)
            in_array = False
            if changed and in_table:
                return True
            continue
        if _DEPS_ARRAY.match(text):
            in_array = "]" not in text.split("[", 1)[1]
            if changed:
                return True
            continue
        if changed:
            if in_table or in_array or _REQUIREMENT.match(text):
                return True
            poetry = _POETRY_DEP.match(text)
            if poetry and poetry.group(1) != "version":
                return True
        if in_array and stripped.startswith("]"):
            in_array = False
    return False


def _missing_locks(files: list[PullFile]) -> list[tuple[str, str]]:
    paths = {f.filename for f in files}
    missing = []
    for f in files:
        base = posixpath.basename(f.filename)
        locks = _MANIFESTS.get(base)
        if locks is None or f.status == "removed":
            continue
        if f.patch is None and f.additions == f.deletions == 0 and f.status != "added":
            continue  # renamed/copied with no content change
        if base == "pyproject.toml" and not _pyproject_touches_dependencies(f.patch):
            continue
        directory = posixpath.dirname(f.filename)
        if not any(posixpath.join(directory, lock) in paths for lock in locks):
            missing.append((f.filename, " / ".join(locks)))
    return missing


_NO_PATCH = "no diff from GitHub (binary or too large): not scanned"


def _long_lines(count: int) -> str:
    plural = "s" if count != 1 else ""
    return f"{count} added line{plural} over {MAX_LINE_CHARS:,} characters: checked for tokens only"


def _dense_lines(count: int) -> str:
    plural = "s" if count != 1 else ""
    return (
        f"{count} added line{plural} with over {MAX_LINE_GUESSES} credential-like names: "
        "the rest of each checked for tokens only"
    )


def analyze(files: list[PullFile], rules: Rules = DEFAULT_RULES) -> tuple[Analysis, list[Finding]]:
    """Analyse a PR's files; findings sorted by severity (failure, warning, notice), then
    path, then line (file-level first), capped at rules.max_findings.

    Files matching rules.ignore_paths count in the Analysis but yield no findings.
    """
    additions = sum(f.additions for f in files)
    deletions = sum(f.deletions for f in files)
    present = [f for f in files if f.status != "removed"]
    source = [f.filename for f in present if is_source_file(f.filename)]
    tests = [f.filename for f in present if is_test_file(f.filename)]
    binary = [f.filename for f in files if _is_binary(f)]
    large = [
        f.filename
        for f in present
        if f.additions > rules.large_file_additions
        and posixpath.basename(f.filename) not in _LOCK_FILES
    ]
    missing = _missing_locks(files)
    analysis = Analysis(
        files_changed=len(files),
        additions=additions,
        deletions=deletions,
        size_class=size_class(additions + deletions),
        source_changed=bool(source),
        tests_changed=bool(tests),
        source_files=tuple(source),
        test_files=tuple(tests),
        manifests_without_lock=tuple(missing),
        binary_files=tuple(binary),
        large_files=tuple(large),
    )

    findings: list[Finding] = []
    not_scanned: list[tuple[str, str]] = []
    for f in files:
        if rules.ignored(f.filename) or f.status in ("removed", "unchanged"):
            continue
        moved_only = f.status in ("renamed", "copied") and f.additions == f.deletions == 0
        if f.patch is None and not moved_only:
            not_scanned.append((f.filename, _NO_PATCH))
        lines, skipped, dense = _scan_lines(f)
        findings += lines
        if skipped:
            not_scanned.append((f.filename, _long_lines(skipped)))
        if dense:
            not_scanned.append((f.filename, _dense_lines(dense)))
        if _is_env_file(f.filename):
            lines = added_lines(f.patch)
            msg = (
                f"`{posixpath.basename(f.filename)}` holds environment secrets and should not "
                "be committed. Remove it, add it to .gitignore and commit a .env.example."
            )
            line = lines[0][0] if lines else None  # inline-commentable when possible
            findings.append(_finding("security.env_file", f.filename, line, msg))
    for path in binary:
        if not rules.ignored(path):
            msg = "Binary content cannot be reviewed in the diff. Confirm it belongs in git."
            findings.append(_finding("analysis.binary", path, None, msg))
    for path in large:
        if not rules.ignored(path):
            msg = (
                f"This file adds more than {rules.large_file_additions} lines. Split the "
                "change or mark generated files so reviewers can skip them."
            )
            findings.append(_finding("analysis.large_file", path, None, msg))
    for manifest, locks in missing:
        if not rules.ignored(manifest):
            directory = posixpath.dirname(manifest) or "the repository root"
            msg = (
                f"{posixpath.basename(manifest)} changed but no lock file ({locks}) in "
                f"{directory} did. Regenerate and commit the lock file."
            )
            findings.append(_finding("analysis.lockfile", manifest, None, msg))
    scanned_source = [p for p in source if not rules.ignored(p)]
    if scanned_source and not tests:
        msg = (
            f"{len(scanned_source)} source file(s) changed but no test file did. Add or update "
            "tests that cover the change."
        )
        findings.append(_finding("review.no_tests", scanned_source[0], None, msg))

    analysis = dataclasses.replace(analysis, not_scanned=tuple(not_scanned))
    findings = [x for x in findings if rules.enabled(x.rule)]
    findings.sort(
        key=lambda x: (_SEVERITY_RANK[x.severity], x.path, x.line or 0, x.rule, x.line_text)
    )
    return analysis, findings[: max(0, rules.max_findings)]
