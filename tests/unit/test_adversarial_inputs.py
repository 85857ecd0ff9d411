"""Hostile text from GitHub must not stall the process.

Each shape below is fed to the public function that sees it in production (PR
analysis, redaction of CI output, logs and review hunks, the closing-keyword
parse, the prompt builder, the issue parser, the command parser). Each must
finish in well under a second of CPU (a guard against exponential and
quadratic backtracking, not a benchmark) and still give the right answer.
Before RE2 several of these took from seconds to hours.

Token-shaped values are assembled at run time so this file holds none.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from app.commands import parse as commands
from app.commands.parse import parse_commands
from app.commands.replies import Location
from app.observability.logs import redactor
from app.pull_requests import store as pull_requests
from app.tasks import issue_spec as issue_task
from app.tasks.issue_spec import parse_issue
from app.tasks.readiness import missing_information
from app.validation import report as check_report
from app.validation.analysis import diff as pr_diff
from app.validation.analysis import scan as pr_scan
from app.validation.analysis.diff import MAX_LINE_CHARS
from app.validation.analysis.model import PullFile
from app.validation.analysis.redaction import redact
from app.validation.analysis.rules import Rules
from app.validation.analysis.scan import analyze
from app.validation.ci import Check, CiState
from prompts.followups import ci_fix_prompt, fix_instructions
from tests.support.analysis import new_file
from tests.support.prompts import REPO, TASK, build

CPU_SECONDS = 0.5  # "well under a second"; the slow shapes took seconds to hours
GITHUB_TOKEN = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PASSWORD = "Tr0ub4dor&3xyz"
BODY_MAX = 65_536  # what GitHub lets an issue or PR body or a comment be


def rules(files: list[PullFile]) -> set[tuple[str, str]]:
    return {(f.path, f.rule) for f in analyze(files)[1]}


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


@dataclass(frozen=True)
class Shape:
    """A hostile input, the call that reads it, and what the answer must still be."""

    id: str
    run: Callable[[], Any]
    check: Callable[[Any], bool]


# A JSON log line of CI output cut mid-string, full of escapes: 79 s before.
_CI_LOG = ('{"level":"error","msg":"config: api_key = \\"' + "ab\\n" * 27 + "x" * 300)[:360]
_CSS = "a{color:red}" * (200_000 // 12) + "/* TODO: minified */"

SHAPES = [
    # -- PR analysis (patches) --------------------------------------------------
    Shape(
        "credential pattern: unclosed string of 60 backslashes",
        lambda: rules([new_file("app/a.py", ['x = "' + "\\" * 60, f'password = "{PASSWORD}"'])]),
        lambda found: ("app/a.py", "security.secret_assignment") in found,
    ),
    Shape(
        "TODO rule: a 200 KB minified CSS line",
        lambda: analyze(
            [new_file("web/app.min.css", [_CSS]), new_file("web/b.css", ["/* TODO x */"])]
        ),
        lambda result: (
            {(f.path, f.rule) for f in result[1]} == {("web/b.css", "review.todo")}
            and result[0].not_scanned == (("web/app.min.css", pr_scan._long_lines(1)),)
        ),
    ),
    Shape(
        "SQL rule: a 10 KB line of `select from` (cubic before)",
        lambda: rules(
            [
                new_file("app/q.py", ["select from " * 850]),
                new_file("app/r.py", ["x = '" + "select from where " * 200 + "'"]),
                new_file("app/s.py", ['cursor.execute(f"SELECT * FROM t WHERE id = {uid}")']),
            ]
        ),
        lambda found: (
            {r for p, r in found if r == "security.sql_format"} == {"security.sql_format"}
            and ("app/s.py", "security.sql_format") in found
        ),
    ),
    Shape(
        "string pattern: 1,300 empty strings and dangling quotes on one line",
        lambda: rules([new_file("app/q.py", ['"" ' * 1300 + "'" * 100 + "select a from b where"])]),
        lambda found: ("app/q.py", "security.sql_format") not in found,
    ),
    Shape(
        "eval rule: `xeval(` 600 times, then a real eval",
        lambda: rules([new_file("app/e.py", ["xeval(" * 600, "eval(data)"])]),
        lambda found: ("app/e.py", "security.eval") in found,
    ),
    Shape(
        "hunk header: 65,000 digits",
        lambda: pr_diff.added_lines("@@ -1 +" + "1" * 65_000 + " @@\n+x\n@@ -1 +5 @@\n+y\n"),
        lambda lines: lines[-1] == (5, "y"),
    ),
    Shape(
        "assignment names: 900 `a=b` then a credential, in a config file",
        lambda: rules([new_file("deploy/app.env", ["a=b " * 900 + "API_TOKEN=Xy7pQ2rT9wK"])]),
        lambda found: ("deploy/app.env", "security.secret_assignment") in found,
    ),
    Shape(
        "private key armour 2,000 times without an end",
        lambda: rules([new_file("k.pem", ["-----BEGIN RSA PRIVATE KEY-----" * 120] * 17)]),
        lambda found: ("k.pem", "security.private_key") in found,
    ),
    # -- redaction: CI output, logs, review hunks -----------------------------------
    Shape(
        "CI output: a 360-char JSON log line cut mid-string with 27 escapes",
        lambda: ci_fix_prompt(
            [Check("build", "check_run", "failed", "failure", None, f"{_CI_LOG}\n{GITHUB_TOKEN}")],
            "a" * 40,
            1,
            3,
        ),
        lambda prompt: GITHUB_TOKEN not in prompt and "[REDACTED]" in prompt,
    ),
    Shape(
        "redact: an unclosed string of 30,000 backslashes",
        lambda: redact('password = "' + "\\" * 30_000 + f' token="{GITHUB_TOKEN}"'),
        lambda text: GITHUB_TOKEN not in text,
    ),
    Shape(
        "logs: 2,000 private key headers without an end, then a token",
        lambda: redactor.scrub("-----BEGIN RSA PRIVATE KEY-----" * 2000 + f" {GITHUB_TOKEN}"),
        lambda text: text == "[redacted]",
    ),
    Shape(
        "logs: 16,000 `a=b` then a credential",
        lambda: redactor.scrub("a=b " * 16_000 + "POSTGRES_PASSWORD=Xy7pQ2rT9wK"),
        lambda text: text.endswith("POSTGRES_PASSWORD=[redacted]"),
    ),
    Shape(
        "logs: 16,000 credential-named assignments in a 256 KB record",
        lambda: redactor.scrub("token=abcdefgh1 " * 16_000 + f"tail {GITHUB_TOKEN}"),
        lambda text: GITHUB_TOKEN not in text and "abcdefgh1" not in text,
    ),
    Shape(
        "logs: a record of 64 KB of JSON-escaped backslashes",
        lambda: redactor.scrub('{"m":"password = \\"' + "\\\\" * 32_000 + f" {GITHUB_TOKEN}"),
        lambda text: GITHUB_TOKEN not in text,
    ),
    Shape(
        "review hunk: 65,000 characters of quotes and backslashes",
        lambda: fix_instructions(
            "rae",
            7,
            True,
            "rename it",
            Location("a.py", 3, None, '+x = "' + '\\"' * 32_000 + f"\n+t = '{GITHUB_TOKEN}'"),
        ),
        lambda text: GITHUB_TOKEN not in text and text.startswith("@rae asked"),
    ),
    # -- PR bodies ---------------------------------------------------------------
    Shape(
        "closing keyword: `fix` + 65,530 spaces + `x` (8.6 s before)",
        lambda: (
            pull_requests.closing_issues("fix" + " " * 65_530 + "x"),
            pull_requests.closing_issues("Fixes #12 and closes: #3"),
        ),
        lambda found: found == ([], [12, 3]),
    ),
    Shape(
        "closing keyword: `fix :` repeated over 65 KB",
        lambda: pull_requests.closing_issues("fix :" * 13_000 + " #4"),
        lambda found: found == [4],
    ),
    Shape(
        "closing keyword: a 5,000-digit and a 20-digit issue number (int() raised)",
        lambda: pull_requests.closing_issues(
            "Fixes #" + "9" * 5_000 + ", fixes #" + "9" * 20 + " and closes #3"
        ),
        lambda found: found == [3],
    ),
    Shape(
        "PR URL: a 5,000-digit and a 20-digit number",
        lambda: [
            pull_requests.number_from_url(f"https://github.com/o/r/pull/{'9' * n}", "o/r")
            for n in (5_000, 20, 4)
        ],
        lambda found: found == [None, None, 9999],
    ),
    # -- issue bodies: prompt builder and issue parser -----------------------------
    Shape(
        "prompt builder: `<` + 65,000 spaces + `x` (224 s before)",
        lambda: build(replace(TASK, description="<" + " " * 65_000 + "x</issue_description>")),
        lambda prompt: "x&lt;/issue_description>" in prompt.text,
    ),
    Shape(
        "prompt builder: `<` + 65,000 zero-width spaces + a closing tag",
        lambda: build(replace(TASK, description="<" + "\u200b" * 65_000 + "/issue_description>")),
        lambda prompt: prompt.text.count("</issue_description>") == 1,
    ),
    Shape(
        "prompt builder: 30,000 spaces, a slash, 30,000 spaces in a README",
        lambda: build(repo=replace(REPO, readme="<" + " " * 30_000 + "/" + " " * 30_000)),
        lambda prompt: "<requester_issue" in prompt.text,
    ),
    Shape(
        "issue parser: `# a` + 65,000 spaces + `x` (45 s before)",
        lambda: parse_issue("Export", "# a" + " " * 65_000 + "x\n\nExport the rows as CSV.", []),
        lambda task: "Export the rows as CSV." in task.description,
    ),
    Shape(
        "issue parser: a heading of 30,000 `*a` (emphasis)",
        lambda: parse_issue("t", "## Requirements\n### " + "*a" * 30_000 + "\n- do it", []),
        lambda task: len(task.requirements) == 1 and task.requirements[0].endswith("do it"),
    ),
    Shape(
        "issue parser: 65,000 `<` and a label line of spaces",
        lambda: missing_information(parse_issue("t", "<" * 65_000 + "\na" + " " * 60 + ":", [])),
        lambda problems: len(problems) == 1,
    ),
    Shape(
        "issue parser: `Priority:` + 65,000 spaces + `high`",
        lambda: parse_issue("t", "Priority:" + " " * 65_000 + "high\nSome words here.", []),
        lambda task: task.priority == "high",
    ),
    Shape(
        "issue parser: 32,000 words and a heading of 65,000 slashes",
        lambda: missing_information(
            parse_issue("t", "# " + "/" * 65_000 + "\n" + "a " * 32_000, [])
        ),
        lambda problems: problems == [],
    ),
    Shape(
        "issue parser: bold marks `**` and `*_` over 60,000 characters",
        lambda: parse_issue("t", "**" + "*_" * 30_000 + "\n**Steps**\nRun it.", []),
        lambda task: "Run it." in task.description,
    ),
    # Each line of a body costs a few regex calls (~7 us each in the RE2 binding):
    # 65,536 blank lines took 2.3 s of CPU, 21,845 `a:` lines 1.5 s.
    Shape(
        "issue parser: 65,536 blank lines",
        lambda: missing_information(parse_issue("t", "\n" * BODY_MAX, [])),
        lambda problems: (
            problems == ["The issue has no description: say what should change and why."]
        ),
    ),
    *(
        Shape(
            f"issue parser: 65,536 characters of {line!r} lines",
            lambda line=line: missing_information(
                parse_issue("Export rows", line * (BODY_MAX // len(line)), [])
            ),
            lambda problems: isinstance(problems, list),
        )
        for line in ("a:\n", "x: y\n", "#\n", "1.\n", "- a\n", "a\n", "Steps:\n- a\n")
    ),
    # -- comments: the command parser ----------------------------------------------
    Shape(
        "commands: `/codegen` + 65,000 spaces + `run`",
        lambda: parse_commands("/codegen" + " " * 65_000 + "run"),
        lambda commands: [c.verb for c in commands] == ["run"],
    ),
    Shape(
        "commands: `/codegen fix` then 30,000 instruction lines",
        lambda: parse_commands("/codegen fix a\n" + "b\n" * 30_000),
        lambda commands: len(commands) == 1 and commands[0].args.count("\n") == 30_000,
    ),
    Shape(
        "commands: a fence then 16,000 lines that look like fences",
        lambda: parse_commands("```\n" + "```x\n" * 16_000 + "```\n/codegen status"),
        lambda commands: [c.verb for c in commands] == ["status"],
    ),
    *(
        Shape(
            f"commands: 65,536 characters of {line!r} lines",
            lambda line=line: parse_commands(line * (BODY_MAX // len(line)) + "/codegen status"),
            lambda commands: [c.verb for c in commands] == ["status"],
        )
        for line in ("#\n", "> a\n", "\n")
    ),
    Shape(
        "commands: 16,000 unclosed HTML comments, quotes and headings",
        lambda: parse_commands("<!--" * 8000 + "\n" + "> #" * 8000 + "\n\n/codegen run"),
        lambda commands: commands == [],  # still inside the comment
    ),
    Shape(
        # fnmatch: a backtracking `re` per glob per path, ~4-7 s for this
        "ignore_paths: 1,000 globs `*a*a…*b*a` on 3,000 paths of 200 a's",
        lambda: list(
            map(
                Rules(ignore_paths=tuple("*a" * 40 + f"*b{i}*a" for i in range(1000))).ignored,
                ["a" * 200 + str(i) + "a" for i in range(3000)],
            )
        ),
        lambda ignored: not any(ignored),
    ),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.id for s in SHAPES])
def test_hostile_shape_is_fast_and_still_right(shape: Shape) -> None:
    seconds, result = cpu(shape.run)
    assert shape.check(result), shape.id
    assert seconds < CPU_SECONDS, f"{shape.id}: {seconds:.2f} s of CPU"


def test_shapes_are_as_large_as_github_allows() -> None:
    """The bodies are real worst cases: at most, and near, GitHub's 65,536 characters."""
    assert len("fix" + " " * 65_530 + "x") <= BODY_MAX
    assert len("<" + " " * 65_000 + "x</issue_description>") <= BODY_MAX
    assert len(_CI_LOG) == 360 and _CI_LOG.count("\\n") == 27
    assert len(_CSS) > 50 * MAX_LINE_CHARS


def test_a_3000_file_300000_line_pull_request_is_cheap() -> None:
    """GitHub lists at most 3,000 files; 100 added lines each. Before: 14 s of CPU."""
    files = [
        new_file(
            f"src/pkg{i % 30}/mod{i}.py",
            [f"    value_{j} = compute(key, token_count) + other  # note {j}" for j in range(100)],
        )
        for i in range(3000)
    ]
    files[1234] = new_file("src/creds.py", [f'API_TOKEN = "{GITHUB_TOKEN}"'] + ["x = 1"] * 99)
    seconds, (analysis, findings) = cpu(lambda: analyze(files))
    assert analysis.additions == 300_000
    assert ("src/creds.py", "security.github_token") in {(f.path, f.rule) for f in findings}
    assert seconds < 8, f"{seconds:.1f} s of CPU for 300,000 lines"


def test_files_without_a_patch_are_reported_as_not_scanned() -> None:
    """GitHub omits `patch` for binaries and for diffs too large to show."""
    files = [
        PullFile("assets/logo.png", "added", 0, 0, None),
        PullFile("data/dump.sql", "modified", 40_000, 0, None),
        PullFile("app/ok.py", "modified", 1, 0, "@@ -1 +1,2 @@\n x\n+y\n"),
        PullFile("app/moved.py", "renamed", 0, 0, None, previous_filename="app/old.py"),
    ]
    analysis, _ = analyze(files)
    assert analysis.not_scanned == (
        ("assets/logo.png", pr_scan._NO_PATCH),
        ("data/dump.sql", pr_scan._NO_PATCH),
    )
    summary = check_report.summary(
        "success",
        analysis={"not_scanned": [list(x) for x in analysis.not_scanned]},
        findings=[],
        ci=CiState(()),
        ci_note=None,
        criteria=[],
        head_sha="a" * 40,
        task_ref=None,
    )
    assert "**Not scanned:** 2 file(s)" in summary
    assert "`data/dump.sql`: no diff from GitHub (binary or too large)" in summary


def test_a_long_line_is_still_checked_for_credentials_and_never_shown() -> None:
    line = "var a=" + "1," * 5000 + f'b="{GITHUB_TOKEN}";'
    analysis, findings = analyze([new_file("web/bundle.min.js", [line])])
    (finding,) = [f for f in findings if f.rule == "security.github_token"]
    assert GITHUB_TOKEN not in finding.line_text and len(finding.line_text) < 100
    assert analysis.not_scanned == (("web/bundle.min.js", pr_scan._long_lines(1)),)


def test_hand_written_line_tests_agree_with_their_patterns() -> None:
    """The issue and command parsers test most lines by hand instead of calling
    RE2 (a call per line adds up): on every short line of these characters, the
    hand-written test must say what the pattern says."""
    alphabet = " \t#-*+1٣.):aBé_/&'\u2019\u00a0\u2028\x1c\x85>x[]"
    rng = random.Random(9)
    for _ in range(20_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        atx = issue_task._ATX.match(line)
        assert issue_task._atx(line) == ((len(atx[1] or atx[3]), atx[2] or "") if atx else None), (
            line
        )
        bullet = issue_task._BULLET.match(line)
        assert issue_task._bullet(line) == (
            (bullet["indent"], bullet["text"] or "") if bullet else None
        ), line
        label = issue_task._label_line().match(line)
        assert issue_task._label_text(line) == (label["text"] if label else None), line
        for hint in (line.strip(), f"1. {line}", f"a clear and concise description of{line}"):
            expected = issue_task._TEMPLATE_HINT.match(hint) is not None
            assert issue_task._template_hint(hint) == expected, hint
        assert commands._is_heading(line) == bool(commands._HEADING.match(line)), line
        assert (line.lstrip()[:1] == ">") == bool(commands._QUOTE.match(line)), line


def test_lines_dense_with_credential_names_are_cheap_and_reported() -> None:
    """Each `token=` / `password="..."` on a line is a candidate (~20 us of checks):
    300 lines of 4,000 characters of them took 3 s of CPU per file before."""
    dense = {
        "deploy/a.env": "token=a;" * 500,
        "deploy/b.yml": "a_token: x," * 363,
        "app/c.py": 'password="a" ' * 307,
    }
    files = [new_file(path, [line[:MAX_LINE_CHARS]] * 300) for path, line in dense.items()]
    files.append(new_file("deploy/d.env", [f"API_TOKEN={PASSWORD}x " + "token=a;" * 100]))
    seconds, (analysis, findings) = cpu(lambda: analyze(files))
    assert seconds < 4 * CPU_SECONDS, f"{seconds:.2f} s of CPU"
    assert ("deploy/d.env", "security.secret_assignment") in {(f.path, f.rule) for f in findings}
    reported = dict(analysis.not_scanned)
    assert set(reported) == {*dense, "deploy/d.env"}
    assert reported["deploy/a.env"] == pr_scan._dense_lines(300)
    assert reported["deploy/d.env"] == pr_scan._dense_lines(1)


def test_lines_full_of_sql_strings_are_cheap() -> None:
    """The SQL rule looks at each string literal of a line with SQL in it, and
    looked at the rest of the line around each one: 27 ms for one 4,000-character
    line of `"select"` strings, 4.4 s for 300 of them (two files of 150 here)."""
    lines = {
        "app/q.py": ('"select"' * 500)[:3980] + " from x where",
        "app/r.py": ('"select a from b where" ' * 200)[:MAX_LINE_CHARS],
    }
    files = [new_file(path, [line] * 150) for path, line in lines.items()]
    files.append(new_file("app/s.py", ['"x" ' * 10 + 'q = "SELECT * FROM t WHERE id = " + uid']))
    seconds, found = cpu(lambda: rules(files))
    assert seconds < CPU_SECONDS, f"{seconds:.2f} s of CPU"
    assert {path for path, rule in found if rule == "security.sql_format"} == {"app/s.py"}


def test_a_long_line_is_said_to_be_checked_for_tokens_only() -> None:
    """Past MAX_LINE_CHARS only tokens that name their issuer are looked for, not
    guessed credentials (`password = "..."`): "not scanned" must not say more."""
    line = "var a=" + "1," * 2500 + f'password="{PASSWORD}";'
    analysis, findings = analyze([new_file("web/bundle.min.js", [line])])
    assert [f for f in findings if f.category == "security"] == []
    [(_, why)] = analysis.not_scanned
    assert "tokens only" in why and "credentials only" not in why
