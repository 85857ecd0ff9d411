"""The plain HTTP/1.1 of GitHub's deliveries, for the web port's front
(app/web/front.py): reading a webhook POST's head, writing an answer. Pure.

"Plain" is what GitHub sends; anything else is not read here but left to
aiohttp, so that a questionable message is never given a meaning of ours."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from typing import NamedTuple

from app.web.intake import MAX_BODY_BYTES, WEBHOOK_PATH

REQUEST_LINE = b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\n"
# A head longer than aiohttp's longest line, or with more lines than this, is
# not GitHub's (about 600 bytes in 12 lines): aiohttp gets it, and applies its
# own limits (8,190 bytes a line, 128 headers) as if the front were not there.
MAX_HEAD_BYTES = 8190
MAX_HEAD_LINES = 64
# RFC 9110 `tchar`: what a header name is made of.
_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Visible ASCII, space and tab; CR and LF only as the line breaks checked apart.
_FIELD_CHARS = bytes([9, 10, 13, *range(0x20, 0x7F)])
# The headers the fast path reads or must not see; any of them twice, and the
# request is aiohttp's, which decides what a repeated one means.
_WATCHED = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"content-encoding",
        b"expect",
        b"upgrade",
        b"connection",
        b"proxy-connection",
        b"x-github-event",
        b"x-github-delivery",
        b"x-hub-signature-256",
        b"x-hub-signature",
    }
)


class WebhookHead(NamedTuple):
    """What the fast path needs from a delivery's head."""

    length: int
    close: bool
    event: str
    delivery: str
    signature: str | None
    sha1_sent: bool


def parse_head(head: bytes) -> WebhookHead | None:
    """The head of a plain webhook POST (without its closing blank line), or
    None when anything in it is not plain, so that aiohttp handles it.

    Linear in the head's length: C scans and one pass over its lines."""
    if not head.startswith(REQUEST_LINE):
        return None
    # Only CRLF line breaks, no bare CR or LF, no control or non-ASCII byte.
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        return None
    if head.translate(None, _FIELD_CHARS):
        return None
    if len(head) > MAX_HEAD_BYTES or crlf > MAX_HEAD_LINES:
        return None
    fields: dict[bytes, bytes] = {}
    for line in head[len(REQUEST_LINE) :].split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TOKEN_CHARS):
            return None  # not `token ":" value`: obs-fold, a space before the colon...
        name = name.lower()
        if name in _WATCHED:
            if name in fields:
                return None
            fields[name] = value.strip(b" \t")
    if b"transfer-encoding" in fields or b"expect" in fields or b"upgrade" in fields:
        return None
    if b"content-encoding" in fields:
        return None  # aiohttp inflates the body before the route reads it
    if b"proxy-connection" in fields:
        return None  # llhttp reads it as Connection
    length = fields.get(b"content-length")
    if length is None or not length.isdigit() or len(length) > 9:
        return None
    size = int(length)
    if size > MAX_BODY_BYTES:
        return None  # aiohttp's route answers 413 and closes
    connection = fields.get(b"connection", b"keep-alive").lower()
    if connection not in (b"keep-alive", b"close"):
        return None
    signature = fields.get(b"x-hub-signature-256")
    return WebhookHead(
        length=size,
        close=connection == b"close",
        event=fields.get(b"x-github-event", b"").decode("ascii"),
        delivery=fields.get(b"x-github-delivery", b"").decode("ascii"),
        signature=None if signature is None else signature.decode("ascii"),
        sha1_sent=b"x-hub-signature" in fields,
    )


_date: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """The `Date` header's value, formatted once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date[1]


# What every answer carries, and what an error answer carries besides when its
# handler set nothing (aiohttp's own 404 and 405 pages, a refused body): pages
# that render HTML send their own, stricter headers (app/dashboard/web.py).
EVERY_ANSWER = {"X-Content-Type-Options": "nosniff"}
ERROR_ANSWER = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _header_lines(headers: dict[str, str]) -> bytes:
    return b"".join(f"{name}: {value}\r\n".encode("ascii") for name, value in headers.items())


_EVERY_LINES = _header_lines(EVERY_ANSWER)
_ERROR_LINES = _header_lines(ERROR_ANSWER)


def answer_bytes(status: int, body: bytes, *, close: bool) -> bytes:
    """One whole HTTP/1.1 answer with the headers aiohttp's route gives it
    (app/web/server.py `baseline_headers`), `Server` aside."""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode("ascii")),
            b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
            b"Date: %s\r\n" % _http_date(),
            _EVERY_LINES,
            _ERROR_LINES if status >= 400 else b"",
            b"Connection: close\r\n\r\n" if close else b"\r\n",
            body,
        )
    )
