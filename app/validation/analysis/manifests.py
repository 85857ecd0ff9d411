"""Dependency manifests and their lock files: a manifest whose dependencies
changed without its lock file."""

from __future__ import annotations

import posixpath

from app.text import linear_re
from app.validation.analysis.diff import diff_lines
from app.validation.analysis.model import PullFile

# manifest basename -> acceptable lock files in the same directory
_MANIFESTS: dict[str, tuple[str, ...]] = {
    "package.json": ("package-lock.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb"),
    "pyproject.toml": ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock"),
    "Pipfile": ("Pipfile.lock",),
    "Gemfile": ("Gemfile.lock",),
    "Cargo.toml": ("Cargo.lock",),
    "go.mod": ("go.sum",),
    "composer.json": ("composer.lock",),
}
LOCK_FILES = frozenset(
    {lock for locks in _MANIFESTS.values() for lock in locks} | {"npm-shrinkwrap.json"}
)


_TOML_HEADER = linear_re.compile(r"^\s*\[\[?([^\]]+)\]\]?\s*(?:#.*)?$")
_DEPS_ARRAY = linear_re.compile(r"^\s*[\"']?[\w.-]*dependencies[\"']?\s*=\s*\[")
_REQUIREMENT = linear_re.compile(r"^\s*[\"'][A-Za-z0-9][\w.-]*(?:\[[^\]]*\])?\s*(?:[<>=!~]=?|@)")
_POETRY_DEP = linear_re.compile(
    r"^\s*([A-Za-z0-9][\w.-]*)\s*=\s*(?:[\"'][\^~<>=!*]*\d|\{.*version)"
)


def _pyproject_touches_dependencies(patch: str | None) -> bool:
    """True when a changed line of pyproject.toml is (probably) a dependency.

    Hunks seldom include their TOML table header, so besides tracking headers and
    `dependencies = [` arrays seen in the hunk, a changed line that looks like a
    requirement ("pkg>=1", `pkg = "^1.2"`) counts on its own.
    """
    in_table = in_array = False
    current_context = None
    for tag, _, text, context in diff_lines(patch):
        if context != current_context:  # a new hunk: its header context is our only hint
            current_context = context
            in_table = "dependenc" in context and context.lstrip().startswith("[")
            in_array = bool(_DEPS_ARRAY.match(context)) and "]" not in context.split("[", 1)[1]
        stripped = text.strip()
        changed = tag in "+-" and stripped and not stripped.startswith("#")
        header = _TOML_HEADER.match(text)
        if header:
            in_table = "dependenc" in header.group(1)
            in_array = False
            if changed and in_table:
                return True
            continue
        if _DEPS_ARRAY.match(text):
            in_array = "]" not in text.split("[", 1)[1]
            if changed:
                return True
            continue
        if changed:
            if in_table or in_array or _REQUIREMENT.match(text):
                return True
            poetry = _POETRY_DEP.match(text)
            if poetry and poetry.group(1) != "version":
                return True
        if in_array and stripped.startswith("]"):
            in_array = False
    return False


def missing_locks(files: list[PullFile]) -> list[tuple[str, str]]:
    """(manifest, its lock files) for each manifest whose dependencies changed
    while none of its lock files in the same directory did."""
    paths = {f.filename for f in files}
    missing = []
    for f in files:
        base = posixpath.basename(f.filename)
        locks = _MANIFESTS.get(base)
        if locks is None or f.status == "removed":
            continue
        if f.patch is None and f.additions == f.deletions == 0 and f.status != "added":
            continue  # renamed/copied with no content change
        if base == "pyproject.toml" and not _pyproject_touches_dependencies(f.patch):
            continue
        directory = posixpath.dirname(f.filename)
        if not any(posixpath.join(directory, lock) in paths for lock in locks):
            missing.append((f.filename, " / ".join(locks)))
    return missing
