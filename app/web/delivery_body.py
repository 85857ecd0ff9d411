"""What the intake reads of a delivery's JSON body: that it is one JSON object,
its `action` and its installation's id; the whole object only for the events
whose answer depends on more (`ping`, `push`).

simdjson validates the whole body and reads those fields without building the
object: 3.4 µs for the 12 KB reference payload where orjson's full parse takes
18 µs, the largest single cost of a delivery once the front took aiohttp's
(benchmarks/README.md). The body itself is stored exactly as received; the
worker parses it with orjson."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
import simdjson

# The shared parser keeps its buffers at the size of the largest body it has
# read, for the life of the process: a dense 1 MB body left 10 MB of RSS behind
# (the `serve` target is 80 MiB), one of 256 KiB 0.2 MB. Larger bodies (GitHub's
# go up to 25 MB; most are 5-50 KB) take orjson's path instead.
LAZY_MAX_BYTES = 256 * 1024
_parser = simdjson.Parser()
_BOM = b"\xef\xbb\xbf"


class NotJSON(Exception):
    """The body is not one JSON object; the message says why, for a 400."""


class BodyFacts(NamedTuple):
    action: str | None
    installation_id: int | None
    whole: dict[str, Any] | None  # only when asked for


def read(body: bytes, *, whole: bool = False) -> BodyFacts:
    """The facts of a delivery's body, or NotJSON with the reason."""
    # simdjson skips a leading byte-order mark, which orjson (and RFC 8259 for
    # a sender) refuses: such a body takes orjson's path and its verdict.
    if not whole and len(body) <= LAZY_MAX_BYTES and not body.startswith(_BOM):
        try:
            facts = _read_lazily(body)
        except (ValueError, RuntimeError):
            # Syntax, UTF-8, too deep, an integer past 64 bits (orjson reads a
            # float; simdjson refuses one under 10**20 as a ValueError), or the
            # parser still in use: orjson decides, as before. A signed body is
            # rarely refused, so reading it twice then costs nothing.
            facts = None
        if facts is not None:
            return facts
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotJSON(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotJSON("body must be a JSON object")
    installation = data.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    return BodyFacts(_text(data.get("action")), _number(installation_id), data)


def _read_lazily(body: bytes) -> BodyFacts | None:
    """The facts, or None for a body whose keys repeat: simdjson finds a key's
    first value, orjson (and so the worker, which reads the stored body) its
    last, so orjson reads such a body."""
    document = _parser.parse(body)
    if not isinstance(document, simdjson.Object):
        raise NotJSON("body must be a JSON object")
    # Plain values only leave this function: a simdjson object still referenced
    # would keep the parser from reading the next body.
    keys = list(document.keys())
    if keys.count("action") > 1 or keys.count("installation") > 1:
        return None
    installation = document.get("installation")
    installation_id = None
    if isinstance(installation, simdjson.Object):
        if list(installation.keys()).count("id") > 1:
            return None
        installation_id = installation.get("id")
    return BodyFacts(_text(document.get("action")), _number(installation_id), None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
