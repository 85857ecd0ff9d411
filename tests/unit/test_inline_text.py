"""Text from GitHub or Codegen shown inline in the bot's comments: a PR title
that forges a link or pings people, a quoted command that mentions someone or is
cut inside a code span."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.commands.parse import parse_commands
from app.commands.replies import QUOTE_CHARS, quoted
from app.tasks import tracking
from app.tasks.requests_store import CodegenRequest
from app.tasks.store import Task
from app.text import inline as inline_text

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PULL = "https://github.com/acme/widgets/pull/8"
EVIL_TITLE = "Fix](https://evil.example) @acme/everyone <img src=x> `code *bold*"


def task(pull_requests: list[dict[str, str]]) -> Task:
    return Task(
        id=1, installation_id=1, repository="acme/widgets", issue_number=7,
        issue_url="https://github.com/acme/widgets/issues/7", issue_author="rae", title="t",
        description="d", requirements=(), acceptance_criteria=(), priority="medium",
        estimated_complexity="small", status="pr_open", status_detail=None, triggered_by="w",
        trigger_delivery_id=None, tracking_comment_id=None, attempt=1, max_retries=2,
        simulated=False, pull_requests=tuple(pull_requests), notes=(), deadline_at=None,
        next_strategy=None, auto_merge=None, pr_opened_at=NOW, merged_at=None, created_at=NOW,
        updated_at=NOW, finished_at=None,
    )  # fmt: skip


def pr_line(pull_requests: list[dict[str, str]]) -> str:
    body = tracking.render(task(pull_requests), [])
    [line] = [ln for ln in body.splitlines() if "Pull request opened:" in ln]
    return line


def bare(text: str) -> str:
    """`text` without its backslash-escaped characters: what Markdown reads as syntax."""
    return re.sub(r"\\.", "", text)


def mentions(text: str) -> bool:
    """Whether GitHub would read an @mention here (an @ then a login character)."""
    return any(c.isalnum() for c in (part[:1] for part in text.split("@")[1:]))


def test_a_pr_title_is_shown_literally_and_links_only_its_github_url() -> None:
    line = pr_line([{"title": EVIL_TITLE, "url": PULL}])
    assert line.endswith(f"]({PULL})")
    title = line.split(": ", 1)[1].removesuffix(f"]({PULL})")[1:]
    assert not set(bare(title)) & set("[]()<>`*")
    assert not mentions(line)
    assert "acme/everyone" in line and "Fix" in line  # still readable


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/acme/widgets/pull/8",
        "javascript:alert(1)",
        "https://github.com/acme/widgets/pull/8) [click](https://evil.example",
        "http://github.com/acme/widgets/pull/8",
        "https://github.com.evil.example/acme/widgets/pull/8",
    ],
)
def test_a_url_that_is_not_a_github_pull_request_is_not_linked(url: str) -> None:
    line = pr_line([{"title": "Export CSV", "url": url}])
    rest = bare(line.split(": ", 1)[1])
    assert not set(rest) & set("[]<>") and "https://" not in rest  # no link, no autolink
    assert "Export CSV" in line


def test_a_pr_without_a_title_shows_its_url() -> None:
    assert pr_line([{"url": PULL}]).endswith(f"[{inline_text.plain(PULL)}]({PULL})")


def test_plain_text_cut_before_escaping_and_never_mentions() -> None:
    text = inline_text.plain("a\\`b `c` @x @@y\n\nnext line " + "z" * 300, 50)
    assert "\n" not in text and not mentions(text)
    assert text.endswith("…")
    assert "`" not in bare(text)
    assert "\\\\\\`" in text  # the backslash and the backtick each escaped


def quote_of(comment: str) -> str:
    [command] = parse_commands(comment)
    return quoted(command)


def test_a_quoted_command_mentions_nobody() -> None:
    quote = quote_of("/codegen fix ask @octocat and @acme/everyone about it")
    assert quote.startswith("> /codegen fix ask @")
    assert not mentions(quote)
    assert "octocat" in quote and "acme/everyone" in quote


@pytest.mark.parametrize("cut", range(QUOTE_CHARS - 30, QUOTE_CHARS + 5))
def test_a_cut_quote_leaves_no_code_span_open(cut: int) -> None:
    comment = "/codegen fix " + "x" * (cut - 24) + " `@someone **oops**` and more after"
    quote = quote_of(comment)
    assert "`" not in bare(quote)  # every backtick shown, none opens a span
    assert not mentions(quote)


def request(web_url: str | None) -> CodegenRequest:
    return CodegenRequest(
        id=1, task_id=1, attempt=1, strategy=None, style="comprehensive", prompt="p",
        context={}, status="running", agent_run_id=41, web_url=web_url, pull_requests=(),
        summary=None, error=None, polls=0, created_at=NOW, run_created_at=NOW, finished_at=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    ["https://codegen.com/traces/41", "https://codegen.invalid/runs/41?x=1#a", "https://a.b:8443"],
)
def test_a_run_page_codegen_reports_is_linked(url):
    assert inline_text.run_link(41, url) == f"[agent run 41]({url})"
    assert f"[agent run 41]({url})" in tracking.render(task([]), [request(url)])


@pytest.mark.parametrize(
    "url",
    [
        "https://codegen.com/x) [click](https://evil.example",  # ends the link, forges one
        "https://codegen.com/<img src=x>",
        "javascript:alert(1)",
        "http://codegen.com/traces/41",
        "https://codegen.com/a b",
        "https://codegen.com/`code",
        "",
    ],
)
def test_a_run_url_that_is_not_a_plain_https_page_is_not_linked(url):
    """The run's web_url is Codegen's text: it was put into the link as is."""
    assert inline_text.run_link(41, url) == "agent run 41"
    body = tracking.render(task([]), [request(url)])
    assert "agent run 41" in body and "evil.example" not in body and "<img" not in body
    if url:
        assert url not in body
