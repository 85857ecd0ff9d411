"""What each finding says, and the one way a finding is made (its line shown
redacted, or not at all when it is too long)."""

from __future__ import annotations

from app.validation.analysis.diff import MAX_LINE_CHARS
from app.validation.analysis.model import RULE_CATALOG, Finding
from app.validation.analysis.redaction import redacted_line


def finding(rule: str, path: str, line: int | None, message: str, text: str = "") -> Finding:
    """The finding of `rule` at `path`/`line`: its severity and title from the
    catalogue, its line shown redacted (or, when too long, only its length)."""
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
        line_text=redacted_line(text) if text else "",
    )


MESSAGES = {
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
