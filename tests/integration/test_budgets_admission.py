"""The admission against the real PostgreSQL: 20 requests at once on 20
connections against a budget of 5 admit exactly 5; the queue keeps its order;
a run's end frees a slot; the UTC day's rollover (the date given to the
function) frees the daily budget; a request whose task moved on leaves the
queue and its slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.budgets import admission
from app.budgets import store as admissions
from app.budgets.decide import Limit, Limits
from app.db import create_pool
from app.tasks import store as tasks
from app.tasks.status import TaskStatus

INSTALLATION = 77
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NONE = Limits()  # no limit


@pytest.fixture
async def wide_pool(dsn):
    pool = await create_pool(dsn, min_size=1, max_size=25)
    yield pool
    await pool.close()


async def _task(pool, number: int, repository: str = "octo/one") -> int:
    async with pool.acquire() as conn:
        task = await tasks.create(
            conn,
            installation_id=INSTALLATION,
            repository=repository,
            issue_number=number,
            issue_url=f"https://github.com/{repository}/issues/{number}",
            issue_author="rae",
            title=f"issue {number}",
            description="",
            requirements=[],
            acceptance_criteria=[],
            priority="medium",
            estimated_complexity="low",
            triggered_by="mia",
        )
        assert task is not None
        await tasks.transition(
            conn,
            task.id,
            from_status=(TaskStatus.QUEUED,),
            to_status=TaskStatus.GENERATING_PROMPT,
        )
        return task.id


async def _ask(pool, task_id: int, *, repo=NONE, installation=NONE, now=NOON):
    return await admission.request(
        pool,
        task_id=task_id,
        attempt=1,
        installation_id=INSTALLATION,
        repository=repo,
        installation=installation,
        timeout_ms=300_000,
        now=now,
    )


async def test_twenty_requests_at_once_against_five_admit_exactly_five(wide_pool):
    ids = [await _task(wide_pool, n) for n in range(1, 21)]
    budget = Limits(runs_per_day=5)
    # Each request on its own connection, all at once.
    verdicts = await asyncio.gather(*(_ask(wide_pool, i, installation=budget) for i in ids))
    assert sum(v.admitted for v in verdicts) == 5
    assert {v.limit for v in verdicts if not v.admitted} == {Limit.INSTALLATION_DAILY}
    states = await wide_pool.fetch("SELECT state, count(*) FROM budget_admissions GROUP BY 1")
    assert {r["state"]: r["count"] for r in states} == {"admitted": 5, "waiting": 15}
    # Asking again (a retried job) changes nothing.
    again = await asyncio.gather(*(_ask(wide_pool, i, installation=budget) for i in ids))
    assert [v.admitted for v in again] == [v.admitted for v in verdicts]
    # The queue's places run from 0 to 14, in the order the requests joined it.
    places = [await admissions.place(wide_pool, i) for i in ids]
    waiting = sorted(
        (p for p in places if p is not None), key=lambda p: (p.admission.queued_at, p.admission.id)
    )
    assert [p.ahead_in_installation for p in waiting] == list(range(15))


async def test_the_concurrent_limit_frees_a_slot_when_a_run_ends(wide_pool):
    first, second, third = [await _task(wide_pool, n) for n in (1, 2, 3)]
    repo = Limits(concurrent=1)
    assert (await _ask(wide_pool, first, repo=repo)).admitted
    held = await _ask(wide_pool, second, repo=repo)
    assert not held.admitted and held.limit == Limit.REPO_CONCURRENT
    assert not (await _ask(wide_pool, third, repo=repo)).admitted
    text = await admission.waiting_text(wide_pool, third, Limits(), NOON)
    assert text and "1 ahead of this one" in text and "1 agent run at once" in text
    # Nothing ended: nothing is admitted.
    assert await admission.admit_waiting(wide_pool, INSTALLATION, Limits(), NOON) == []
    # The first task's run ends (it failed): the second is admitted, in order,
    # with a fresh workflow deadline and its advance job.
    await tasks.transition(
        wide_pool, first, from_status=(TaskStatus.GENERATING_PROMPT,), to_status=TaskStatus.FAILED
    )
    later = NOON + timedelta(hours=2)
    assert await admission.admit_waiting(wide_pool, INSTALLATION, Limits(), later) == [second]
    task = await tasks.get(wide_pool, second)
    assert task is not None and task.deadline_at == later + timedelta(minutes=5)
    jobs = await wide_pool.fetch("SELECT dedup_key FROM jobs WHERE kind = 'task.advance'")
    assert [j["dedup_key"] for j in jobs] == [
        f"task:{second}:admitted:{(await admissions.get(wide_pool, second, 1)).id}:"
        f"{int(NOON.timestamp() * 1000)}"
    ]
    # The first's request was never run: it does not count for the day.
    [row] = await wide_pool.fetch("SELECT state FROM budget_admissions WHERE task_id = $1", first)
    assert row["state"] == "void"


async def test_the_daily_budget_resets_at_the_utc_day(wide_pool):
    ids = [await _task(wide_pool, n) for n in (1, 2, 3)]
    daily = Limits(runs_per_day=1)
    assert (await _ask(wide_pool, ids[0], installation=daily)).admitted
    # Its run is made and ends: it still counts for today.
    await wide_pool.execute(
        """INSERT INTO codegen_requests (task_id, attempt, style, prompt, status, agent_run_id)
           VALUES ($1, 1, 'concise', 'p', 'complete', 900)""",
        ids[0],
    )
    await tasks.transition(
        wide_pool,
        ids[0],
        from_status=(TaskStatus.GENERATING_PROMPT,),
        to_status=TaskStatus.RUNNING,
        attempt=1,
    )
    await tasks.transition(
        wide_pool, ids[0], from_status=(TaskStatus.RUNNING,), to_status=TaskStatus.FAILED
    )
    held = await _ask(wide_pool, ids[1], installation=daily)
    assert held.limit == Limit.INSTALLATION_DAILY
    assert not (await _ask(wide_pool, ids[2], installation=daily)).admitted
    text = await admission.waiting_text(wide_pool, ids[1], daily, NOON)
    assert text and "first in line" in text and "resets at 2026-12-01 00:00 UTC" in text
    before_midnight = NOON.replace(hour=23, minute=59)
    assert await admission.admit_waiting(wide_pool, INSTALLATION, daily, before_midnight) == []
    tomorrow = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)
    assert await admission.admit_waiting(wide_pool, INSTALLATION, daily, tomorrow) == [ids[1]]
    total, _ = await admissions.usage(wide_pool, INSTALLATION, tomorrow.replace(second=0))
    assert total.runs_today == 1


async def test_a_task_that_moved_on_leaves_the_queue(wide_pool):
    first, second, third = [await _task(wide_pool, n) for n in (1, 2, 3)]
    one = Limits(concurrent=1)
    assert (await _ask(wide_pool, first, installation=one)).admitted
    assert not (await _ask(wide_pool, second, installation=one)).admitted
    assert not (await _ask(wide_pool, third, installation=one)).admitted
    # The second is cancelled while it waits: the third moves up.
    async with wide_pool.acquire() as conn:
        assert await admissions.withdraw(conn, second, NOON) == 1
    await tasks.transition(
        wide_pool,
        second,
        from_status=(TaskStatus.GENERATING_PROMPT,),
        to_status=TaskStatus.CANCELLED,
    )
    text = await admission.waiting_text(wide_pool, third, one, NOON)
    assert text and "first in line" in text
    # The first ends by a path that says nothing: the admission sees it anyway.
    await tasks.transition(
        wide_pool, first, from_status=(TaskStatus.GENERATING_PROMPT,), to_status=TaskStatus.FAILED
    )
    assert await admission.admit_waiting(wide_pool, INSTALLATION, one, NOON) == [third]


async def test_one_repository_full_does_not_hold_another(wide_pool):
    busy = [await _task(wide_pool, n, "octo/busy") for n in (1, 2)]
    other = await _task(wide_pool, 3, "octo/quiet")
    repo = Limits(concurrent=1)
    assert (await _ask(wide_pool, busy[0], repo=repo)).admitted
    assert (await _ask(wide_pool, busy[1], repo=repo)).limit == Limit.REPO_CONCURRENT
    assert (await _ask(wide_pool, other, repo=repo)).admitted
