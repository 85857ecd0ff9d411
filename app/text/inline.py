"""Text from GitHub or Codegen shown inline in a bot comment.

A PR title, a comment's first line or a URL is anyone's text. Put into the bot's
Markdown as is, `](https://evil)` forges a link, a backtick opens a code span that
swallows the rest, `<b>` is HTML, and `@someone` makes the bot notify that person.
`plain` shows such text literally; `link` links only a pull request on GitHub.
(`ci.code_name` is the code-span form, for names that read best as code.)
"""

from __future__ import annotations

from app.text import linear_re

#: Characters that Markdown or GitHub's HTML may read as syntax inline: each is
#: shown literally after a backslash (CommonMark escapes any ASCII punctuation).
_SYNTAX = linear_re.compile(r"([\\`*_{}\[\]()<>!|~&:])")
#: `@` starts a mention (or team mention); a zero-width joiner after it leaves
#: the text readable and matches no login, so nobody is notified.
_MENTION = "@\u200d"
#: A web page Codegen reports for a run: https, and none of the characters that
#: could end a Markdown link target or start HTML.
_WEB_URL = linear_re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s()<>\[\]`'\"\\]*)?")
_PULL_URL = linear_re.compile(
    r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/pull/[0-9]{1,9}"
)


def plain(text: str, limit: int | None = None) -> str:
    """`text` on one line, at most `limit` characters (cut with `…`) before
    escaping, shown literally: no link, code span, HTML, emphasis or mention."""
    one_line = " ".join(text.split())
    if limit is not None and len(one_line) > limit:
        one_line = one_line[: limit - 1].rstrip() + "…"
    return _SYNTAX.sub(r"\\\1", one_line).replace("@", _MENTION)


def is_pull_url(url: str) -> bool:
    """A pull request's page on github.com: the only URL a reported PR may link to."""
    return _PULL_URL.fullmatch(url) is not None


def link(title: str, url: str, limit: int = 200) -> str:
    """`[title](url)` when `url` is a GitHub pull request; otherwise the title and the
    URL as plain text (escaped, so not a link)."""
    shown = plain(title or url, limit)
    if is_pull_url(url):
        return f"[{shown}]({url})"
    if not url or url == title or not title:
        return shown
    return f"{shown} ({plain(url, limit)})"


def run_link(run_id: int | None, url: str | None) -> str:
    """An agent run, linked to the page Codegen reported for it only when that
    URL is a plain https address (it is Codegen's text, not ours)."""
    name = f"agent run {run_id}" if run_id is not None else "agent run"
    if url and run_id is not None and _WEB_URL.fullmatch(url) and len(url) <= 500:
        return f"[{name}]({url})"
    return name
