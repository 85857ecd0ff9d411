"""The web port's front (app/web/front.py) on a real socket, with the real
intake and database behind it: GitHub's plain POSTs answered by the front,
everything else by aiohttp, on one connection, byte for byte."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from app.deliveries import store as deliveries
from app.observability import metrics
from app.web.front import KEEPALIVE_SECONDS, FrontSite
from app.web.server import INTAKE_KEY, RUNNER_OPTIONS, make_web_app
from tests.support.bot import sign
from tests.support.serve import free_port, serve_env, start_serve, wait_healthy

PATH = "/api/github/webhooks"
BODY = json.dumps({"action": "labeled", "installation": {"id": 7}, "issue": {"number": 1}})


def _request(
    body: bytes | None = None,
    *,
    guid: str | None = None,
    event: str = "issues",
    extra: tuple[str, ...] = (),
    signature: str | None = None,
    line: str = f"POST {PATH} HTTP/1.1",
) -> bytes:
    body = BODY.encode() if body is None else body
    headers = [
        line,
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"X-GitHub-Event: {event}",
        f"X-GitHub-Delivery: {guid or uuid.uuid4()}",
        f"X-Hub-Signature-256: {signature or sign(body)}",
        *extra,
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> object:
        return json.loads(self.body)


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 answer; a 1xx is read and skipped by the caller."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


@asynccontextmanager
async def _connect(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def _exchange(url: str, raw: bytes) -> Answer:
    async with _connect(url) as (reader, writer):
        writer.write(raw)
        return await _read_answer(reader)


async def _at_eof(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), timeout) == b""
    except ConnectionResetError:
        return True


async def _stored(bot) -> int:
    return await bot.runtime.pool.fetchval("SELECT count(*) FROM webhook_deliveries")


@pytest.fixture
async def plain_site(intake_only) -> AsyncIterator[str]:
    """The same app on aiohttp's own site, without the front: the reference."""
    site = web.TCPSite(intake_only.runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    await site.stop()


def _cases(guid: str) -> dict[str, bytes]:
    body = BODY.encode()
    return {
        "queued": _request(guid=guid),
        "bad signature": _request(guid=guid, signature="sha256=" + "0" * 64),
        "sha1 only": _request(guid=guid, signature="x").replace(
            b"X-Hub-Signature-256: x", b"X-Hub-Signature: sha1=00"
        ),
        "no event": _request(guid=guid).replace(b"X-GitHub-Event: issues\r\n", b""),
        "no delivery": _request(guid=guid).replace(f"X-GitHub-Delivery: {guid}\r\n".encode(), b""),
        "long delivery": _request(guid=guid + "x" * 120),
        "not json": _request(b"{nope", guid=guid),
        "array": _request(b"[1]", guid=guid),
        "ping": _request(
            b'{"zen":"Keep it logically awesome.","hook_id":1}', guid=guid, event="ping"
        ),
        # Parsed (orjson reads 1,024 levels) but deeper than orjson writes (254).
        "deep zen": _request(b'{"zen":' + b"[" * 300 + b"]" * 300 + b"}", guid=guid, event="ping"),
        "push elsewhere": _request(
            b'{"ref":"refs/heads/x","repository":{"default_branch":"main"}}',
            guid=guid,
            event="push",
        ),
        "empty": _request(b"", guid=guid),
        # aiohttp inflates a coded body before the route reads it; signed as sent.
        "gzip": _request(
            gzip.compress(body), guid=guid, signature=sign(body), extra=("Content-Encoding: gzip",)
        ),
        "query": _request(guid=guid, line=f"POST {PATH}?a=1 HTTP/1.1"),
        "http/1.0": _request(guid=guid, line=f"POST {PATH} HTTP/1.0"),
        "get": _request(guid=guid, line=f"GET {PATH} HTTP/1.1"),
        "other path": _request(guid=guid, line="POST /api/github/webhook HTTP/1.1"),
        "two lengths": _request(guid=guid, extra=(f"Content-Length: {len(body) + 1}",)),
        "chunked and length": _request(guid=guid, extra=("Transfer-Encoding: chunked",)),
        "bare lf": _request(guid=guid).replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\n"),
        "folded": _request(guid=guid, extra=(" folded",)),
        "header too long": _request(guid=guid, extra=("X-Pad: " + "a" * 9000,)),
        "many headers": _request(guid=guid, extra=tuple(f"X-Pad-{i}: a" for i in range(200))),
        "near the limits": _request(
            guid=guid, extra=tuple(f"X-Pad-{i}: " + "a" * 100 for i in range(100))
        ),
        "connection upgrade": _request(guid=guid, extra=("Connection: Upgrade", "Upgrade: h2c")),
        # llhttp reads the old proxies' header as Connection: aiohttp closes.
        "proxy-connection close": _request(guid=guid, extra=("Proxy-Connection: close",)),
    }


async def test_the_front_answers_as_aiohttps_route_does(intake_only, plain_site):
    """Every case, sent once through the front and once straight to aiohttp:
    the same status, body and headers (Date and Server aside), and the same
    rows stored."""
    for name in _cases("x"):
        front_guid, plain_guid = str(uuid.uuid4()), str(uuid.uuid4())
        front = await _exchange(intake_only.url, _cases(front_guid)[name])
        plain = await _exchange(plain_site, _cases(plain_guid)[name])
        assert front.status == plain.status, name
        assert front.body.replace(front_guid.encode(), b"G") == plain.body.replace(
            plain_guid.encode(), b"G"
        ), name
        skip = {"date", "server", "content-length"}
        front_headers = {k: v for k, v in front.headers.items() if k not in skip}
        plain_headers = {k: v for k, v in plain.headers.items() if k not in skip}
        assert front_headers == plain_headers, name
        pool = intake_only.runtime.pool
        stored = await pool.fetch(
            "SELECT id, event, action, installation_id FROM webhook_deliveries "
            "WHERE id = ANY($1::text[])",
            [front_guid, plain_guid],
        )
        assert len(stored) in (0, 2), (name, stored)
    # The front answered the plain ones itself; the odd ones went to aiohttp.
    assert (await _exchange(intake_only.url, _cases(str(uuid.uuid4()))["queued"])).status == 202


async def test_the_same_delivery_twice_is_a_duplicate(intake_only):
    guid = str(uuid.uuid4())
    first = await _exchange(intake_only.url, _request(guid=guid))
    again = await _exchange(intake_only.url, _request(guid=guid))
    assert (first.status, again.status) == (202, 200)
    assert again.json() == {"delivery": guid, "status": "duplicate"}
    assert await _stored(intake_only) == 1


async def test_one_connection_moves_from_the_front_to_aiohttp(intake_only):
    """A proxy reuses its connections for any path: a webhook, then a page,
    then a webhook again, each answered in order by the right side."""
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(_request())
        first = await _read_answer(reader)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        health = await _read_answer(reader)
        writer.write(_request())
        third = await _read_answer(reader)
    assert first.status == 202 and first.json()["status"] == "queued"
    assert health.status == 200 and health.json()["status"] == "ok"
    assert third.status == 202 and third.json()["status"] == "queued"
    assert await _stored(intake_only) == 2


async def test_pipelined_requests_are_answered_in_order(intake_only):
    guids = [str(uuid.uuid4()) for _ in range(4)]
    raw = (
        _request(guid=guids[0])
        + _request(guid=guids[1])
        + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        + _request(guid=guids[2])
        + _request(guid=guids[3], extra=("Connection: close",))
    )
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(raw)
        answers = [await _read_answer(reader) for _ in range(5)]
        assert await _at_eof(reader)
    assert [a.status for a in answers] == [202, 202, 200, 202, 202]
    assert [answers[i].json()["delivery"] for i in (0, 1, 3, 4)] == guids
    assert await _stored(intake_only) == 4


async def test_a_request_sent_a_byte_at_a_time_is_stored_whole(intake_only):
    guid = str(uuid.uuid4())
    raw = _request(guid=guid)
    async with _connect(intake_only.url) as (reader, writer):
        for i in range(len(raw)):
            writer.write(raw[i : i + 1])
            await writer.drain()
        answer = await _read_answer(reader)
    assert answer.status == 202
    row = await intake_only.runtime.pool.fetchrow(
        "SELECT event, action, installation_id FROM webhook_deliveries WHERE id = $1", guid
    )
    assert tuple(row) == ("issues", "labeled", 7)


async def test_a_large_body_is_stored_byte_for_byte(intake_only):
    padding = "x" * (5 * 1024 * 1024)
    body = json.dumps({"action": "edited", "issue": {"body": padding}}).encode()
    guid = str(uuid.uuid4())
    assert (await _exchange(intake_only.url, _request(body, guid=guid))).status == 202
    stored = await deliveries.get(intake_only.runtime.pool, guid)
    assert stored is not None and stored.payload == body


async def test_connection_close_is_honoured(intake_only):
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(_request(extra=("Connection: close",)))
        answer = await _read_answer(reader)
        assert answer.status == 202 and answer.headers["connection"] == "close"
        assert await _at_eof(reader)


async def test_a_client_that_stops_sending_still_gets_its_answer(intake_only):
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(_request())
        writer.write_eof()
        answer = await _read_answer(reader)
        assert answer.status == 202
        assert await _at_eof(reader)
    assert await _stored(intake_only) == 1


async def test_requests_received_before_a_half_close_are_all_answered(intake_only):
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(_request() + _request() + _request()[:50])  # and half of a third
        writer.write_eof()
        answers = [await _read_answer(reader) for _ in range(2)]
        assert [a.status for a in answers] == [202, 202]
        assert await _at_eof(reader)
    assert await _stored(intake_only) == 2


async def test_a_client_that_leaves_before_its_answer_loses_nothing(intake_only):
    guid = str(uuid.uuid4())
    async with _connect(intake_only.url) as (_reader, writer):
        writer.write(_request(guid=guid))
        await writer.drain()
    for _ in range(100):
        if await _stored(intake_only):
            break
        await asyncio.sleep(0.02)
    assert await _stored(intake_only) == 1
    assert (await _exchange(intake_only.url, _request(guid=guid))).status == 200  # duplicate


async def test_chunked_and_expect_continue_are_aiohttps_and_stored(intake_only):
    body = BODY.encode()
    guid = str(uuid.uuid4())
    chunked = _request(guid=guid).replace(
        f"Content-Length: {len(body)}\r\n".encode(), b"Transfer-Encoding: chunked\r\n"
    )
    head = chunked[: -len(body)]
    chunks = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert (await _exchange(intake_only.url, head + chunks)).status == 202

    async with _connect(intake_only.url) as (reader, writer):
        raw = _request(extra=("Expect: 100-continue",))
        writer.write(raw[: -len(body)])
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100")
        writer.write(body)
        assert (await _read_answer(reader)).status == 202
    assert await _stored(intake_only) == 2


async def test_a_declared_body_over_25_mb_is_refused_before_it_is_sent(intake_only):
    raw = _request(b"").replace(b"Content-Length: 0", b"Content-Length: 26214401")
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(raw)
        answer = await _read_answer(reader)
        assert answer.status == 413
        assert await _at_eof(reader)
    assert await _stored(intake_only) == 0


async def test_a_head_that_never_ends_is_handed_over_and_refused(intake_only):
    async with _connect(intake_only.url) as (reader, writer):
        writer.write(f"POST {PATH} HTTP/1.1\r\nX-Pad: ".encode())
        for _ in range(64):
            writer.write(b"a" * 1024)
        answer = await _read_answer(reader)
    assert answer.status == 400
    assert await _stored(intake_only) == 0


@asynccontextmanager
async def _front(bot, *, keepalive: float = 75.0, grace: float = 5.0) -> AsyncIterator[FrontSite]:
    site = FrontSite(
        bot.runner,
        "127.0.0.1",
        0,
        intake=bot.runner.app[INTAKE_KEY],
        grace=grace,
        keepalive=keepalive,
    )
    await site.start()
    try:
        yield site
    finally:
        if site._server is not None and site._server.is_serving():
            await site.stop()


async def test_a_silent_connection_is_closed_after_the_keepalive(intake_only):
    async with _front(intake_only, keepalive=0.3) as site:
        url = f"http://127.0.0.1:{site.port}"
        async with _connect(url) as (reader, writer):
            writer.write(_request())
            assert (await _read_answer(reader)).status == 202
            assert await _at_eof(reader, timeout=3.0)  # idle after its answer
        async with _connect(url) as (reader, writer):
            writer.write(_request()[:40])  # a head that stops
            assert await _at_eof(reader, timeout=3.0)


async def test_a_client_that_never_reads_is_let_go_after_the_keepalive(intake_only):
    """Answers the client never reads cannot be flushed, so closing its
    connection politely would wait for ever: after the keep-alive with
    neither a byte sent nor an answer read, the front drops it."""
    one = _request(json.dumps({"zen": "z" * 100_000, "hook_id": 1}).encode(), event="ping")
    async with _front(intake_only, keepalive=0.5) as site:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", site.port))
        sock.setblocking(False)
        try:
            await _fill_without_reading(sock, one, 64 * 1024 * 1024)
            for _ in range(100):
                if not site.front.connections:
                    break
                await asyncio.sleep(0.05)
            assert not site.front.connections
        finally:
            sock.close()


async def test_a_slow_reader_of_a_long_answer_is_not_idle(intake_only):
    """A client that sends nothing more but reads its long answer slowly is
    busy, not idle: it gets the answer whole, however long past the
    keep-alive it takes."""
    zen = "z" * 8_000_000
    raw = _request(json.dumps({"zen": zen, "hook_id": 1}).encode(), event="ping")
    async with _front(intake_only, keepalive=0.5) as site:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", site.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
        writer.write(raw)
        received = b""
        while b'"}' not in received[-4:]:
            chunk = await asyncio.wait_for(reader.read(16 * 1024), 5)
            assert chunk, len(received)  # not dropped mid-answer
            received += chunk
            await asyncio.sleep(0.01)  # some 5 s for the whole answer: 10 keep-alives
        writer.close()
    assert zen.encode() in received


async def test_a_stop_answers_what_it_received_and_closes_the_idle(intake_only):
    async with _front(intake_only) as site:
        url = f"http://127.0.0.1:{site.port}"
        async with _connect(url) as (idle_reader, idle_writer), _connect(url) as (reader, writer):
            idle_writer.write(_request())
            assert (await _read_answer(idle_reader)).status == 202
            raw = _request()
            writer.write(raw[:-10])  # a request half sent when the stop comes
            await writer.drain()
            await asyncio.sleep(0.1)
            stopping = asyncio.create_task(site.stop())
            assert await _at_eof(idle_reader)
            writer.write(raw[-10:])
            answer = await _read_answer(reader)
            assert answer.status == 202 and answer.headers["connection"] == "close"
            assert await _at_eof(reader)
            await asyncio.wait_for(stopping, 5)
        assert not site._server.is_serving()
    assert await _stored(intake_only) == 2


async def test_a_stop_gives_up_on_a_stalled_request_after_its_grace(intake_only):
    async with _front(intake_only, grace=0.3) as site:
        async with _connect(f"http://127.0.0.1:{site.port}") as (reader, writer):
            writer.write(_request()[:-10])
            await writer.drain()
            await asyncio.sleep(0.1)
            await asyncio.wait_for(site.stop(), 3)
            assert await _at_eof(reader)
    assert await _stored(intake_only) == 0


async def _fill_without_reading(sock: socket.socket, one: bytes, limit: int) -> int:
    """Send `one` over and over, reading nothing, until `limit` bytes are sent or
    the socket has taken nothing for a second; how many bytes were sent."""
    sent, stalled = 0, 0.0
    while sent < limit and stalled < 1.0:
        try:
            sent += sock.send(one[sent % len(one) :])
            stalled = 0.0
        except BlockingIOError:
            await asyncio.sleep(0.05)
            stalled += 0.05
    return sent


async def test_a_client_that_never_reads_its_answers_cannot_fill_the_memory(intake_only):
    """Pipelined pings whose answers are large, from a client that reads none:
    once the front cannot write, it stops reading as well, so the client's
    own socket fills and blocks it, instead of the front buffering without end
    everything sent. When the client reads again, every request is answered."""
    one = _request(json.dumps({"zen": "z" * 100_000, "hook_id": 1}).encode(), event="ping")
    async with _front(intake_only) as site:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing anyway
        sock.connect(("127.0.0.1", site.port))
        sock.setblocking(False)
        sent = await _fill_without_reading(sock, one, 64 * 1024 * 1024)
        [connection] = site.front.connections
        # What one read-ahead allows (256 KiB) and one read beyond it.
        held = len(connection.buffer)
        assert held <= 1024 * 1024, (sent, held)
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(one[sent % len(one) :])
        answers = [await _read_answer(reader) for _ in range(sent // len(one) + 1)]
        writer.close()
    assert {a.status for a in answers} == {200}


async def _slow_reader(site: FrontSite) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose answers queue in the front's own buffer: the client's
    socket takes little and reads nothing yet, the front's sends little."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", site.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    while not site.front.connections:
        await asyncio.sleep(0.01)
    [connection] = site.front.connections
    server_socket = connection.transport.get_extra_info("socket")
    server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return reader, writer


async def test_a_client_that_half_closes_with_its_answers_unread_gets_them_all(intake_only):
    """Two pipelined pings with large answers, then a half-close, the client
    reading nothing yet: the front, blocked writing the first answer when the
    end of the stream comes, still answers the second before it closes."""
    one = _request(json.dumps({"zen": "z" * 120_000, "hook_id": 1}).encode(), event="ping")
    async with _front(intake_only) as site:
        reader, writer = await _slow_reader(site)
        writer.write(one + one)
        writer.write_eof()
        await asyncio.sleep(0.5)  # the front has read both and the end
        answers = []
        while len(answers) < 2:
            try:
                answers.append(await _read_answer(reader))
            except asyncio.IncompleteReadError:
                break
        assert await _at_eof(reader)
        writer.close()
    assert [a.status for a in answers] == [200, 200]


async def test_nothing_after_connection_close_is_read_once_its_answer_is_sent(intake_only):
    """A request pipelined after one with `Connection: close` is not the
    front's to read, even when the closing answer took a while to write."""
    zen = json.dumps({"zen": "z" * 120_000, "hook_id": 1}).encode()
    after = str(uuid.uuid4())
    async with _front(intake_only) as site:
        reader, writer = await _slow_reader(site)
        writer.write(
            _request(zen, event="ping", extra=("Connection: close",)) + _request(guid=after)
        )
        await asyncio.sleep(0.5)  # the front has read both
        answer = await _read_answer(reader)
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert await _at_eof(reader)
        writer.close()
    assert await deliveries.get(intake_only.runtime.pool, after) is None


async def test_a_client_sending_faster_than_it_is_answered_is_held_to_the_read_ahead(
    intake_only,
):
    """Small pipelined requests sent far faster than they are answered (unsigned,
    so anyone can): the front reads ahead a bounded amount while it answers
    one, and does not add another read to its buffer with every answer."""
    one = _request(signature="sha256=" + "0" * 64)
    count = 16 * 1024 * 1024 // len(one)
    async with _front(intake_only) as site:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                for connection in site.front.connections:
                    most = max(most, len(connection.buffer))
                await asyncio.sleep(0)

        watching = asyncio.create_task(watch())
        writer.write(one * count)
        statuses = [(await _read_answer(reader)).status for _ in range(count)]
        watching.cancel()
        writer.close()
    assert set(statuses) == {401}
    assert most <= 1024 * 1024, most


async def test_the_front_and_aiohttp_stop_within_one_grace(intake_only):
    """A stalled upload on the front and another on a connection handed to
    aiohttp: the runner's clean-up gives up on both within the one shutdown
    grace, not the front's grace and then aiohttp's again (`docker stop`
    waits a little more than one)."""
    grace = 2.0
    runner = web.AppRunner(
        make_web_app(intake_only.runtime), **RUNNER_OPTIONS, shutdown_timeout=grace
    )
    await runner.setup()
    site = FrontSite(runner, "127.0.0.1", 0, intake=runner.app[INTAKE_KEY], grace=grace)
    await site.start()
    url = f"http://127.0.0.1:{site.port}"
    body = BODY.encode()
    chunked = _request().replace(
        f"Content-Length: {len(body)}\r\n".encode(), b"Transfer-Encoding: chunked\r\n"
    )[: -len(body)]
    async with _connect(url) as (front_reader, front), _connect(url) as (handed_reader, handed):
        front.write(_request()[:-10])
        handed.write(chunked + b"%x\r\n%s\r\n" % (len(body), body))  # no last chunk
        await asyncio.gather(front.drain(), handed.drain())
        await asyncio.sleep(0.2)
        assert len(site.front.connections) == 1  # the other is aiohttp's
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(runner.cleanup(), 4 * grace)
        took = loop.time() - started
        assert await _at_eof(front_reader) and await _at_eof(handed_reader)
    assert grace <= took < 1.5 * grace, took
    assert await _stored(intake_only) == 0


async def test_the_intake_time_counts_from_the_head_on_both_layers(intake_only, plain_site):
    """`codegen_bot_webhook_intake_seconds` is "time from request to answer":
    aiohttp's route starts it once the head is read, body still to come, so a
    slow upload counts; the front starts it at the same point."""

    def total() -> float:
        return metrics.REGISTRY.get_sample_value("codegen_bot_webhook_intake_seconds_sum")

    body = BODY.encode()
    took = {}
    for name, url in (("front", intake_only.url), ("aiohttp", plain_site)):
        raw = _request()
        before = total()
        async with _connect(url) as (reader, writer):
            writer.write(raw[: -len(body)])
            await writer.drain()
            await asyncio.sleep(0.5)
            writer.write(body)
            assert (await _read_answer(reader)).status == 202
        took[name] = total() - before
    assert min(took.values()) >= 0.4, took  # the head is read just after the sleep starts


async def test_the_front_under_serve_on_uvloop(dsn, fake_github, tmp_path):
    """`codegen-bot serve` runs on uvloop, the tests' own bot on asyncio's loop:
    the hand-over (set_protocol), a half-close and the read-ahead's pause and
    resume, on the real process."""
    port = free_port()
    server = await start_serve(serve_env(dsn, fake_github.url, port), tmp_path, "--role", "web")
    try:
        await wait_healthy(port)
        url = f"http://127.0.0.1:{port}"
        ping = _request(b'{"zen":"z","hook_id":1}', event="ping")
        async with _connect(url) as (reader, writer):
            writer.write(
                ping
                + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                + ping.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nConnection: close")
            )
            answers = [await _read_answer(reader) for _ in range(3)]
            assert [a.status for a in answers] == [200, 200, 200]
            assert answers[1].json()["status"] == "ok"
            assert await _at_eof(reader)
        async with _connect(url) as (reader, writer):
            writer.write(ping)
            writer.write_eof()
            assert (await _read_answer(reader)).status == 200
            assert await _at_eof(reader)

        big = _request(json.dumps({"zen": "z" * 100_000, "hook_id": 1}).encode(), event="ping")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        sent = await _fill_without_reading(sock, big, 64 * 1024 * 1024)
        assert sent < 32 * 1024 * 1024, sent  # the socket buffers, and a read-ahead
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(big[sent % len(big) :])
        answers = [await _read_answer(reader) for _ in range(sent // len(big) + 1)]
        assert {a.status for a in answers} == {200}
        writer.close()
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(server.communicate(), 30)
    assert server.returncode == 0, err.decode()[-2000:]


async def test_a_connection_handed_to_aiohttp_closes_when_idle_too(intake_only):
    """aiohttp's own keep-alive is the front's (an AppRunner's default is an hour)."""
    handler = intake_only.runner.server()
    try:
        assert handler._keepalive_timeout == KEEPALIVE_SECONDS
    finally:
        handler.force_close()
