"""What `serve` leaves unloaded until it is used (benchmarks/README.md, "Memory
under load"): a real `serve` process takes webhooks and runs their jobs without
importing the REST API (pydantic, its models, the OpenAPI document, Swagger UI)
or the dashboard's Jinja2; the first API request loads the API once, off the
event loop, and every answer is the one the API always gave.

The process runs with a `sitecustomize` on its PYTHONPATH that writes a line
each time one of the watched modules is imported (app is not touched)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp

from app import cpu
from app.api import docs, openapi
from app.api.routes import OPERATIONS
from tests.support.api import READ_KEY, WRITE_KEY
from tests.support.flow import WRITER, labeled_event
from tests.support.processes import Fleet, busy_jobs, delivery, env_for, post_deliveries

ROOT = Path(__file__).resolve().parents[2]
API = ("pydantic", "app.api.routes", "app.api.docs", "app.api.openapi", "swagger_ui_bundle")
PAGES = ("jinja2",)
ADMIN_TOKEN = "operator-token-0123456789abcdef"
WATCH_HOOK = """
import os, sys, threading
_WATCHED = set(os.environ["WATCH_IMPORTS"].split(","))
_OUT = os.environ["WATCH_IMPORTS_FILE"]

class _Watch:
    # Asked only for a module not yet in sys.modules: one line per import.
    def find_spec(self, name, path=None, target=None):
        if name in _WATCHED:
            with open(_OUT, "a") as out:
                out.write(f"{os.getpid()} {name} {threading.current_thread().name}\\n")
        return None

sys.meta_path.insert(0, _Watch())
"""


def imported(log: Path, pid: int) -> list[tuple[str, str]]:
    """(module, thread name) of each watched import by process `pid`."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        who, module, thread = line.split(" ", 2)
        if int(who) == pid:
            found.append((module, thread))
    return found


async def test_serve_loads_the_api_and_pages_only_when_asked(
    dsn, seeded, example_payload, tmp_path
):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(WATCH_HOOK)
    log = tmp_path / "imports.log"
    env = env_for(
        dsn,
        seeded.url,
        PYTHONPATH=f"{hook}:{ROOT}",
        WATCH_IMPORTS=",".join(API + PAGES),
        WATCH_IMPORTS_FILE=str(log),
        API_KEYS=f"ci:write:{WRITE_KEY},board:read:{READ_KEY}",
        ADMIN_TOKEN=ADMIN_TOKEN,
    )
    # Not the trigger label: each is read and ignored, as under the intake benchmark.
    payload = labeled_event(seeded, example_payload, WRITER, label="bug")
    async with Fleet(env, tmp_path) as fleet:
        member = await fleet.start_one("all")
        outcomes = await post_deliveries(
            [member.webhook_url],
            [delivery(str(uuid.uuid4()), "issues", payload) for _ in range(20)],
        )
        assert all(o.acknowledged for o in outcomes), outcomes[0]
        for _ in range(200):
            if await busy_jobs(dsn) == 0:
                break
            await asyncio.sleep(0.1)
        assert await busy_jobs(dsn) == 0, fleet.logs()

        async with aiohttp.ClientSession() as session:
            # Routes the API does not have are refused as before, without loading it.
            async with session.get(f"{member.url}/api/v1/nothing-here") as r:
                assert r.status == 404
            async with session.delete(f"{member.url}/api/v1/tasks") as r:
                assert r.status == 405
            assert imported(log, member.pid) == [], "loaded by start-up or intake"

            async def tasks(key: str) -> tuple[int, object]:
                async with session.get(
                    f"{member.url}/api/v1/tasks", headers={"X-API-Key": key}
                ) as r:
                    return r.status, await r.json()

            # Several first requests at once: each answered, the API loaded once.
            answers = await asyncio.gather(*(tasks(READ_KEY) for _ in range(5)), tasks("wrong"))
            assert answers[:5] == [(200, {"tasks": [], "next_cursor": None})] * 5
            assert answers[5][0] == 401 and answers[5][1]["error"] == "unauthorized"
            loads = imported(log, member.pid)
            api_loads = [(m, t) for m, t in loads if m in API]
            assert sorted(m for m, _ in api_loads) == sorted(API), loads
            assert all(t != "MainThread" for _, t in api_loads), "imported on the event loop"

            # The documents, as the API always served them.
            async with session.get(f"{member.url}/api-docs.json") as r:
                assert r.status == 200
                assert await r.json() == openapi.document()
            async with session.get(f"{member.url}/postman-collection") as r:
                body = await r.json()
                assert body == openapi.postman_collection(openapi.document())
                assert len(body["item"]) == len(OPERATIONS)
            async with session.get(f"{member.url}/api-docs") as r:
                assert r.status == 200 and await r.text() == docs.PAGE
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            async with session.head(f"{member.url}/api-docs/assets/swagger-ui.css") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/css")
            assert imported(log, member.pid) == loads, "loaded again"
            assert [m for m, _ in loads if m in PAGES] == []

            # The dashboard's first page brings Jinja2.
            async with session.get(f"{member.url}/login") as r:
                assert r.status == 200 and "operator key" in (await r.text()).lower()
            assert [m for m, _ in imported(log, member.pid) if m in PAGES] == ["jinja2"]
    assert fleet.errors() == []


async def test_a_cpu_worker_process_does_without_asyncio():
    """`python -m app.cpu` only calls functions: it starts without asyncio (and
    the ssl it brings), about 7 MiB of each such process."""
    pool = cpu.Pool(1)
    try:
        probe = "sorted(m for m in ('asyncio', 'ssl') if m in __import__('sys').modules)"
        assert await pool.run(eval, probe) == []
        assert await pool.run(pow, 2, 10) == 1024  # and it works
    finally:
        pool.shutdown()
