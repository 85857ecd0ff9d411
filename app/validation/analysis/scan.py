"""`analyze`: a pull request's files in, its facts and sorted findings out."""

from __future__ import annotations

import dataclasses
import posixpath

from app.validation.analysis.credentials import MAX_LINE_GUESSES
from app.validation.analysis.diff import MAX_LINE_CHARS, added_lines
from app.validation.analysis.line_rules import scan_lines
from app.validation.analysis.manifests import LOCK_FILES, missing_locks
from app.validation.analysis.messages import finding
from app.validation.analysis.model import SEVERITY_RANK, Analysis, Finding, PullFile, size_class
from app.validation.analysis.paths import is_binary, is_env_file, is_source_file, is_test_file
from app.validation.analysis.rules import DEFAULT_RULES, Rules

_NO_PATCH = "no diff from GitHub (binary or too large): not scanned"


def _long_lines(count: int) -> str:
    plural = "s" if count != 1 else ""
    return f"{count} added line{plural} over {MAX_LINE_CHARS:,} characters: checked for tokens only"


def _dense_lines(count: int) -> str:
    plural = "s" if count != 1 else ""
    return (
        f"{count} added line{plural} with over {MAX_LINE_GUESSES} credential-like names: "
        "the rest of each checked for tokens only"
    )


def analyze(files: list[PullFile], rules: Rules = DEFAULT_RULES) -> tuple[Analysis, list[Finding]]:
    """Analyse a PR's files; findings sorted by severity (failure, warning, notice), then
    path, then line (file-level first), capped at rules.max_findings.

    Files matching rules.ignore_paths count in the Analysis but yield no findings.
    """
    additions = sum(f.additions for f in files)
    deletions = sum(f.deletions for f in files)
    present = [f for f in files if f.status != "removed"]
    source = [f.filename for f in present if is_source_file(f.filename)]
    tests = [f.filename for f in present if is_test_file(f.filename)]
    binary = [f.filename for f in files if is_binary(f)]
    large = [
        f.filename
        for f in present
        if f.additions > rules.large_file_additions
        and posixpath.basename(f.filename) not in LOCK_FILES
    ]
    missing = missing_locks(files)
    analysis = Analysis(
        files_changed=len(files),
        additions=additions,
        deletions=deletions,
        size_class=size_class(additions + deletions),
        source_changed=bool(source),
        tests_changed=bool(tests),
        source_files=tuple(source),
        test_files=tuple(tests),
        manifests_without_lock=tuple(missing),
        binary_files=tuple(binary),
        large_files=tuple(large),
    )

    findings: list[Finding] = []
    not_scanned: list[tuple[str, str]] = []
    for f in files:
        if rules.ignored(f.filename) or f.status in ("removed", "unchanged"):
            continue
        moved_only = f.status in ("renamed", "copied") and f.additions == f.deletions == 0
        if f.patch is None and not moved_only:
            not_scanned.append((f.filename, _NO_PATCH))
        lines, skipped, dense = scan_lines(f)
        findings += lines
        if skipped:
            not_scanned.append((f.filename, _long_lines(skipped)))
        if dense:
            not_scanned.append((f.filename, _dense_lines(dense)))
        if is_env_file(f.filename):
            lines = added_lines(f.patch)
            msg = (
                f"`{posixpath.basename(f.filename)}` holds environment secrets and should not "
                "be committed. Remove it, add it to .gitignore and commit a .env.example."
            )
            line = lines[0][0] if lines else None  # inline-commentable when possible
            findings.append(finding("security.env_file", f.filename, line, msg))
    for path in binary:
        if not rules.ignored(path):
            msg = "Binary content cannot be reviewed in the diff. Confirm it belongs in git."
            findings.append(finding("analysis.binary", path, None, msg))
    for path in large:
        if not rules.ignored(path):
            msg = (
                f"This file adds more than {rules.large_file_additions} lines. Split the "
                "change or mark generated files so reviewers can skip them."
            )
            findings.append(finding("analysis.large_file", path, None, msg))
    for manifest, locks in missing:
        if not rules.ignored(manifest):
            directory = posixpath.dirname(manifest) or "the repository root"
            msg = (
                f"{posixpath.basename(manifest)} changed but no lock file ({locks}) in "
                f"{directory} did. Regenerate and commit the lock file."
            )
            findings.append(finding("analysis.lockfile", manifest, None, msg))
    scanned_source = [p for p in source if not rules.ignored(p)]
    if scanned_source and not tests:
        msg = (
            f"{len(scanned_source)} source file(s) changed but no test file did. Add or update "
            "tests that cover the change."
        )
        findings.append(finding("review.no_tests", scanned_source[0], None, msg))

    analysis = dataclasses.replace(analysis, not_scanned=tuple(not_scanned))
    findings = [x for x in findings if rules.enabled(x.rule)]
    findings.sort(
        key=lambda x: (SEVERITY_RANK[x.severity], x.path, x.line or 0, x.rule, x.line_text)
    )
    return analysis, findings[: max(0, rules.max_findings)]
