"""The reading of a webhook POST's head (app/web/plain_http.py): the plain
case only; anything else goes to aiohttp."""

from __future__ import annotations

import time

import pytest

from app.web.plain_http import MAX_HEAD_BYTES, MAX_HEAD_LINES, WebhookHead, answer_bytes, parse_head

LINE = b"POST /api/github/webhooks HTTP/1.1\r\n"
PLAIN = [
    b"Host: bot.example",
    b"Content-Type: application/json",
    b"Content-Length: 12",
    b"User-Agent: GitHub-Hookshot/abc",
    b"X-GitHub-Event: issues",
    b"X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958",
    b"X-Hub-Signature: sha1=7d38cdd689735b008b3c702edd92eea23791c5f6",
    b"X-Hub-Signature-256: sha256=d57c68ca6f92289e6987922ff26938930f6e66a2d161ef06abdf1859230aa23c",
]


def head(lines: list[bytes], line: bytes = LINE) -> bytes:
    return line + b"\r\n".join(lines)


def test_githubs_head_is_read():
    assert parse_head(head(PLAIN)) == WebhookHead(
        length=12,
        close=False,
        event="issues",
        delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        signature="sha256=d57c68ca6f92289e6987922ff26938930f6e66a2d161ef06abdf1859230aa23c",
        sha1_sent=True,
    )


def test_names_are_case_blind_and_values_trimmed():
    lines = [b"content-LENGTH:\t7 ", b"x-github-event:ping", b"CONNECTION: Close"]
    parsed = parse_head(head(lines))
    assert parsed is not None
    assert (parsed.length, parsed.event, parsed.close, parsed.signature) == (7, "ping", True, None)
    assert parsed.delivery == "" and not parsed.sha1_sent  # the intake answers 400/401


def _with(*extra: bytes) -> bytes:
    return head([*PLAIN, *extra])


def _without(name: bytes) -> bytes:
    return head([line for line in PLAIN if not line.lower().startswith(name.lower() + b":")])


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(head(PLAIN, b"POST /api/github/webhooks?x=1 HTTP/1.1\r\n"), id="query"),
        pytest.param(head(PLAIN, b"POST /api/github/webhooks HTTP/1.0\r\n"), id="http/1.0"),
        pytest.param(head(PLAIN, b"post /api/github/webhooks HTTP/1.1\r\n"), id="method case"),
        pytest.param(head(PLAIN, b"PUT /api/github/webhooks HTTP/1.1\r\n"), id="method"),
        pytest.param(head(PLAIN, b"POST /api/github/webhooks  HTTP/1.1\r\n"), id="two spaces"),
        pytest.param(_without(b"Content-Length"), id="no length"),
        pytest.param(_with(b"Content-Length: 12"), id="length twice, same"),
        pytest.param(_with(b"content-length: 13"), id="length twice"),
        pytest.param(_with(b"Transfer-Encoding: chunked"), id="chunked"),
        pytest.param(_with(b"Expect: 100-continue"), id="expect"),
        pytest.param(_with(b"Content-Encoding: gzip"), id="coded body"),
        pytest.param(_with(b"content-encoding: identity"), id="identity coding"),
        pytest.param(_with(b"Upgrade: websocket"), id="upgrade"),
        pytest.param(_with(b"Connection: Upgrade"), id="connection upgrade"),
        pytest.param(_with(b"Connection: keep-alive, close"), id="connection list"),
        pytest.param(_with(b"Proxy-Connection: close"), id="proxy-connection"),
        pytest.param(_with(b"X-GitHub-Event: push"), id="event twice"),
        pytest.param(_with(b"X-Hub-Signature-256: sha256=00"), id="signature twice"),
        pytest.param(_with(b"X-GitHub-Delivery: a"), id="delivery twice"),
        pytest.param(_with(b" folded"), id="obs-fold"),
        pytest.param(_with(b"X-Pad : a"), id="space before colon"),
        pytest.param(_with(b"X-Pad"), id="no colon"),
        pytest.param(_with(b": a"), id="no name"),
        pytest.param(_with(b"X-P(a)d: a"), id="name not a token"),
        pytest.param(_with(b"X-Pad: caf\xc3\xa9"), id="non-ascii value"),
        pytest.param(_with(b"X-Pad: a\x00b"), id="nul"),
        pytest.param(_with(b"X-Pad: a\x7fb"), id="del"),
        pytest.param(_with(b"X-Pad: a\rb"), id="bare cr"),
        pytest.param(_with(b"X-Pad: a\nX-GitHub-Event: push"), id="bare lf"),
        pytest.param(head([*PLAIN[:2], b"Content-Length: +12", *PLAIN[3:]]), id="signed length"),
        pytest.param(head([*PLAIN[:2], b"Content-Length: 1 2", *PLAIN[3:]]), id="spaced length"),
        pytest.param(head([*PLAIN[:2], b"Content-Length: 0x10", *PLAIN[3:]]), id="hex length"),
        pytest.param(head([*PLAIN[:2], b"Content-Length: \xd9\xa1", *PLAIN[3:]]), id="arabic 1"),
        pytest.param(head([*PLAIN[:2], b"Content-Length: 26214401", *PLAIN[3:]]), id="> 25 MB"),
        pytest.param(head([*PLAIN[:2], b"Content-Length: 9999999999", *PLAIN[3:]]), id="10 digits"),
        pytest.param(_with(b"X-Pad: " + b"a" * MAX_HEAD_BYTES), id="longer than aiohttp's line"),
        pytest.param(_with(*[b"a:b"] * MAX_HEAD_LINES), id="more lines than GitHub's"),
    ],
)
def test_anything_not_plain_is_left_to_aiohttp(raw):
    assert parse_head(raw) is None


def test_the_largest_body_github_sends_is_plain():
    lines = [*PLAIN[:2], b"Content-Length: 26214400", *PLAIN[3:]]
    parsed = parse_head(head(lines))
    assert parsed is not None and parsed.length == 25 * 1024 * 1024


def test_a_hostile_head_costs_linear_time():
    # The front hands a head over MAX_HEAD_BYTES to aiohttp before parsing it;
    # parse_head itself is C scans and one pass, whatever the bytes.
    for filler in (b"a:" * 8000, b"\r\n" * 8000, b"a: " + b" \t" * 8000, b"a:b\r\n" * 3200):
        raw = LINE + filler[: MAX_HEAD_BYTES - len(LINE)]
        started = time.process_time()
        for _ in range(20):
            parse_head(raw)
        assert time.process_time() - started < 1.0  # quadratic would be minutes


def test_the_answer_carries_the_routes_headers():
    text = answer_bytes(202, b'{"status":"queued"}', close=False)
    head_part, _, body = text.partition(b"\r\n\r\n")
    lines = head_part.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 202 Accepted"
    assert b"Content-Length: 19" in lines and b"X-Content-Type-Options: nosniff" in lines
    assert not any(line.startswith(b"Content-Security-Policy") for line in lines)
    assert not any(line.startswith(b"Connection") for line in lines)
    assert body == b'{"status":"queued"}'
    refused = answer_bytes(401, b"{}", close=True).split(b"\r\n")
    assert refused[0] == b"HTTP/1.1 401 Unauthorized"
    assert b"X-Frame-Options: DENY" in refused and b"Connection: close" in refused
