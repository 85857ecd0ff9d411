"""Limits shared by every process (app/limits) against the embedded PostgreSQL
and the fakes: two pools, clients and GitHub Apps in one test act as two
processes on one database, the way two workers would."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.codegen.client import CodegenClient
from app.db import create_pool
from app.github.client import GitHubApp
from app.limits import store
from app.limits.creates import SharedWindow, create_window_key
from app.limits.writes import SharedWritePacing
from app.observability import metrics
from tests.fakes.codegen import FakeCodegen
from tests.support.flow import wait_until

KEY = "cg-secret-key-0123456789"
ORG = 314
RUN = r"/agent/run$"
REPO = "octo-org/widgets"
OTHER = "octo-org/gadgets"


@pytest.fixture
async def pools(dsn) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two pools on one database: what two processes would hold."""
    first = await create_pool(dsn, min_size=1, max_size=4)
    second = await create_pool(dsn, min_size=1, max_size=4)
    yield first, second
    await first.close()
    await second.close()


# ---------------------------------------------------------------- Codegen creates


def codegen_client(fake: FakeCodegen, pool: asyncpg.Pool, limit: int, window: float):
    return CodegenClient(
        api_url=fake.url,
        api_key=KEY,
        org_id=ORG,
        backoff_base=0.01,
        backoff_max=0.05,
        create_limiter=SharedWindow(pool, create_window_key(ORG), limit=limit, window=window),
    )


async def test_creates_from_two_processes_never_exceed_the_limit_in_any_window(pools):
    # Each process alone would allow 5 per 1.2 s, 10 together. The fake counts
    # arrivals, which trail the moment a place was taken by up to a request's
    # trip: 0.2 s of margin keeps a slow send from looking like a sixth create.
    async with FakeCodegen(
        api_key=KEY, org_id=ORG, creates_per_window=5, create_window_seconds=1.0
    ) as fake:
        fake.add_repo(REPO)
        a, b = (codegen_client(fake, pool, limit=5, window=1.2) for pool in pools)
        try:
            started = time.monotonic()
            await asyncio.gather(
                *(c.create_run("p", metadata={"i": i}) for i in range(8) for c in (a, b))
            )
            elapsed = time.monotonic() - started
        finally:
            await a.aclose()
            await b.aclose()
        assert len(fake.created) == 16
        assert [p.status for p in fake.calls("POST", RUN)] == [200] * 16  # no 429 either
        assert fake.max_creates_in(1.0) <= 5
        assert elapsed >= 3 * 1.2  # 16 creates, 5 a window: the 16th waits three windows


async def test_create_delay_reads_the_window_every_process_shares(pools):
    async with FakeCodegen(api_key=KEY, org_id=ORG) as fake:
        fake.add_repo(REPO)
        a, b = (codegen_client(fake, pool, limit=3, window=60) for pool in pools)
        try:
            assert await b.create_delay() == 0.0
            for i in range(3):
                await a.create_run("p", metadata={"i": i})
            assert 55 < await b.create_delay() <= 60  # b made none, yet must wait
            assert 55 < await a.create_delay() <= 60
        finally:
            await a.aclose()
            await b.aclose()


async def test_a_window_frees_its_places_as_they_age_out(pool):
    window = SharedWindow(pool, "test-window", limit=2, window=0.5)
    assert await window.wait_seconds() == 0.0
    await window.acquire()
    await window.acquire()
    assert 0.3 < await window.wait_seconds() <= 0.5
    # Taking is one statement, and a refusal takes nothing.
    wait, taken_at = await store.take_window_place(pool, "test-window", 2, 0.5)
    assert 0.3 < wait <= 0.5 and taken_at is None
    assert len(await pool.fetchval("SELECT taken FROM shared_windows")) == 2
    started = time.monotonic()
    await window.acquire()  # waits for the first place to age out
    assert 0.3 < time.monotonic() - started < 1.0


async def test_a_bounded_acquire_gives_up_taking_nothing(pool):
    window = SharedWindow(pool, "test-window", limit=1, window=30.0)
    assert await window.acquire(max_wait=0.5) == 0.0
    started = time.monotonic()
    assert 25 < await window.acquire(max_wait=0.5) <= 30  # told how long, not made to wait
    assert time.monotonic() - started < 0.5
    assert len(await pool.fetchval("SELECT taken FROM shared_windows")) == 1
    # Behind another waiter of this process, the bound holds too.
    first = asyncio.create_task(window.acquire())
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert await window.acquire(max_wait=0.3) > 0
    assert time.monotonic() - started < 1.0
    first.cancel()


# ---------------------------------------------------------------- GitHub writes


async def label(app: GitHubApp, installation: int, repo: str, name: str) -> None:
    gh = await app.for_installation(installation)
    await gh.post(f"/repos/{repo}/labels", data={"name": name, "color": "ffffff"})


def spans(fake, repo: str) -> list[tuple[float, float, str]]:
    posts = fake.calls("POST", rf"^/repos/{repo}/labels$")
    return sorted((c.started_at, c.finished_at, c.json["name"]) for c in posts)


async def test_writes_to_one_installation_from_two_processes_are_serial_and_spaced(
    apps, fake_github
):
    fake_github.add_repo(REPO, installation_id=11)
    a, b = apps(0.2)
    fake_github.delay_next("POST", r"/labels$", 0.05, times=8)
    await asyncio.gather(
        *(label(app, 11, REPO, f"{tag}{n}") for n in range(4) for app, tag in ((a, "a"), (b, "b")))
    )
    writes = spans(fake_github, REPO)
    assert len(writes) == 8
    assert {name[0] for *_, name in writes} == {"a", "b"}  # both processes wrote
    assert fake_github.write_overlaps() == []
    for (_, end, _), (start, _, _) in itertools.pairwise(writes):
        assert start - end >= 0.18  # the interval holds across hand-overs too


async def test_writes_to_different_installations_run_in_parallel(apps, fake_github):
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.add_repo(OTHER, installation_id=12)
    a, b = apps(0.0)
    fake_github.delay_next("POST", r"/labels$", 1.0, times=2)
    await asyncio.gather(label(a, 11, REPO, "one"), label(b, 12, OTHER, "two"))
    [(start_one, end_one, _)] = spans(fake_github, REPO)
    [(start_two, end_two, _)] = spans(fake_github, OTHER)
    assert start_two < end_one and start_one < end_two  # at once, not one after the other


async def test_a_lease_is_not_asked_for_again_for_each_write(apps, fake_github, dsn):
    fake_github.add_repo(REPO, installation_id=11)
    a, _b = apps(0.05)
    taken = metrics.GITHUB_WRITE_LEASES.labels(event="taken")._value.get()
    for n in range(6):  # one after another, each within the linger of the last
        await label(a, 11, REPO, f"s{n}")
    assert metrics.GITHUB_WRITE_LEASES.labels(event="taken")._value.get() - taken == 1
    assert a.write_pacing.holds(11)
    await asyncio.sleep(0.3)  # nothing more queued: the lease is let go
    assert not a.write_pacing.holds(11)
    conn = await asyncpg.connect(dsn)
    try:
        assert await store.lease_holder(conn, 11) is None
        row = await conn.fetchrow("SELECT * FROM github_write_leases WHERE installation_id = 11")
        assert row["released"] and row["last_write_at"] is not None
    finally:
        await conn.close()


async def test_a_process_with_a_long_queue_lets_another_take_a_turn(apps, fake_github):
    fake_github.add_repo(REPO, installation_id=11)
    a, b = apps(0.0, hold=0.3)
    fake_github.delay_next("POST", r"/labels$", 0.05, times=31)
    busy = asyncio.gather(*(label(a, 11, REPO, f"a{n}") for n in range(30)))  # ~1.5 s
    await asyncio.sleep(0.1)
    await label(b, 11, REPO, "b0")
    writes = spans(fake_github, REPO)
    b_start = next(start for start, _, name in writes if name == "b0")
    assert b_start - writes[0][0] < 1.0  # within its hold and a poll, not after a's queue
    await busy
    assert spans(fake_github, REPO)[-1][2] != "b0"  # a went on after b's turn
    assert fake_github.write_overlaps() == []


async def test_a_process_writing_one_after_another_lets_another_take_a_turn(apps, fake_github):
    # a's writes come one at a time (a job's writes in sequence): none is queued
    # when a turn ends, yet the next comes within the linger, so a holds on.
    fake_github.add_repo(REPO, installation_id=11)
    a, b = apps(0.05, hold=0.3)
    fake_github.delay_next("POST", r"/labels$", 0.05, times=31)

    async def one_after_another() -> None:
        for n in range(30):  # ~3 s
            await label(a, 11, REPO, f"a{n}")

    busy = asyncio.create_task(one_after_another())
    await wait_until(lambda: a.write_pacing.holds(11), timeout=5)
    started = time.monotonic()
    await label(b, 11, REPO, "b0")
    assert time.monotonic() - started < 1.2  # within a's hold and a few polls
    await busy
    assert spans(fake_github, REPO)[-1][2] != "b0"  # a went on after b's turn
    assert fake_github.write_overlaps() == []


async def test_a_write_cancelled_as_its_turn_came_does_not_keep_the_lease(dsn, pool):
    # The turn before it left the lease held for it (it was queued), and it was
    # cancelled (a job stopped) before it ran: nothing else lets go then.
    pacing = SharedWritePacing(dsn, interval=0.05)
    try:
        entered = asyncio.Event()

        async def queued_write() -> None:
            async with pacing.turn(11):
                entered.set()

        async with pacing.turn(11):
            second = asyncio.create_task(queued_write())
            await asyncio.sleep(0.05)  # queued behind this turn
        second.cancel()  # its turn came, but it has not run yet
        with pytest.raises(asyncio.CancelledError):
            await second
        assert not entered.is_set()
        await wait_until(lambda: not pacing.holds(11), timeout=2)
        assert await store.lease_holder(pool, 11) is None
    finally:
        await pacing.aclose()


async def test_waiting_for_a_lease_held_elsewhere_asks_cheaply(dsn, pool):
    # take_github_write_lease looks through pg_locks (every lock in the
    # server) before trying: a wait polls 20 times a second, so a poll must
    # not call it while the lease is held elsewhere.
    database = await pool.fetchval("SELECT current_database()")
    await pool.execute(f"ALTER DATABASE {database} SET track_functions = 'pl'")
    a = SharedWritePacing(dsn, interval=0.0)
    b = SharedWritePacing(dsn, interval=0.0)

    async def b_write() -> None:
        async with b.turn(11):
            pass

    try:
        async with a.turn(11):
            waiting = asyncio.create_task(b_write())
            await asyncio.sleep(1.0)  # ~20 polls
        await waiting
    finally:
        await a.aclose()
        await b.aclose()
    # Their sessions end, and their counts reach the statistics.
    await wait_until(
        lambda: pool.fetchval(
            """SELECT count(*) = 0 FROM pg_stat_activity
               WHERE application_name = 'codegen-bot write leases'"""
        ),
        timeout=5,
    )
    calls = await pool.fetchval(
        "SELECT calls FROM pg_stat_user_functions WHERE funcname = 'take_github_write_lease'"
    )
    assert 2 <= calls <= 3  # a's take and b's, and perhaps one lost race


async def test_a_lease_held_by_a_killed_connection_is_freed(apps, fake_github, pool):
    fake_github.add_repo(REPO, installation_id=11)
    a, b = apps(1.0)
    await label(a, 11, REPO, "a0")
    assert a.write_pacing.holds(11)  # lingering one interval after its write
    holder = await store.lease_holder(pool, 11)
    assert holder is not None
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", holder)

    # b takes the lease at once, and waits the whole interval since it cannot
    # know when the vanished holder last wrote.
    fake_github.delay_next("POST", r"/labels$", 0.4)
    b_write = asyncio.create_task(label(b, 11, REPO, "b0"))
    await wait_until(lambda: b.write_pacing.holds(11), timeout=5)
    # a stops writing until it holds the lease again: after b's turn.
    lost = metrics.GITHUB_WRITE_LEASES.labels(event="lost")._value.get()
    await label(a, 11, REPO, "a1")
    await b_write
    assert metrics.GITHUB_WRITE_LEASES.labels(event="lost")._value.get() == lost + 1
    writes = spans(fake_github, REPO)
    assert [name for *_, name in writes] == ["a0", "b0", "a1"]
    assert fake_github.write_overlaps() == []
    for (_, end, _), (start, _, _) in itertools.pairwise(writes):
        assert start - end >= 0.95


async def test_write_backlog_counts_a_lease_held_by_another_process(apps, fake_github):
    fake_github.add_repo(REPO, installation_id=11)
    a, b = apps(0.0, hold=5.0)
    fake_github.delay_next("POST", r"/labels$", 0.2, times=20)
    busy = asyncio.gather(*(label(a, 11, REPO, f"a{n}") for n in range(10)))
    await wait_until(lambda: a.write_pacing.holds(11), timeout=5)
    gh = await b.for_installation(11)
    assert gh.write_backlog() == 0.0  # nothing queued here: no I/O to find out more
    waiting = asyncio.create_task(label(b, 11, REPO, "b0"))
    # Once its write waits for a's lease: a's turn may last up to its hold.
    backlog = await wait_until(lambda: gh.write_backlog(), timeout=5)
    assert 3.0 < backlog <= 5.0
    await asyncio.gather(busy, waiting)
    assert gh.write_backlog() == 0.0


async def test_a_session_takes_a_lease_once_however_often_it_asks(dsn, pool):
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        assert await store.take_write_lease(first, 11) == 1e9  # never written
        assert await store.take_write_lease(first, 11) == 0.0  # ours, not let go cleanly
        assert await store.take_write_lease(second, 11) is None
        await store.record_last_write(first, 11, 0.5)
        assert await store.release_write_lease(first, 11)
        assert await store.lease_holder(pool, 11) is None  # one release lets go
        since = await store.take_write_lease(second, 11)
        assert since is not None and 0.5 <= since < 1.5
        assert await store.lease_holder(pool, 11) == await second.fetchval(
            "SELECT pg_backend_pid()"
        )
    finally:
        await first.close()
        await second.close()


async def test_a_settled_place_counts_from_its_answer(pool):
    """Codegen counts a create when it arrives, which can be well after its place
    was taken: settling moves the place to the answer's time, and brings back a
    place that aged out of the window while its request was out."""
    window = SharedWindow(pool, "test-window", limit=1, window=0.5)
    wait, place = await window.take()
    assert wait == 0.0 and place is not None
    await asyncio.sleep(0.3)
    await window.settle(place)
    assert 0.4 < await window.wait_seconds() <= 0.5  # not the 0.2 left from the take
    assert len(await pool.fetchval("SELECT taken FROM shared_windows")) == 1

    await asyncio.sleep(0.55)
    wait, place = await window.take(max_wait=0)
    assert wait == 0.0
    await asyncio.sleep(0.6)  # out of the window before its answer came
    assert await window.wait_seconds() == 0.0
    await window.settle(place)
    assert 0.4 < await window.wait_seconds() <= 0.5


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "in-process"])
async def test_a_slow_create_answer_delays_the_next_create(pool, shared):
    """The next create waits a whole window from the slow create's answer, not
    from the moment its place was taken: the API's window, counted from the
    arrival, never sees two."""
    async with FakeCodegen(api_key=KEY, org_id=ORG) as fake:
        fake.add_repo(REPO)
        if shared:
            client = codegen_client(fake, pool, limit=1, window=0.5)
        else:
            client = CodegenClient(
                api_url=fake.url, api_key=KEY, org_id=ORG, creates_per_minute=1, window_seconds=0.5
            )
        try:
            fake.hold_answer_next("POST", RUN, 0.4)
            await client.create_run("p", metadata={"i": 1})
            answered = time.monotonic()
            await client.create_run("p", metadata={"i": 2})
            assert time.monotonic() - answered >= 0.45
            assert len(fake.created) == 2
        finally:
            await client.aclose()
