"""Limits shared by every process, end to end: a task that would wait for the
create limit another process filled gives its worker slot back, and two real
worker processes (`codegen-bot serve --role worker`) on one database keep
Codegen's create limit and GitHub's one-write-at-a-time between them."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import uuid

import aiohttp

from app.db import create_pool
from app.limits.creates import SharedWindow, create_window_key
from app.tasks.schedule import ADVANCE_JOB
from tests.support.bot import running_bot
from tests.support.flow import INSTALLATION, WRITER, labeled_event, wait_until
from tests.support.serve import free_port, serve_env, start_serve, wait_healthy


async def test_a_task_waiting_for_the_shared_create_limit_gives_its_worker_slot_back(
    flow_settings, seeded, fake_codegen, example_payload, dsn
):
    # One worker slot, and the organization's window filled by another process.
    settings = dataclasses.replace(
        flow_settings,
        codegen_creates_per_minute=2,
        codegen_create_window_seconds=60.0,
        max_concurrent_workflows=1,
    )
    other = await create_pool(dsn, min_size=1, max_size=2)
    try:
        window = SharedWindow(other, create_window_key(7), limit=2, window=60.0)
        await window.acquire()
        await window.acquire()
        async with running_bot(settings) as bot:
            pool = bot.runtime.pool
            await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
            waiting = await wait_until(
                lambda: pool.fetchrow(
                    """SELECT * FROM jobs WHERE kind = $1 AND status = 'queued'
                         AND last_error LIKE '%create rate limit%'""",
                    ADVANCE_JOB,
                )
            )
            # Back when the window has room (about a minute), not an attempt spent.
            wait = await pool.fetchval(
                "SELECT extract(epoch FROM run_at - now()) FROM jobs WHERE id = $1", waiting["id"]
            )
            assert 50 < wait <= 60
            assert waiting["attempts"] == 0
            assert fake_codegen.created == []
            # The one slot is free meanwhile: another delivery's job runs at once.
            guid = str(uuid.uuid4())
            await bot.deliver("star", example_payload("star", "created"), guid)
            await wait_until(
                lambda: pool.fetchval(
                    "SELECT status = 'done' FROM jobs WHERE payload->>'delivery_id' = $1", guid
                ),
                timeout=5,
            )
            task = await pool.fetchrow("SELECT * FROM tasks")
            assert task["status"] == "generating_prompt"
    finally:
        await other.close()


REPOS = [f"octo-org/repo-{n}" for n in range(8)]


def seed_repos(fake_github, fake_codegen) -> None:
    fake_github.add_installation(INSTALLATION, account="octo-org")
    for repo in REPOS:
        fake_github.add_repo(repo, installation_id=INSTALLATION)
        fake_github.set_file(repo, "README.md", "# A repository\n")
        fake_github.set_permission(repo, WRITER, "write")
        fake_github.add_issue(repo, 7, title="Export the table as CSV", body="Add a button.")
        fake_codegen.add_repo(repo)


def labeled(fake_github, example_payload, repo: str) -> dict:
    payload = example_payload("issues", "labeled")
    payload["issue"] = dict(fake_github.issues[repo][7])
    payload["repository"] = dict(fake_github.repos[repo])
    payload["label"] = {"id": 1, "name": "codegen", "color": "5319e7", "default": False}
    payload["sender"] = {"login": WRITER, "id": 99, "type": "User"}
    payload["installation"] = {"id": INSTALLATION}
    return payload


async def test_two_worker_processes_share_the_create_limit_and_the_write_turns(
    flow_settings, fake_github, fake_codegen, example_payload, dsn, tmp_path
):
    seed_repos(fake_github, fake_codegen)
    fake_github.delay_next("POST", r"/comments$", 0.05, times=len(REPOS))
    settings = dataclasses.replace(flow_settings, github_write_interval=0.05)
    env_extra = {
        "CODEGEN_API_KEY": settings.codegen_api_key or "",
        "CODEGEN_ORG_ID": "7",
        "CODEGEN_API_URL": fake_codegen.url,
        "CODEGEN_CREATES_PER_MINUTE": "3",
        "CODEGEN_CREATE_WINDOW_SECONDS": "2",
        "GITHUB_WRITE_INTERVAL": "0.05",
        "MAX_CONCURRENT_WORKFLOWS": "4",
        "RUN_POLL_FIRST_SECONDS": "5",
        "RUN_POLL_MAX_SECONDS": "10",
        "DELIVERY_SWEEP_SECONDS": "0",
        "RETENTION_SECONDS": "0",
    }
    ports = [free_port(), free_port()]
    workers = [
        await start_serve(
            serve_env(dsn, fake_github.url, port, **env_extra), tmp_path, "--role", "worker"
        )
        for port in ports
    ]
    try:
        for port in ports:
            await wait_healthy(port)
        # The intake alone in this process: the two workers do all the work.
        async with running_bot(settings, worker=False) as bot:
            for repo in REPOS:
                status, _ = await bot.deliver("issues", labeled(fake_github, example_payload, repo))
                assert status == 202
            await wait_until(lambda: len(fake_codegen.created) == len(REPOS), timeout=60)
            await bot.wait_idle(timeout=30)
        done = [
            await metric_sum(port, "codegen_bot_jobs_total", 'outcome="done"') for port in ports
        ]
        leases = [
            await metric_sum(port, "codegen_bot_github_write_leases_total", 'event="taken"')
            for port in ports
        ]
    finally:
        for proc in workers:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.wait_for(p.communicate(), 30) for p in workers))

    assert len(fake_codegen.created) == len(REPOS)
    # 3 a window of 2 s across both workers (the fake counts arrivals, which
    # trail the taking of a place by a request's trip: 0.2 s of margin).
    assert fake_codegen.max_creates_in(1.8) <= 3
    assert fake_github.write_overlaps() == []
    writes = [r for r in fake_github.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]
    assert len([r for r in writes if r.installation_id == INSTALLATION]) >= 2 * len(REPOS)
    assert all(n > 0 for n in done), done  # both workers ran jobs
    assert all(n > 0 for n in leases), leases  # and both wrote to the installation


async def metric_sum(port: int, name: str, label: str) -> float:
    """The sum of a process's samples of `name` whose labels include `label`."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    pattern = re.compile(rf"^{name}\{{([^}}]*)\}} (\S+)$", re.MULTILINE)
    return sum(float(value) for labels, value in pattern.findall(text) if label in labels)
