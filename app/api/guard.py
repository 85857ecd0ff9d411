"""What every API request passes before its endpoint runs, in order: the
client address's rate limit, the key (401) and its scope (403), the key's rate
limit (429 with Retry-After), the body's size (413), JSON (400) and fields
(422); then, for a POST with `Idempotency-Key`, the stored answer of an
earlier identical request instead of a second effect."""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from app.api import store as api_store
from app.api.errors import ApiError
from app.api.keys import ApiKey, Scope, authenticate, presented_key
from app.api.rates import Limits
from app.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_IDEMPOTENCY_CHARS = 255
_CLEAN_EVERY = 500  # about one request in this many deletes old windows and answers
IDEMPOTENCY_KEPT = timedelta(hours=24)


async def check_rate(runtime: Runtime, bucket: str, limits: Limits) -> None:
    """Count the request; 429 past the limit, with the seconds until the window ends."""
    hits, remaining = await api_store.hit(runtime.pool, bucket, limits.window_seconds)
    if random.randrange(_CLEAN_EVERY) == 0:
        now = datetime.now(UTC)
        await api_store.forget_windows(
            runtime.pool, now - timedelta(seconds=2 * limits.window_seconds)
        )
        await api_store.forget_answers(runtime.pool, now - IDEMPOTENCY_KEPT)
    if hits > limits.requests:
        wait = max(1, math.ceil(remaining))
        raise ApiError(
            429,
            "rate_limited",
            f"more than {limits.requests} requests in {int(limits.window_seconds)} s; "
            f"try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def key_for(keys: tuple[ApiKey, ...], request: web.Request, needed: Scope) -> ApiKey:
    presented = presented_key(request.headers)
    if presented is None:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: send it as X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": 'Bearer realm="codegen-bot"'},
        )
    key = authenticate(keys, presented)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="codegen-bot", error="invalid_token"'},
        )
    if not key.may(needed):
        raise ApiError(403, "forbidden", f"the key {key.name} may only read; this needs {needed}")
    return key


async def read_body(request: web.Request) -> bytes:
    """At most 1 MB, whatever Content-Length says (or does not)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large()
    # `read(n)` answers with what has arrived so far: read until the end.
    data = bytearray()
    while len(data) <= MAX_BODY_BYTES:
        part = await request.content.read(MAX_BODY_BYTES + 1 - len(data))
        if not part:
            break
        data += part
    if len(data) > MAX_BODY_BYTES:
        raise _too_large()
    return bytes(data)


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"the request body is over {MAX_BODY_BYTES} bytes")


def _field(loc: tuple[Any, ...]) -> str | None:
    return ".".join(str(part) for part in loc) or None


def validated(model: type[BaseModel], data: Any, where: str = "body") -> BaseModel:
    """The model, or a 422 naming each field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": _field(tuple(e["loc"])), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = details[0]
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        raise ApiError(422, "invalid", f"{where} {message}", details=details) from None


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc.msg}") from None


def request_hash(method: str, path: str, data: Any) -> str:
    """The request as its effect sees it: the same JSON in another key order is the same."""
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS) if data is not None else b""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def idempotency_key(request: web.Request) -> str | None:
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > _IDEMPOTENCY_CHARS or not value.isprintable():
        raise ApiError(
            400,
            "bad_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1-{_IDEMPOTENCY_CHARS} printable characters",
            field=IDEMPOTENCY_HEADER,
        )
    return value


Answer = tuple[int, bytes]


async def once(
    runtime: Runtime,
    key: ApiKey,
    idem: str,
    digest: str,
    run: Callable[[], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """Run the request once per (key name, idempotency key): a repeat gets the
    first answer (and True). The same key with another request is a 422: the
    key is the client's, and reusing it for different content is its error,
    which no retry fixes (the IETF Idempotency-Key draft says 422 too); a
    repeat while the first still runs is a 409, which a retry later resolves."""
    pool = runtime.pool
    earlier = await api_store.claim_idempotency(pool, key.name, idem, digest)
    if earlier is not None:
        if earlier.request_hash != digest:
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"this {IDEMPOTENCY_HEADER} was used for a different request",
                field=IDEMPOTENCY_HEADER,
            )
        if earlier.status is None or earlier.body is None:
            raise ApiError(
                409,
                "in_progress",
                f"a request with this {IDEMPOTENCY_HEADER} is still being processed",
                field=IDEMPOTENCY_HEADER,
            )
        return (earlier.status, earlier.body), True
    try:
        status, body = await run()
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 429:
            await api_store.release_idempotency(pool, key.name, idem)
            raise
        status, body = exc.status, orjson.dumps(exc.body())
    except BaseException:
        await api_store.release_idempotency(pool, key.name, idem)
        raise
    await api_store.remember_answer(pool, key.name, idem, status, body)
    return (status, body), False
