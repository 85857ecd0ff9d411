"""Parsing `/codegen` commands out of comment bodies: what a reader sees is what is obeyed."""

from __future__ import annotations

import pytest

from app.commands.parse import STRATEGIES, VERBS, Command, help_text, parse_commands


def only(body: str) -> Command:
    """The single command in a body; failing loudly when there are more or none."""
    commands = parse_commands(body)
    assert len(commands) == 1, commands
    return commands[0]


def verbs(body: str) -> list[str]:
    return [command.verb for command in parse_commands(body)]


# --- verbs -------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["help", "run", "status", "cancel", "validate"])
def test_simple_verbs(verb: str) -> None:
    assert only(f"/codegen {verb}") == Command(verb, "", 1, verb, None, None)


def test_retry_without_strategy() -> None:
    assert only("/codegen retry") == Command("retry", "", 1, "retry", None, None)


def test_fix_with_inline_instructions() -> None:
    command = only("/codegen fix use pathlib instead of os.path")
    assert command == Command("fix", "use pathlib instead of os.path", 1, "fix", None, None)


def test_every_verb_is_recognised() -> None:
    body = "\n".join(f"/codegen {verb} x" for verb in VERBS)
    assert verbs(body) == list(VERBS)


def test_bare_codegen_means_help() -> None:
    assert only("/codegen") == Command("help", "", 1, "", None, None)
    assert only("   /codegen   ") == Command("help", "", 1, "", None, None)


@pytest.mark.parametrize("written", ["STATUS", "Status", "sTaTuS"])
def test_verbs_are_case_insensitive(written: str) -> None:
    command = only(f"/codegen {written}")
    assert (command.verb, command.raw, command.error) == ("status", written, None)


@pytest.mark.parametrize("prefix", ["/Codegen", "/CODEGEN", "/codeGen"])
def test_prefix_is_case_insensitive(prefix: str) -> None:
    assert only(f"{prefix} run").verb == "run"


def test_trailing_words_are_args_not_errors() -> None:
    command = only("/codegen run please, it is urgent")
    assert (command.verb, command.args, command.error) == ("run", "please, it is urgent", None)
    assert only("/codegen cancel   now  ").args == "now"


def test_trailing_punctuation_on_verb_is_ignored() -> None:
    command = only("/codegen fix: rename the helper")
    assert (command.verb, command.raw, command.args) == ("fix", "fix:", "rename the helper")
    assert only("/codegen status.").verb == "status"


def test_leading_whitespace_before_command() -> None:
    assert only("  /codegen run").verb == "run"
    # A tab is four columns: at the start of a comment that is an indented code block.
    assert only("Text\n\t/codegen run").verb == "run"


def test_tab_between_prefix_and_verb() -> None:
    assert only("/codegen\tvalidate").verb == "validate"


# --- not commands ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "/codegenx",
        "/codegenrun",
        "/codegen-run",
        "/codegen/run",
        "codegen run",
        "please /codegen run",
        "`/codegen run`",
        "# /codegen run",
        "- /codegen run",
        "",
        "\n\n",
    ],
)
def test_not_commands(body: str) -> None:
    assert parse_commands(body) == []


def test_none_body() -> None:
    assert parse_commands(None) == []


# --- fenced code ---------------------------------------------------------------


def test_inside_backtick_fence() -> None:
    body = "Try this:\n```\n/codegen run\n```\n/codegen status"
    assert verbs(body) == ["status"]


def test_inside_tilde_fence_with_info_string() -> None:
    body = "~~~ markdown\n/codegen run\n~~~\n/codegen status"
    assert verbs(body) == ["status"]


def test_inside_fence_with_info_string() -> None:
    body = "```text title=example\n/codegen run\n```\n/codegen cancel"
    assert verbs(body) == ["cancel"]


def test_inside_indented_fence() -> None:
    body = "   ```\n/codegen run\n   ```\n/codegen status"
    assert verbs(body) == ["status"]


def test_four_space_fence_is_not_a_fence() -> None:
    # Indented 4 after a paragraph it is paragraph text, so the next line is live.
    body = "Text\n    ```\n/codegen run"
    assert verbs(body) == ["run"]


def test_unclosed_fence_runs_to_end() -> None:
    body = "/codegen status\n```python\n/codegen run\n\n/codegen cancel"
    assert verbs(body) == ["status"]


def test_longer_fence_needs_as_long_closer() -> None:
    body = "````\n```\n/codegen run\n```\n````\n/codegen status"
    assert verbs(body) == ["status"]


def test_tilde_does_not_close_backtick_fence() -> None:
    body = "```\n~~~\n/codegen run\n```\n/codegen validate"
    assert verbs(body) == ["validate"]


def test_closing_fence_may_not_have_info() -> None:
    body = "```\n```python\n/codegen run\n```\n/codegen status"
    assert verbs(body) == ["status"]


def test_inline_triple_backticks_do_not_open_a_fence() -> None:
    body = "```code``` here\n/codegen run"
    assert verbs(body) == ["run"]


# --- indented code -----------------------------------------------------------


def test_indented_code_block_after_blank_line() -> None:
    body = "Example:\n\n    /codegen run\n\n/codegen status"
    assert verbs(body) == ["status"]


def test_indented_code_block_at_start() -> None:
    assert parse_commands("    /codegen run") == []
    assert parse_commands("\t/codegen run\n") == []


def test_indented_code_continues_over_blank_lines() -> None:
    body = "\n    echo one\n\n    /codegen run\n/codegen cancel"
    assert verbs(body) == ["cancel"]


def test_indented_line_continuing_a_paragraph_is_live() -> None:
    assert verbs("Please do this:\n    /codegen run") == ["run"]


# --- quotes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "> /codegen run",
        ">/codegen run",
        "  > /codegen run",
        "> > /codegen run",
        ">> /codegen run",
        "> quoted\n>\n> /codegen run",
    ],
)
def test_quoted_commands_are_ignored(body: str) -> None:
    assert parse_commands(body) == []


def test_line_after_quote_is_outside_it() -> None:
    assert verbs("> /codegen retry\n/codegen status") == ["status"]


def test_fence_inside_quote_does_not_hide_later_lines() -> None:
    body = "> ```\n> /codegen run\n\n/codegen status"
    assert verbs(body) == ["status"]


# --- HTML comments -----------------------------------------------------------


def test_single_line_html_comment() -> None:
    assert parse_commands("<!-- /codegen run -->") == []


def test_multi_line_html_comment() -> None:
    body = "<!--\n/codegen run\n  /codegen cancel\n-->\n/codegen status"
    assert verbs(body) == ["status"]


def test_unclosed_html_comment_hides_the_rest() -> None:
    assert verbs("/codegen status\n<!-- draft\n/codegen run") == ["status"]


def test_text_after_comment_close_is_visible() -> None:
    assert verbs("<!-- note --> /codegen run") == ["run"]
    assert verbs("<!--\nhidden\n--> /codegen validate") == ["validate"]


def test_trailing_comment_is_not_part_of_args() -> None:
    command = only("/codegen fix tidy imports <!-- from the review bot -->")
    assert command.args == "tidy imports"


def test_fence_inside_html_comment_does_not_open() -> None:
    body = "<!--\n```\n-->\n/codegen run"
    assert verbs(body) == ["run"]


def test_html_comment_inside_fence_does_not_open() -> None:
    body = "```\n<!--\n```\n/codegen run"
    assert verbs(body) == ["run"]


# --- several commands --------------------------------------------------------


def test_two_commands_in_order_with_line_numbers() -> None:
    body = "Thanks!\n\n/codegen cancel\nsome words\n/codegen retry simplified_scope\nbye"
    commands = parse_commands(body)
    assert [(c.verb, c.line, c.args) for c in commands] == [
        ("cancel", 3, ""),
        ("retry", 5, "simplified_scope"),
    ]


def test_crlf_line_endings() -> None:
    body = "Hello\r\n\r\n/codegen status\r\n/codegen fix add a test\r\nfor the parser\r\n"
    commands = parse_commands(body)
    assert [(c.verb, c.line, c.args) for c in commands] == [
        ("status", 3, ""),
        ("fix", 4, "add a test\nfor the parser"),
    ]
    assert all("\r" not in c.args for c in commands)


def test_crlf_fence() -> None:
    assert verbs("```\r\n/codegen run\r\n```\r\n/codegen cancel\r\n") == ["cancel"]


def test_lone_cr_line_endings() -> None:
    assert [(c.verb, c.line) for c in parse_commands("hi\r/codegen run")] == [("run", 2)]


# --- unknown verbs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "suggestion"),
    [
        ("stauts", "status"),
        ("retyr", "retry"),
        ("cancle", "cancel"),
        ("hepl", "help"),
        ("valdiate", "validate"),
        ("fx", "fix"),
        ("Stat", "status"),
    ],
)
def test_unknown_verb_with_suggestion(written: str, suggestion: str) -> None:
    command = only(f"/codegen {written} now")
    assert command.verb == "unknown"
    assert (command.raw, command.args, command.suggestion) == (written, "now", suggestion)
    assert command.error is not None
    assert written in command.error and f"/codegen {suggestion}" in command.error


@pytest.mark.parametrize("written", ["deploy", "please", "xyz", "merge"])
def test_unknown_verb_without_suggestion(written: str) -> None:
    command = only(f"/codegen {written}")
    assert (command.verb, command.raw, command.suggestion) == ("unknown", written, None)
    assert command.error is not None and "/codegen help" in command.error


def test_unknown_punctuation_only_verb() -> None:
    command = only("/codegen ?")
    assert (command.verb, command.raw, command.suggestion) == ("unknown", "?", None)


# --- retry -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_retry_each_strategy(strategy: str) -> None:
    assert only(f"/codegen retry {strategy}") == Command("retry", strategy, 1, "retry", None, None)


@pytest.mark.parametrize(
    ("written", "strategy"),
    [
        ("different-approach", "different_approach"),
        ("Simplified-Scope", "simplified_scope"),
        ("REGENERATE_PROMPT", "regenerate_prompt"),
        ("different approach", "different_approach"),
    ],
)
def test_retry_strategy_spellings(written: str, strategy: str) -> None:
    command = only(f"/codegen retry {written}")
    assert (command.args, command.error) == (strategy, None)


@pytest.mark.parametrize("written", ["bogus_strategy", "faster", "different_approach please"])
def test_retry_bad_strategy_names_the_valid_ones(written: str) -> None:
    command = only(f"/codegen retry {written}")
    assert (command.verb, command.args) == ("retry", written)
    assert command.error is not None
    assert written in command.error
    assert all(strategy in command.error for strategy in STRATEGIES)


# --- fix ---------------------------------------------------------------------


def test_fix_multi_line_instructions() -> None:
    body = (
        "/codegen fix rename `load` to `read`\n"
        "  and update the callers\n"
        "- add a test\n"
        "\n"
        "Thanks for the quick turnaround!"
    )
    command = only(body)
    assert command.args == "rename `load` to `read`\nand update the callers\n- add a test"


def test_fix_instructions_only_on_following_lines() -> None:
    command = only("/codegen fix\nUse snake_case for the new module.\nKeep the API.")
    assert (command.args, command.error) == (
        "Use snake_case for the new module.\nKeep the API.",
        None,
    )


def test_fix_instructions_stop_at_next_command() -> None:
    commands = parse_commands("/codegen fix handle None\n/codegen validate")
    assert [(c.verb, c.args) for c in commands] == [("fix", "handle None"), ("validate", "")]


def test_fix_instructions_stop_at_quote_fence_and_comment() -> None:
    assert only("/codegen fix a\n> quoted\nb").args == "a"
    assert only("/codegen fix a\n```\ncode\n```").args == "a"
    assert only("/codegen fix a\n<!-- hidden -->\nb").args == "a"


def test_fix_next_line_is_not_a_command_when_prefix_is_glued() -> None:
    assert only("/codegen fix a\n/codegenx b").args == "a\n/codegenx b"


@pytest.mark.parametrize("body", ["/codegen fix", "/codegen fix   ", "/codegen FIX\n\nlater text"])
def test_fix_without_instructions_is_an_error(body: str) -> None:
    command = only(body)
    assert (command.verb, command.args) == ("fix", "")
    assert command.error is not None and "instructions" in command.error


def test_fix_followed_by_another_command_has_no_instructions() -> None:
    commands = parse_commands("/codegen fix\n/codegen status")
    assert commands[0].error is not None
    assert commands[1].verb == "status"


# --- realistic comments ------------------------------------------------------


def test_review_comment_quoting_an_earlier_retry() -> None:
    body = (
        "> @alice wrote:\n"
        "> /codegen retry different_approach\n"
        "\n"
        "The retry went through but I don't see a PR yet.\n"
        "\n"
        "/codegen status\n"
    )
    commands = parse_commands(body)
    assert [(c.verb, c.line) for c in commands] == [("status", 6)]


def test_comment_explaining_the_bot() -> None:
    body = (
        "To use the bot, comment something like:\n"
        "\n"
        "```\n"
        "/codegen fix <what to change>\n"
        "```\n"
        "\n"
        "or `/codegen run`. For example:\n"
        "\n"
        "    /codegen retry simplified_scope\n"
        "\n"
        "<!-- Reviewers: don't copy the next line\n"
        "/codegen cancel\n"
        "-->\n"
    )
    assert parse_commands(body) == []


def test_pull_request_review_with_fix_and_validate() -> None:
    body = (
        "Looks close. Two things:\n"
        "\n"
        "/codegen fix The retry loop in `worker.py` never backs off.\n"
        "Use exponential backoff capped at 60 s.\n"
        "\n"
        "```python\n"
        "/codegen cancel  # not this\n"
        "```\n"
        "\n"
        "/Codegen Validate\n"
    )
    commands = parse_commands(body)
    assert [(c.verb, c.line) for c in commands] == [("fix", 3), ("validate", 10)]
    assert commands[0].args == (
        "The retry loop in `worker.py` never backs off.\nUse exponential backoff capped at 60 s."
    )
    assert all(c.error is None for c in commands)


def test_typo_among_valid_commands() -> None:
    commands = parse_commands("/codegen stauts\n/codegen retry Different-Approach")
    assert [(c.verb, c.suggestion, c.args) for c in commands] == [
        ("unknown", "status", ""),
        ("retry", None, "different_approach"),
    ]


# --- help text ---------------------------------------------------------------


def test_help_text_lists_every_verb_once() -> None:
    text = help_text()
    usage_lines = [line for line in text.splitlines() if line.startswith("- `/codegen ")]
    assert len(usage_lines) == len(VERBS)
    for verb, line in zip(VERBS, usage_lines, strict=True):
        assert line.startswith(f"- `/codegen {verb}")


def test_help_text_shows_usage_and_strategies() -> None:
    text = help_text()
    assert "`/codegen retry [regenerate_prompt|different_approach|simplified_scope]`" in text
    assert "`/codegen fix <instructions>`" in text
    for strategy in STRATEGIES:
        assert f"- `{strategy}`" in text
