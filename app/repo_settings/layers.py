"""Settings in layers, by Probot's convention: a repository's
`.github/codegen.yml` builds on its organisation's (the same path in the
owner's `.github` repository), or on the file its `_extends` names, and
overrides it key by key. The merge is by top-level key, as Probot's is: a
repository's `validation:` replaces the organisation's whole section. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.text import linear_re
from app.validation.config import echo

CONFIG_PATH = ".github/codegen.yml"
EXTENDS = "_extends"  # names the file this one builds on (Probot's convention)
MAX_DEPTH = 3  # files a repository's settings may build on, one after the other

# `name`, `owner/name`, either with `:path`
_REFERENCE = linear_re.compile(
    r"(?:([A-Za-z0-9-]{1,39})/)?([A-Za-z0-9_.-]{1,100})(?::([A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+){0,7}))?"
)


@dataclass(frozen=True)
class Source:
    """A settings file: which repository, which path."""

    repository: str  # owner/name
    path: str = CONFIG_PATH

    @property
    def label(self) -> str:
        return f"{self.repository}:{self.path}"

    @property
    def cache_key(self) -> str:
        name = self.repository.lower()
        return name if self.path == CONFIG_PATH else f"{name}:{self.path}"


def organisation_defaults(repository: str) -> Source | None:
    """Where a repository's settings build on when its file names nothing: the
    owner's `.github` repository (none for that repository itself)."""
    owner, _, name = repository.partition("/")
    if name.lower() == ".github":
        return None
    return Source(f"{owner}/.github")


def extends_of(data: dict[str, Any]) -> tuple[bool, Any]:
    """(present, value) of a mapping's `_extends` key, whatever its case."""
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == EXTENDS:
            return True, value
    return False, None


def extends_target(value: Any, repository: str) -> tuple[Source | None, str | None]:
    """The file `_extends: name`, `name:path` or `owner/name` names, or the
    problem. Only the repository's own owner: a settings file cannot make the
    bot read another organisation's repositories."""
    owner = repository.partition("/")[0]
    if not isinstance(value, str) or not value.strip():
        return None, "`_extends` must name a repository of the same owner (`name` or `name:path`)"
    match = _REFERENCE.fullmatch(value.strip())
    path = match.group(3) if match else None
    if match is None or (path is not None and ".." in path.split("/")):
        return None, f"`_extends`: `{echo(value)}` is not `name` or `name:path`"
    if match.group(1) and match.group(1).lower() != owner.lower():
        return None, (
            f"`_extends`: `{echo(value)}` belongs to another owner; settings can build "
            f"only on repositories of {owner}"
        )
    return Source(f"{owner}/{match.group(2)}", path or CONFIG_PATH), None


def merge(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """One mapping from layers given base first: a later layer's key replaces an
    earlier one's; `_extends` is the loader's, not a setting."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if not (isinstance(key, str) and key.lower() == EXTENDS):
                out.pop(key, None)  # the overriding key takes the later place
                out[key] = value
    return out
