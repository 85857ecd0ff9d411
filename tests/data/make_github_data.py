#!/usr/bin/env python3
"""Regenerate the pinned GitHub test data in tests/data/ from the npm packages.

    python tests/data/make_github_data.py            # npm pack the pinned versions, rewrite
    python tests/data/make_github_data.py --check    # regenerate in memory; exit 1 on drift
    python tests/data/make_github_data.py --openapi-version 23.1.0 --webhooks-version 7.7.0

Outputs (next to this script):

* webhooks-examples-<version>.json.gz -- gzip of `api.github.com/index.json` from
  `@octokit/webhooks-examples`, byte-for-byte unchanged (gzip header mtime 0, no file
  name, so the output is reproducible).
* github-openapi-subset.json -- for each operation in OPERATIONS: method, path template,
  operationId, documentation URL, whether the request body is required, and the request
  body's application/json schema fully dereferenced and converted from the OpenAPI 3.0
  schema dialect to plain JSON Schema (valid under Draft 7 and Draft 2020-12).

Only the standard library and the `npm` CLI are used (`npm pack` downloads the tarballs
from the npm registry into a temporary directory). `--openapi-tgz` / `--webhooks-tgz`
take already downloaded tarballs instead.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

OPENAPI_PACKAGE = "@octokit/openapi"
OPENAPI_VERSION = "23.0.2"
OPENAPI_MEMBER = "package/generated/api.github.com.json"

WEBHOOKS_PACKAGE = "@octokit/webhooks-examples"
WEBHOOKS_VERSION = "7.6.1"
WEBHOOKS_MEMBER = "package/api.github.com/index.json"

HERE = Path(__file__).resolve().parent
SUBSET_NAME = "github-openapi-subset.json"

# (method, path template) -- the endpoints the bot and the fake GitHub use.
OPERATIONS: list[tuple[str, str]] = [
    ("POST", "/app/installations/{installation_id}/access_tokens"),
    ("GET", "/app"),
    ("GET", "/app/installations/{installation_id}"),
    ("GET", "/app/hook/deliveries"),
    ("POST", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("POST", "/app-manifests/{code}/conversions"),
    ("GET", "/repos/{owner}/{repo}"),
    ("POST", "/repos/{owner}/{repo}/labels"),
    ("GET", "/repos/{owner}/{repo}/labels/{name}"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("POST", "/repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions"),
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"),
    ("GET", "/repos/{owner}/{repo}/languages"),
    ("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("GET", "/repos/{owner}/{repo}/readme"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments"),
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("POST", "/repos/{owner}/{repo}/check-runs"),
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/status"),
    ("GET", "/repos/{owner}/{repo}/rules/branches/{branch}"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}"),
    # The REST API (app/api): a task given as fields opens its issue; the App's
    # installation on a repository is asked with its JWT.
    ("POST", "/repos/{owner}/{repo}/issues"),
    ("GET", "/repos/{owner}/{repo}/installation"),
    # Where and how a PR is opened: the reviewers the bot requests on the agent's PR.
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
]

# Operations whose success response is pinned too (`response_status`, `response_schema`):
# the fake's answer is checked against it, and the bot reads every field it needs from it.
RESPONSE_SCHEMAS: dict[tuple[str, str], str] = {
    ("POST", "/app-manifests/{code}/conversions"): "201",
    # the rules the bot reads to choose how to merge (pull_request, required checks, queue)
    ("GET", "/repos/{owner}/{repo}/rules/branches/{branch}"): "200",
}

# Schema keywords that carry no validation meaning (or are OpenAPI-only) and are dropped.
_DROP_KEYWORDS = {
    "description",
    "example",
    "examples",
    "externalDocs",
    "xml",
    "discriminator",
    "deprecated",
    "readOnly",
    "writeOnly",
}
# Keywords whose value is a single subschema / a list of subschemas / a map of them.
_SUBSCHEMA = {"items", "not", "additionalProperties", "additionalItems", "contains"}
_SUBSCHEMA_LIST = {"allOf", "anyOf", "oneOf"}
_SUBSCHEMA_MAP = {"properties", "patternProperties"}


class DataError(RuntimeError):
    pass


# --------------------------------------------------------------------------- npm


def npm_pack(spec: str, dest: Path) -> Path:
    """`npm pack <spec>` into dest; return the tarball path."""
    if shutil.which("npm") is None:
        raise DataError("the npm CLI is needed (or pass --openapi-tgz/--webhooks-tgz)")
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout)
    return dest / info[0]["filename"]


def read_member(tgz: Path, member: str) -> bytes:
    with tarfile.open(tgz, "r:gz") as tar:
        f = tar.extractfile(member)
        if f is None:
            raise DataError(f"{tgz.name}: {member} is not a regular file")
        return f.read()


def check_version(tgz: Path, name: str, version: str) -> None:
    pkg = json.loads(read_member(tgz, "package/package.json"))
    if pkg.get("name") != name or pkg.get("version") != version:
        raise DataError(
            f"{tgz.name} is {pkg.get('name')}@{pkg.get('version')}, expected {name}@{version}"
        )


# --------------------------------------------------------------------------- schema


def _resolve_pointer(doc: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise DataError(f"only local $refs are supported, got {ref!r}")
    node: Any = doc
    for raw in ref[2:].split("/"):
        node = node[raw.replace("~1", "/").replace("~0", "~")]
    return node


def to_json_schema(doc: dict[str, Any], schema: Any, stack: tuple[str, ...] = ()) -> Any:
    """Dereference `schema` and convert OpenAPI 3.0 schema specifics to JSON Schema.

    * `$ref` is inlined (OpenAPI 3.0 ignores siblings of `$ref`); a cycle is an error.
    * `nullable: true` adds "null" to `type` (and None to `enum`), or wraps a
      type-less schema in `anyOf: [{"type": "null"}, ...]`.
    * boolean `exclusiveMinimum`/`exclusiveMaximum` (Draft 4 style) become numeric.
    * descriptions, examples and other annotation-only / OpenAPI-only keys are dropped.
    """
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise DataError(f"not a schema: {schema!r}")
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in stack:
            raise DataError(f"recursive $ref {ref} cannot be fully dereferenced")
        return to_json_schema(doc, _resolve_pointer(doc, ref), (*stack, ref))

    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_KEYWORDS or key.startswith("x-") or key == "nullable":
            continue
        if key in _SUBSCHEMA and isinstance(value, dict):
            out[key] = to_json_schema(doc, value, stack)
        elif key in _SUBSCHEMA_LIST:
            out[key] = [to_json_schema(doc, s, stack) for s in value]
        elif key in _SUBSCHEMA_MAP:
            out[key] = {name: to_json_schema(doc, s, stack) for name, s in value.items()}
        else:
            out[key] = copy.deepcopy(value)

    for bound in ("Minimum", "Maximum"):
        excl = out.get(f"exclusive{bound}")
        if isinstance(excl, bool):
            if excl and bound.lower() in out:
                out[f"exclusive{bound}"] = out.pop(bound.lower())
            else:
                del out[f"exclusive{bound}"]

    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                types = [*types, "null"]
            out["type"] = types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def build_subset(openapi: dict[str, Any]) -> dict[str, Any]:
    operations = []
    for method, path in OPERATIONS:
        try:
            op = openapi["paths"][path][method.lower()]
        except KeyError:
            raise DataError(f"{method} {path} is not in the OpenAPI description") from None
        body = op.get("requestBody")
        if body is not None and "$ref" in body:
            body = _resolve_pointer(openapi, body["$ref"])
        schema = None
        required = False
        if body is not None:
            required = bool(body.get("required", False))
            media = body.get("content", {}).get("application/json")
            if media is None:
                raise DataError(f"{method} {path}: request body has no application/json")
            schema = to_json_schema(openapi, media["schema"])
        entry = {
            "method": method,
            "path": path,
            "operation_id": op.get("operationId"),
            "documentation_url": op.get("externalDocs", {}).get("url"),
            "request_body_required": required,
            "request_body_schema": schema,
        }
        status = RESPONSE_SCHEMAS.get((method, path))
        if status is not None:
            media = op["responses"][status]["content"]["application/json"]
            entry["response_status"] = int(status)
            entry["response_schema"] = to_json_schema(openapi, media["schema"])
        operations.append(entry)
    return {
        "source": {
            "package": OPENAPI_PACKAGE,
            "version": openapi.get("info", {}).get("version"),
            "file": "generated/api.github.com.json",
            "openapi": openapi.get("openapi"),
        },
        "schema_dialect": "JSON Schema (Draft 7 / Draft 2020-12 compatible; formats not asserted)",
        "operations": operations,
    }


def subset_bytes(subset: dict[str, Any]) -> bytes:
    return (json.dumps(subset, indent=1, ensure_ascii=False) + "\n").encode()


def webhooks_gz_bytes(index_json: bytes) -> bytes:
    json.loads(index_json)  # sanity: it is JSON
    return gzip.compress(index_json, compresslevel=9, mtime=0)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--openapi-version", default=OPENAPI_VERSION)
    ap.add_argument("--webhooks-version", default=WEBHOOKS_VERSION)
    ap.add_argument("--openapi-tgz", type=Path, help="use this tarball instead of npm pack")
    ap.add_argument("--webhooks-tgz", type=Path, help="use this tarball instead of npm pack")
    ap.add_argument("--out-dir", type=Path, default=HERE)
    ap.add_argument("--check", action="store_true", help="compare with the files; write nothing")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="github-data-") as tmp:
        tmpdir = Path(tmp)
        oa_tgz = args.openapi_tgz or npm_pack(f"{OPENAPI_PACKAGE}@{args.openapi_version}", tmpdir)
        wh_tgz = args.webhooks_tgz or npm_pack(
            f"{WEBHOOKS_PACKAGE}@{args.webhooks_version}", tmpdir
        )
        check_version(oa_tgz, OPENAPI_PACKAGE, args.openapi_version)
        check_version(wh_tgz, WEBHOOKS_PACKAGE, args.webhooks_version)
        openapi = json.loads(read_member(oa_tgz, OPENAPI_MEMBER))
        index_json = read_member(wh_tgz, WEBHOOKS_MEMBER)

    outputs = {
        args.out_dir / SUBSET_NAME: subset_bytes(build_subset(openapi)),
        args.out_dir / f"webhooks-examples-{args.webhooks_version}.json.gz": webhooks_gz_bytes(
            index_json
        ),
    }
    drift = False
    for path, data in outputs.items():
        if args.check:
            same = path.exists() and path.read_bytes() == data
            print(f"{'ok' if same else 'DIFFERS'}: {path.name}")
            drift |= not same
        else:
            path.write_bytes(data)
            print(f"wrote {path} ({len(data)} bytes)")
    if not args.check and args.webhooks_version != WEBHOOKS_VERSION:
        print("note: update WEBHOOKS_VERSION here, README.md and the loaders for the new name")
    return 1 if drift else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
