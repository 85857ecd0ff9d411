"""WEBHOOK_PROXY_URL: the bot subscribes to a smee.io channel and feeds each
delivery to its own intake, which checks the signature as for a direct one.

A local aiohttp server plays smee.io: GitHub (the fake) POSTs a delivery to the
channel, the server turns it into a server-sent event the way smee.io does
(`{...headers, "body": ..., "query": ..., "timestamp": ...}`, JSON.stringify'd)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.db import create_pool
from app.deliveries.store import decode_payload
from app.onboarding.proxy import (
    ProxyError,
    SseDecoder,
    WebhookProxy,
    backoff,
    delivery_from_event,
)
from app.service import build_runtime, loopback_intake_url
from app.web.server import RUNNER_OPTIONS, make_web_app
from tests.support.bot import WEBHOOK_SECRET, sign
from tests.support.flow import wait_until


def js_stringify(value: Any) -> str:
    """JSON.stringify for JSON-shaped values (compact, non-ASCII kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class FakeSmee:
    """smee.io on 127.0.0.1: `GET /{channel}` (event stream), `POST /{channel}`."""

    def __init__(self) -> None:
        self.listeners: list[asyncio.Queue[str | None]] = []
        self.connections = 0
        self.sent: list[str] = []  # data of every event emitted
        self.refuse = False  # answer the stream with 503 (smee.io down)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/{channel}", self._stream)
        app.router.add_post("/{channel}", self._post)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self.drop()
        assert self._runner is not None
        await self._runner.cleanup()

    def channel(self, name: str = "Abc123channel") -> str:
        return f"{self.url}/{name}"

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if self.refuse or request.headers.get("Accept") != "text/event-stream":
            return web.Response(status=503, text="unavailable")
        self.connections += 1
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.listeners.append(queue)
        await response.write(f"id: {self.connections}\nevent: ready\ndata: {{}}\n\n".encode())
        try:
            while True:
                data = await queue.get()
                if data is None:  # dropped: cut the connection mid-stream
                    if request.transport is not None:
                        request.transport.close()
                    return response
                await response.write(f"data: {data}\n\n".encode())
        finally:
            self.listeners.remove(queue)

    async def _post(self, request: web.Request) -> web.Response:
        payload = {k.lower(): v for k, v in request.headers.items()}
        payload["body"] = json.loads(await request.read())
        payload["query"] = dict(request.query)
        payload["timestamp"] = int(time.time() * 1000)
        self.emit(js_stringify(payload))
        return web.Response(status=200)

    def emit(self, data: str) -> None:
        self.sent.append(data)
        for queue in self.listeners:
            queue.put_nowait(data)

    def drop(self) -> None:
        for queue in self.listeners:
            queue.put_nowait(None)


@pytest.fixture
async def smee() -> AsyncIterator[FakeSmee]:
    server = FakeSmee()
    await server.start()
    yield server
    await server.close()


@dataclass
class ProxiedBot:
    url: str
    proxy: WebhookProxy
    pool: Any
    session: aiohttp.ClientSession
    statuses: list[int] = field(default_factory=list)

    async def stored(self, guid: str) -> int:
        return await self.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE id = $1", guid
        )

    async def status_page(self) -> str:
        async with self.session.get(self.url + "/") as response:
            assert response.status == 200
            return await response.text()


@contextlib.asynccontextmanager
async def proxied_bot(settings, source: str) -> AsyncIterator[ProxiedBot]:
    """The bot's real web server (no worker: deliveries stay stored) with the
    proxy started the way app.service starts it."""
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    session = aiohttp.ClientSession()
    runtime = build_runtime(settings, pool, settings.database_url, session)
    proxy = WebhookProxy(source, backoff_base=0.05, backoff_max=0.4, idle_timeout=5.0)
    runner = web.AppRunner(make_web_app(runtime, proxy=proxy), **RUNNER_OPTIONS)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await proxy.start(loopback_intake_url("0.0.0.0", port))  # noqa: S104
    try:
        yield ProxiedBot(f"http://127.0.0.1:{port}", proxy, pool, session)
    finally:
        await proxy.stop()
        await runner.cleanup()
        await runtime.codegen.aclose()
        await session.close()
        await pool.close()


def _compact(payload: dict[str, Any]) -> bytes:
    """A delivery body as GitHub sends it: minified JSON."""
    return js_stringify(payload).encode()


async def test_a_forwarded_delivery_is_verified_and_stored_once(
    settings, smee, fake_github, example_payload
):
    async with proxied_bot(settings, smee.channel()) as bot:
        await wait_until(lambda: bot.proxy.connected, timeout=10)
        guid = str(uuid.uuid4())
        body = _compact(example_payload("issues", "opened") | {"note": "naïve ☃ </script>"})
        # GitHub delivers to the channel; smee.io turns it into an event.
        await fake_github.send_webhook(
            smee.channel(), "issues", body, secret=WEBHOOK_SECRET, guid=guid
        )
        await wait_until(lambda: bot.proxy.forwarded >= 1)
        assert await bot.stored(guid) == 1
        row = await bot.pool.fetchrow("SELECT payload, event FROM webhook_deliveries")
        assert row["event"] == "issues"
        # the bytes GitHub signed, as they were (stored zstd-compressed: app.deliveries.store)
        assert decode_payload(bytes(row["payload"])) == body
        # The same event again (smee.io replays, a redelivery): stored once.
        smee.emit(smee.sent[-1])
        await wait_until(lambda: bot.proxy.forwarded >= 2)
        assert await bot.stored(guid) == 1
        assert await bot.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1


async def test_a_bad_signature_is_refused(settings, smee, fake_github, example_payload):
    async with proxied_bot(settings, smee.channel()) as bot:
        await wait_until(lambda: bot.proxy.connected, timeout=10)
        guid = str(uuid.uuid4())
        await fake_github.send_webhook(
            smee.channel(),
            "issues",
            _compact(example_payload("issues", "opened")),
            secret="not-the-secret",
            guid=guid,
        )
        await wait_until(lambda: bot.proxy.forwarded >= 1)
        assert await bot.stored(guid) == 0
        # A body changed on the way (the signature was over other bytes): refused too.
        event = json.loads(smee.sent[-1])
        good = _compact(example_payload("issues", "opened"))
        event.update({"x-hub-signature-256": sign(good), "x-github-delivery": "tampered"})
        event["body"]["action"] = "deleted"
        smee.emit(js_stringify(event))
        await wait_until(lambda: bot.proxy.forwarded >= 2)
        assert await bot.stored("tampered") == 0
        assert await bot.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


async def test_a_dropped_stream_reconnects_and_delivers_the_next_event(
    settings, smee, fake_github, example_payload
):
    async with proxied_bot(settings, smee.channel()) as bot:
        await wait_until(lambda: bot.proxy.connected, timeout=10)
        assert "connected to 127.0.0.1" in await bot.status_page()
        smee.refuse = True  # smee.io is down for a while
        smee.drop()
        await wait_until(lambda: not bot.proxy.connected)
        await wait_until(lambda: bot.proxy.reconnects >= 2)  # retried, refused, retried
        page = await bot.status_page()
        assert "disconnected from 127.0.0.1" in page
        assert "Abc123channel" not in page  # the channel is a secret: never shown
        smee.refuse = False
        await wait_until(lambda: bot.proxy.connected, timeout=10)
        assert smee.connections == 2
        guid = str(uuid.uuid4())
        await fake_github.send_webhook(
            smee.channel(),
            "issues",
            _compact(example_payload("issues", "opened")),
            secret=WEBHOOK_SECRET,
            guid=guid,
        )
        await wait_until(lambda: bot.proxy.forwarded >= 1)
        assert await bot.stored(guid) == 1
        assert "connected to 127.0.0.1" in await bot.status_page()


async def test_a_deeply_nested_event_does_not_stop_the_proxy(
    settings, smee, fake_github, example_payload
):
    """Anyone who knows the channel can post to it: an event Python's JSON
    decoder cannot nest that deep is skipped, and the next one still arrives."""
    async with proxied_bot(settings, smee.channel()) as bot:
        await wait_until(lambda: bot.proxy.connected, timeout=10)
        smee.emit('{"x-github-event":"issues","body":' + "[" * 5000 + "]" * 5000 + "}")
        guid = str(uuid.uuid4())
        await fake_github.send_webhook(
            smee.channel(),
            "issues",
            _compact(example_payload("issues", "opened")),
            secret=WEBHOOK_SECRET,
            guid=guid,
        )
        await wait_until(lambda: bot.proxy.forwarded >= 1, timeout=10)
        assert await bot.stored(guid) == 1
        assert bot.proxy.connected and bot.proxy.reconnects == 0


async def test_a_header_with_a_control_character_does_not_stop_the_proxy(
    settings, smee, fake_github, example_payload
):
    async with proxied_bot(settings, smee.channel()) as bot:
        await wait_until(lambda: bot.proxy.connected, timeout=10)
        smee.emit('{"x-github-event":"issues","x-bad":"a\\u0001b","body":{}}')
        guid = str(uuid.uuid4())
        await fake_github.send_webhook(
            smee.channel(),
            "issues",
            _compact(example_payload("issues", "opened")),
            secret=WEBHOOK_SECRET,
            guid=guid,
        )
        await wait_until(lambda: bot.proxy.forwarded >= 2, timeout=10)
        assert await bot.stored(guid) == 1
        assert bot.proxy.connected and bot.proxy.reconnects == 0


async def test_without_the_variable_the_status_page_has_no_proxy(bot):
    async with bot.session.get(bot.url + "/") as response:
        assert "webhook proxy" not in await response.text()


# --------------------------------------------------------------------------- pure parts


def test_sse_decoder_follows_the_event_stream_rules():
    decoder = SseDecoder()
    stream = (
        b": a comment\r\nevent: ping\r\ndata: {}\r\n\r\n"
        b'id: 3\ndata: {"a":\ndata: 1}\n\n'
        b"data:no-space\n\n\n"
    )
    events = []
    for i in range(len(stream)):  # one byte at a time: chunk edges anywhere
        events += decoder.feed(stream[i : i + 1])
    assert [(e.event, e.data) for e in events] == [
        ("ping", "{}"),
        ("message", '{"a":\n1}'),
        ("message", "no-space"),
    ]


def test_sse_decoder_refuses_an_endless_line():
    decoder = SseDecoder(limit=1000)
    with pytest.raises(ProxyError):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 100)


def test_the_body_is_forwarded_as_the_text_in_the_event():
    body = '{"n":1e5,"f":1.50,"s":"\\u00e9 é \\/","big":12345678901234567890,"a":[ ]}'
    data = (
        '{"host":"smee.io","x-github-event":"issues","content-length":"99",'
        '"x-hub-signature-256":"sha256=ab","body":' + body + ',"query":{},"timestamp":1,'
        '"x-evil":"a\\r\\nInjected: 1","bad name":"x","x-number":5}'
    )
    headers, forwarded = delivery_from_event(data)
    assert forwarded == body.encode()
    assert headers == {
        "x-github-event": "issues",
        "x-hub-signature-256": "sha256=ab",
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("data", ["[]", '{"x-github-event":"issues"}', '{"body":', "{"])
def test_an_event_without_a_body_is_skipped(data):
    with pytest.raises(ProxyError):
        delivery_from_event(data)


def test_backoff_doubles_and_is_capped():
    delays = [backoff(n, 1.0, 60.0) for n in range(1, 10)]
    assert 1.0 <= delays[0] <= 1.1 and 2.0 <= delays[1] <= 2.2
    assert all(60.0 <= d <= 66.0 for d in delays[6:])


async def test_serve_starts_the_proxy_and_stops_it_on_sigterm(
    dsn, smee, fake_github, example_payload, tmp_path
):
    """`codegen-bot serve` with WEBHOOK_PROXY_URL: a real process, as on a laptop."""
    from tests.support.serve import free_port, serve_env, start_serve, wait_healthy

    port = free_port()
    env = serve_env(dsn, fake_github.url, port, WEBHOOK_PROXY_URL=smee.channel())
    server = await start_serve(env, tmp_path, "--role", "web")
    try:
        await wait_healthy(port)
        await wait_until(lambda: smee.listeners, timeout=20)
        guid = str(uuid.uuid4())
        await fake_github.send_webhook(
            smee.channel(),
            "issues",
            _compact(example_payload("issues", "opened")),
            secret=WEBHOOK_SECRET,
            guid=guid,
        )
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            await wait_until(
                lambda: pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE id = $1", guid)
            )
        finally:
            await pool.close()
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(server.communicate(), 30)
    assert server.returncode == 0
    log = err.decode()
    assert f"webhook proxy: connected to 127.0.0.1:{smee.url.rsplit(':', 1)[1]}" in log
    assert f"delivery {guid} answered 202" in log
    assert "Abc123channel" not in log  # the channel is a secret
