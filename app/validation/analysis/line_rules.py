"""The rules read on each added line of a file: credentials, risky calls, SQL
built by formatting, debugging statements, TODOs and commented-out code.

Most of a large PR matches nothing, so each pattern has needles: plain strings
one of which a line (and its patch) must hold before the regex runs."""

from __future__ import annotations

import posixpath

from app.text import linear_re, secret_shapes
from app.validation.analysis.credentials import CredentialScan, credential_findings
from app.validation.analysis.diff import MAX_LINE_CHARS, added_lines
from app.validation.analysis.manifests import LOCK_FILES
from app.validation.analysis.messages import MESSAGES, finding
from app.validation.analysis.model import Finding, PullFile
from app.validation.analysis.paths import extension, is_test_file

_JS_EXTS = frozenset("js mjs cjs ts jsx tsx vue svelte".split())
_DOC_EXTS = frozenset("md markdown rst txt adoc asciidoc".split())
# Directories whose Python/JS files are meant to print (scripts, examples, tools).
_PRINTING_DIRS = frozenset(
    "scripts script examples example bin tools docs benchmarks demo demos notebooks".split()
)
_PRINTING_FILES = frozenset({"__main__.py", "cli.py", "setup.py", "manage.py", "conftest.py"})

_HASH_COMMENT_EXTS = frozenset("py rb sh bash zsh pl pm r ps1 tf php yaml yml toml".split())
_SLASH_COMMENT_EXTS = frozenset(
    "js mjs cjs ts jsx tsx go rs java kt kts c cc cpp h hpp cs swift scala m php dart "
    "groovy vue svelte".split()
)
_DASH_COMMENT_EXTS = frozenset("sql lua hs".split())


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


def scan_lines(f: PullFile) -> tuple[list[Finding], int, int]:
    """The file's line findings, how many added lines were too long to scan, and
    how many had too many credential-like names to guess at them all."""
    path, ext = f.filename, extension(f.filename)
    base = posixpath.basename(path)
    test = is_test_file(path)
    code_rules = ext not in _DOC_EXTS and base not in LOCK_FILES
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
            msg = MESSAGES["review.commented_code"]
            out.append(finding("review.commented_code", path, no, msg, text))
        block.clear()

    patch = f.patch or ""
    active = _active(patch)
    credentials = CredentialScan.of(path) if secret_shapes.might_hold(patch) else None
    evals = "eval" in patch or "exec" in patch or "Function" in patch
    sql = any(n in patch for n in _SQL_NEEDLES)
    todo = any(word in patch for word in _TODO_WORDS)
    for no, text in added_lines(f.patch):
        long_line = len(text) > MAX_LINE_CHARS
        if long_line:
            skipped += 1
        if credentials is not None:
            out += credential_findings(text, no, credentials, long_line=long_line, dense=dense)
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
            out.append(finding("review.todo", path, no, MESSAGES["review.todo"], text))
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
                out.append(finding(rule, path, no, MESSAGES[rule], text))
    flush_block()
    return out, skipped, dense[0]
