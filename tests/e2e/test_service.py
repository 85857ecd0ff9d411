"""The service as an operator runs it: the real `codegen-bot` process, its CLI,
health, metrics, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from app.observability.logs import JsonFormatter, delivery_id_var, job_id_var, setup_logging
from tests.fakes.keys import make_app_key
from tests.support.bot import WEBHOOK_SECRET
from tests.support.serve import free_port, serve_env, start_serve, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_serve_process_end_to_end_with_json_logs_and_no_secrets(
    dsn, fake_github, example_payload, tmp_path
):
    private_pem, _ = make_app_key()
    port = free_port()
    env = serve_env(dsn, fake_github.url, port, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    payload = example_payload("installation", "created")
    full_name = payload["repositories"][0]["full_name"]
    fake_github.add_installation(payload["installation"]["id"], account="Codertocat")
    fake_github.add_repo(full_name, installation_id=payload["installation"]["id"])
    payload_file = tmp_path / "installation.json"
    payload_file.write_text(json.dumps(payload))

    server = await start_serve(env, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            code, _, _ = await cli("health", "--url", url, env=env)
            if code == 0:
                break
            await asyncio.sleep(0.2)
        assert code == 0

        code, out, _ = await cli("replay", "installation", str(payload_file), env=env)
        assert code == 0, out
        assert out.startswith("202 delivery=")
        delivery_id = out.split()[1].removeprefix("delivery=")

        for _ in range(100):
            if "codegen" in fake_github.labels.get(full_name, {}):
                break
            await asyncio.sleep(0.1)
        assert "codegen" in fake_github.labels[full_name]
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(server.communicate(), 30)
    assert server.returncode == 0

    lines = err.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    handled = [r for r in records if r["message"] == "handled installation.created"]
    assert handled and handled[0]["delivery_id"] == delivery_id and "job_id" in handled[0]
    assert any(r["message"].startswith("created label") and "job_id" in r for r in records)
    text = err.decode()
    assert fake_github.tokens_issued, "a token was minted"
    for secret in [WEBHOOK_SECRET, *fake_github.tokens_issued]:
        assert secret not in text
    for key_line in private_pem.decode().splitlines()[1:-1]:
        assert key_line not in text
    assert "eyJ" not in text  # no JWT


def test_log_lines_carry_ids_and_scrub_secrets(capsys):
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    setup_logging("INFO", "json", ["super-secret-value"])
    log = logging.getLogger("test")
    d, j = delivery_id_var.set("guid-1"), job_id_var.set(99)
    try:
        log.info("posting with token ghs_%s and super-secret-value", "A" * 36)
        log.info("key -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----")
    finally:
        delivery_id_var.reset(d)
        job_id_var.reset(j)
    for handler in list(root.handlers):  # back to pytest's own handlers
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
    first, second = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert first["delivery_id"] == "guid-1" and first["job_id"] == 99
    assert first["message"] == "posting with token [redacted] and [redacted]"
    assert second["message"] == "key [redacted]"


def test_json_log_times_are_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert time.localtime(1_700_000_000).tm_hour != 22  # the zone really is not UTC
        record = logging.LogRecord("test", logging.INFO, __file__, 1, "hello", None, None)
        record.created, record.msecs = 1_700_000_000.25, 250.0
        entry = json.loads(JsonFormatter().format(record))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert entry["time"] == "2023-11-14T22:13:20.250Z"


async def test_health_reports_queue_and_503_without_database(bot, postgres):
    async with bot.session.get(f"{bot.url}/health") as response:
        assert response.status == 200
        health = await response.json()
    assert health["database"] is True
    assert health["queue_depth"] == 0
    assert "oldest_queued_job_age_seconds" in health

    name = urlsplit(bot.runtime.dsn).path.lstrip("/")
    admin = await asyncpg.connect(postgres.uri("postgres"))
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    async with bot.session.get(f"{bot.url}/health") as response:
        assert response.status == 503
        assert (await response.json())["database"] is False


async def test_health_counts_waiting_jobs(intake_only, example_payload):
    await intake_only.deliver("issues", example_payload("issues", "opened"))
    await asyncio.sleep(0.3)
    async with intake_only.session.get(f"{intake_only.url}/health") as response:
        health = await response.json()
    assert health["queue_depth"] == 1
    assert health["oldest_queued_job_age_seconds"] >= 0.2


async def test_metrics_count_deliveries_jobs_and_queue(bot, example_payload):
    await bot.deliver("issues", example_payload("issues", "opened"))
    status, _ = await bot.deliver("issues", b"{nope")
    assert status == 400
    await bot.wait_idle()
    async with bot.session.get(f"{bot.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert (
        'codegen_bot_webhook_deliveries_total{action="opened",event="issues",outcome="queued"}'
        in text
    )
    assert 'outcome="bad_request"' in text
    assert "codegen_bot_webhook_intake_seconds_bucket" in text
    assert 'codegen_bot_jobs_total{kind="delivery",outcome="done"}' in text
    assert 'codegen_bot_queue_depth{state="ready"} 0.0' in text
    assert "codegen_bot_job_run_seconds_bucket" in text
    assert "codegen_bot_github_api_calls_total" in text
    assert "codegen_bot_github_rate_limit_remaining" in text


async def test_status_page_says_when_the_app_is_not_configured(bot):
    async with bot.session.get(bot.url + "/") as response:
        page = await response.text()
    assert response.status == 200
    assert "GitHub App not configured" in page


async def test_replay_refuses_without_a_secret_and_health_fails_when_down(tmp_path):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    payload = tmp_path / "p.json"
    payload.write_text("{}")
    code, _, err = await cli("replay", "issues", str(payload), env=env)
    assert code == 2 and "GITHUB_WEBHOOK_SECRET" in err
    code, _, err = await cli("health", "--url", f"http://127.0.0.1:{free_port()}", env=env)
    assert code == 1 and "could not reach" in err


async def test_embedded_postgres_starts_with_make_run_defaults_and_reuses_data(tmp_path):
    """No DATABASE_URL: `serve` starts PostgreSQL under DATA_DIR; a second start reuses it."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    body = b'{"action": "opened", "installation": {"id": 1}}'
    from tests.support.bot import delivery_headers

    for round_number in (1, 2):
        server = await start_serve(env, tmp_path, "--role", "web")
        try:
            await wait_healthy(port)
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"http://127.0.0.1:{port}/api/github/webhooks",
                    data=body,
                    headers=delivery_headers("issues", body, f"guid-{round_number}"),
                ) as r:
                    assert r.status == 202
                async with session.get(f"http://127.0.0.1:{port}/") as r:
                    page = await r.text()
                assert f"<th>deliveries</th><td>{round_number}</td>" in page
        finally:
            server.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(server.communicate(), 30)
        assert server.returncode == 0, err.decode()
        assert "embedded PostgreSQL stopped" in err.decode()
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()


async def test_sentry_receives_dead_jobs_without_secrets(dsn, fake_github, example_payload):
    """SENTRY_DSN set: errors reach Sentry (here a real HTTP stand-in), scrubbed."""
    from aiohttp import web

    envelopes: list[bytes] = []

    async def envelope(request: web.Request) -> web.Response:
        envelopes.append(await request.read())  # aiohttp undoes Content-Encoding
        return web.json_response({})

    sentry = web.Application()
    sentry.router.add_post("/api/{project}/envelope/", envelope)
    sentry.router.add_post("/api/{project}/store/", envelope)
    runner = web.AppRunner(sentry)
    await runner.setup()
    sentry_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", sentry_port).start()

    port = free_port()
    env = serve_env(
        dsn,
        fake_github.url,
        port,
        JOB_MAX_ATTEMPTS="1",
        SENTRY_DSN=f"http://0123456789abcdef0123456789abcdef@127.0.0.1:{sentry_port}/1",
    )
    payload = example_payload("installation", "created")
    full_name = payload["repositories"][0]["full_name"]
    fake_github.add_installation(payload["installation"]["id"], account="Codertocat")
    fake_github.add_repo(full_name, installation_id=payload["installation"]["id"])
    fake_github.fail_next(
        "POST", r"/labels$", 403, body={"message": "Resource not accessible by integration"}
    )
    server = await start_serve(env, ROOT)
    try:
        await wait_healthy(port)
        async with aiohttp.ClientSession() as session:
            from tests.support.bot import delivery_headers

            body = json.dumps(payload).encode()
            async with session.post(
                f"http://127.0.0.1:{port}/api/github/webhooks",
                data=body,
                headers=delivery_headers("installation", body),
            ) as r:
                assert r.status == 202
        for _ in range(100):
            if any(b"Resource not accessible by integration" in e for e in envelopes):
                break
            await asyncio.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.communicate(), 30)
        await runner.cleanup()
    events = [e for e in envelopes if b"Resource not accessible by integration" in e]
    assert events, "the dead job reached Sentry"
    everything = b"".join(envelopes)
    assert WEBHOOK_SECRET.encode() not in everything
    for token in fake_github.tokens_issued:
        assert token.encode() not in everything
