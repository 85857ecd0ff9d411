"""app.validation.analysis through `analyze`: detection rules, redaction and PR-level facts
(hunk numbering is in test_analysis_diff.py, ignore globs in test_analysis_rules.py).

Token-shaped test values are assembled at run time so this file itself holds no
string that a secret scanner (or this module) would flag.
"""

from __future__ import annotations

import dataclasses

import pytest

from app.validation.analysis.diff import added_lines
from app.validation.analysis.model import RULE_CATALOG, Finding, PullFile, size_class
from app.validation.analysis.paths import is_source_file, is_test_file
from app.validation.analysis.redaction import redact
from app.validation.analysis.rules import Rules
from app.validation.analysis.scan import analyze
from tests.support.analysis import MULTI_HUNK, new_file

GITHUB_TOKEN = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # 36 after the prefix
FINE_GRAINED = "github_" + "pat_" + "11ABCDEFG0" + "x1Y2z3_" * 8 + "abcdefgh12345678"  # 82
AWS_KEY = "AK" + "IA" + "Q3EGRT7PLMZX4W2K"
SLACK_TOKEN = "xo" + "xb-" + "123456789012-abcDEF123456"
GOOGLE_KEY = "AI" + "za" + "SyD3x7Kq9LmN0pQrStUvWxYz12345678_-a"
STRIPE_KEY = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PASSWORD = "Tr0ub4dor&3xyz"
PEM_BODY = "MIIEowIBAAKCAQEA7b3kQ9mZzLw"


def rules_of(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def findings_for(name: str, line: str) -> list[Finding]:
    _, findings = analyze([new_file(name, [line])], Rules(disabled=frozenset({"review"})))
    return findings


# --------------------------------------------------------------------------- files


def test_pull_file_from_api_defaults() -> None:
    f = PullFile.from_api({"filename": "a.py", "additions": None, "patch": None})
    assert f == PullFile("a.py", "modified", 0, 0, None, None)
    g = PullFile.from_api(
        {
            "filename": "b.py",
            "status": "renamed",
            "additions": 3,
            "deletions": "2",
            "changes": 5,
            "patch": "@@ -1 +1 @@\n-a\n+b",
            "previous_filename": "a.py",
        }
    )
    assert (g.status, g.additions, g.deletions, g.previous_filename) == ("renamed", 3, 2, "a.py")


# --------------------------------------------------------------------------- security

POSITIVE = [
    ("app/k.py", 'KEY = """-----BEGIN RSA PRIVATE KEY-----', "security.private_key"),
    ("keys/id", "-----BEGIN OPENSSH PRIVATE KEY-----", "security.private_key"),
    ("keys/pgp.asc", "-----BEGIN PGP PRIVATE KEY BLOCK-----", "security.private_key"),
    ("app/aws.py", f'aws_id = "{AWS_KEY}"', "security.aws_key"),
    (
        "app/gh.py",
        f"headers = {{'Authorization': 'token {GITHUB_TOKEN}'}}",
        "security.github_token",
    ),
    ("ci.yml", f"  pat: {FINE_GRAINED}", "security.github_token"),
    ("app/slack.js", f"const hook = '{SLACK_TOKEN}';", "security.slack_token"),
    ("web/maps.ts", f"const key = '{GOOGLE_KEY}';", "security.google_api_key"),
    ("app/pay.rb", f"Stripe.api_key = '{STRIPE_KEY}'", "security.stripe_key"),
    ("app/db.py", f'password = "{PASSWORD}"', "security.secret_assignment"),
    ("config/app.json", f'  "client_secret": "{PASSWORD}",', "security.secret_assignment"),
    ("main.go", f'apiKey := "{PASSWORD}"', "security.secret_assignment"),
    ("app/s.py", f'SECRET_KEY: str = "{PASSWORD}"', "security.secret_assignment"),
    ("app/e.py", "result = eval(user_input)", "security.eval"),
    ("app/e.py", "exec(code, {})", "security.eval"),
    ("web/e.js", "const f = new Function('a', body);", "security.eval"),
    ("app/sh.py", "subprocess.run(cmd, shell=True)", "security.shell_true"),
    ("app/p.py", "obj = pickle.loads(blob)", "security.unpickle"),
    ("app/p.py", "obj = dill.loads(blob)", "security.unpickle"),
    ("app/y.py", "cfg = yaml.load(fh)", "security.unpickle"),
    ("app/y.py", "cfg = yaml.load(fh, Loader=yaml.Loader)", "security.unpickle"),
    ("app/t.py", "requests.get(url, verify=False)", "security.tls_verify_off"),
    ("app/t.py", "ctx = ssl._create_unverified_context()", "security.tls_verify_off"),
    ("app/t.py", "ctx.verify_mode = ssl.CERT_NONE", "security.tls_verify_off"),
    (
        "web/t.js",
        "const agent = new https.Agent({ rejectUnauthorized: false });",
        "security.tls_verify_off",
    ),
    ("cmd/t.go", "cfg := &tls.Config{InsecureSkipVerify: true}", "security.tls_verify_off"),
    ("web/t.js", "process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';", "security.tls_verify_off"),
    ("app/q.py", 'cursor.execute(f"SELECT * FROM users WHERE id = {uid}")', "security.sql_format"),
    ("app/q.py", 'q = "SELECT * FROM users WHERE name = \'" + name + "\'"', "security.sql_format"),
    ("app/q.py", 'cursor.execute("DELETE FROM t WHERE id = %s" % uid)', "security.sql_format"),
    ("app/q.py", 'sql = "UPDATE t SET a = {}".format(x)', "security.sql_format"),
    ("web/q.ts", "db.query(`SELECT * FROM t WHERE id = ${id}`)", "security.sql_format"),
]


@pytest.mark.parametrize(("path", "line", "rule"), POSITIVE)
def test_security_rule_fires(path: str, line: str, rule: str) -> None:
    findings = findings_for(path, line)
    assert rules_of(findings) == [rule]
    (finding,) = findings
    assert finding.line == 1
    assert finding.severity == ("failure" if _credential(rule) else "warning")
    assert finding.category == "security"


def _credential(rule: str) -> bool:
    return rule in {
        "security.private_key",
        "security.aws_key",
        "security.github_token",
        "security.slack_token",
        "security.google_api_key",
        "security.stripe_key",
        "security.secret_assignment",
    }


def test_token_fixtures_have_the_real_shapes() -> None:
    assert len(FINE_GRAINED) == len("github_pat_") + 82
    assert len(GITHUB_TOKEN) == 4 + 36 and len(AWS_KEY) == 20 and len(GOOGLE_KEY) == 39


NEAR_MISSES = [
    ("app/k.py", "-----BEGIN PUBLIC KEY-----"),
    ("app/aws.py", 'aws_id = "AKIA1234"'),  # too short
    ("app/gh.py", 'prefix = "ghp_"'),
    ("app/db.py", 'password = os.environ["DB_PASSWORD"]'),
    ("app/db.py", 'password = os.getenv("DB_PASSWORD")'),
    ("app/db.py", "token = get_token()"),
    ("app/db.py", 'secret: str = ""'),
    ("app/db.py", "def login(password: str, token: str | None = None) -> bool:"),
    ("app/db.py", f'if password == "{PASSWORD}":'),
    ("app/db.py", 'password = "changeme"'),
    ("app/db.py", 'api_key = "<your-api-key>"'),
    ("app/db.py", 'token = "${GITHUB_TOKEN}"'),
    ("deploy.yml", 'password: "{{ vault_db_password }}"'),
    ("app/db.py", 'secret = "xxxxxxxxxxxx"'),
    ("app/db.py", 'password = "********"'),
    ("app/db.py", 'api_key = "your-api-key-here"'),
    ("app/db.py", 'token = "example-token-value"'),
    ("app/db.py", 'password = "short"'),
    ("app/db.py", 'token_url = "https://auth.example.invalid/oauth/token"'),
    ("app/db.py", 'tokenizer = "bert-base-uncased"'),
    ("app/db.py", 'password_env = "DB_PASSWORD"'),
    ("app/m.py", "model.eval()"),
    ("app/m.py", "value = ast.literal_eval(text)"),
    ("app/m.py", "def eval(self, x):"),
    ("app/m.py", "# never call eval(data) on input"),
    ("app/sh.py", "subprocess.run(cmd, shell=False)"),
    ("app/y.py", "cfg = yaml.safe_load(fh)"),
    ("app/y.py", "cfg = yaml.load(fh, Loader=yaml.SafeLoader)"),
    ("app/y.py", "cfg = json.loads(blob)"),
    ("app/t.py", "requests.get(url, verify=True)"),
    ("app/t.py", "ctx = ssl.create_default_context()"),
    ("app/q.py", 'cursor.execute("SELECT * FROM users WHERE id = %s", (uid,))'),
    ("web/q.js", "db.query('SELECT * FROM users WHERE id = $1', [id])"),
    ("app/q.py", 'db.execute("SELECT * FROM users WHERE id = ?", (uid,))'),
    ("app/q.py", 'msg = f"Please select a file from {folder}"'),
]


@pytest.mark.parametrize(("path", "line"), NEAR_MISSES)
def test_security_near_miss_is_silent(path: str, line: str) -> None:
    assert findings_for(path, line) == []


def test_only_added_lines_are_scanned() -> None:
    patch = (
        "@@ -1,3 +1,3 @@\n"
        f' password = "{PASSWORD}"\n'  # context: already in the repo, not this PR's doing
        "-result = eval(user_input)\n"  # removed
        "+result = int(user_input)\n"
        " subprocess.run(cmd, shell=True)\n"
    )
    _, findings = analyze([PullFile("app/x.py", "modified", 1, 1, patch)], Rules())
    assert [f for f in findings if f.category == "security"] == []


def test_private_key_on_exact_line_of_multi_hunk_patch() -> None:
    patch = (
        "@@ -1,2 +1,3 @@\n"
        " a: 1\n"  # 1
        "+b: 2\n"  # 2
        " c: 3\n"  # 3
        "@@ -30,3 +31,6 @@ keys:\n"
        "   d: 4\n"  # 31
        "+  key: |\n"  # 32
        "+    -----BEGIN EC PRIVATE KEY-----\n"  # 33
        f"+    {PEM_BODY}\n"  # 34
        "+    -----END EC PRIVATE KEY-----\n"  # 35
        "   e: 5\n"  # 36
    )
    _, findings = analyze([PullFile("deploy/values.yaml", "modified", 4, 0, patch)])
    (finding,) = [f for f in findings if f.rule == "security.private_key"]
    assert (finding.line, finding.severity) == (33, "failure")
    assert finding.line_text == "    -----BEGIN EC PRIVATE KEY-----"
    assert (33, finding.line_text) in added_lines(patch)


def test_credential_line_reports_one_rule_not_also_an_assignment() -> None:
    findings = findings_for("app/gh.py", f'GITHUB_TOKEN = "{GITHUB_TOKEN}"')
    assert rules_of(findings) == ["security.github_token"]


SECRETS = [GITHUB_TOKEN, FINE_GRAINED, AWS_KEY, SLACK_TOKEN, GOOGLE_KEY, STRIPE_KEY, PASSWORD]


def test_no_secret_value_appears_in_any_finding_field() -> None:
    lines = [
        f"token = '{GITHUB_TOKEN}'  # TODO rotate",
        f"pat = '{FINE_GRAINED}'",
        f"aws = ['{AWS_KEY}', '{SLACK_TOKEN}']",
        f"print('{GOOGLE_KEY}', '{STRIPE_KEY}')",
        f'db_password = "{PASSWORD}"; eval(x)',
        f'PRIVATE = "-----BEGIN RSA PRIVATE KEY-----\\n{PEM_BODY}\\n-----END RSA PRIVATE KEY-----"',
    ]
    files = [new_file("app/creds.py", lines), new_file(".env", [f"DB_PASSWORD={PASSWORD}"])]
    _, findings = analyze(files)
    assert {"security.github_token", "security.private_key", "security.env_file"} <= set(
        rules_of(findings)
    )
    assert any("[REDACTED]" in f.line_text for f in findings)
    for finding in findings:
        blob = repr(dataclasses.astuple(finding)) + finding.fingerprint
        for secret in [*SECRETS, PEM_BODY]:
            assert secret not in blob, (finding.rule, secret)


def test_redact_keeps_the_rest_of_the_line() -> None:
    assert redact(f'x = call(token="{GITHUB_TOKEN}")') == 'x = call(token="[REDACTED]")'
    assert redact("plain line") == "plain line"


def test_env_files() -> None:
    env = PullFile(
        "services/api/.env.production",
        "modified",
        2,
        0,
        "@@ -3,2 +3,4 @@\n A=1\n+B=2\n+C=3\n D=4\n",
    )
    _, findings = analyze([env])
    (finding,) = [f for f in findings if f.rule == "security.env_file"]
    assert (finding.line, finding.severity, finding.line_text) == (4, "failure", "")

    no_patch = PullFile(".env", "added", 0, 0, None)
    _, findings = analyze([no_patch])
    assert [(f.rule, f.line) for f in findings if f.category == "security"] == [
        ("security.env_file", None)
    ]

    for name in (".env.example", "app/.env.sample", ".env.template", ".env.dist", ".envrc"):
        _, findings = analyze([new_file(name, ["A=1"])])
        assert "security.env_file" not in rules_of(findings), name
    _, findings = analyze([PullFile(".env", "removed", 0, 3, "@@ -1,3 +0,0 @@\n-a\n-b\n-c")])
    assert findings == []


# --------------------------------------------------------------------------- review


@pytest.mark.parametrize(
    ("path", "line", "expected"),
    [
        ("app/service.py", "    print(result)", ["review.debug_print"]),
        ("tests/test_service.py", "    print(result)", []),
        ("scripts/migrate.py", "print('done')", []),
        ("app/__main__.py", "print('usage')", []),
        ("setup_tool.py", "print('root-level script')", []),
        ("app/service.py", "    self.print_report()", []),
        ("web/src/app.ts", "console.log(user);", ["review.debug_print"]),
        ("web/src/app.test.ts", "console.log(user);", []),
        ("web/src/app.js", "  debugger;", ["review.debug_print"]),
        ("app/service.py", "    breakpoint()", ["review.debug_print"]),
        ("tests/test_x.py", "    import pdb; pdb.set_trace()", ["review.debug_print"]),
        ("app/user.rb", "    binding.pry", ["review.debug_print"]),
        ("src/Ctl.php", "dd($request);", ["review.debug_print"]),
        ("src/Ctl.php", "var_dump($x);", ["review.debug_print"]),
        ("app/service.py", "x = 1  # TODO: handle retries", ["review.todo"]),
        ("web/a.ts", "// FIXME off by one", ["review.todo"]),
        ("app/service.py", "todo_list = []", []),
        ("app/service.py", 'label = "TODO"', []),
        ("README.md", "TODO: write docs", []),
    ],
)
def test_review_line_rules(path: str, line: str, expected: list[str]) -> None:
    _, findings = analyze([new_file(path, [line])], Rules(disabled=frozenset({"review.no_tests"})))
    assert rules_of(findings) == expected
    if expected:
        assert findings[0].severity == RULE_CATALOG[expected[0]][0]


def test_commented_out_code_block() -> None:
    lines = [
        "x = 1",  # 1
        "# def old(a):",  # 2
        "#     total = a + 1",  # 3  (does not look like code on its own...)
        "#     return total",  # 4
        "# if ready:",  # 5
        "y = 2",  # 6
        "# for item in items:",  # 7
        "#     handle(item)",  # 8
        "z = 3",  # 9
        "# The cache is cold on start.",  # 10
        "# It warms after the first call.",  # 11
        "# Nothing to do here.",  # 12
    ]
    _, findings = analyze(
        [new_file("app/m.py", lines)], Rules(disabled=frozenset({"review.no_tests"}))
    )
    commented = [f for f in findings if f.rule == "review.commented_code"]
    # 2..5 is broken by line 3, which is not code-like: 4,5 is only two lines -> nothing.
    assert commented == []

    lines[2] = "#     total = add(a, 1)"
    _, findings = analyze(
        [new_file("app/m.py", lines)], Rules(disabled=frozenset({"review.no_tests"}))
    )
    commented = [f for f in findings if f.rule == "review.commented_code"]
    assert [(f.line, f.severity) for f in commented] == [(2, "notice")]


def test_commented_code_needs_consecutive_new_lines() -> None:
    patch = (
        "@@ -1,3 +1,5 @@\n"
        "+// const a = 1;\n"  # 1
        "+// const b = 2;\n"  # 2
        " keep();\n"  # 3
        "+// const c = 3;\n"  # 4
        " keep();\n"  # 5
    )
    _, findings = analyze([PullFile("src/a.js", "modified", 3, 0, patch)], Rules())
    assert "review.commented_code" not in rules_of(findings)


def test_no_tests_logic() -> None:
    src = new_file("app/core.py", ["x = 1"])
    other = new_file("lib/util.go", ["package util"])
    analysis, findings = analyze([new_file("docs/guide.md", ["hi"]), src, other])
    assert analysis.source_changed and not analysis.tests_changed
    assert analysis.source_files == ("app/core.py", "lib/util.go")
    (nt,) = [f for f in findings if f.rule == "review.no_tests"]
    assert (nt.path, nt.line, nt.severity) == ("app/core.py", None, "warning")

    analysis, findings = analyze([src, new_file("tests/test_core.py", ["def test(): pass"])])
    assert analysis.tests_changed and analysis.test_files == ("tests/test_core.py",)
    assert "review.no_tests" not in rules_of(findings)

    analysis, findings = analyze([new_file("README.md", ["x"]), new_file("setup.cfg", ["x"])])
    assert not analysis.source_changed and findings == []

    removed = PullFile("app/old.py", "removed", 0, 10, "@@ -1,1 +0,0 @@\n-x")
    analysis, findings = analyze([removed])
    assert not analysis.source_changed and "review.no_tests" not in rules_of(findings)


@pytest.mark.parametrize(
    ("path", "test", "source"),
    [
        ("tests/test_a.py", True, False),
        ("pkg/a_test.go", True, False),
        ("web/src/__tests__/a.js", True, False),
        ("web/src/a.spec.tsx", True, False),
        ("web/src/a.test.js", True, False),
        ("src/test/java/FooTest.java", True, False),
        ("spec/models/user_spec.rb", True, False),
        ("app/test_utils.py", True, False),
        ("app/attest.py", False, True),
        ("src/latest/contest.ts", False, True),
        ("src/main.rs", False, True),
        ("README.md", False, False),
        ("config/settings.yaml", False, False),
    ],
)
def test_path_classification(path: str, test: bool, source: bool) -> None:
    assert (is_test_file(path), is_source_file(path)) == (test, source)


# --------------------------------------------------------------------------- analysis


def _counted(name: str, additions: int, deletions: int = 0) -> PullFile:
    return PullFile(name, "modified", additions, deletions, "@@ -1 +1 @@\n-a\n+b")


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        *[(0, "XS"), (9, "XS"), (10, "S"), (99, "S"), (100, "M")],
        *[(499, "M"), (500, "L"), (999, "L"), (1000, "XL"), (50_000, "XL")],
    ],
)
def test_size_class_boundaries(changed: int, expected: str) -> None:
    assert size_class(changed) == expected
    analysis, _ = analyze([_counted("a.txt", changed // 2, changed - changed // 2)])
    assert (analysis.additions + analysis.deletions, analysis.size_class) == (changed, expected)


def test_lockfile_rules() -> None:
    manifest = _counted("package.json", 1, 1)
    _, findings = analyze([manifest])
    (lock,) = [f for f in findings if f.rule == "analysis.lockfile"]
    assert (lock.path, lock.line, lock.severity) == ("package.json", None, "warning")

    analysis, findings = analyze([manifest, _counted("yarn.lock", 5)])
    assert analysis.manifests_without_lock == () and "analysis.lockfile" not in rules_of(findings)

    # a lock file in another directory does not count
    analysis, _ = analyze([manifest, _counted("web/package-lock.json", 5)])
    assert [m for m, _ in analysis.manifests_without_lock] == ["package.json"]
    assert "package-lock.json" in analysis.manifests_without_lock[0][1]
    analysis, _ = analyze([_counted("web/package.json", 1), _counted("web/package-lock.json", 5)])
    assert analysis.manifests_without_lock == ()

    for manifest_name, lock_name in [
        ("Gemfile", "Gemfile.lock"),
        ("svc/Cargo.toml", "svc/Cargo.lock"),
        ("go.mod", "go.sum"),
        ("composer.json", "composer.lock"),
        ("Pipfile", "Pipfile.lock"),
    ]:
        analysis, _ = analyze([_counted(manifest_name, 1)])
        assert [m for m, _ in analysis.manifests_without_lock] == [manifest_name]
        analysis, _ = analyze([_counted(manifest_name, 1), _counted(lock_name, 1)])
        assert analysis.manifests_without_lock == ()

    removed = PullFile("package.json", "removed", 0, 10, None)
    assert analyze([removed])[0].manifests_without_lock == ()


def test_pyproject_lockfile_only_when_dependencies_touched() -> None:
    version_bump = '@@ -1,3 +1,3 @@\n [project]\n name = "x"\n-version = "1.0"\n+version = "1.1"\n'
    deps_in_array = (
        "@@ -5,4 +5,5 @@\n dependencies = [\n"
        '     "aiohttp>=3.9",\n+    "requests>=2.31",\n ]\n [tool.ruff]\n'
    )
    # the hunk does not show its [tool.poetry.dependencies] header: the line's shape decides
    poetry_no_header = '@@ -12,2 +12,3 @@\n python = "^3.11"\n+httpx = "^0.27"\n click = "^8"\n'
    ruff_only = "@@ -20,2 +20,2 @@\n [tool.ruff]\n-line-length = 88\n+line-length = 100\n"
    cases = [
        (version_bump, False),
        (deps_in_array, True),
        (poetry_no_header, True),
        (ruff_only, False),
    ]
    for patch, flagged in cases:
        analysis, _ = analyze([PullFile("pyproject.toml", "modified", 1, 1, patch)])
        assert bool(analysis.manifests_without_lock) is flagged, patch
    analysis, _ = analyze([PullFile("pyproject.toml", "modified", 1, 1, None)])
    assert analysis.manifests_without_lock == ()  # no diff info: skip
    analysis, _ = analyze(
        [PullFile("pyproject.toml", "modified", 1, 0, deps_in_array), _counted("uv.lock", 9)]
    )
    assert analysis.manifests_without_lock == ()


def test_binary_detection() -> None:
    files = [
        PullFile("assets/logo.png", "added", 0, 0, None),
        PullFile("dist/tool", "added", 0, 0, None),  # no extension, no patch, no counts
        PullFile("lib/app.jar", "modified", 0, 0, None),
        PullFile("data/huge.csv", "added", 40_000, 0, None),  # too large for a patch, not binary
        PullFile("assets/old.gif", "removed", 0, 0, None),
        new_file("src/a.py", ["x = 1"]),
    ]
    analysis, findings = analyze(files, Rules(disabled=frozenset({"review"})))
    assert analysis.binary_files == ("assets/logo.png", "dist/tool", "lib/app.jar")
    binary = [(f.path, f.line, f.severity) for f in findings if f.rule == "analysis.binary"]
    assert binary == [
        ("assets/logo.png", None, "notice"),
        ("dist/tool", None, "notice"),
        ("lib/app.jar", None, "notice"),
    ]


def test_large_files_threshold_and_lockfile_exemption() -> None:
    rules = Rules(large_file_additions=100, disabled=frozenset({"review"}))
    files = [_counted("a.sql", 100), _counted("b.sql", 101), _counted("package-lock.json", 5000)]
    analysis, findings = analyze(files, rules)
    assert analysis.large_files == ("b.sql",)
    assert [(f.rule, f.path, f.severity) for f in findings] == [
        ("analysis.large_file", "b.sql", "warning")
    ]


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_survives_a_move_and_whitespace_but_not_rule_or_path() -> None:
    before = findings_for("app/t.py", "requests.get(url, verify=False)")[0]
    _, moved = analyze(
        [new_file("app/t.py", ["import requests", "", "requests.get(url,  verify=False)  "])],
        Rules(disabled=frozenset({"review"})),
    )
    (after,) = moved
    assert (before.line, after.line) == (1, 3)
    assert before.fingerprint == after.fingerprint
    assert len(before.fingerprint) == 64 and int(before.fingerprint, 16) >= 0

    elsewhere = findings_for("app/other.py", "requests.get(url, verify=False)")[0]
    assert elsewhere.fingerprint != before.fingerprint
    other_rule = dataclasses.replace(before, rule="security.eval")
    assert other_rule.fingerprint != before.fingerprint
    other_text = findings_for("app/t.py", "requests.post(url, verify=False)")[0]
    assert other_text.fingerprint != before.fingerprint


# --------------------------------------------------------------------------- switches


def test_ignore_paths_skips_findings_but_still_counts() -> None:
    files = [
        new_file("vendor/lib/x.py", ["eval(a)", f'password = "{PASSWORD}"']),
        new_file("app/y.py", ["eval(b)"]),
    ]
    analysis, findings = analyze(files, Rules(ignore_paths=("vendor/*",)))
    assert analysis.files_changed == 2 and analysis.additions == 3
    assert "vendor/lib/x.py" in analysis.source_files
    assert {f.path for f in findings} == {"app/y.py"}


def test_disabled_rule_ids_and_category_prefix() -> None:
    files = [new_file("app/y.py", ["eval(b)  # TODO remove", "print(b)"])]
    _, everything = analyze(files)
    assert set(rules_of(everything)) == {
        "security.eval",
        "review.todo",
        "review.debug_print",
        "review.no_tests",
    }
    _, findings = analyze(files, Rules(disabled=frozenset({"review"})))
    assert rules_of(findings) == ["security.eval"]
    _, findings = analyze(files, Rules(disabled=frozenset({"review.todo", "security.eval"})))
    assert set(rules_of(findings)) == {"review.debug_print", "review.no_tests"}
    _, findings = analyze(files, Rules(disabled=frozenset({"rev", "security.ev"})))
    assert len(findings) == 4  # only whole dotted components disable


def test_findings_sorted_by_severity_path_line() -> None:
    files = [
        new_file("z/a.py", ["x = 1", "eval(a)  # TODO"]),
        new_file("a/b.py", ["print(1)", f'token = "{PASSWORD}"']),
        PullFile("m/img.png", "added", 0, 0, None),
    ]
    _, findings = analyze(files)
    keyed = [(f.severity, f.path, f.line) for f in findings]
    assert keyed == [
        ("failure", "a/b.py", 2),
        ("warning", "a/b.py", 1),
        ("warning", "z/a.py", None),  # review.no_tests (first source file): file-level first
        ("warning", "z/a.py", 2),
        ("notice", "m/img.png", None),
        ("notice", "z/a.py", 2),
    ]


def test_max_findings_cap_keeps_failures() -> None:
    noisy = [f"eval(x{i})  # TODO {i}" for i in range(30)]
    files = [new_file("a/noise.py", noisy), new_file("z/creds.py", [f'token = "{PASSWORD}"'])]
    _, everything = analyze(files)
    assert len(everything) > 5
    _, findings = analyze(files, Rules(max_findings=5))
    assert len(findings) == 5
    assert findings[0].rule == "security.secret_assignment" and findings[0].path == "z/creds.py"
    assert [f.severity for f in findings[1:]] == ["warning"] * 4
    assert analyze(files, Rules(max_findings=0))[1] == []


def test_every_line_finding_targets_an_added_line_and_catalog_is_sane() -> None:
    files = [
        PullFile("app/x.py", "modified", 4, 1, MULTI_HUNK.replace("b = 2", "b = eval(s)")),
        new_file("app/creds.py", [f'password = "{PASSWORD}"', "print(1)", "# TODO"]),
    ]
    _, findings = analyze(files)
    assert findings
    by_path = {f.filename: dict(added_lines(f.patch)) for f in files}
    for finding in findings:
        if finding.line is not None:
            assert finding.line in by_path[finding.path]
            assert finding.line_text == redact(by_path[finding.path][finding.line])
    for rule, (severity, title) in RULE_CATALOG.items():
        assert severity in {"failure", "warning", "notice"}
        assert rule.split(".")[0] in {"security", "review", "analysis"}
        assert 0 < len(title) <= 60
