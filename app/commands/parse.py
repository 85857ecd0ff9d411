"""Slash commands in issue and pull-request comments: `/codegen <verb> [args]`.

Pure parsing, no I/O: the webhook handler decides what to do with each
Command, and can answer a malformed one with its `error` sentence instead of
guessing what was meant.

What counts as a command follows what a reader sees on GitHub, so text that
only *mentions* a command (in code, in a quote, in a hidden comment) is never
obeyed:

* A command is a line whose first non-blank text is `/codegen` (any case)
  followed by whitespace or the end of the line (`/codegenfoo` is not one).
  `/codegen` alone means `help`. Verbs are case-insensitive, and trailing
  `.,:;!?` on the verb is ignored (`/codegen fix: use tabs`).
* Ignored: lines in fenced code blocks (``` or ~~~, up to 3 spaces of indent,
  any info string, a longer fence needs an as-long closer, an unclosed fence
  runs to the end of the comment); indented code blocks (4+ columns of indent
  where a paragraph could not continue, e.g. after a blank line); block
  quotes (`>` after optional spaces, nested or not, so quoting someone's
  command does not repeat it); text inside HTML comments `<!-- ... -->`, on
  one line or several. Text after `-->` on a line is visible again.
* A line without `>` right after a quote is taken as outside it. CommonMark
  would call it a lazy continuation of the quote, but people replying mean a
  new line, and GitHub's "Quote reply" leaves a blank line anyway.
* Several commands in one comment give several Commands, in order; other text
  is ignored. CRLF and lone CR line endings work. The handler acts on the first
  `MAX_PER_COMMENT` of a comment and says how many more it ignored.

Arguments:

* `retry [strategy]`: the strategy is optional, case-insensitive, and hyphens
  or spaces stand for underscores (`Different-Approach`); `args` holds the
  canonical name. Anything else sets `error`, naming the three strategies.
* `fix <instructions>`: the instructions are the rest of the line AND the
  following lines, up to a blank line, the next command, or a line that is
  not plain text (code, quote, comment). Each line is stripped and they are
  joined with newlines. No instructions sets `error`.
* `help`, `run`, `status`, `cancel`, `validate`: trailing text is kept in
  `args` (a note such as "please") but is never an error, so a polite
  sentence does not block the command.
* A comment with no command whose visible line starts with `@<app-slug>` (or
  `@<app-slug>[bot]`) is one command (`parse_mention`): `fix` with the words
  after it on a pull request (`help` when there are none), `run` with them as
  the task's instructions on an issue.
* Any other verb gives verb `"unknown"`, with `suggestion` the nearest valid
  verb when it is close (`stauts` -> `status`) and an `error` sentence.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from app.text import linear_re
from prompts.builder import STRATEGIES

VERBS = ("help", "run", "retry", "fix", "status", "cancel", "validate")

UNKNOWN = "unknown"
MAX_PER_COMMENT = 10  # commands acted on per comment: each may reply or start work

_USAGE: tuple[tuple[str, str], ...] = (
    ("/codegen help", "Show this list of commands."),
    ("/codegen run", "Start a Codegen agent run for this issue."),
    (
        f"/codegen retry [{'|'.join(STRATEGIES)}]",
        "Start a new agent run after a failed one, optionally with a strategy (below).",
    ),
    (
        "/codegen fix <instructions>",
        "Ask the agent to change its pull request; the instructions may go on over the "
        "following lines, up to a blank line.",
    ),
    ("/codegen status", "Report where the current task stands."),
    (
        "/codegen cancel",
        "Stop the current task: no further agent runs, polls or follow-ups from the bot.",
    ),
    ("/codegen validate", "Validate the pull request again."),
    (
        "@<app> <instructions>",
        "At the start of a line, mentioning the app: on its pull request the same as "
        "`/codegen fix`, on an issue `/codegen run` with the instructions added to the task.",
    ),
)

_STRATEGY_HELP: tuple[tuple[str, str], ...] = (
    ("regenerate_prompt", "build the prompt afresh and try again"),
    ("different_approach", "ask the agent for a different approach than last time"),
    ("simplified_scope", "ask for a smaller change that covers the core of the issue"),
)

_SPACE = linear_re.USPACE
# Comments are anyone's text: RE2 patterns (linear time); `/codegen` then a space or the end.
_COMMAND = linear_re.compile(rf"/codegen(?:{_SPACE}|$)", linear_re.IGNORECASE)
_FENCE_OPEN = linear_re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_FENCE_CLOSE = linear_re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_QUOTE = linear_re.compile(rf"{_SPACE}*>")
_HEADING = linear_re.compile(rf" {{0,3}}#{{1,6}}(?:{_SPACE}|$)")
_STRATEGY_SEPARATORS = linear_re.compile(rf"[{linear_re.USPACE_CHARS}_-]+")
_VERB_PUNCTUATION = ".,:;!?"


@dataclass(frozen=True)
class Command:
    """One `/codegen` line, already checked, so callers only act or reply with `error`."""

    verb: str  # one of VERBS, lower-case; or "unknown"
    args: str  # rest of the line, stripped (fix: the instructions; retry: the strategy)
    line: int  # 1-based line number in the comment
    raw: str  # the verb as written (for unknown: the word after /codegen, may be "")
    suggestion: str | None  # for unknown: the nearest valid verb, else None
    error: str | None  # a sentence for the commenter when the command is malformed
    mention: bool = False  # written as `@<app-slug> ...`, not `/codegen ...`


@dataclass(frozen=True)
class _Line:
    """A comment line as a reader sees it: `text` is None when it is hidden or code."""

    number: int
    text: str | None


def parse_commands(body: str | None) -> list[Command]:
    """Every command in a comment body, in order (see the module docstring for the rules)."""
    if not body:
        return []
    lines = _visible_lines(body)
    commands: list[Command] = []
    for index, line in enumerate(lines):
        rest = _command_rest(line.text)
        if rest is None:
            continue
        commands.append(_build(rest, line.number, lines[index + 1 :]))
    return commands


def parse_mention(body: str | None, slug: str, on_pull: bool) -> list[Command]:
    """A comment with no `/codegen` line that starts a visible line with
    `@<slug>` (or `@<slug>[bot]`): on a pull request it means `/codegen fix`
    with the words after it (the mention alone: `help`), on an issue
    `/codegen run` with them as instructions. The first such line only; the
    same rules of visibility as commands (not in code, quotes or comments)."""
    if not body or "@" not in body or not slug:
        return []
    handle = "@" + slug.lower()
    lines = _visible_lines(body)
    for index, line in enumerate(lines):
        rest = _mention_rest(line.text, handle)
        if rest is None:
            continue
        raw = "@" + slug
        if not on_pull:
            words = _continued(rest, lines[index + 1 :])
            return [Command("run", words, line.number, raw, None, None, mention=True)]
        if not rest and not _continued("", lines[index + 1 :]):
            return [Command("help", "", line.number, raw, None, None, mention=True)]
        fix = _fix(rest, line.number, raw, lines[index + 1 :])
        return [Command("fix", fix.args, fix.line, raw, None, fix.error, mention=True)]
    return []


def _mention_rest(text: str | None, handle: str) -> str | None:
    """The words after a mention that opens the line, else None."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped[: len(handle)].lower() != handle:
        return None
    rest = stripped[len(handle) :]
    if rest[:5].lower() == "[bot]":
        rest = rest[5:]
    if rest and not (rest[0].isspace() or rest[0] in _VERB_PUNCTUATION):
        return None  # `@codegen-bots` is someone else
    return rest.lstrip(_VERB_PUNCTUATION).strip()


def _continued(first: str, following: list[_Line]) -> str:
    """`first` and the plain lines after it, up to a blank line or a command."""
    words = [first] if first else []
    for line in following:
        if line.text is None or not line.text.strip() or _command_rest(line.text) is not None:
            break
        words.append(line.text.strip())
    return "\n".join(words)


def help_text() -> str:
    """Markdown for the reply to `/codegen help` (and to a command the bot cannot read)."""
    out = ["**codegen-bot commands** (one per line, anywhere in a comment):", ""]
    out += [f"- `{usage}`: {what}" for usage, what in _USAGE]
    out += ["", "Strategies for `retry`:", ""]
    out += [f"- `{name}`: {what}" for name, what in _STRATEGY_HELP]
    return "\n".join(out)


def _build(rest: str, number: int, following: list[_Line]) -> Command:
    """Turn the text after `/codegen` into a Command, checking arguments per verb."""
    parts = rest.split(maxsplit=1)
    raw = parts[0] if parts else ""
    args = parts[1].strip() if len(parts) > 1 else ""
    if not raw:
        return Command("help", "", number, "", None, None)
    verb = raw.lower().rstrip(_VERB_PUNCTUATION)
    if verb == "retry":
        return _retry(args, number, raw)
    if verb == "fix":
        return _fix(args, number, raw, following)
    if verb in VERBS:
        return Command(verb, args, number, raw, None, None)
    suggestion = _suggest(verb)
    if suggestion:
        error = f"{_echo(raw)} is not a codegen command; did you mean `/codegen {suggestion}`?"
    else:
        error = f"{_echo(raw)} is not a codegen command; comment `/codegen help` to see them."
    return Command(UNKNOWN, args, number, raw, suggestion, error)


_ECHO_CHARS = 60


def _echo(text: str) -> str:
    """What someone wrote, quoted back as inline code: short (a reply must stay
    under GitHub's 65,536 characters), on one line, and with no backtick that
    could end the span and turn the rest into mentions or links in our reply."""
    shown = " ".join(text.replace("`", "'").split())
    if len(shown) > _ECHO_CHARS:
        shown = shown[: _ECHO_CHARS - 1] + "…"
    return f"`{shown}`"


def _retry(args: str, number: int, raw: str) -> Command:
    """Strategies are easy to misspell; name the valid ones rather than retry blindly."""
    if not args:
        return Command("retry", "", number, raw, None, None)
    strategy = _STRATEGY_SEPARATORS.sub("_", args.lower()).strip("_")
    if strategy in STRATEGIES:
        return Command("retry", strategy, number, raw, None, None)
    names = ", ".join(f"`{name}`" for name in STRATEGIES)
    error = (
        f"{_echo(args)} is not a retry strategy; use one of {names}, "
        "or `/codegen retry` alone for the next one."
    )
    return Command("retry", args, number, raw, None, error)


def _fix(args: str, number: int, raw: str, following: list[_Line]) -> Command:
    """Instructions often run over several lines; a fix without any cannot be acted on."""
    instructions = _continued(args, following)
    if not instructions:
        error = (
            "`/codegen fix` needs instructions: write what to change after it, "
            "e.g. `/codegen fix rename the helper and add a test`."
        )
        return Command("fix", "", number, raw, None, error)
    return Command("fix", instructions, number, raw, None, None)


def _suggest(word: str) -> str | None:
    """Nearest verb for a typo (transpositions included), or a verb the word begins."""
    if not word:
        return None
    close = difflib.get_close_matches(word, VERBS, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = [verb for verb in VERBS if len(word) >= 3 and verb.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def _command_rest(text: str | None) -> str | None:
    """The text after `/codegen` when the line is a command, else None."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped[:8].lower() != "/codegen":
        return None  # the common case, without a regex call (fix instructions: every line)
    match = _COMMAND.match(stripped)
    return stripped[match.end() :].strip() if match else None


def _visible_lines(body: str) -> list[_Line]:
    """Classify every line once, so commands and fix continuations see the same view.

    A small subset of CommonMark's block rules: enough to tell prose from code,
    quotes and hidden comments, not a renderer."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[_Line] = []
    fence: str | None = None  # the opening fence run while inside a fenced block
    in_comment = False
    in_indented_code = False
    paragraph = False  # an open paragraph absorbs indented lines instead of starting code
    for number, line in enumerate(lines, start=1):
        if fence is not None:
            if _closes(line, fence):
                fence = None
            out.append(_Line(number, None))
            continue
        if not in_comment:
            if line.strip() and _indent(line) >= 4 and (in_indented_code or not paragraph):
                in_indented_code = True
                out.append(_Line(number, None))
                continue
            if line.strip():
                in_indented_code = False
            opening = _FENCE_OPEN.match(line) if _may_fence(line) else None
            if opening and not (opening[1][0] == "`" and "`" in opening[2]):
                fence = opening[1]
                paragraph = False
                out.append(_Line(number, None))
                continue
        text, in_comment, touched = _strip_comments(line, in_comment)
        if not text.strip():
            # A comment-only line is an HTML block; like a blank line it ends a paragraph.
            out.append(_Line(number, None if touched else ""))
            paragraph = False
        elif text.lstrip()[:1] == ">":  # _QUOTE: Python's whitespace is `_SPACE`
            out.append(_Line(number, None))
            paragraph = True
        else:
            out.append(_Line(number, text))
            paragraph = not _is_heading(text)
    return out


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool, bool]:
    """Remove `<!-- ... -->` spans: (visible text, still in a comment, a comment was seen)."""
    parts: list[str] = []
    touched = in_comment
    pos = 0
    while True:
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                return "".join(parts), True, touched
            pos = end + 3
            in_comment = False
        else:
            start = line.find("<!--", pos)
            if start < 0:
                parts.append(line[pos:])
                return "".join(parts), False, touched
            parts.append(line[pos:start])
            pos = start + 4
            in_comment = touched = True


def _is_heading(text: str) -> bool:
    """`_HEADING.match(text)`, by hand: 65,536 `#` lines made 32,768 regex calls."""
    body = text.lstrip(" ")
    level = len(body) - len(body.lstrip("#"))
    after = body[level : level + 1]
    return len(text) - len(body) <= 3 and 1 <= level <= 6 and (not after or after.isspace())


def _may_fence(line: str) -> bool:
    """A cheap test before the fence pattern (a regex call per line adds up)."""
    return line.lstrip(" ")[:3] in ("```", "~~~")


def _closes(line: str, fence: str) -> bool:
    """A closing fence uses the opener's character and is at least as long."""
    match = _FENCE_CLOSE.fullmatch(line) if _may_fence(line) else None
    return match is not None and match[1][0] == fence[0] and len(match[1]) >= len(fence)


def _indent(line: str) -> int:
    """Columns of leading whitespace, tabs counting to the next multiple of four."""
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())
