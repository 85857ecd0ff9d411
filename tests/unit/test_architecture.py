"""The layering the README and docs/ARCHITECTURE.md describe, checked on the source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_handler_imports_another_handler():
    for path in _sources("handlers"):
        if path.name == "__init__.py":
            continue
        assert not {n for n in _imports(path) if n.startswith("handlers")}, path.name


def test_app_never_imports_the_handlers():
    """Handlers sit above the services; only the composition root joins them."""
    for path in _sources("app"):
        if path.name == "service.py":
            continue
        assert not {n for n in _imports(path) if n.split(".")[0] == "handlers"}, path


def test_github_paths_are_built_only_in_the_github_adapter():
    pattern = re.compile(r"[\"']/(repos|app|installation|orgs|users)/")
    offenders = [
        str(p.relative_to(ROOT))
        for p in _sources("app", "handlers", "prompts")
        if "app/github" not in p.as_posix() and pattern.search(p.read_text())
    ]
    assert offenders == []


# A statement, not a word: `SELECT ... FROM x`, `UPDATE x SET`, `INSERT INTO x`,
# `DELETE FROM x` (upper case, as every query here is written), so prose and the
# scanner's own SQL-looking regex (`SELECT|INSERT`) do not count.
_SQL = re.compile(
    r"\bSELECT\s[\s\S]*?\bFROM\s+[\w(]|\bUPDATE\s+\w+\s+SET\b|\bINSERT\s+INTO\s+\w"
    r"|\bDELETE\s+FROM\s+\w"
)
# Infrastructure: the pool, advisory locks and the schema itself.
_SQL_INFRASTRUCTURE = {"app/db.py", "app/migrations.py"}


def _is_store(path: Path) -> bool:
    return path.name == "store.py" or path.name.endswith("_store.py")


def _sql_literals(path: Path) -> list[int]:
    """Lines of the string literals (f-string parts included) that hold SQL."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _SQL.search(node.value)
    ]


def test_the_sql_pattern_finds_statements_and_not_prose():
    for sql in (
        "SELECT id FROM tasks WHERE id = $1",
        "SELECT (SELECT count(*) FROM installations) AS n",
        "UPDATE repositories SET full_name = $2",
        "INSERT INTO jobs (kind) VALUES ($1)",
        "DELETE FROM commands WHERE key = $1",
    ):
        assert _SQL.search(sql), sql
    for text in (
        r"\b(?:SELECT|INSERT|UPDATE|DELETE)\b.*\b(?:FROM|INTO|SET|WHERE)\b",
        "select the PRs from the list",
        "Update the settings and insert a row.",
    ):
        assert not _SQL.search(text), text


def test_sql_lives_only_in_store_modules():
    found = {
        str(p.relative_to(ROOT)): lines
        for p in _sources("app", "handlers", "prompts")
        if not _is_store(p) and (lines := _sql_literals(p))
    }
    offenders = set(found) - _SQL_INFRASTRUCTURE
    assert offenders == set(), {name: found[name] for name in offenders}


# A credential's name or issuer's mark, inside something written as a regex.
_CREDENTIAL_MARK = re.compile(
    r"AKIA|ASIA|gh[pousr_\[]|github_pat|xox|xapp|hooks\\?\.slack|AIza|_live_|eyJ|PRIVATE KEY"
    r"|passw|secret|token|bearer|authorization",
    re.IGNORECASE,
)
_REGEX_SYNTAX = re.compile(r"\(\?[:P<=!i]|\[[^\]]*\][{*+?]|\\[bdsw]|\{\d+,\d*\}")
_SECRET_SHAPES = "app/text/secret_shapes.py"


def _credential_patterns(path: Path) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _CREDENTIAL_MARK.search(node.value)
        and _REGEX_SYNTAX.search(node.value)
    ]


def test_credential_shapes_are_one_list():
    """What the PR scanner reports, the log redactor hides: both read
    app/text/secret_shapes.py, and no other module keeps a pattern of its own."""
    found = {
        str(p.relative_to(ROOT)): lines
        for p in _sources("app", "handlers", "prompts")
        if (lines := _credential_patterns(p))
    }
    assert set(found) == {_SECRET_SHAPES}, found
    for reader in ("app/observability/logs.py", "app/validation/analysis/credentials.py"):
        assert "app.text.secret_shapes" in _imports(ROOT / reader), reader
