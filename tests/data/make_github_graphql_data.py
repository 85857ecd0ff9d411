#!/usr/bin/env python3
"""Regenerate the pinned subset of GitHub's GraphQL schema in tests/data/.

    python tests/data/make_github_graphql_data.py          # npm pack the pinned version, rewrite
    python tests/data/make_github_graphql_data.py --check  # exit 1 on drift
    python tests/data/make_github_graphql_data.py --tgz octokit-graphql-schema-15.26.1.tgz

Output (next to this script): github-graphql-subset.graphql -- the types and fields
in SUBSET, cut out of `schema.graphql` of npm `@octokit/graphql-schema` (GitHub's
public schema, as published) with their descriptions, in source order. A kept type
keeps only the listed fields and the interfaces that are kept too; uses of the
`@requiredCapabilities` directive (GitHub-internal, not part of the contract) are
dropped. The result must build as a schema on its own (graphql-core checks that
every referenced type is kept), which the fake GitHub validates requests against.

Needs the `npm` CLI (or --tgz) and graphql-core (the test extra).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from graphql import build_schema, parse, print_ast
from graphql.language import ast

PACKAGE = "@octokit/graphql-schema"
VERSION = "15.26.1"
MEMBER = "package/schema.graphql"
HERE = Path(__file__).resolve().parent
OUT_NAME = "github-graphql-subset.graphql"

# type name -> the fields (object/interface/input types) kept, or None for all of
# them (enums, scalars, small inputs). What the bot sends and the fake answers.
SUBSET: dict[str, list[str] | None] = {
    "Query": ["id", "node"],
    "Mutation": [
        "disablePullRequestAutoMerge",
        "enablePullRequestAutoMerge",
        "enqueuePullRequest",
    ],
    "Node": None,
    "ID": None,
    "String": None,
    "Int": None,
    "Boolean": None,
    "GitObjectID": None,
    "DateTime": None,
    "PullRequestMergeMethod": None,
    "MergeStateStatus": None,
    "PullRequestState": None,
    "MergeQueueEntryState": None,
    "EnablePullRequestAutoMergeInput": None,
    "EnablePullRequestAutoMergePayload": ["clientMutationId", "pullRequest"],
    "DisablePullRequestAutoMergeInput": None,
    "DisablePullRequestAutoMergePayload": ["clientMutationId", "pullRequest"],
    "EnqueuePullRequestInput": None,
    "EnqueuePullRequestPayload": None,
    "MergeQueueEntry": ["enqueuedAt", "headCommit", "id", "position", "pullRequest", "state"],
    "Commit": ["id", "oid"],
    "AutoMergeRequest": [
        "authorEmail",
        "commitBody",
        "commitHeadline",
        "enabledAt",
        "mergeMethod",
        "pullRequest",
    ],
    "PullRequest": [
        "autoMergeRequest",
        "baseRefName",
        "headRefOid",
        "id",
        "mergeStateStatus",
        "merged",
        "number",
        "state",
    ],
}
BUILT_IN_SCALARS = {"ID", "String", "Int", "Boolean", "Float"}


class DataError(RuntimeError):
    pass


def npm_pack(spec: str, dest: Path) -> Path:
    if shutil.which("npm") is None:
        raise DataError("the npm CLI is needed (or pass --tgz)")
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dest / json.loads(out.stdout)[0]["filename"]


def read_member(tgz: Path, member: str) -> bytes:
    with tarfile.open(tgz, "r:gz") as tar:
        f = tar.extractfile(member)
        if f is None:
            raise DataError(f"{tgz.name}: {member} is not a regular file")
        return f.read()


def _strip_directives(node: Any) -> Any:
    """Drop the `@requiredCapabilities` uses (GitHub-internal) from a node and its
    fields, arguments and values."""
    changes: dict[str, Any] = {}
    if getattr(node, "directives", None):
        changes["directives"] = ()
    for name in ("fields", "arguments", "values"):
        children = getattr(node, name, None)
        if children:
            changes[name] = tuple(_strip_directives(c) for c in children)
    return _replace(node, **changes) if changes else node


def _replace(node: Any, **changes: Any) -> Any:
    keys = node.keys  # graphql-core's AST nodes list their attributes
    return type(node)(**{key: changes.get(key, getattr(node, key)) for key in keys})


def build_subset(full_sdl: str) -> str:
    document = parse(full_sdl, no_location=True)
    kept: list[ast.DefinitionNode] = []
    found: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, ast.DirectiveDefinitionNode):
            continue
        name = getattr(getattr(definition, "name", None), "value", None)
        if name not in SUBSET or name in BUILT_IN_SCALARS:
            continue
        found.add(name)
        fields = SUBSET[name]
        node = definition
        if fields is not None:
            present = {f.name.value for f in node.fields}
            missing = set(fields) - present
            if missing:
                raise DataError(f"{name} has no field(s) {sorted(missing)}")
            node = _replace(node, fields=tuple(f for f in node.fields if f.name.value in fields))
        if getattr(node, "interfaces", None):
            node = _replace(
                node, interfaces=tuple(i for i in node.interfaces if i.name.value in SUBSET)
            )
        kept.append(_strip_directives(node))
    missing_types = set(SUBSET) - found - BUILT_IN_SCALARS
    if missing_types:
        raise DataError(f"not in the schema: {sorted(missing_types)}")
    header = (
        f"# A subset of GitHub's public GraphQL schema: npm {PACKAGE}@{VERSION}, {MEMBER[8:]}.\n"
        "# Generated by tests/data/make_github_graphql_data.py; do not edit.\n\n"
    )
    text = header + print_ast(ast.DocumentNode(definitions=tuple(kept))) + "\n"
    build_schema(text)  # every type it names is in it
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tgz", type=Path, help="use this tarball instead of npm pack")
    ap.add_argument("--out-dir", type=Path, default=HERE)
    ap.add_argument("--check", action="store_true", help="compare with the file; write nothing")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="github-graphql-") as tmp:
        tgz = args.tgz or npm_pack(f"{PACKAGE}@{VERSION}", Path(tmp))
        pkg = json.loads(read_member(tgz, "package/package.json"))
        if (pkg.get("name"), pkg.get("version")) != (PACKAGE, VERSION):
            raise DataError(f"{tgz.name} is {pkg.get('name')}@{pkg.get('version')}")
        data = build_subset(read_member(tgz, MEMBER).decode()).encode()
    path = args.out_dir / OUT_NAME
    if args.check:
        same = path.exists() and path.read_bytes() == data
        print(f"{'ok' if same else 'DIFFERS'}: {path.name}")
        return 0 if same else 1
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
