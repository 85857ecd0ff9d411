"""The OpenAPI 3.1 document, made from the operation table and the pydantic
definitions that validate the requests, and the Postman collection made from
the document. Pure: the same table always gives the same documents."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api import models
from app.api.guard import IDEMPOTENCY_HEADER, MAX_BODY_BYTES, REPLAYED_HEADER
from app.api.routes import OPERATIONS, Operation

TITLE = "codegen-bot REST API"
VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"

# What any operation may answer besides its success, and why.
_COMMON = {
    400: "Malformed JSON or a bad header",
    401: "No API key, or one that is not valid",
    413: f"The body is over {MAX_BODY_BYTES} bytes",
    422: "A field is not valid; `details` names each one",
    429: "Over the rate limit; `Retry-After` says when to try again",
    500: "An error on the server's side",
}
_REFUSALS = {
    403: "A read-only key on an endpoint that writes",
    404: "No task with that id",
    409: "The task's state does not allow this now (e.g. an attempt is running)",
    502: "GitHub refused or failed a call the operation needed",
    503: "The GitHub App is not configured on this server",
}


def _models() -> list[tuple[type[BaseModel], str]]:
    found: list[tuple[type[BaseModel], str]] = [(models.Error, "serialization")]
    for op in OPERATIONS:
        if op.body is not None:
            found.append((op.body, "validation"))
        found.extend((model, "serialization") for model, _ in op.answers.values())
    return list(dict.fromkeys(found))


def _refusals(op: Operation) -> dict[int, str]:
    codes = dict(_COMMON)
    if op.scope == "write":
        codes[403] = _REFUSALS[403]
    if op.has_task_id or (op.body is not None and "task_id" in op.body.model_fields):
        codes[404] = _REFUSALS[404]
    for status in op.refusals:
        codes[status] = _REFUSALS[status]
    if op.method == "POST":
        codes[409] = _REFUSALS[409] + ", or the Idempotency-Key's request is still running"
    return dict(sorted(codes.items()))


def _error(description: str, status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }
    if status == 429:
        answer["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    return answer


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _operation(op: Operation, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.path.split("/")[3]],
        "responses": {},
    }
    if op.scope == "write":
        doc["description"] = "Needs a key with the `write` scope."
    parameters = []
    if op.has_task_id:
        parameters.append(
            {
                "name": "task_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": models.BIGINT},
            }
        )
    if op.query is not None:
        parameters += _query_parameters(op.query)
    if op.method == "POST":
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "Repeat the POST safely: the same key and request get the "
                "first answer and have one effect; the same key with another request is a 422.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    for status, (model, description) in op.answers.items():
        answer: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": refs[(model, "serialization")]}},
        }
        if op.method == "POST":
            answer["headers"] = {
                REPLAYED_HEADER: {
                    "description": "`true` when this is the stored answer of an earlier request",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        doc["responses"][str(status)] = answer
    for status, description in _refusals(op).items():
        doc["responses"][str(status)] = _error(description, status)
    return doc


@cache
def _document() -> dict[str, Any]:
    refs, defs = models_json_schema(_models(), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Create tasks, preview prompts, start, watch, retry and cancel "
            "agent runs: the same workflows as a labeled issue and `/codegen` commands. "
            "Every request needs an API key (`X-API-Key` or `Authorization: Bearer`).",
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a copy: callers may change it)."""
    return copy.deepcopy(_document())


def _example(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """A request body for the collection: the schema's example, else its
    required fields with placeholder values."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("examples"):
        return schema["examples"][0]
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        body[name] = {"integer": 1, "boolean": True}.get(prop.get("type", ""), "")
    return body


def postman_collection(doc: dict[str, Any]) -> dict[str, Any]:
    """A Postman v2.1 collection with one request per operation of `doc`;
    `{{baseUrl}}` and `{{apiKey}}` are the collection's variables."""
    schemas = doc["components"]["schemas"]
    items = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            segments = [
                f":{s[1:-1]}" if s.startswith("{") else s for s in path.strip("/").split("/")
            ]
            request: dict[str, Any] = {
                "method": method.upper(),
                "header": [{"key": "X-API-Key", "value": "{{apiKey}}"}],
                "url": {
                    "raw": "{{baseUrl}}/" + "/".join(segments),
                    "host": ["{{baseUrl}}"],
                    "path": segments,
                    "variable": [
                        {"key": p["name"], "value": "1"}
                        for p in op.get("parameters", [])
                        if p["in"] == "path"
                    ],
                },
                "description": op.get("summary", ""),
            }
            body = op.get("requestBody")
            if body is not None:
                schema = body["content"]["application/json"]["schema"]
                request["header"].append({"key": "Content-Type", "value": "application/json"})
                request["body"] = {
                    "mode": "raw",
                    "raw": json.dumps(_example(schema, schemas), indent=2),
                    "options": {"raw": {"language": "json"}},
                }
            items.append({"name": op["operationId"], "request": request})
    return {
        "info": {
            "name": doc["info"]["title"],
            "description": doc["info"]["description"],
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "item": items,
        "variable": [
            {"key": "baseUrl", "value": "http://localhost:3000"},
            {"key": "apiKey", "value": ""},
        ],
    }
