"""What the analysis reads and returns: a changed file as GitHub lists it, the
catalogue of rules with their severities, a finding, and the PR-level facts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


def _int(value: Any) -> int:
    """GitHub sends ints; anything else (None, junk) counts as 0 rather than crash."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class PullFile:
    """One entry of `GET /repos/{o}/{r}/pulls/{n}/files`."""

    filename: str
    status: str
    additions: int
    deletions: int
    patch: str | None
    previous_filename: str | None = None

    @classmethod
    def from_api(cls, entry: dict[str, Any]) -> PullFile:
        """Build from the API's JSON, tolerating missing or null keys."""
        patch = entry.get("patch")
        previous = entry.get("previous_filename")
        return cls(
            filename=str(entry.get("filename") or ""),
            status=str(entry.get("status") or "modified"),
            additions=_int(entry.get("additions")),
            deletions=_int(entry.get("deletions")),
            patch=patch if isinstance(patch, str) else None,
            previous_filename=previous if isinstance(previous, str) and previous else None,
        )


SEVERITIES = ("failure", "warning", "notice")  # GitHub's annotation_level, most severe first
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# rule id -> (severity, title). Titles stay <= 60 chars (check-run annotation titles).
RULE_CATALOG: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "security.private_key": ("failure", "Private key committed"),
        "security.aws_key": ("failure", "AWS access key id committed"),
        "security.github_token": ("failure", "GitHub token committed"),
        "security.slack_token": ("failure", "Slack token or webhook committed"),
        "security.google_api_key": ("failure", "Google API key committed"),
        "security.stripe_key": ("failure", "Stripe live key committed"),
        "security.jwt": ("failure", "JSON Web Token committed"),
        "security.secret_assignment": ("failure", "Hard-coded credential"),
        "security.url_credentials": ("failure", "Password in a URL"),
        "security.auth_header": ("failure", "Credential in an Authorization header"),
        "security.test_credential": ("notice", "Credential-like value in a test file"),
        "security.env_file": ("failure", "Environment file committed"),
        "security.eval": ("warning", "Dynamic code evaluation"),
        "security.shell_true": ("warning", "Subprocess with shell=True"),
        "security.unpickle": ("warning", "Unsafe deserialization"),
        "security.tls_verify_off": ("warning", "TLS certificate verification disabled"),
        "security.sql_format": ("warning", "SQL built by string formatting"),
        "review.todo": ("notice", "TODO/FIXME added"),
        "review.debug_print": ("warning", "Debug statement left in code"),
        "review.commented_code": ("notice", "Commented-out code"),
        "review.no_tests": ("warning", "Source changed without test changes"),
        "analysis.lockfile": ("warning", "Dependency manifest changed without lock file"),
        "analysis.binary": ("notice", "Binary file in pull request"),
        "analysis.large_file": ("warning", "Very large file change"),
    }
)


@dataclass(frozen=True)
class Finding:
    """One problem; `line` is a new-file line of an added line, or None (whole file)."""

    rule: str
    category: str
    severity: str
    title: str
    message: str
    path: str
    line: int | None
    line_text: str = ""

    @property
    def fingerprint(self) -> str:
        """sha256 of (rule, path, whitespace-normalised line_text), without the line number,
        so a finding that only moved (rebase, lines added above) keeps its identity."""
        normalised = " ".join(self.line_text.split())
        raw = "\x00".join((self.rule, self.path, normalised))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Analysis:
    """PR-level facts. size_class by additions+deletions over all files (ignored paths
    included): XS < 10 <= S < 100 <= M < 500 <= L < 1000 <= XL."""

    files_changed: int
    additions: int
    deletions: int
    size_class: str
    source_changed: bool
    tests_changed: bool
    source_files: tuple[str, ...]
    test_files: tuple[str, ...]
    manifests_without_lock: tuple[tuple[str, str], ...]
    binary_files: tuple[str, ...]
    large_files: tuple[str, ...]
    # (path, why) for files or lines the line rules did not read: no patch from
    # GitHub (binary, too large), or lines over MAX_LINE_CHARS (tokens only).
    not_scanned: tuple[tuple[str, str], ...] = ()


def size_class(changed_lines: int) -> str:
    """XS < 10, S < 100, M < 500, L < 1000, else XL (the PR size label)."""
    for limit, name in ((10, "XS"), (100, "S"), (500, "M"), (1000, "L")):
        if changed_lines < limit:
            return name
    return "XL"
