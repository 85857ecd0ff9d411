#!/usr/bin/env python3
"""Regenerate tests/data/codegen-openapi-subset.json from Codegen's published OpenAPI file.

    git clone --filter=blob:none https://github.com/codegen-sh/codegen /tmp/codegen
    git -C /tmp/codegen log -1 --format='%H %cI' -- docs/api-reference/openapi3.json
    python tests/data/make_codegen_data.py /tmp/codegen/docs/api-reference/openapi3.json \
        --commit <sha> --commit-date <iso date>
    python tests/data/make_codegen_data.py <spec> --commit <sha> --commit-date <date> --check

The output pins, for each operation in OPERATIONS, the path/query/header parameters,
the application/json request body schema and every documented response schema, with
every `$ref` inlined. The spec is OpenAPI 3.1 (FastAPI), whose schema objects already
are JSON Schema 2020-12, so nothing else is converted: the subset validates directly
with `jsonschema.Draft202012Validator`. Why a subset: the fake Codegen server and the
client tests are held to the published contract, and a diff of this file shows exactly
what changed when the spec is bumped. Standard library only; deterministic output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "codegen-openapi-subset.json"
SOURCE_REPOSITORY = "codegen-sh/codegen"
SOURCE_PATH = "docs/api-reference/openapi3.json"

# (method, path template) -- the endpoints the bot and the fake Codegen use.
OPERATIONS: list[tuple[str, str]] = [
    ("POST", "/v1/organizations/{org_id}/agent/run"),
    ("GET", "/v1/organizations/{org_id}/agent/run/{agent_run_id}"),
    ("POST", "/v1/organizations/{org_id}/agent/run/resume"),
    ("POST", "/v1/organizations/{org_id}/agent/run/ban"),
    ("POST", "/v1/organizations/{org_id}/agent/run/unban"),
    ("GET", "/v1/organizations/{org_id}/agent/runs"),
    ("GET", "/v1/organizations/{org_id}/repos"),
]


def deref(node: Any, spec: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Inline every local `$ref` (the spec has no recursive schemas; a cycle is an error)."""
    if isinstance(node, list):
        return [deref(item, spec, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            raise ValueError(f"recursive $ref {ref}")
        if not ref.startswith("#/"):
            raise ValueError(f"non-local $ref {ref}")
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        resolved = deref(target, spec, (*seen, ref))
        siblings = {k: deref(v, spec, seen) for k, v in node.items() if k != "$ref"}
        return {**resolved, **siblings} if siblings else resolved
    return {key: deref(value, spec, seen) for key, value in node.items()}


def rate_limit(description: str) -> str | None:
    """The 'Rate limit: ...' sentence the spec puts in an operation's description."""
    for line in description.splitlines():
        if line.strip().lower().startswith("rate limit:"):
            return line.split(":", 1)[1].strip().rstrip(".")
    return None


def extract(spec: dict[str, Any], *, commit: str | None, commit_date: str | None) -> dict:
    """Build the subset document from a parsed spec."""
    operations = []
    for method, path in OPERATIONS:
        op = spec["paths"][path][method.lower()]
        params: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        for param in deref(op.get("parameters", []), spec):
            params[param["in"]][param["name"]] = {
                "required": bool(param.get("required", False)),
                "schema": param.get("schema", {}),
            }
        body = op.get("requestBody")
        body_schema = None
        if body is not None:
            body_schema = deref(body["content"]["application/json"]["schema"], spec)
        responses = {}
        for status, response in op.get("responses", {}).items():
            content = response.get("content", {}).get("application/json", {})
            responses[status] = {
                "description": response.get("description", ""),
                "schema": deref(content.get("schema"), spec) if content else None,
            }
        operations.append(
            {
                "method": method,
                "path": path,
                "operation_id": op["operationId"],
                "summary": op.get("summary", ""),
                "rate_limit": rate_limit(op.get("description", "")),
                "path_parameters": params["path"],
                "query_parameters": params["query"],
                "header_parameters": params["header"],
                "request_body_required": bool(body and body.get("required", False)),
                "request_body_schema": body_schema,
                "responses": responses,
            }
        )
    return {
        "source": {
            "repository": SOURCE_REPOSITORY,
            "path": SOURCE_PATH,
            "commit": commit,
            "commit_date": commit_date,
            "openapi": spec.get("openapi"),
            "info": spec.get("info", {}),
            "servers": spec.get("servers", []),
        },
        "operations": operations,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="path to docs/api-reference/openapi3.json")
    parser.add_argument("--commit", help="commit of codegen-sh/codegen the file came from")
    parser.add_argument("--commit-date", help="that commit's date (ISO 8601)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the output drifted")
    args = parser.parse_args(argv)

    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    text = render(extract(spec, commit=args.commit, commit_date=args.commit_date))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(OPERATIONS)} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
