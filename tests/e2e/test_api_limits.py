"""The REST API's rate limits (per key and per client address, shared through
PostgreSQL by every server process) and its Idempotency-Key: the same answer
and one effect for a repeated POST."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import aiohttp
import pytest

from tests.support.api import READ_KEY, WRITE_KEY, call, task_body
from tests.support.bot import running_bot
from tests.support.flow import REPO, wait_until
from tests.support.serve import free_port, serve_env, start_serve, wait_healthy

KEYS = (f"ci-runner:write:{WRITE_KEY}", f"dashboard:read:{READ_KEY}")


@pytest.fixture
def api_settings(flow_settings):
    return dataclasses.replace(flow_settings, api_keys=KEYS)


async def _get_from(address: str, url: str, key: str) -> tuple[int, dict, dict]:
    """A request from another loopback address: a client elsewhere."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers={"X-API-Key": key}) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def test_a_key_past_its_limit_gets_429_with_retry_after_from_any_address(
    api_settings, seeded
):
    settings = dataclasses.replace(api_settings, api_rate_limit=3, api_rate_window_seconds=600)
    async with running_bot(settings) as bot:
        for _ in range(3):
            status, _, _ = await call(bot, "GET", "/api/v1/tasks", key=READ_KEY)
            assert status == 200
        url = f"{bot.url}/api/v1/tasks"
        status, error, headers = await _get_from("127.0.0.2", url, READ_KEY)
        assert status == 429 and error["error"] == "rate_limited", error
        assert 1 <= int(headers["Retry-After"]) <= 600
        # another key from that address is within both of its limits
        status, _, _ = await _get_from("127.0.0.2", url, WRITE_KEY)
        assert status == 200
        # the first address is at its limit: any key from it is refused now
        status, _, headers = await call(bot, "GET", "/api/v1/tasks", key=WRITE_KEY)
        assert status == 429 and int(headers["Retry-After"]) >= 1
        hits = await bot.runtime.pool.fetch("SELECT bucket, hits FROM api_rate_limits")
    assert {r["bucket"]: r["hits"] for r in hits} == {
        "address:127.0.0.1": 4,
        "address:127.0.0.2": 2,
        "key:dashboard": 4,
        "key:ci-runner": 1,
    }


async def test_guessing_keys_is_limited_by_the_address(api_settings, seeded):
    settings = dataclasses.replace(api_settings, api_rate_limit=2)
    async with running_bot(settings) as bot:
        answers = [
            (await call(bot, "GET", "/api/v1/tasks", key=f"guess-{n:016d}"))[0] for n in range(4)
        ]
    assert answers == [401, 401, 429, 429]


async def test_the_limit_is_shared_by_two_server_processes(dsn, seeded, tmp_path):
    """Two `serve --role web` processes on one database count one limit, and
    neither logs a key, not even the one that was refused."""
    ports = [free_port(), free_port()]
    wrong = "wrong-key-" + "z" * 20
    servers = []
    for port in ports:
        env = serve_env(
            dsn,
            seeded.url,
            port,
            API_KEYS=",".join(KEYS),
            API_RATE_LIMIT="5",
            LOG_LEVEL="DEBUG",
        )
        folder = tmp_path / str(port)
        folder.mkdir()
        servers.append(await start_serve(env, folder, "--role", "web"))
    try:
        for port in ports:
            await wait_healthy(port)
        answers = []
        async with aiohttp.ClientSession() as session:
            for n in range(6):
                port = ports[n % 2]
                async with session.get(
                    f"http://127.0.0.1:{port}/api/v1/tasks", headers={"X-API-Key": READ_KEY}
                ) as response:
                    answers.append(response.status)
            async with session.get(
                f"http://127.0.0.1:{ports[0]}/api/v1/tasks", headers={"X-API-Key": wrong}
            ) as response:
                assert response.status == 429  # the address is over too
    finally:
        logs = []
        for server in servers:
            server.terminate()
            with contextlib.suppress(TimeoutError):
                _, err = await asyncio.wait_for(server.communicate(), 30)
                logs.append(err.decode())
    assert answers == [200, 200, 200, 200, 200, 429]
    assert len(logs) == 2 and "listening on" in logs[0]
    for text in logs:
        assert READ_KEY not in text and WRITE_KEY not in text and wrong not in text


async def test_a_repeated_post_with_an_idempotency_key_makes_one_task(
    api_settings, seeded, fake_codegen
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        headers = {"Idempotency-Key": "create-export-json-1"}
        first = await call(bot, "POST", "/api/v1/tasks", json=task_body(), headers=headers)
        again = await call(bot, "POST", "/api/v1/tasks", json=task_body(), headers=headers)
        assert first[0] == again[0] == 201, (first, again)
        assert first[1] == again[1]
        assert "Idempotent-Replayed" not in first[2] and again[2]["Idempotent-Replayed"] == "true"
        # the same JSON with its keys in another order is the same request
        reordered = dict(reversed(list(task_body().items())))
        third = await call(bot, "POST", "/api/v1/tasks", json=reordered, headers=headers)
        assert third[0] == 201 and third[1] == first[1]
        status, error, _ = await call(
            bot, "POST", "/api/v1/tasks", json=task_body(title="Another"), headers=headers
        )
        assert status == 422 and error["error"] == "idempotency_key_reused", error
        assert error["details"][0]["field"] == "Idempotency-Key"
        await bot.wait_idle()
        assert fake_codegen.created == []  # made `created`: nothing runs before create-pr
        # create-pr repeated with its key starts one run
        start = {"task_id": first[1]["id"]}
        headers = {"Idempotency-Key": "start-export-json-1"}
        one = await call(bot, "POST", "/api/v1/codegen/create-pr", json=start, headers=headers)
        two = await call(bot, "POST", "/api/v1/codegen/create-pr", json=start, headers=headers)
        assert one[0] == two[0] == 202 and one[1] == two[1], (one, two)
        await wait_until(lambda: len(fake_codegen.created) == 1)
        await bot.wait_idle()
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert tasks == 1
    assert len(seeded.issues[REPO]) == 2  # issue 7 and the one opened once
    assert len(fake_codegen.created) == 1


async def test_concurrent_repeats_make_one_task_and_refusals_are_replayed(
    api_settings, seeded, fake_codegen
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        headers = {"Idempotency-Key": "race-1"}
        answers = await asyncio.gather(
            *(
                call(bot, "POST", "/api/v1/tasks", json=task_body(), headers=headers)
                for _ in range(4)
            )
        )
        statuses = sorted(a[0] for a in answers)
        assert statuses[0] == 201 and set(statuses) <= {201, 409}, answers
        for status, body, _ in answers:
            if status == 409:
                assert body["error"] == "in_progress"
        # a refusal of the endpoint is an answer too: the repeat gets it again
        body = task_body(issue_number=7)
        first = await call(bot, "POST", "/api/v1/tasks", json=body)
        assert first[0] == 201
        conflict = {"Idempotency-Key": "on-issue-7"}
        refused = await call(bot, "POST", "/api/v1/tasks", json=body, headers=conflict)
        repeat = await call(bot, "POST", "/api/v1/tasks", json=body, headers=conflict)
        assert refused[0] == repeat[0] == 409 and refused[1] == repeat[1]
        assert repeat[2]["Idempotent-Replayed"] == "true"
        status, error, _ = await call(
            bot, "POST", "/api/v1/tasks", json=body, headers={"Idempotency-Key": "x" * 300}
        )
        assert status == 400 and error["error"] == "bad_idempotency_key"
        await bot.wait_idle()
        tasks = await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks")
    assert tasks == 2


async def test_idempotency_keys_of_two_api_keys_do_not_meet(flow_settings, seeded, fake_codegen):
    other = "other-write-key-0123456789abcdef"
    settings = dataclasses.replace(
        flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}", f"deploys:write:{other}")
    )
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(settings) as bot:
        headers = {"Idempotency-Key": "same"}
        one = await call(bot, "POST", "/api/v1/tasks", json=task_body(), headers=headers)
        two = await call(bot, "POST", "/api/v1/tasks", key=other, json=task_body(), headers=headers)
        assert one[0] == two[0] == 201 and one[1]["id"] != two[1]["id"]
        assert two[1]["triggered_by"] == "api-key:deploys"


async def test_behind_a_proxy_the_address_is_the_one_its_header_names(api_settings, seeded):
    settings = dataclasses.replace(
        api_settings, api_rate_limit=2, api_client_address_header="Fly-Client-IP"
    )
    async with running_bot(settings) as bot:

        async def get(key: str, address: str) -> int:
            headers = {"Fly-Client-IP": address}
            return (await call(bot, "GET", "/api/v1/tasks", key=key, headers=headers))[0]

        assert [await get(READ_KEY, "203.0.113.7"), await get(READ_KEY, "203.0.113.7")] == [
            200,
            200,
        ]
        assert await get(WRITE_KEY, "203.0.113.7") == 429  # that client is at its limit
        assert await get(WRITE_KEY, "198.51.100.4") == 200  # another client is not
        buckets = await bot.runtime.pool.fetch("SELECT bucket, hits FROM api_rate_limits")
    assert {r["bucket"]: r["hits"] for r in buckets} == {
        "address:203.0.113.7": 3,
        "address:198.51.100.4": 1,
        "key:dashboard": 2,
        "key:ci-runner": 1,
    }
