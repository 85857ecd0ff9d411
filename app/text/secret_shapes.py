"""The shapes of credentials: one list, read by the PR secret scanner
(app/validation/analysis.py) and by redaction of logs, CI output and review
hunks (app/observability/logs.py, app/validation/analysis.redact), so what one
finds the other hides. tests/test_architecture.py checks no other module
keeps a credential pattern of its own.

Two families:

- tokens that name their issuer (`ghp_...`, `AKIA...`, `xoxb-...`, a PEM private
  key, a JWT): the shape alone says "credential". A token whose body is a
  placeholder (`AKIAIOSFODNN7EXAMPLE`, `xxxx`) is still redacted but not reported.
- values a name or position calls a credential: `password = "..."`, an
  unquoted `POSTGRES_PASSWORD=...` (config files and logs only: in code an
  unquoted value is a variable), a password in a URL (`postgres://u:pw@h`), an
  `Authorization: Bearer ...` header. These are guesses, so placeholders,
  references (`${X}`, `os.environ`), identifiers (`client_secret_basic`) and
  words (`"Passwort"`, a translation) are not credentials.

Every pattern is RE2 (app/text/linear_re.py): this text is from GitHub and CI.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.text import linear_re

# kinds of the first family, each also a rule id `security.<kind>` of the scanner
PRIVATE_KEY = "private_key"
TOKEN_KINDS = (
    PRIVATE_KEY,
    "aws_key",
    "github_token",
    "slack_token",
    "google_api_key",
    "stripe_key",
    "jwt",
)
# kinds of the second family
ASSIGNMENT = "secret_assignment"
URL_CREDENTIALS = "url_credentials"
AUTH_HEADER = "auth_header"
GUESSED_KINDS = (ASSIGNMENT, URL_CREDENTIALS, AUTH_HEADER)


@dataclass(frozen=True)
class Secret:
    """One credential in a text: `start:end` is the value itself (what redaction hides)."""

    kind: str
    start: int
    end: int
    name: str = ""  # the assigned name, for ASSIGNMENT
    placeholder: bool = False  # a token-shaped example value: hidden, not reported


# --------------------------------------------------------------------------- tokens

# Each pattern puts the token in group "s"; a leading `(?:^|[^...])` stands for the
# lookbehind RE2 lacks. `tail`: characters that may not follow a fixed-length token.
# `needles`: strings one of which the text must hold, checked first (a regex call
# costs microseconds, `in` nanoseconds, and a 300,000-line PR is mostly clean).
_ALNUM = string.ascii_letters + string.digits
_TOKEN_PATTERNS: tuple[tuple[str, tuple[str, ...], str, str | None], ...] = (
    ("aws_key", ("AKIA", "ASIA"), r"(?:^|[^A-Za-z0-9])(?P<s>(?:AKIA|ASIA)[A-Z0-9]{16})", _ALNUM),
    (
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"(?:^|[^A-Za-z0-9_])(?P<s>gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})",
        None,
    ),
    (
        "slack_token",
        ("xox", "xapp-"),
        r"(?:^|[^A-Za-z0-9])(?P<s>xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})",
        None,
    ),
    (
        "slack_token",  # an incoming webhook URL is its own credential
        ("hooks.slack",),
        r"hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/-]{20,})",
        None,
    ),
    (
        "google_api_key",
        ("AIza",),
        r"(?:^|[^A-Za-z0-9_-])(?P<s>AIza[0-9A-Za-z_-]{35})",
        _ALNUM + "_-",
    ),
    ("stripe_key", ("_live_",), r"(?:^|[^A-Za-z0-9])(?P<s>(?:sk|rk)_live_[0-9A-Za-z]{24,})", None),
    (
        "jwt",
        ("eyJ",),
        r"(?:^|[^A-Za-z0-9_-])(?P<s>eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})",
        None,
    ),
)
_TOKENS = tuple(
    (kind, needles, linear_re.compile(pattern), tail)
    for kind, needles, pattern, tail in _TOKEN_PATTERNS
)
_PEM_ARMOUR = r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM = linear_re.compile(rf"(?P<begin>{_PEM_ARMOUR})(?P<body>(?s:.*?))(?P<end>{_PEM_END}|$)")
_BASE64_RUN = linear_re.compile(r"[A-Za-z0-9+/=]{8,}")


# --------------------------------------------------------------------------- guesses

_QUOTED_VALUE = (
    r"""(?:"(?P<v1>(?:[^"\\\n]|\\.)*)"|'(?P<v2>(?:[^'\\\n]|\\.)*)'"""
    r"""|`(?P<v3>(?:[^`\\\n]|\\.)*)`)"""
)
# A name holding a credential word, in the regex so that only such names cost a
# match (a line of 50,000 `a=b` finds nothing); is_credential_name decides.
_NAME = (
    r"(?:[A-Za-z_$][\w.$-]*?)?"
    r"(?i:passw(?:or)?d|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key)[\w.$-]*"
)
_NAME_NEEDLES = (
    "passw",
    "secret",
    "token",
    *(f"{word}{sep}key" for word in ("api", "access", "private") for sep in ("", "_", "-", ".")),
)
_ASSIGNMENT = linear_re.compile(
    rf"(?:^|[^\w.$-])(?P<name>{_NAME})"
    r"""["'`]?\]?"""  # end of a quoted key / subscript
    r"(?:\s*:\s*[A-Za-z_][\w\[\],. |]*?)?"  # type annotation
    r"\s*(?::=|=>|=|:)\s*" + _QUOTED_VALUE
)
_UNQUOTED = linear_re.compile(
    rf"""(?:^|[^\w.$-])(?P<name>{_NAME})["']?[ \t]*(?:=|:)[ \t]*"""
    r"""(?P<value>[^\s"'`,;#&(){}\[\]<>]+)"""
)
_URL = linear_re.compile(
    r"(?:^|[^A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://"
    r"""(?P<user>[^\s:/?#@"'`<>]*):(?P<s>[^\s/?#@"'`<>]+)@(?P<host>[^\s/?#:"'`<>]*)"""
)
_AUTH = linear_re.compile(
    r"""(?:^|[^A-Za-z0-9_-])authorization["']?[ \t]*[:=][ \t]*["']?"""
    r"(?:bearer|token|basic)[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})",
    linear_re.IGNORECASE,
)

_ENV_VAR_NAME = linear_re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # "DB_PASSWORD", a reference
# camelCase / snake_case words; `re` (it needs a lookahead) on at most _MAX_NAME
# characters of a name, so its backtracking is bounded by a constant.
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_MAX_NAME = 200
_CREDENTIAL_WORDS = (
    ("password",),
    ("passwd",),
    ("secret",),
    ("token",),
    ("api", "key"),
    ("apikey",),
    ("access", "key"),
    ("private", "key"),
    ("client", "secret"),
)
_CREDENTIAL_PARTS = frozenset({"password", "passwd", "secret", "token", "key", "apikey"})
# One word that ends in a credential word names one too: libpq's PGPASSWORD,
# MYSQLPASSWORD, `authtoken` (`tokenizer`, `passwords` do not end so).
_GLUED_WORDS = ("password", "passwd", "secret", "token", "apikey")
# A name ending in one of these words describes a credential rather than holding one.
_DESCRIPTIVE_WORDS = frozenset(
    """url uri endpoint path file filename dir name type header field prefix suffix env var
    label length len count id expiry expires ttl regex pattern format kind policy hint
    message msg error help description placeholder method methods mode scheme grant style
    strategy source provider location store backend algorithm alg version scope audience
    issuer title text prompt""".split()
)
_PLACEHOLDER_WORDS = frozenset(
    """changeme password passwd secret token example dummy test testing placeholder redacted
    none null undefined todo fixme default pass""".split()
)
_PLACEHOLDER = linear_re.compile(
    r"^(?:your|my|insert|enter|replace|put)[-_ ]"  # your-token-here
    r"|^(?:test|fake|dummy|sample|example|mock)"  # test-secret-123
    r"|example|placeholder|changeme|change[-_]me|redacted"
    r"|x{4,}|\*{3,}|\.{3}"  # xxxx, ***, ...
    r"|^<.*>$|\$\{.*\}|\{\{.*\}\}|\{[\w.]*\}|%\(\w+\)[sd]|^%[sdr]$|^\$[A-Z_]+$"
    r"|os\.environ|getenv|process\.env",
    linear_re.IGNORECASE,
)
# A lower-case snake_case identifier, or one made of credential words, names a
# thing (`client_secret_basic`, `refresh-token`); a passphrase has no such part.
_IDENTIFIER = linear_re.compile(r"^[a-z][a-z0-9]*(?:[_.-][a-z0-9]+)+$")


def is_credential_name(name: str) -> bool:
    """`db_password`, `apiKey`, `CLIENT_SECRET`; not `password_url` or `tokenizer`."""
    words = [w.lower() for w in _NAME_WORDS.findall(name[-_MAX_NAME:])]
    if not words or words[-1] in _DESCRIPTIVE_WORDS:
        return False
    for pattern in _CREDENTIAL_WORDS:
        n = len(pattern)
        if any(tuple(words[i : i + n]) == pattern for i in range(len(words) - n + 1)):
            return True
    return any(word.endswith(_GLUED_WORDS) for word in words)


def _is_placeholder(value: str) -> bool:
    return value.lower() in _PLACEHOLDER_WORDS or bool(_PLACEHOLDER.search(value))


def is_real_secret(value: str) -> bool:
    """A value worth calling a credential: long enough, not a placeholder, a
    reference, an identifier or a word (a translated label)."""
    if len(value) < 8 or any(ch.isspace() for ch in value) or len(set(value)) == 1:
        return False
    if _ENV_VAR_NAME.fullmatch(value) or _is_placeholder(value):
        return False
    if value.isalpha() and value[1:].islower():
        return False  # "Passwort", "Kennwort": a word, as translations have
    if _IDENTIFIER.match(value):
        parts = set(value.replace(".", "_").replace("-", "_").split("_"))
        if "_" in value or parts & _CREDENTIAL_PARTS:
            return False
    return True


_VALUE_RUN = linear_re.compile(r"[^\s\"'`]*")
_MAX_VALUE = 256  # the most an unquoted value is followed: a constant per match


def _value_end(text: str, end: int) -> int:
    """Where an unquoted value really ends: `Tr0ub4dor&3xyz` or `pa;ss(wo)rd` is
    one password to the next blank or quote, not cut at its first `&` or `;`
    (which would show the rest); a trailing `,` `;` or bracket is the text's own."""
    run = _VALUE_RUN.match(text[end : end + _MAX_VALUE])[0].rstrip(",;)]}>")
    return end + len(run)


def _url_password_is_real(user: str, password: str, host: str) -> bool:
    """Any length counts (`admin:pw@db`), but not `user:user`, placeholders or example hosts."""
    return not (password == user or _is_placeholder(password) or "example" in host.lower())


# --------------------------------------------------------------------------- finding


_TOKEN_NEEDLES = (*(n for _, needles, _, _ in _TOKENS for n in needles), "-----BEGIN")
_LOWER_NEEDLES = (*_NAME_NEEDLES, "authorization")


def might_hold(text: str) -> bool:
    """False when `text` cannot hold any shape (it lacks every literal they need):
    a file-wide test that spares a per-line scan of most files of a large PR."""
    if "://" in text or any(needle in text for needle in _TOKEN_NEEDLES):
        return True
    lower = text.lower()
    return any(needle in lower for needle in _LOWER_NEEDLES)


def find(
    text: str,
    *,
    unquoted: bool = False,
    guesses: bool = True,
    flood: bool = False,
    max_guesses: int | None = None,
) -> list[Secret]:
    """Every credential in `text`, in order of position. `unquoted`: also
    `NAME=value` / `name: value` without quotes (config files, logs); `guesses`:
    the second family at all (see the module docstring). `flood`: past
    MAX_GUESSES candidate names, everything from there on counts as one secret
    (redaction of a 64 KB log record stays cheap). `max_guesses`: past that many
    candidate names the rest is not guessed at, and a `DENSE` secret says where
    that began (the scanner: a line of 4,000 `token=a;` made 500 candidates)."""
    found = [*_tokens(text)]
    if guesses:
        found += _guesses(text, unquoted, flood, max_guesses)
    return sorted(found, key=lambda s: (s.start, s.end))


#: Candidate names (before the name and value checks, ~60 us each) one text may have
#: when `flood` is set.
MAX_GUESSES = 256
#: The kind of the mark `find(max_guesses=...)` leaves where it stopped guessing.
DENSE = "dense"


class _Flood(Exception):
    """Raised by _budgeted when the candidates run out: where the flood starts."""

    def __init__(self, start: int) -> None:
        self.start = start


def _budgeted(pattern: linear_re.Pattern, text: str, budget: list[int]) -> Iterator[Any]:
    for m in pattern.finditer(text):
        budget[0] -= 1
        if budget[0] < 0:
            raise _Flood(m.start())
        yield m


def _tokens(text: str) -> Iterator[Secret]:
    if not any(needle in text for needle in _TOKEN_NEEDLES):
        return  # most lines: one pass of `in` instead of one per shape
    for kind, needles, pattern, tail in _TOKENS:
        if not any(needle in text for needle in needles):
            continue
        for m in pattern.finditer(text):
            start, end = linear_re.span(m, "s")
            if tail is not None and end < len(text) and text[end] in tail:
                continue  # longer than the token's fixed length: another thing
            body = text[start:end]
            yield Secret(kind, start, end, placeholder=_token_placeholder(body))
    if "-----BEGIN" in text:
        for m in _PEM.finditer(text):
            yield Secret(PRIVATE_KEY, m.start(), m.end())


def _token_placeholder(token: str) -> bool:
    """`AKIAIOSFODNN7EXAMPLE`, `ghp_xxxx...`, `sk_live_0000...`: documentation, not a leak."""
    return bool(_PLACEHOLDER.search(token)) or len(set(token[-16:])) <= 2


def _guesses(text: str, unquoted: bool, flood: bool, max_guesses: int | None) -> Iterator[Secret]:
    if flood:
        budget = [MAX_GUESSES]
    else:
        budget = [len(text) + 1 if max_guesses is None else max_guesses]
    try:
        yield from _guessed(text, unquoted, budget)
    except _Flood as stop:
        yield Secret(ASSIGNMENT if flood else DENSE, stop.start, len(text))


def _guessed(text: str, unquoted: bool, budget: list[int]) -> Iterator[Secret]:
    lower = text.lower()
    named = any(word in lower for word in _NAME_NEEDLES)
    quoted = named and ('"' in text or "'" in text or "`" in text)
    for m in _budgeted(_ASSIGNMENT, text, budget) if quoted else ():
        group = next(g for g in ("v1", "v2", "v3") if m.group(g) is not None)
        if is_credential_name(m["name"]) and is_real_secret(m[group]):
            yield Secret(ASSIGNMENT, *linear_re.span(m, group), name=m["name"])
    if unquoted and named and ("=" in text or ":" in text):
        for m in _budgeted(_UNQUOTED, text, budget):
            start, end = linear_re.span(m, "value")
            if end < len(text) and text[end] in "([{<":
                continue  # a call or a subscript: code, not a value
            end = _value_end(text, end)
            if is_credential_name(m["name"]) and is_real_secret(text[start:end]):
                yield Secret(ASSIGNMENT, start, end, name=m["name"])
    if "://" in text:
        for m in _budgeted(_URL, text, budget):
            if _url_password_is_real(m["user"], m["s"], m["host"]):
                yield Secret(URL_CREDENTIALS, *linear_re.span(m, "s"))
    for m in _budgeted(_AUTH, text, budget) if "authorization" in lower else ():
        if not _is_placeholder(m["s"]) and len(set(m["s"])) > 2:
            yield Secret(AUTH_HEADER, *linear_re.span(m, "s"))


# --------------------------------------------------------------------------- redaction


def redact(text: str, marker: str, *, unquoted: bool = True, keep_armour: bool = True) -> str:
    """`text` with every credential replaced by `marker`.

    keep_armour: a private key keeps its `-----BEGIN ...-----` line and only its
    body goes (a review finding shows what was found); else the whole block goes."""
    spans = []
    for secret in find(text, unquoted=unquoted, flood=True):
        if secret.kind != PRIVATE_KEY:
            spans.append((secret.start, secret.end))
    if "-----BEGIN" in text:
        for m in _PEM.finditer(text):
            if not keep_armour:
                spans.append(m.span())
            elif _BASE64_RUN.search(m["body"]):
                spans.append(linear_re.span(m, "body"))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [text[pos:start], marker]
        pos = end
    out.append(text[pos:])
    return "".join(out)
