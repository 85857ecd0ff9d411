"""The REST API against requests no ordinary client sends: bytes on the wire
that a library would not produce, a body that arrives in pieces. Each gets the
API's own answer (4xx with its JSON), never a 500 or a truncated reading."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from urllib.parse import urlsplit

import pytest

from tests.support.api import READ_KEY, WRITE_KEY, call, task_body
from tests.support.bot import running_bot
from tests.support.flow import INSTALLATION, REPO


@pytest.fixture
def api_settings(flow_settings):
    return dataclasses.replace(
        flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}", f"dashboard:read:{READ_KEY}")
    )


async def _raw(url: str, head: bytes, *parts: bytes) -> tuple[int, dict]:
    """Send the request head and then each part as its own write, a pause
    between (as a slow client's TCP segments arrive); the status and JSON."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(head)
        await writer.drain()
        for part in parts:
            await asyncio.sleep(0.3)
            writer.write(part)
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    _headers, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


async def test_a_body_that_arrives_in_pieces_is_read_whole(api_settings, seeded):
    body = json.dumps({"title": "Export", "repository": "not a repository"}).encode()
    head = (
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n"
        + f"X-API-Key: {WRITE_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    async with running_bot(api_settings) as bot:
        status, error = await _raw(bot.url, head, body[:20], body[20:])
        # Over the limit in chunks (no Content-Length to refuse it by): 413, not 400.
        chunked = head.replace(
            f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked"
        )
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        over, big = await _raw(bot.url, chunked, b"2\r\n{}\r\n", chunk * 17, b"0\r\n\r\n")
    # The whole body is a well-formed JSON object with a bad field: 422, not 400.
    assert status == 422, error
    assert error["details"][0]["field"] == "repository"
    assert over == 413, big


async def test_a_key_that_is_not_utf8_is_refused_not_a_crash(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        for header in (b"X-API-Key: \xff" + b"k" * 20, b"Authorization: Bearer \xff" + b"k" * 20):
            head = b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            status, error = await _raw(bot.url, head + header + b"\r\n\r\n")
            assert status == 401, error
            assert error["error"] == "unauthorized"


async def test_a_task_id_of_digits_int_cannot_read_is_not_found(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        for path in ("/api/v1/tasks/%C2%B2", "/api/v1/codegen/status/%C2%B2"):
            async with bot.session.get(bot.url + path, headers={"X-API-Key": READ_KEY}) as r:
                assert r.status == 404, (path, await r.text())


async def test_a_client_cannot_pick_its_address_beside_the_proxys_header(api_settings, seeded):
    """A proxy that adds its own header line (HAProxy's `option forwardfor`)
    leaves the client's line first: the proxy's, the last one, names the client."""
    settings = dataclasses.replace(
        api_settings, api_rate_limit=2, api_client_address_header="X-Forwarded-For"
    )
    async with running_bot(settings) as bot:
        statuses = []
        for n in range(3):
            head = (
                b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + f"X-API-Key: {READ_KEY if n % 2 else WRITE_KEY}\r\n".encode()
                + f"X-Forwarded-For: 192.0.2.{n}\r\n".encode()  # the client's own
                + b"X-Forwarded-For: 203.0.113.7\r\n\r\n"  # the proxy's
            )
            statuses.append((await _raw(bot.url, head))[0])
        buckets = await bot.runtime.pool.fetch("SELECT bucket FROM api_rate_limits")
    assert statuses == [200, 200, 429]
    assert {r["bucket"] for r in buckets} >= {"address:203.0.113.7"}


async def test_an_issue_moved_to_another_repository_is_not_taken_for_this_ones(
    api_settings, seeded
):
    """GitHub answers a transferred issue's old address with a 301 to its new
    one; the redirect is followed, and the answer is another repository's issue."""
    seeded.add_repo("octo-org/gadgets", installation_id=INSTALLATION)
    seeded.add_issue("octo-org/gadgets", 3, title="Someone else's issue")
    seeded.add_issue(REPO, 12, title="Moved away")
    seeded.transfer_issue(REPO, 12, "octo-org/gadgets", 3)
    async with running_bot(api_settings) as bot:
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body(issue_number=12))
        count = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert status == 422, error
    assert error["details"][0]["field"] == "issue_number"
    assert count == 0
    assert seeded.comments_on("octo-org/gadgets", 3) == []


async def test_a_time_at_the_calendars_ends_is_refused_not_a_crash(api_settings, seeded):
    """The first and last days there are, with an offset that takes UTC past them."""
    async with running_bot(api_settings) as bot:
        for since in ("0001-01-01T00:00:00%2B05:00", "9999-12-31T23:59:59-05:00"):
            path = f"/api/v1/tasks?created_since={since}"
            status, error, _ = await call(bot, "GET", path, key=READ_KEY)
            assert status in (200, 422), (since, error)
            if status == 422:
                assert error["details"][0]["field"] == "created_since", error
