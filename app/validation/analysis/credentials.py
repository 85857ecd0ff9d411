"""Credentials on added lines: tokens that name their issuer anywhere, and
guessed ones (URL passwords, Authorization headers, assignments) where a
literal can be one."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from app.text import secret_shapes
from app.validation.analysis.messages import MESSAGES, finding
from app.validation.analysis.model import Finding
from app.validation.analysis.paths import extension, is_test_file

# Files whose values are literals even unquoted (`POSTGRES_PASSWORD=...`, `password: x`);
# in code an unquoted value is a variable.
_CONFIG_EXTS = frozenset(
    "env yml yaml ini cfg conf cnf properties toml sh bash zsh tfvars npmrc pypirc".split()
)
_CONFIG_NAMES = frozenset({"Dockerfile", ".npmrc", ".pypirc", ".netrc", ".pgpass", ".envrc"})
# Translations: `"password": "Passwort"` is a label, not a credential.
_LOCALE_DIRS = frozenset("locale locales i18n l10n lang langs translations".split())
_LOCALE_EXTS = frozenset("po pot xlf xliff strings resx arb ftl".split())
_FIXTURE_DIRS = frozenset("fixtures fixture testdata test_data __fixtures__ mocks".split())


def _unquoted_values(path: str) -> bool:
    base = posixpath.basename(path)
    return extension(path) in _CONFIG_EXTS or base in _CONFIG_NAMES or base.startswith(".env")


def _is_locale_file(path: str) -> bool:
    parts = path.lower().split("/")
    return extension(path) in _LOCALE_EXTS or any(p in _LOCALE_DIRS for p in parts[:-1])


def _is_fixture(path: str) -> bool:
    return is_test_file(path) or any(p in _FIXTURE_DIRS for p in path.lower().split("/")[:-1])


_GUESS_ORDER = (secret_shapes.URL_CREDENTIALS, secret_shapes.AUTH_HEADER, secret_shapes.ASSIGNMENT)


@dataclass(frozen=True)
class CredentialScan:
    """How one file's lines are scanned for credentials (see credential_findings)."""

    path: str
    unquoted: bool
    guesses: bool
    fixture: bool

    @classmethod
    def of(cls, path: str) -> CredentialScan:
        return cls(path, _unquoted_values(path), not _is_locale_file(path), _is_fixture(path))


#: Credential-like names (`token=`, `password:`) looked at per line: each costs
#: ~20 us, and a line of 4,000 `token=a;` has 500. The rest of a denser line is
#: reported as not scanned for guessed credentials (tokens are still found).
MAX_LINE_GUESSES = 16


def credential_findings(
    text: str, no: int, scan: CredentialScan, *, long_line: bool, dense: list[int]
) -> list[Finding]:
    """Each token kind on the line; else the first guessed kind (URL, header,
    assignment). Guesses are notices in tests and fixtures, and not looked for in
    translations or over-long lines; a placeholder token (`AKIA...EXAMPLE`) is no finding."""
    path = scan.path
    guesses = scan.guesses and not long_line
    found = secret_shapes.find(
        text, unquoted=scan.unquoted, guesses=guesses, max_guesses=MAX_LINE_GUESSES
    )
    if any(s.kind == secret_shapes.DENSE for s in found):
        dense[0] += 1
    tokens = [s.kind for s in found if s.kind in secret_shapes.TOKEN_KINDS and not s.placeholder]
    if tokens:
        rules = [f"security.{kind}" for kind in dict.fromkeys(tokens)]
        return [finding(rule, path, no, MESSAGES[rule], text) for rule in rules]
    guessed = {s.kind: s for s in found if s.kind in secret_shapes.GUESSED_KINDS}
    kind = next((k for k in _GUESS_ORDER if k in guessed), None)
    if kind is None:
        return []
    if scan.fixture:
        rule = "security.test_credential"
        return [finding(rule, path, no, MESSAGES[rule], text)]
    if kind == secret_shapes.ASSIGNMENT:
        msg = (
            f"`{guessed[kind].name[:100]}` is assigned a hard-coded credential. Remove "
            "it, rotate it and read it from the environment or a secret store."
        )
        return [finding("security.secret_assignment", path, no, msg, text)]
    rule = f"security.{kind}"
    return [finding(rule, path, no, MESSAGES[rule], text)]
