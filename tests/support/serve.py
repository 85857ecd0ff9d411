"""Run `codegen-bot serve` as its own process against the test's database and
fake GitHub: a free port, the environment, the process, and its health check."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp

from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_serve(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def serve_env(dsn: str, github_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a `codegen-bot serve` process wired to the test's
    database and fake GitHub as the configured App."""
    private_pem, _ = make_app_key()
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": dsn,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": private_pem.decode(),
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": github_url,
        "GITHUB_WRITE_INTERVAL": "0",
        "PORT": str(port),
        "JOB_POLL_SECONDS": "0.5",
        **extra,
    }


async def wait_healthy(port: int, timeout: float = 30.0) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(timeout / 0.2)):
            try:
                async with session.get(f"http://127.0.0.1:{port}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"no healthy server on port {port}")
