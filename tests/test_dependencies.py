"""The lower bounds in pyproject.toml provide what the code uses: an install at
the oldest version allowed must not fail at import."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# tenacity names added after 8.0, with the release that added each (its changelog).
TENACITY_ADDED = {
    "retry_if_exception_cause_type": (8, 2),
    "wait_exponential_jitter": (8, 2),
    "stop_before_delay": (8, 3),
}


def _imported_from(module: str) -> set[str]:
    names: set[str] = set()
    for path in [
        *ROOT.glob("app/**/*.py"),
        *ROOT.glob("handlers/*.py"),
        *ROOT.glob("prompts/*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == module:
                names.update(alias.name for alias in node.names)
    return names


def _floor(package: str) -> tuple[int, ...]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [spec] = [d for d in project["dependencies"] if re.match(rf"{package}\b", d)]
    match = re.search(r">=\s*([\d.]+)", spec)
    assert match, f"{spec!r} has no lower bound"
    return tuple(int(part) for part in match.group(1).split("."))


def test_the_tenacity_floor_has_every_name_the_code_imports():
    used = _imported_from("tenacity")
    assert used, "the code imports from tenacity"
    floor = _floor("tenacity")
    for name in sorted(used & TENACITY_ADDED.keys()):
        assert floor >= TENACITY_ADDED[name], (
            f"tenacity.{name} needs {TENACITY_ADDED[name]}; pyproject allows {floor}"
        )
