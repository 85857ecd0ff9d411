"""The operators' command line: help on every command, and each command used for
real, as a separate process (argv, exit code, output) on the test database."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from app.__main__ import build_parser
from app.config import load_settings
from app.queue import store as jobs
from app.repo_settings.config import RepoConfig, parse_config
from tests.support.bot import running_bot
from tests.support.project import commands as _commands

INSTALLATION = 957387  # the id in @octokit/webhooks-examples


async def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`codegen-bot ARGS` in a child process; (exit code, stdout, stderr)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOG_LEVEL")}
    environ.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=cwd,  # no .env there: only what the test passes
        env={**environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_every_command_has_help_text(capsys):
    commands = _commands(build_parser())
    names = {" ".join(path) for path, _, _ in commands}
    assert {
        "serve",
        "migrate",
        "replay",
        "health",
        "check-config",
        "jobs list",
        "jobs retry",
        "deliveries replay",
    } <= names
    for path, parser, listed in commands:
        assert listed, f"`codegen-bot {' '.join(path)}` has no summary in its parent's help"
        assert parser.description, f"`codegen-bot {' '.join(path)} --help` says nothing"
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([*path, "--help"])
        assert exited.value.code == 0
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: codegen-bot {' '.join(path)}")
        assert parser.description.splitlines()[0] in shown
        for action in parser._actions:  # every option and argument is explained
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                assert action.help, f"{' '.join(path)}: {action.dest} has no help"


async def test_help_and_version_from_the_installed_command(tmp_path):
    code, out, _ = await cli("--version", cwd=tmp_path)
    assert code == 0
    assert out.strip() == "codegen-bot 0.1.0"
    code, out, _ = await cli("--help", cwd=tmp_path)
    assert code == 0
    for command in ("serve", "migrate", "check-config", "jobs", "deliveries", "health"):
        assert f"    {command}" in out
    code, out, _ = await cli("deliveries", "replay", "--help", cwd=tmp_path)
    assert code == 0 and "GUID" in out


def test_log_level_warn_is_warning():
    assert load_settings({"LOG_LEVEL": "warn"}, dotenv=None).log_level == "WARNING"
    assert load_settings({"LOG_LEVEL": "WARN"}, dotenv=None).log_level == "WARNING"
    assert load_settings({"LOG_LEVEL": "fatal"}, dotenv=None).log_level == "CRITICAL"


async def test_log_level_warn_starts_a_command(tmp_path):
    (tmp_path / "codegen.yml").write_text("trigger_label: go\n")
    code, _, err = await cli("check-config", "codegen.yml", cwd=tmp_path, env={"LOG_LEVEL": "warn"})
    assert (code, err) == (0, "")
    code, _, err = await cli("jobs", "list", cwd=tmp_path, env={"LOG_LEVEL": "loud"})
    assert code == 2
    assert "configuration error: LOG_LEVEL: must be DEBUG, INFO, WARNING (or WARN)" in err


async def test_check_config_prints_the_problems_the_bot_would_post(tmp_path):
    text = (
        "trigger_label: ship-it\n"
        "prompt:\n  style: chatty\n"
        "retries: 9\n"
        "colour: blue\n"
        "validation:\n  auto_merge: sometimes\n"
    )
    (tmp_path / "codegen.yml").write_text(text)
    _, expected = parse_config(text, RepoConfig())
    assert len(expected) >= 4, expected

    code, out, err = await cli("check-config", "codegen.yml", cwd=tmp_path)
    assert code == 1, (out, err)
    assert out.splitlines()[1:] == [f"- {problem}" for problem in expected]
    assert "defaults would apply" in out.splitlines()[0]


async def test_check_config_passes_a_good_file_and_reports_unreadable_ones(tmp_path):
    (tmp_path / "good.yml").write_text("trigger_label: ship-it\nprompt:\n  style: concise\n")
    code, out, _ = await cli("check-config", "good.yml", cwd=tmp_path)
    assert code == 0
    assert "no problems" in out and "`ship-it`" in out and "concise" in out

    (tmp_path / "anchors.yml").write_text("a: &x 1\nb: *x\n")
    code, out, _ = await cli("check-config", "anchors.yml", cwd=tmp_path)
    assert code == 1 and "anchors and aliases are not allowed" in out

    (tmp_path / "latin1.yml").write_bytes(b"trigger_label: caf\xe9\n")
    code, _, err = await cli("check-config", "latin1.yml", cwd=tmp_path)
    assert code == 1 and "not UTF-8" in err

    code, _, err = await cli("check-config", "missing.yml", cwd=tmp_path)
    assert code == 2 and "cannot read missing.yml" in err


async def test_jobs_list_shows_dead_jobs_and_retry_requeues_one(pool, dsn, tmp_path):
    env = {"DATABASE_URL": dsn}
    dead = await jobs.enqueue(pool, "task.start", {"task_id": 1}, max_attempts=1)
    done = await jobs.enqueue(pool, "delivery", {"delivery_id": "x"})
    waiting = await jobs.enqueue(pool, "validation.run", {}, delay=3600)
    await pool.execute(
        """UPDATE jobs SET status = 'dead', attempts = 1, finished_at = now(),
                  last_error = E'RuntimeError: Codegen said no\\nTraceback (most recent call last)'
           WHERE id = $1""",
        dead,
    )
    await pool.execute("UPDATE jobs SET status = 'done', finished_at = now() WHERE id = $1", done)

    code, out, err = await cli("jobs", "list", "--status", "dead", cwd=tmp_path, env=env)
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["ID", "KIND", "STATUS", "TRIES"]
    assert len(rows) == 1
    assert rows[0].split()[:4] == [str(dead), "task.start", "dead", "1/1"]
    assert rows[0].endswith("RuntimeError: Codegen said no")  # the first line only

    code, out, _ = await cli("jobs", "list", cwd=tmp_path, env=env)  # the unfinished ones
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(waiting), str(dead)]

    code, out, _ = await cli("jobs", "retry", str(dead), cwd=tmp_path, env=env)
    assert code == 0
    assert f"job {dead} was dead" in out
    row = await pool.fetchrow(
        "SELECT status, attempts, finished_at, run_at <= now() AS due FROM jobs WHERE id = $1",
        dead,
    )
    assert dict(row) == {"status": "queued", "attempts": 0, "finished_at": None, "due": True}

    code, out, _ = await cli("jobs", "retry", str(done), cwd=tmp_path, env=env)
    assert code == 1 and "is done" in out
    assert await pool.fetchval("SELECT status FROM jobs WHERE id = $1", done) == "done"
    code, _, err = await cli("jobs", "retry", "999999", cwd=tmp_path, env=env)
    assert code == 1 and "no job 999999" in err
    code, out, _ = await cli("jobs", "list", "--status", "dead", cwd=tmp_path, env=env)
    assert (code, out.strip()) == (0, "no dead jobs")
    code, _, err = await cli("jobs", "list", "--limit", "0", cwd=tmp_path, env=env)
    assert code == 2 and "--limit" in err


async def test_retried_job_is_picked_up_by_a_running_worker(
    settings, example_payload, tmp_path, dsn
):
    """Workers hear of the retried job at once (NOTIFY), not at their next poll."""
    slow_poll = dataclasses.replace(settings, job_poll_seconds=60.0)
    async with running_bot(slow_poll) as bot:
        guid = str(uuid.uuid4())
        await bot.deliver("star", example_payload("star", "created"), guid)
        await bot.wait_idle()
        pool = bot.runtime.pool
        job_id = await pool.fetchval("SELECT id FROM jobs WHERE payload->>'delivery_id' = $1", guid)
        # As a job that died: out of attempts, its delivery failed.
        await pool.execute("UPDATE jobs SET status = 'dead', attempts = 8 WHERE id = $1", job_id)
        await pool.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE id = $1", guid)

        code, _, err = await cli(
            "jobs", "retry", str(job_id), cwd=tmp_path, env={"DATABASE_URL": dsn}
        )
        assert code == 0, err
        await bot.wait_idle(timeout=10)
        assert await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job_id) == "done"
        assert (
            await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", guid)
            == "ignored"
        )


async def test_deliveries_replay_runs_a_stored_delivery_again(
    app_bot, fake_github, example_payload, tmp_path, dsn
):
    payload = example_payload("installation", "created")
    fake_github.add_installation(INSTALLATION, account="Codertocat", account_type="User")
    for repo in payload["repositories"]:
        fake_github.add_repo(repo["full_name"], installation_id=INSTALLATION)
    guid = str(uuid.uuid4())
    await app_bot.deliver("installation", payload, guid)
    await app_bot.wait_idle()
    pool = app_bot.runtime.pool
    assert await pool.fetchval("SELECT count(*) FROM installations") == 1
    # As if the handler's work were lost: the replay must do it again.
    await pool.execute("DELETE FROM repositories")
    await pool.execute("DELETE FROM installations")

    code, out, err = await cli(
        "deliveries", "replay", guid, cwd=tmp_path, env={"DATABASE_URL": dsn}
    )
    assert code == 0, err
    assert out.startswith(f"delivery {guid} queued again as job ")
    await app_bot.wait_idle()
    assert await pool.fetchval("SELECT count(*) FROM installations") == 1
    assert await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", guid) == (
        "processed"
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'delivery' AND status = 'done'")
        == 2
    )

    unknown = str(uuid.uuid4())
    code, _, err = await cli(
        "deliveries", "replay", unknown, cwd=tmp_path, env={"DATABASE_URL": dsn}
    )
    assert code == 1 and f"no stored delivery {unknown}" in err


async def test_migrate_and_health_commands(dsn, tmp_path, app_bot):
    code, out, err = await cli("migrate", cwd=tmp_path, env={"DATABASE_URL": dsn})
    assert code == 0, err
    assert out.strip() == "applied 0 migration(s)"  # the test database is migrated
    code, out, _ = await cli("health", "--url", app_bot.url, cwd=tmp_path)
    assert code == 0 and out.startswith('200 {"status": "ok"')
    code, _, err = await cli("health", "--url", "http://127.0.0.1:9/health", cwd=tmp_path)
    assert code == 1 and err.startswith("unhealthy: could not reach")


async def test_deliveries_replay_refuses_a_delivery_whose_job_is_unfinished(
    intake_only, example_payload, tmp_path, dsn
):
    """Its job still queued (or running): a second job would run the handlers
    twice at once, or find the first one's outcome and do nothing while the
    operator was told it ran again."""
    guid = str(uuid.uuid4())
    await intake_only.deliver("installation", example_payload("installation", "created"), guid)
    pool = intake_only.runtime.pool
    [job_id] = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM jobs WHERE payload->>'delivery_id' = $1", guid)
    ]
    env = {"DATABASE_URL": dsn}
    for status in ("queued", "running"):
        await pool.execute("UPDATE jobs SET status = $2 WHERE id = $1", job_id, status)
        code, out, err = await cli("deliveries", "replay", guid, cwd=tmp_path, env=env)
        assert code == 1, (out, err)
        assert f"job {job_id}" in err and status in err, err
        assert await pool.fetchval("SELECT count(*) FROM jobs") == 1
    # Once that job is finished, the replay goes ahead.
    await pool.execute("UPDATE jobs SET status = 'done' WHERE id = $1", job_id)
    await pool.execute("UPDATE webhook_deliveries SET status = 'processed' WHERE id = $1", guid)
    code, out, err = await cli("deliveries", "replay", guid, cwd=tmp_path, env=env)
    assert code == 0, err
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 2


async def test_output_carries_no_terminal_control_sequences(pool, dsn, tmp_path):
    """A repository's settings file and a job's error (often GitHub's text) are
    hostile input: printed raw, ESC sequences would clear the operator's
    screen, retitle the window or hide lines."""
    hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[8mhidden\u202e"
    config = tmp_path / "codegen.yml"
    config.write_text(f'prompt_style: "{hostile.encode("unicode_escape").decode()}"\n')
    code, out, err = await cli("check-config", str(config), cwd=tmp_path)
    assert code == 1 and "prompt_style" in out
    assert not any(c in out + err for c in "\x1b\x07\u202e")
    assert "\\x1b" in out  # shown, escaped

    job = await jobs.enqueue(pool, "task.start", {"task_id": 1}, max_attempts=1)
    await pool.execute(
        "UPDATE jobs SET status = 'dead', last_error = $2, kind = $3 WHERE id = $1",
        job,
        f"RuntimeError: {hostile}",
        f"task.{hostile}",
    )
    code, out, err = await cli(
        "jobs", "list", "--status", "dead", cwd=tmp_path, env={"DATABASE_URL": dsn}
    )
    assert code == 0 and str(job) in out
    assert not any(c in out + err for c in "\x1b\x07\u202e")


async def test_check_config_reads_no_more_than_the_bot_would(tmp_path):
    """The bot never reads past its size cap; `check-config /dev/zero` (or a
    multi-gigabyte file) must not read until memory runs out either."""
    started = time.monotonic()
    code, out, err = await cli("check-config", "/dev/zero", cwd=tmp_path)
    assert code == 1, err
    assert "longer than the 32,768 characters" in out
    assert time.monotonic() - started < 20
