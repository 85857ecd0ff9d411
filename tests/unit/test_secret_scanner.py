"""The secret scanner and log redaction share one list of shapes (app/secret_shapes.py).

Every true case must be found by the PR scanner with the expected rule, never shown
in a finding, and scrubbed from logs; every false case must stay silent. Values
shaped like real tokens are assembled at run time so this file holds none.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from app.commands.replies import Location
from app.observability.logs import redactor, setup_logging
from app.validation.analysis.model import PullFile
from app.validation.analysis.redaction import redact
from app.validation.analysis.scan import analyze
from app.validation.ci import Check
from prompts.followups import ci_fix_prompt, fix_instructions

GITHUB_TOKEN = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
INSTALLATION_TOKEN = "gh" + "s_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
FINE_GRAINED = "github_" + "pat_" + "11ABCDEFG0" + "x1Y2z3_" * 8 + "abcdefgh12345678"
AWS_KEY = "AK" + "IA" + "Q3EGRT7PLMZX4W2K"
AWS_TEMP_KEY = "AS" + "IA" + "Y7HJ2KLQ9MNB3VCX"
SLACK_TOKEN = "xo" + "xb-" + "123456789012-abcDEF123456"
SLACK_APP_TOKEN = "xa" + "pp-1-" + "A0123ABCDEF-1234567890-abcdef0123456789"
SLACK_HOOK = "T0123ABCD/B0123ABCD/" + "abcdefGHIJKL1234567890ab"
GOOGLE_KEY = "AI" + "za" + "SyD3x7Kq9LmN0pQrStUvWxYz12345678_-a"
STRIPE_KEY = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_RESTRICTED = "rk" + "_live_" + "51Hq8LyjWDarjtT1zdp7dcQz"
JWT = "ey" + "JhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N"
PASSWORD = "Tr0ub4dor&3xyz"
PYPI_TOKEN = "pypi-" + "AgEIcHlwaS5vcmcCJGE4ZjQ3"
PEM_BODY = "MIIEowIBAAKCAQEA7b3kQ9mZzLw"

# (path, added line, rule, the secret that must never be shown)
TRUE_CASES = [
    (
        "app/k.py",
        f'KEY = "-----BEGIN RSA PRIVATE KEY-----\\n{PEM_BODY}\\n-----END RSA PRIVATE KEY-----"',
        "private_key",
        PEM_BODY,
    ),
    (
        "deploy/values.yaml",
        f"  key: -----BEGIN OPENSSH PRIVATE KEY----- {PEM_BODY}",
        "private_key",
        PEM_BODY,
    ),
    ("app/aws.py", f'aws_id = "{AWS_KEY}"', "aws_key", AWS_KEY),
    ("app/aws.py", f"session = Session('{AWS_TEMP_KEY}', key, tok)", "aws_key", AWS_TEMP_KEY),
    (
        "app/gh.py",
        f"headers = {{'Authorization': 'token {GITHUB_TOKEN}'}}",
        "github_token",
        GITHUB_TOKEN,
    ),
    ("ci/deploy.yml", f"  token: {INSTALLATION_TOKEN}", "github_token", INSTALLATION_TOKEN),
    ("ci.yml", f"  pat: {FINE_GRAINED}", "github_token", FINE_GRAINED),
    ("app/slack.js", f"const bot = '{SLACK_TOKEN}';", "slack_token", SLACK_TOKEN),
    ("app/slack.py", f'APP_TOKEN = "{SLACK_APP_TOKEN}"', "slack_token", SLACK_APP_TOKEN),
    (
        "app/notify.py",
        f'hook = "https://hooks.slack.com/services/{SLACK_HOOK}"',
        "slack_token",
        SLACK_HOOK,
    ),
    ("web/maps.ts", f"const key = '{GOOGLE_KEY}';", "google_api_key", GOOGLE_KEY),
    ("app/pay.rb", f"Stripe.api_key = '{STRIPE_KEY}'", "stripe_key", STRIPE_KEY),
    ("app/pay.py", f'stripe.api_key = "{STRIPE_RESTRICTED}"', "stripe_key", STRIPE_RESTRICTED),
    ("app/auth.py", f'SESSION = "{JWT}"', "jwt", JWT),
    ("app/db.py", f'password = "{PASSWORD}"', "secret_assignment", PASSWORD),
    ("config/app.json", f'  "client_secret": "{PASSWORD}",', "secret_assignment", PASSWORD),
    ("main.go", f'apiKey := "{PASSWORD}"', "secret_assignment", PASSWORD),
    ("app/s.py", f'SECRET_KEY: str = "{PASSWORD}"', "secret_assignment", PASSWORD),
    ("web/api.ts", 'const token = "Xy7pQ2rT9wKz3LmN";', "secret_assignment", "Xy7pQ2rT9wKz3LmN"),
    (
        "app/cfg.py",
        'aws_secret_access_key = "q8Vz3Lw7Nf2Rk5Tp9Xc1Hs6Jd4Gb0Ma8Ye3Uo7"',
        "secret_assignment",
        "q8Vz3Lw7Nf2Rk5Tp9Xc1Hs6Jd4Gb0Ma8Ye3Uo7",
    ),
    (".env.production", "POSTGRES_PASSWORD=s3cr3tP4ss99", "secret_assignment", "s3cr3tP4ss99"),
    (
        "docker-compose.yml",
        "      POSTGRES_PASSWORD: s3cr3tP4ss99",
        "secret_assignment",
        "s3cr3tP4ss99",
    ),
    (
        "config/settings.ini",
        "db_password = hunter2hunter2x",
        "secret_assignment",
        "hunter2hunter2x",
    ),
    ("deploy/values.yaml", "  apiKey: 9f8e7d6c5b4a3210", "secret_assignment", "9f8e7d6c5b4a3210"),
    ("deploy/secret.yaml", "  password: cGFzc3dvcmQxMjM=", "secret_assignment", "cGFzc3dvcmQxMjM="),
    ("scripts/deploy.sh", "export API_TOKEN=Xy7pQ2rT9wKz", "secret_assignment", "Xy7pQ2rT9wKz"),
    (
        ".npmrc",
        "//registry.npmjs.org/:_authToken=npm_Ab12Cd34Ef56Gh78",
        "secret_assignment",
        "npm_Ab12Cd34Ef56Gh78",
    ),
    ("app/db.py", 'DATABASE_URL = "postgres://admin:pw@host/db"', "url_credentials", ":pw@"),
    (
        "ci/publish.sh",
        f"twine upload --repository-url https://__token__:{PYPI_TOKEN}@upload.pypi.org/ d/*",
        "url_credentials",
        PYPI_TOKEN,
    ),
    ("app/cache.py", 'REDIS = "redis://:Zx9vB7nM5q@cache:6379/0"', "url_credentials", "Zx9vB7nM5q"),
    (
        "app/gh.py",
        'headers = {"Authorization": "Bearer abcDEF123456ghiJKL789"}',
        "auth_header",
        "abcDEF123456ghiJKL789",
    ),
    (
        "scripts/call.sh",
        'curl -H "Authorization: Basic dXNlcjpwYXNzd29yZA==" https://api.invalid',
        "auth_header",
        "dXNlcjpwYXNzd29yZA==",
    ),
    # One word for the name: libpq's PGPASSWORD, MYSQLPASSWORD, ...
    ("scripts/psql.sh", "export PGPASSWORD=Xy7pQ2rT9wKz", "secret_assignment", "Xy7pQ2rT9wKz"),
    ("deploy/app.env", "MYSQLPASSWORD=Xy7pQ2rT9wKz", "secret_assignment", "Xy7pQ2rT9wKz"),
    # A value with `&`, `;`, `#` or brackets: hidden whole, not cut at the first one.
    (".env", "POSTGRES_PASSWORD=Tr0ub4dor&3xyz", "secret_assignment", "&3xyz"),
    ("deploy/db.env", "DB_PASSWORD=pa;ss(wo)rd#99", "secret_assignment", "ss(wo)rd#99"),
    # A test fixture is reported, as a notice: see test_fixture_credentials_do_not_block.
    (
        "tests/test_login.py",
        'password = "correct-horse-battery"',
        "test_credential",
        "correct-horse-battery",
    ),
]

# (path, added line): nothing security-related may be reported
FALSE_CASES = [
    ("app/db.py", 'password = os.environ["DB_PASSWORD"]'),
    ("app/db.py", "password = get_password()"),
    ("app/models.py", "password: Optional[str] = None"),
    ("app/db.py", 'grant_type = "refresh_token"'),
    ("app/oidc.py", 'token_endpoint_auth_method = "client_secret_basic"'),
    ("config/oidc.yml", "token_endpoint_auth_method: client_secret_basic"),
    ("locales/fr.json", '  "password": "Mot de passe",'),
    ("locales/de.json", '  "password": "Passwort",'),
    ("web/labels.ts", '  password: "Kennwort",'),
    ("app/i18n/messages.py", '    "secret_question": "Geheimfrage1",'),
    ("app/db.py", 'DATABASE_URL = "postgres://user:${DB_PASSWORD}@db/app"'),
    ("app/db.py", 'DSN = "postgresql://postgres:postgres@localhost/test"'),
    ("docs/setup.yml", "url: https://user:hunter2@example.com/x"),
    ("docker-compose.yml", "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}"),
    (".github/workflows/ci.yml", "          token: ${{ secrets.GITHUB_TOKEN }}"),
    ("config/app.yml", "password_file: /run/secrets/db_password"),
    ("config/app.yml", "max_tokens: 4096"),
    ("app/aws.py", 'AWS_KEY = "AKIA' + 'IOSFODNN7EXAMPLE"'),  # AWS's documented example
    (
        "app/notify.py",
        'hook = "https://hooks.slack.com/services/T00000000/B00000000/' + "X" * 24 + '"',
    ),
    ("app/gh.py", 'headers = {"Authorization": f"Bearer {token}"}'),
    ("scripts/call.sh", 'curl -H "Authorization: Bearer $GITHUB_TOKEN" https://api.github.com'),
    ("app/t.py", 'tokenizer = "bert-base-uncased"'),
    ("README.md", "Set `POSTGRES_PASSWORD=yourpassword` in `.env`."),
    ("app/api.py", 'next_page = "Xy7pQ2rT9wKz"'),
    ("config/app.yml", "passwords: enabled-for-everyone"),
]


def findings_for(path: str, line: str) -> list:
    patch = f"@@ -0,0 +1 @@\n+{line}\n"
    _, findings = analyze([PullFile(path, "added", 1, 0, patch)])
    return [f for f in findings if f.category == "security"]


def test_the_table_is_large_enough() -> None:
    assert len(TRUE_CASES) >= 30 and len(FALSE_CASES) >= 15


@pytest.mark.parametrize(("path", "line", "rule", "secret"), TRUE_CASES)
def test_scanner_finds_the_credential_and_never_shows_it(
    path: str, line: str, rule: str, secret: str
) -> None:
    findings = findings_for(path, line)
    assert f"security.{rule}" in {f.rule for f in findings}
    for finding in findings:
        blob = repr(dataclasses.astuple(finding)) + finding.fingerprint
        assert secret not in blob, finding


@pytest.mark.parametrize(("path", "line", "rule", "secret"), TRUE_CASES)
def test_log_redaction_hides_the_same_credentials(
    path: str, line: str, rule: str, secret: str
) -> None:
    scrubbed = redactor.scrub(f"deploy step failed: {line}")
    assert secret not in scrubbed
    assert scrubbed.startswith("deploy step failed: ") and "[redacted]" in scrubbed
    assert secret not in redact(line)  # CI output and review hunks sent to the agent


@pytest.mark.parametrize(("path", "line"), FALSE_CASES)
def test_scanner_stays_silent(path: str, line: str) -> None:
    assert findings_for(path, line) == []


def test_fixture_credentials_do_not_block() -> None:
    """A password in a test is almost always a fixture: a notice, not a failure.

    Tokens whose shape names their issuer still block in tests: a live one is
    indistinguishable from a fake, and a leaked live one is an incident."""
    (fixture,) = findings_for("tests/test_login.py", 'password = "correct-horse-battery"')
    assert (fixture.rule, fixture.severity) == ("security.test_credential", "notice")
    (fixture,) = findings_for("spec/fixtures/users.yml", "password: correct-horse-battery")
    assert fixture.severity == "notice"
    (token,) = findings_for("tests/test_api.py", f'TOKEN = "{GITHUB_TOKEN}"')
    assert (token.rule, token.severity) == ("security.github_token", "failure")


def test_a_log_record_goes_through_the_same_list(capsys: pytest.CaptureFixture[str]) -> None:
    """The handler's formatter, not only the redactor: a JSON log line from a CI step."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    setup_logging("INFO", "text", [])
    try:
        logging.getLogger("test").warning(
            "env: POSTGRES_PASSWORD=s3cr3tP4ss99 url=redis://:Zx9vB7nM5q@cache hook=%s",
            f"https://hooks.slack.com/services/{SLACK_HOOK}",
        )
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    err = capsys.readouterr().err
    assert "POSTGRES_PASSWORD=[redacted]" in err
    for secret in ("s3cr3tP4ss99", "Zx9vB7nM5q", SLACK_HOOK):
        assert secret not in err


@pytest.mark.parametrize(("path", "line", "rule", "secret"), TRUE_CASES)
def test_json_log_lines_hide_the_same_credentials(
    path: str, line: str, rule: str, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """LOG_FORMAT=json escapes quotes and newlines (`\\"`, `\\n`): the shapes must
    still be found, so the record is scrubbed before it is encoded."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    setup_logging("INFO", "json", [])
    try:
        logging.getLogger("test").warning("deploy step failed: %s", line)
        try:
            raise RuntimeError(f"step output: {line}")
        except RuntimeError:
            logging.getLogger("test").exception("and then")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    err = capsys.readouterr().err
    records = [json.loads(text) for text in err.splitlines()]
    assert [r["level"] for r in records] == ["warning", "error"]
    assert records[0]["message"].startswith("deploy step failed: ")
    assert "[redacted]" in records[0]["message"] and "[redacted]" in records[1]["exception"]
    assert secret not in err and secret not in json.dumps(records)


PEM_LINES = [
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "-----END RSA PRIVATE KEY-----",
]


def test_a_private_key_over_several_lines_never_reaches_the_agent() -> None:
    """A key printed by a CI step, or added in the diff a `/codegen fix` points at,
    spans lines: its body lines alone look like nothing, so they must be judged
    with the armour around them."""
    body = PEM_LINES[1:3]
    log = "\n".join(["Run ./deploy.sh", "loaded key:", *PEM_LINES, "error: exit 1"])
    prompt = ci_fix_prompt(
        [Check("deploy", "check_run", "failed", "failure", None, log)], "a" * 40, 1, 3
    )
    hunk = "@@ -0,0 +1,4 @@\n" + "\n".join(f"+{line}" for line in PEM_LINES)
    asked = fix_instructions("rae", 7, True, "drop it", Location("k.pem", 4, None, hunk))
    for text in (prompt, asked):
        assert "-----BEGIN RSA PRIVATE KEY-----" in text and "[REDACTED]" in text
        assert not any(line in text for line in body), text
    cut = ci_fix_prompt(  # the END line fell past the output kept
        [Check("deploy", "check_run", "failed", "failure", None, "\n".join(PEM_LINES[:3]))],
        "a" * 40,
        1,
        3,
    )
    assert not any(line in cut for line in body), cut
