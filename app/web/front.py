"""The web port's front: GitHub's deliveries answered without aiohttp's
per-request cost, everything else handed to aiohttp.

Measured on the intake (benchmarks/README.md), aiohttp's request handling took
most of the bot's CPU a delivery, more than the signature, the parse and the
store together, which held the intake under Probot's no-op rate. This protocol
takes only the plain case, `POST /api/github/webhooks HTTP/1.1` with one
`Content-Length` and no transfer coding, expectation or upgrade, which is what
GitHub sends. On the first byte of any other request it hands the connection,
with every byte not yet answered, to aiohttp's own protocol for good: the
dashboard, the API and every unusual or malformed message meet aiohttp's
parser and the app's routes exactly as before. The decision itself is the
intake's (`WebhookIntake.accept`), shared with aiohttp's route."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import cast

from aiohttp import web

from app.web.intake import Answer, WebhookIntake
from app.web.plain_http import MAX_HEAD_BYTES, REQUEST_LINE, WebhookHead, answer_bytes, parse_head

log = logging.getLogger(__name__)

# An idle connection is closed after this long, by the front and, for the
# connections handed over, by aiohttp (app/web/server.py RUNNER_OPTIONS): the
# keep-alive of aiohttp's `run_app` (a bare AppRunner would keep one an hour).
KEEPALIVE_SECONDS = 75.0
# Bytes a client may send ahead while its request is being stored, or while
# its answers wait for it to read them.
_READ_AHEAD = 256 * 1024


class Front:
    """The connections of one listening socket, for a graceful stop."""

    def __init__(
        self,
        intake: WebhookIntake,
        fallback: Callable[[], asyncio.Protocol],
        *,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.intake = intake
        self.fallback = fallback  # aiohttp's `web.Server`: makes its protocol
        self.keepalive = keepalive
        self.connections: set[FrontConnection] = set()
        self.closing = False
        self._drained: asyncio.Event | None = None

    def __call__(self) -> FrontConnection:
        return FrontConnection(self)

    def forget(self, connection: FrontConnection) -> None:
        self.connections.discard(connection)
        if self._drained is not None and not self.connections:
            self._drained.set()

    async def stop(self, grace: float) -> None:
        """Close what is idle now and the rest once answered, waiting at most
        `grace` seconds; a request still unanswered then gets no answer (its
        delivery was not acknowledged, so GitHub shows it failed)."""
        self.closing = True
        for connection in list(self.connections):
            connection.close_if_idle()
        if self.connections:
            self._drained = asyncio.Event()
            try:
                async with asyncio.timeout(grace):
                    await self._drained.wait()
            except TimeoutError:
                pass
        for connection in list(self.connections):
            connection.abort()


class FrontConnection(asyncio.Protocol):
    """One client connection while it sends plain webhook POSTs."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.scanned = 0  # where to look on for the end of the head
        self.head: WebhookHead | None = None
        self.head_at = 0.0  # when the head was read: the intake's time starts there
        self.body_at = 0
        self.busy = False  # a request is being stored or answered
        self.eof = False
        self.paused = False  # reading paused while a request is busy or blocked
        self.blocked = False  # the client does not read its answers
        self.last_seen = 0.0  # when it last sent a byte or read some of its answers
        self.unsent = 0  # answer bytes the transport held at the last idle check
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None  # the request being answered

    # asyncio's protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.front.connections.add(self)
        loop = asyncio.get_running_loop()
        self.last_seen = loop.time()
        self.timer = loop.call_at(self.last_seen + self.front.keepalive, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_seen = asyncio.get_running_loop().time()
        if self.busy or self.blocked:
            if not self.paused and len(self.buffer) > _READ_AHEAD:
                self.paused = True
                self.transport.pause_reading()
            return
        self._advance()

    def eof_received(self) -> bool | None:
        self.eof = True
        # Keep the transport open to answer a request being stored, or those
        # received while the client did not read its answers (`_advance`
        # closes once none is left); a partial one can never complete.
        return True if self.busy or self.blocked else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport = None
        self.front.forget(self)

    def pause_writing(self) -> None:
        self.blocked = True

    def resume_writing(self) -> None:
        self.blocked = False
        if not self.busy and self.transport is not None:
            self._advance()
            self._read_again()

    # the requests

    def _advance(self) -> None:
        """Take the next whole request from the buffer, or hand over."""
        buffer = self.buffer
        transport = self.transport
        if transport is None or self.busy or self.blocked:
            return
        if transport.is_closing():
            # Closed after an answer with `Connection: close` (or at a stop)
            # that is still being written: resume_writing comes once it
            # drains, and what was pipelined after it is not to be read.
            return
        if self.head is None:
            if not buffer:
                if self.eof or self.front.closing:
                    transport.close()
                return
            if not REQUEST_LINE.startswith(bytes(buffer[: len(REQUEST_LINE)])):
                self._hand_over()
                return
            end = buffer.find(b"\r\n\r\n", self.scanned)
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._hand_over()
                elif self.eof:
                    transport.close()  # a head that can no longer end
                else:
                    self.scanned = max(0, len(buffer) - 3)
                return
            head = parse_head(bytes(buffer[:end]))
            if head is None:
                self._hand_over()
                return
            self.head, self.body_at = head, end + 4
            self.head_at = time.perf_counter()
        head, body_at = self.head, self.body_at
        end = body_at + head.length
        if len(buffer) < end:
            if self.eof:
                transport.close()
            return
        with memoryview(buffer) as view:  # one copy of a body of up to 25 MB, not two
            body = bytes(view[body_at:end])
        del buffer[:end]
        self.head, self.scanned = None, 0
        self.busy = True
        # Held here: the loop keeps only a weak reference to a running task.
        self.task = asyncio.get_running_loop().create_task(self._answer(head, body, self.head_at))

    async def _answer(self, head: WebhookHead, body: bytes, started: float) -> None:
        intake = self.front.intake
        try:
            answer = await intake.accept(
                head.event, head.delivery, head.signature, head.sha1_sent, body
            )
        except Exception:  # the intake answers its own failures; this is a bug
            log.exception("webhook intake failed on delivery %s", head.delivery)
            answer = Answer(500, {"error": "internal error; please redeliver"}, None, "error")
        intake.count(answer, head.event, started)
        self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # the client left; a stored delivery stays stored
        # After a half-close, requests already received are still answered;
        # `_advance` closes once none is left.
        close = head.close or self.front.closing
        transport.write(answer_bytes(answer.status, answer.body(), close=close))
        if close:
            transport.close()
            return
        self._advance()
        self._read_again()

    def _read_again(self) -> None:
        """Read on once nothing holds the buffer back, or it is under the
        read-ahead: resumed on every answer instead, a client sending faster
        than its requests are stored would add a read to the buffer each time."""
        transport = self.transport
        if not self.paused or transport is None or transport.is_closing():
            return
        if (self.busy or self.blocked) and len(self.buffer) > _READ_AHEAD:
            return
        self.paused = False
        transport.resume_reading()

    def _hand_over(self) -> None:
        """Give this connection, from its first unanswered byte, to aiohttp."""
        transport = self.transport
        assert transport is not None and not self.busy
        if self.front.closing:
            transport.close()
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.paused:
            self.paused = False
            transport.resume_reading()
        self.front.forget(self)
        self.transport = None
        protocol = self.front.fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        pending = bytes(self.buffer)
        self.buffer.clear()
        if pending:
            protocol.data_received(pending)
        if self.eof:
            protocol.eof_received()

    # closing

    def _check_idle(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None:
            return
        loop = asyncio.get_running_loop()
        unsent = transport.get_write_buffer_size()
        if unsent < self.unsent:
            self.last_seen = loop.time()
        self.unsent = unsent
        due = self.last_seen + self.front.keepalive
        if self.busy or loop.time() < due:
            self.timer = loop.call_at(max(due, loop.time() + 1.0), self._check_idle)
            return
        # Silent for KEEPALIVE_SECONDS, mid-request or not. Answers it has not
        # read would hold a polite close open for ever: then drop it.
        if unsent:
            transport.abort()
        else:
            transport.close()

    def close_if_idle(self) -> None:
        """At shutdown: close now unless a request is being received or stored."""
        if self.transport is not None and not self.busy and not self.buffer:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class FrontSite(web.TCPSite):
    """aiohttp's TCP site with the front before its protocol."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int,
        *,
        intake: WebhookIntake,
        grace: float,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        super().__init__(runner, host, port)
        assert runner.server is not None
        self.front = Front(intake, runner.server, keepalive=keepalive)
        self.grace = grace

    async def start(self) -> None:
        self._runner._reg_site(self)  # what BaseSite.start does
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.front, self._host, self._port, backlog=self._backlog
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()  # no new connection
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.front.stop(self.grace)
        # The runner's clean-up then waits for the connections handed to
        # aiohttp: what the front took comes off that wait, so that both stop
        # within one grace. aiohttp takes a timeout of 0 for none at all.
        runner = self._runner
        left = runner._shutdown_timeout - (loop.time() - started)
        runner._shutdown_timeout = max(left, 0.001)
        await super().stop()
