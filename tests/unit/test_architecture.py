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
