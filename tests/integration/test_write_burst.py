"""The write bucket of the shared pacing (app/limits/writes.py): a new task's
first feedback may spend a small burst, then one write an interval; every
other write stays one an interval and leaves one write in the bucket for the
next first feedback; writes stay serial; and a process that
takes the lease counts only what the time since the recorded last write
refilled. Against the real database lease and the fake GitHub's records."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from app.github.client import GitHubApp
from app.limits.writes import SharedWritePacing, WritePriority, priority
from tests.support.flow import wait_until

REPO = "octo-org/widgets"
INSTALLATION = 11


async def react(app: GitHubApp, n: int | str, level: WritePriority = WritePriority.FIRST) -> None:
    gh = await app.for_installation(INSTALLATION)
    with priority(level):
        await gh.post(f"/repos/{REPO}/labels", data={"name": f"l{n}", "color": "ffffff"})


def starts(fake) -> list[tuple[float, float]]:
    posts = fake.calls("POST", rf"^/repos/{REPO}/labels$")
    return sorted((c.started_at, c.finished_at) for c in posts)


def assert_within_bucket(writes: list[tuple[float, float]], burst: int, interval: float) -> None:
    """No window of writes holds more than the burst and one an interval: the
    writes starting from the i-th to the j-th are at most burst + span/interval
    (0.05 s of margin for the fake's clock trailing the process's)."""
    for i, j in itertools.combinations(range(len(writes)), 2):
        span = writes[j][0] - writes[i][0]
        assert j - i + 1 <= burst + (span + 0.05) / interval, (i, j, span)


async def test_first_feedback_from_two_processes_keeps_to_the_bucket(apps, fake_github):
    fake_github.add_repo(REPO, installation_id=INSTALLATION)
    a, b = apps(0.3, burst=3, hold=0.4)  # short holds: the lease changes hands
    fake_github.delay_next("POST", r"/labels$", 0.02, times=12)
    await asyncio.gather(
        *(react(app, f"{t}{n}") for n in range(6) for app, t in ((a, "a"), (b, "b")))
    )
    writes = starts(fake_github)
    assert len(writes) == 12
    assert fake_github.write_overlaps() == []
    assert_within_bucket(writes, burst=3, interval=0.3)


async def test_the_burst_is_spent_at_once_then_one_an_interval(dsn):
    pacing = SharedWritePacing(dsn, interval=30.0, burst=3)
    try:
        for _ in range(3):  # a 30 s spacing would time these out
            with priority(WritePriority.FIRST):
                await asyncio.wait_for(_enter(pacing), 10)
        lane = pacing._lanes[INSTALLATION]
        assert pacing._wait(lane, WritePriority.FIRST) > 25  # the bucket is empty
        assert pacing.backlog(INSTALLATION) > 25
    finally:
        await pacing.aclose()


async def test_a_first_feedback_after_other_writes_goes_at_once(dsn):
    pacing = SharedWritePacing(dsn, interval=30.0, burst=2)
    try:
        await asyncio.wait_for(_enter(pacing), 10)  # a reply: the bucket 2 -> 1
        lane = pacing._lanes[INSTALLATION]
        assert pacing._wait(lane, WritePriority.NORMAL) > 25  # the next reply waits
        with priority(WritePriority.FIRST):  # the 👀 does not: a 30 s wait would time out
            await asyncio.wait_for(_enter(pacing), 10)
        assert pacing._wait(lane, WritePriority.FIRST) > 25  # now the bucket is empty
    finally:
        await pacing.aclose()


async def test_other_writes_stay_one_an_interval(apps, fake_github):
    fake_github.add_repo(REPO, installation_id=INSTALLATION)
    a, _b = apps(0.3, burst=4)
    for n in range(4):
        await react(a, n, WritePriority.NORMAL)
    writes = starts(fake_github)
    for (_, end), (start, _) in itertools.pairwise(writes):
        assert start - end >= 0.28  # the interval, as without a burst


async def test_a_new_holder_does_not_assume_a_full_bucket(apps, fake_github):
    fake_github.add_repo(REPO, installation_id=INSTALLATION)
    a, b = apps(30.0, burst=3)
    for n in range(3):  # a spends the whole burst
        await asyncio.wait_for(react(a, n), 10)
    await a.write_pacing.aclose()  # lets go, recording its last write
    late = asyncio.create_task(react(b, 3))
    await wait_until(lambda: b.write_pacing.holds(INSTALLATION), timeout=10)
    await asyncio.sleep(0.5)
    assert not late.done()  # b counts what 0.5 s refilled, not a full bucket
    assert b.write_pacing._wait(b.write_pacing._lanes[INSTALLATION], WritePriority.FIRST) > 20
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert len(starts(fake_github)) == 3


async def test_a_first_feedback_overtakes_a_write_waiting_for_a_full_bucket(dsn):
    pacing = SharedWritePacing(dsn, interval=1.0, burst=2)
    order: list[str] = []

    async def write(name: str, level: WritePriority) -> None:
        with priority(level):
            async with pacing.turn(INSTALLATION):
                order.append(name)

    try:
        await write("eyes0", WritePriority.FIRST)  # the bucket: 2 -> 1
        lane = pacing._lanes[INSTALLATION]
        edit = asyncio.create_task(write("edit", WritePriority.EDIT))  # waits for 2
        await wait_until(lambda: lane.lock.locked(), timeout=5)
        eyes = asyncio.create_task(write("eyes1", WritePriority.FIRST))
        await asyncio.wait_for(asyncio.gather(edit, eyes), 20)
    finally:
        await pacing.aclose()
    assert order == ["eyes0", "eyes1", "edit"]


async def _enter(pacing: SharedWritePacing) -> None:
    async with pacing.turn(INSTALLATION):
        pass
