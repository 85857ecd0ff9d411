"""Retention against the real database: only old, finished rows of deliveries,
jobs and command ledgers go, in batches of the size asked for; unfinished work
and every task, run, validation, pull request and follow-up stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.commands import denials_store, log_store
from app.deliveries import store as deliveries
from app.observability import metrics
from app.queue import store as jobs
from app.retention.jobs import run_pass

OLD = "now() - interval '40 days'"
RECENT = "now() - interval '1 day'"


async def add_delivery(pool, guid: str, *, age: str, status: str, job: str | None) -> None:
    """A delivery received `age` ago, with one job of `job` status (None: no job)."""
    await pool.execute(
        f"""INSERT INTO webhook_deliveries (id, event, payload, received_at, status)
            VALUES ($1, 'issues', '\\x7b7d'::bytea, {age}, $2)""",  # noqa: S608 - ours
        guid,
        status,
    )
    if job is not None:
        finished = age if job in ("done", "dead") else "NULL"
        await pool.execute(
            f"""INSERT INTO jobs (kind, payload, status, created_at, finished_at, run_at)
                VALUES ('delivery', jsonb_build_object('delivery_id', $1::text), $2,
                        {age}, {finished}, now() + interval '1 hour')""",  # noqa: S608
            guid,
            job,
        )


async def add_job(pool, kind: str, status: str, *, age: str) -> int:
    finished = age if status in ("done", "dead") else "NULL"
    return await pool.fetchval(
        f"""INSERT INTO jobs (kind, status, created_at, finished_at, run_at)
            VALUES ($1, $2, {age}, {finished}, now() + interval '1 hour')
            RETURNING id""",  # noqa: S608
        kind,
        status,
    )


async def add_command(pool, key: str, delivery: str | None, *, age: str) -> None:
    await pool.execute(
        f"""INSERT INTO commands (key, repository, number, verb, actor, delivery_id, status,
                                  created_at, finished_at)
            VALUES ($1, 'o/r', 1, 'status', 'alice', $2, 'done', {age}, {age})""",  # noqa: S608
        key,
        delivery,
    )


async def add_denial(pool, actor: str, *, age: str) -> None:
    await pool.execute(
        f"""INSERT INTO command_denials (repository, number, actor, source, replied_at)
            VALUES ('o/r', 1, $1, 'cmd:issue_comment:1', {age})""",  # noqa: S608
        actor,
    )


async def add_task_records(pool) -> None:
    """A task from 40 days ago with its agent run, workflow, PR, validation and
    follow-up: the history retention must keep."""
    task = await pool.fetchval(
        f"""INSERT INTO tasks (installation_id, repository, issue_number, issue_url,
                               issue_author, title, triggered_by, status, created_at,
                               finished_at)
            VALUES (1, 'o/r', 7, 'https://github.com/o/r/issues/7', 'alice', 't', 'alice',
                    'merged', {OLD}, {OLD}) RETURNING id"""  # noqa: S608
    )
    await pool.execute(
        f"""INSERT INTO codegen_requests (task_id, attempt, style, prompt, status, created_at)
            VALUES ($1, 1, 'default', 'p', 'complete', {OLD})""",  # noqa: S608
        task,
    )
    await pool.execute(
        f"INSERT INTO workflow_executions (task_id, started_at) VALUES ($1, {OLD})",  # noqa: S608
        task,
    )
    pr = await pool.fetchval(
        f"""INSERT INTO pull_requests (installation_id, repository, number, task_id, head_sha,
                                       opened_at)
            VALUES (1, 'o/r', 8, $1, 'abc', {OLD}) RETURNING id""",  # noqa: S608
        task,
    )
    await pool.execute(
        f"""INSERT INTO validations (pull_request_id, head_sha, trigger, status, created_at)
            VALUES ($1, 'abc', 'opened', 'completed', {OLD})""",  # noqa: S608
        pr,
    )
    await pool.execute(
        f"""INSERT INTO agent_followups (task_id, kind, key, agent_run_id, instructions,
                                         requested_by, status, created_at)
            VALUES ($1, 'fix', 'k', 1, 'i', 'alice', 'complete', {OLD})""",  # noqa: S608
        task,
    )


KEPT_TABLES = (
    "tasks",
    "codegen_requests",
    "workflow_executions",
    "pull_requests",
    "validations",
    "agent_followups",
)


async def counts(pool, tables) -> dict[str, int]:
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608


def cutoff() -> datetime:
    return datetime.now(UTC) - timedelta(days=30)


async def test_each_store_deletes_old_rows_at_most_a_batch_at_a_time(pool):
    for n in range(10):
        await add_delivery(pool, f"old-{n}", age=OLD, status="processed", job="done")
        await add_command(pool, f"cmd:issue_comment:{n}:0", None, age=OLD)
        await add_denial(pool, f"user{n}", age=OLD)

    for delete in (
        deliveries.delete_old_batch,
        jobs.delete_finished_batch,
        log_store.delete_old_batch,
        denials_store.delete_old_batch,
    ):
        assert [await delete(pool, cutoff(), 3) for _ in range(5)] == [3, 3, 3, 1, 0], delete


async def test_a_pass_deletes_only_old_finished_rows(pool):
    # Old and finished: deleted.
    for n in range(10):
        await add_delivery(pool, f"old-{n}", age=OLD, status="processed", job="done")
    await add_delivery(pool, "old-failed", age=OLD, status="failed", job="dead")
    old_dead = await add_job(pool, "task.poll", "dead", age=OLD)
    await add_command(pool, "cmd:issue_comment:1:0", "old-0", age=OLD)
    await add_command(pool, "cmd:review:2:0", None, age=OLD)
    await add_denial(pool, "mallory", age=OLD)
    # Old but unfinished, or tied to unfinished work: kept.
    await add_delivery(pool, "old-queued", age=OLD, status="queued", job="queued")
    await add_delivery(pool, "old-retrying", age=OLD, status="failed", job="queued")
    await add_delivery(pool, "old-running", age=OLD, status="processed", job="running")
    old_scheduled = await add_job(pool, "task.poll", "queued", age=OLD)
    old_running = await add_job(pool, "task.advance", "running", age=OLD)
    await add_command(pool, "cmd:issue_comment:3:0", "old-retrying", age=OLD)
    # Recent: kept.
    await add_delivery(pool, "recent", age=RECENT, status="processed", job="done")
    recent_done = await add_job(pool, "task.poll", "done", age=RECENT)
    await add_command(pool, "cmd:issue_comment:4:0", "recent", age=RECENT)
    await add_command(pool, "cmd:issue_comment:5:0", None, age=RECENT)
    await add_denial(pool, "eve", age=RECENT)
    await add_task_records(pool)
    history = await counts(pool, KEPT_TABLES)
    assert all(history.values())

    batches = metrics.RETENTION_BATCHES._value.get()
    deleted = await run_pass(pool, days=30, batch_size=3, pause_seconds=0)

    assert deleted == {"webhook_deliveries": 11, "jobs": 12, "commands": 2, "command_denials": 1}
    # Statements until one deletes fewer than 3: 3+3+3+2, 3+3+3+3+0, 2, 1.
    assert metrics.RETENTION_BATCHES._value.get() - batches == 4 + 5 + 1 + 1
    stored = {r["id"] for r in await pool.fetch("SELECT id FROM webhook_deliveries")}
    assert stored == {"old-queued", "old-retrying", "old-running", "recent"}
    left = await pool.fetch("SELECT payload->>'delivery_id' FROM jobs WHERE kind = 'delivery'")
    # The three old deliveries' unfinished jobs and the recent one's.
    assert {r[0] for r in left} == {"old-queued", "old-retrying", "old-running", "recent"}
    kept_jobs = {r["id"] for r in await pool.fetch("SELECT id FROM jobs WHERE kind <> 'delivery'")}
    assert kept_jobs == {old_scheduled, old_running, recent_done}
    assert old_dead not in kept_jobs
    commands = {r["key"] for r in await pool.fetch("SELECT key FROM commands")}
    assert commands == {"cmd:issue_comment:3:0", "cmd:issue_comment:4:0", "cmd:issue_comment:5:0"}
    assert [r["actor"] for r in await pool.fetch("SELECT actor FROM command_denials")] == ["eve"]
    assert await counts(pool, KEPT_TABLES) == history


async def test_zero_days_keeps_everything(pool):
    await add_delivery(pool, "old", age=OLD, status="processed", job="done")
    deleted = await run_pass(pool, days=0, batch_size=3, pause_seconds=0)
    assert set(deleted.values()) == {0}
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1


async def test_a_replayed_delivery_is_kept(pool):
    await add_delivery(pool, "old", age=OLD, status="processed", job="done")
    assert await deliveries.replay(pool, "old", 8) is not None
    deleted = await run_pass(pool, days=30, batch_size=3, pause_seconds=0)
    assert deleted["webhook_deliveries"] == 0
    assert await deliveries.get(pool, "old") is not None


async def test_a_retried_dead_job_is_kept(pool):
    job_id = await add_job(pool, "task.poll", "dead", age=OLD)
    assert await jobs.retry(pool, job_id) == "dead"
    assert await jobs.delete_finished_batch(pool, cutoff(), 3) == 0
    assert await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job_id) == "queued"


async def test_deletes_skip_rows_another_transaction_holds(pool):
    """SKIP LOCKED: a row being worked on is passed over, never waited for."""
    await add_delivery(pool, "held", age=OLD, status="processed", job="done")
    await add_delivery(pool, "free", age=OLD, status="processed", job="done")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM webhook_deliveries WHERE id = 'held' FOR UPDATE")
        assert await deliveries.delete_old_batch(pool, cutoff(), 10) == 1
    assert await deliveries.get(pool, "held") is not None
    assert await deliveries.get(pool, "free") is None


async def _plan(pool, sql: str, *args) -> str:
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
        await conn.execute("RESET enable_seqscan")
    return plan


async def test_old_rows_are_found_through_an_index(pool):
    """The batches read an index, not the whole table (migration 008)."""
    jobs_plan = await _plan(
        pool,
        """SELECT id FROM jobs WHERE status IN ('done', 'dead') AND finished_at < now()
           ORDER BY finished_at LIMIT 3""",
    )
    assert "jobs_finished" in jobs_plan
    commands_plan = await _plan(
        pool, "SELECT id FROM commands WHERE created_at < now() ORDER BY created_at LIMIT 3"
    )
    assert "commands_created_at" in commands_plan


async def test_deliveries_read_only_the_unfinished_jobs(pool):
    """Whether a delivery's job is unfinished is read from the queued and running
    jobs' partial indexes, never from the finished jobs (nearly all the table)."""
    plan = await _plan(pool, deliveries._DELETE_OLD, cutoff(), 3, deliveries.DELIVERY_JOB_KIND)
    assert "jobs_ready" in plan
    assert "jobs_leased" in plan
    assert "on jobs " not in plan.replace("using jobs_ready on jobs ", "").replace(
        "using jobs_leased on jobs ", ""
    )
