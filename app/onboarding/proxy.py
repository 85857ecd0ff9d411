"""Webhooks on a laptop: subscribe to a smee.io channel (`WEBHOOK_PROXY_URL`)
and POST each delivery to this server's own intake.

smee.io sends server-sent events whose `data` is one JSON object: the
headers GitHub sent (lower-case names) beside `body`, `query` and
`timestamp`. The body is forwarded as the exact text smee.io put into the
event (what smee-client sends too), so the intake checks the signature as it
does for a direct delivery: the proxy is trusted with nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 26 * 1024 * 1024  # a 25 MB delivery and its headers
MAX_HEADERS = 100
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")
# Set by the hop to us, or meaningless once the body is re-sent.
_DROPPED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "accept-encoding",
        "proxy-authorization",
        "proxy-connection",
    }
)
_NOT_HEADERS = frozenset({"body", "query", "timestamp"})


class ProxyError(Exception):
    """The stream or an event cannot be used; `str()` says why."""


@dataclass
class SseEvent:
    event: str
    data: str


@dataclass
class SseDecoder:
    """Server-sent events from a byte stream, fed in chunks (WHATWG rules:
    `event:` and `data:` fields, comment lines, a blank line ends an event).
    Linear in the input; a line longer than `limit` is an error."""

    limit: int = MAX_EVENT_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    _scanned: int = 0
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _size: int = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk
        events: list[SseEvent] = []
        start = 0
        while True:
            end = self._buffer.find(b"\n", max(start, self._scanned))
            if end < 0:
                break
            line = bytes(self._buffer[start:end]).rstrip(b"\r").decode("utf-8", "replace")
            start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        del self._buffer[:start]
        self._scanned = len(self._buffer)
        if self._scanned > self.limit or self._size > self.limit:
            raise ProxyError(f"an event is larger than {self.limit} bytes")
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data, self._size = "", [], 0
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._size += len(value)
        return None


def _top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Where each top-level member's value lies in the JSON object `text`, so
    that one member can be taken byte for byte."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    i = ws.match(text, 0).end()  # type: ignore[union-attr]
    if text[i : i + 1] != "{":
        raise ProxyError("the event's data is not a JSON object")
    i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
    spans: dict[str, tuple[int, int]] = {}
    if text[i : i + 1] == "}":
        return spans
    while True:
        try:
            key, i = decoder.raw_decode(text, i)
        except (ValueError, RecursionError):
            raise ProxyError("the event's data is not valid JSON") from None
        i = ws.match(text, i).end()  # type: ignore[union-attr]
        if not isinstance(key, str) or text[i : i + 1] != ":":
            raise ProxyError("the event's data is not valid JSON")
        i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
        try:
            _, end = decoder.raw_decode(text, i)
        except (ValueError, RecursionError):  # nesting deeper than the decoder's stack
            raise ProxyError("the event's data is not valid JSON") from None
        spans[key] = (i, end)
        i = ws.match(text, end).end()  # type: ignore[union-attr]
        if text[i : i + 1] == ",":
            i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
            continue
        if text[i : i + 1] == "}":
            return spans
        raise ProxyError("the event's data is not valid JSON")


def delivery_from_event(data: str) -> tuple[dict[str, str], bytes]:
    """The headers and body of the delivery a smee.io event carries: the body
    is the `body` member's text as it stands in the event (JSON.stringify's
    output, what smee-client forwards), the headers every other string member
    that makes a valid header."""
    spans = _top_level_spans(data)
    if "body" not in spans:
        raise ProxyError("the event carries no body")
    start, end = spans["body"]
    body = data[start:end].encode("utf-8", "surrogatepass")
    headers: dict[str, str] = {}
    members = json.loads(data)
    for name, value in members.items():
        lower = name.lower()
        if lower in _NOT_HEADERS or lower in _DROPPED or not isinstance(value, str):
            continue
        if not _HEADER_NAME.match(name) or not value.isprintable():
            # A control character (CR, LF, DEL...) could split the request, and
            # aiohttp refuses it with a ValueError that would end the proxy.
            continue
        if len(headers) >= MAX_HEADERS:
            break
        headers[name] = value
    headers["Content-Type"] = "application/json"
    return headers, body


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before reconnect number `attempt` (1, 2, ...): doubling, capped,
    with up to 10 % jitter so that restarted laptops do not stampede. The
    exponent stops growing long before 2**1024, which is no float."""
    delay = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    return delay * (1 + random.random() / 10)


class WebhookProxy:
    """Subscribes to `source` and forwards to `target` (this server's intake)."""

    def __init__(
        self,
        source: str,
        *,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        idle_timeout: float = 90.0,
    ) -> None:
        self.source = source
        # The channel (its path, any user:password) is a secret: only the host is shown.
        self.host = urlsplit(source).netloc.rpartition("@")[2]
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.idle_timeout = idle_timeout  # smee.io pings every 30 s
        self.connected = False
        self.connected_since: float | None = None
        self.last_error: str | None = None
        self.forwarded = 0
        self.reconnects = 0
        self._target: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def describe(self) -> str:
        """One line for the status page."""
        if self.connected:
            since = time.strftime("%H:%M:%SZ", time.gmtime(self.connected_since or 0))
            return f"connected to {self.host} since {since}, {self.forwarded} deliveries forwarded"
        why = f" ({self.last_error})" if self.last_error else ""
        return f"disconnected from {self.host}{why}, reconnecting"

    async def start(self, target: str) -> None:
        self._target = target
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10.0, sock_read=self.idle_timeout
            )
        )
        self._task = asyncio.create_task(self._run(), name="webhook-proxy")
        log.info("webhook proxy: forwarding deliveries from %s to the intake", self.host)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.connected = False

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._listen()
                self.last_error = "the stream ended"
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, ProxyError) as exc:
                self.last_error = str(exc) if isinstance(exc, ProxyError) else type(exc).__name__
            if self.connected:
                attempt = 0
            self.connected = False
            attempt += 1
            self.reconnects += 1
            delay = backoff(attempt, self.backoff_base, self.backoff_max)
            log.warning(
                "webhook proxy: disconnected from %s (%s); reconnecting in %.1f s",
                self.host,
                self.last_error,
                delay,
            )
            await asyncio.sleep(delay)

    async def _listen(self) -> None:
        assert self._session is not None
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        async with self._session.get(self.source, headers=headers) as response:
            ctype = response.headers.get("Content-Type", "")
            if response.status != 200 or not ctype.startswith("text/event-stream"):
                raise ProxyError(f"{self.host} answered {response.status} {ctype[:40]}")
            self.connected = True
            self.connected_since = time.time()
            self.last_error = None
            log.info("webhook proxy: connected to %s", self.host)
            decoder = SseDecoder()
            async for chunk in response.content.iter_any():
                for event in decoder.feed(chunk):
                    if event.event == "message":
                        await self._forward(event.data)

    async def _forward(self, data: str) -> None:
        assert self._session is not None and self._target is not None
        try:
            headers, body = delivery_from_event(data)
        except ProxyError as exc:
            log.warning("webhook proxy: skipped an event: %s", exc)
            return
        guid = headers.get("x-github-delivery", "-")[:100]
        try:
            async with self._session.post(
                self._target,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30.0),
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook proxy: delivery %s not forwarded: %s", guid, type(exc).__name__)
            return
        self.forwarded += 1
        level = logging.INFO if status < 400 else logging.WARNING
        log.log(level, "webhook proxy: delivery %s answered %d by the intake", guid, status)
