"""What the prompt says about a repository, read through the API and cached
per repository, commit tree and instruction files looked for (a new push
means new context)."""

from __future__ import annotations

import fnmatch

from gidgethub import BadRequest

from app.github import urls
from app.github.client import GitHubClient
from app.repo_settings.config import decode_content, fetch_file
from prompts.repository import RepoContext

MANIFEST_PATTERNS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements*.txt",
    "Pipfile",
    "package.json",
    "go.mod",
    "Cargo.toml",
    "Gemfile",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "composer.json",
    "mix.exs",
    "pubspec.yaml",
    "Package.swift",
    "*.csproj",
)
MAX_MANIFESTS = 8
MAX_FILE_CHARS = 20_000
CONTRIBUTING_NAMES = ("CONTRIBUTING.md", "CONTRIBUTING.rst", "CONTRIBUTING.txt", "CONTRIBUTING")


def is_manifest(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in MANIFEST_PATTERNS)


def _clip(text: str | None) -> str | None:
    return text[:MAX_FILE_CHARS] if text is not None else None


async def fetch_repo_context(
    gh: GitHubClient,
    repository: str,
    instruction_files: tuple[str, ...] = (),
    known: tuple[str, str | None] | None = None,
) -> tuple[RepoContext, str]:
    """(context, tree sha) for the default branch's head; the first of
    `instruction_files` that exists is the repository's instructions to agents.
    `known`: (default branch, description) as a webhook just gave them, which
    spares reading the repository (one call of a task's few)."""
    tree = None
    if known is not None and known[0]:
        branch, description = known
        repo = {"full_name": repository, "description": description}
        try:
            tree = await gh.getitem(urls.tree(repository, branch))
        except BadRequest as exc:  # the branch was renamed since: read the repository
            if exc.status_code != 404:
                raise
    if tree is None:
        repo = await gh.getitem(urls.repo(repository))
        branch = repo["default_branch"]
        tree = await gh.getitem(urls.tree(repository, branch))
    key = (repository.lower(), tree["sha"], instruction_files)
    cached = gh.caches.repo_contexts.get(key)
    if cached is not None:
        return cached, tree["sha"]
    entries = tree.get("tree") or []
    names = {e["path"]: e.get("type") for e in entries}
    top_level = tuple(
        sorted(f"{path}/" if kind == "tree" else path for path, kind in names.items())
    )
    languages = await gh.getitem(urls.languages(repository))
    try:
        readme = decode_content(await gh.getitem(urls.readme(repository)))
    except BadRequest as exc:
        if exc.status_code != 404:
            raise
        readme = None
    contributing = None
    for candidate in (*CONTRIBUTING_NAMES, *(f".github/{n}" for n in CONTRIBUTING_NAMES)):
        top = candidate.split("/", 1)[0]
        if top in names:
            contributing, _ = await fetch_file(gh, repository, candidate)
            if contributing is not None:
                break
    manifests: dict[str, str] = {}
    for path in sorted(p for p, kind in names.items() if kind == "blob" and is_manifest(p)):
        if len(manifests) >= MAX_MANIFESTS:
            break
        text, _ = await fetch_file(gh, repository, path)
        if text is not None:
            manifests[path] = text[:MAX_FILE_CHARS]
    instructions = None
    for candidate in instruction_files:
        if candidate.split("/", 1)[0] not in names:
            continue  # not in the tree: no request spent on it
        text, _ = await fetch_file(gh, repository, candidate)
        if text is not None:
            instructions = (candidate, text[:MAX_FILE_CHARS])
            break
    context = RepoContext(
        full_name=repo["full_name"],
        description=repo.get("description"),
        default_branch=branch,
        languages=dict(languages or {}),
        top_level=top_level,
        readme=_clip(readme),
        contributing=_clip(contributing),
        manifests=manifests,
        instructions=instructions,
    )
    gh.caches.repo_contexts[key] = context
    return context, tree["sha"]
