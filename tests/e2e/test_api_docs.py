"""The REST API's documents on a running bot: schemathesis fuzzes every
operation from `/api-docs.json` (no server error, every answer as documented),
Swagger UI at `/api-docs` loads only from this server, and the Postman
collection has one request per operation."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from pathlib import Path

import pytest

from app.api.docs import ASSETS
from app.api.routes import OPERATIONS
from tests.support.api import READ_KEY, WRITE_KEY, call, create_pr, task_body
from tests.support.bot import running_bot
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.flow import CODEGEN_PR, task_status, wait_until

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)


@pytest.fixture
def api_settings(flow_settings):
    return dataclasses.replace(
        flow_settings,
        api_keys=(f"ci-runner:write:{WRITE_KEY}", f"dashboard:read:{READ_KEY}"),
        api_rate_limit=1_000_000,
    )


async def _schemathesis(url: str, key: str, folder: Path, *extra: str) -> tuple[int, str]:
    command = Path(sys.executable).parent / "schemathesis"
    proc = await asyncio.create_subprocess_exec(
        str(command),
        "run",
        url,
        "--checks",
        CHECKS,
        "--header",
        f"X-API-Key: {key}",
        "--max-examples",
        "25",
        "--seed",
        "13",
        # One worker: with two, schemathesis compiles in two threads, and
        # CPython 3.11's AST constructor can then fail with "recursion depth
        # mismatch" (python/cpython#106905), seen here on a loaded machine.
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        *extra,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 400)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_schemathesis_finds_no_server_error_and_no_answer_off_its_schema(
    api_settings, seeded, fake_codegen, tmp_path
):
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(api_settings) as bot:
        # A task with a PR, so ids 1 and 2 exist to be found, retried and cancelled.
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body())
        assert status == 201
        await create_pr(bot, task["id"])
        await wait_until(lambda: task_status(bot, "pr_open"))
        code, out = await _schemathesis(f"{bot.url}/api-docs.json", WRITE_KEY, tmp_path)
        assert code == 0, out[-6000:]
        assert re.search(r"(\d+) generated, \1 passed", out), out[-3000:]
        assert f"{len(OPERATIONS)} selected / {len(OPERATIONS)} total" in out
        for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
            assert f"✅ {phase}" in out, out[-3000:]
        code, out = await _schemathesis(
            f"{bot.url}/api-docs.json", READ_KEY, tmp_path, "--phases", "examples,fuzzing"
        )
        assert code == 0, out[-6000:]
    assert f"Tested: {len(OPERATIONS)}" in out
    assert re.search(r"(\d+) generated, \1 passed", out), out[-3000:]


async def test_swagger_ui_loads_its_assets_from_this_server(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        async with bot.session.get(f"{bot.url}/api-docs") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            csp = response.headers["Content-Security-Policy"]
            page = await response.text()
        assets = re.findall(r"""(?:src|href)="([^"]+)\"""", page)
        assert assets and all(a.startswith("/api-docs/") for a in assets), assets
        assert "http://" not in page and "https://" not in page and "//" not in page
        assert "script-src 'self'" in csp and "default-src 'self'" in csp
        for path in assets:
            async with bot.session.get(f"{bot.url}{path}") as response:
                assert response.status == 200, path
                assert len(await response.read()) > 100, path
        names = {a.rsplit("/", 1)[-1] for a in assets}
        assert names >= {"swagger-ui.css", "swagger-ui-bundle.js", "init.js"}
        async with bot.session.get(f"{bot.url}/api-docs/init.js") as response:
            init = await response.text()
        assert 'url: "/api-docs.json"' in init and "http" not in init
        for refused in ("index.html", "../__init__.py", "swagger-ui.js.map"):
            async with bot.session.get(f"{bot.url}/api-docs/assets/{refused}") as response:
                assert response.status == 404, refused
    assert set(ASSETS) >= {"swagger-ui.css", "swagger-ui-bundle.js"}


async def test_the_postman_collection_has_one_request_per_operation(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        async with bot.session.get(f"{bot.url}/postman-collection") as response:
            assert response.status == 200
            collection = await response.json()
        async with bot.session.get(f"{bot.url}/api-docs.json") as response:
            doc = await response.json()
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    items = collection["item"]
    assert sorted(i["name"] for i in items) == sorted(op.operation_id for op in OPERATIONS)
    documented = {
        (method.upper(), path) for path, methods in doc["paths"].items() for method in methods
    }
    made = {
        (
            i["request"]["method"],
            "/" + "/".join(s.replace(":task_id", "{task_id}") for s in i["request"]["url"]["path"]),
        )
        for i in items
    }
    assert made == documented
    create = next(i for i in items if i["name"] == "createTask")["request"]
    assert {"key": "X-API-Key", "value": "{{apiKey}}"} in create["header"]
    assert create["url"]["raw"] == "{{baseUrl}}/api/v1/tasks"
    assert '"repository"' in create["body"]["raw"] and '"title"' in create["body"]["raw"]
    cancel = next(i for i in items if i["name"] == "cancelTask")["request"]
    assert cancel["url"]["raw"] == "{{baseUrl}}/api/v1/tasks/:task_id/cancel"
    assert cancel["url"]["variable"] == [{"key": "task_id", "value": "1"}]
    assert {v["key"] for v in collection["variable"]} == {"baseUrl", "apiKey"}


async def test_swagger_ui_renders_every_operation_in_a_browser(api_settings, seeded):
    from playwright.async_api import async_playwright

    async with running_bot(api_settings) as bot, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            await page.goto(f"{bot.url}/api-docs")
            await page.wait_for_selector(".opblock", timeout=20_000)
            blocks = await page.locator(".opblock").count()
            title = await page.locator(".title").first.inner_text()
        finally:
            await browser.close()
    assert blocks == len(OPERATIONS)
    assert "codegen-bot REST API" in title
    assert requested and all(url.startswith(bot.url) for url in requested), requested
