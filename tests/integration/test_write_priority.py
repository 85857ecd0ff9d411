"""The shared write pacing's queue order and held turns (app/limits/writes.py),
against the real database lease: a write waiting with a higher priority goes
before lower ones queued earlier, and a held turn keeps other writes out while
its own go one after another."""

from __future__ import annotations

import asyncio

from app.limits.writes import PriorityLock, SharedWritePacing, WritePriority, priority
from tests.support.flow import wait_until

INSTALLATION = 11


async def _write(pacing, order: list[str], name: str, level: WritePriority, gate=None) -> None:
    with priority(level):
        async with pacing.turn(INSTALLATION):
            order.append(name)
            if gate is not None:
                await gate.wait()


async def test_a_new_tasks_first_write_overtakes_edits_queued_before_it(dsn):
    pacing = SharedWritePacing(dsn, interval=0.0)
    order: list[str] = []
    gate = asyncio.Event()
    try:
        holder = asyncio.create_task(_write(pacing, order, "holder", WritePriority.NORMAL, gate))
        await wait_until(lambda: order == ["holder"], timeout=10)
        lane = pacing._lanes[INSTALLATION]
        queued = [
            asyncio.create_task(_write(pacing, order, f"edit{i}", WritePriority.EDIT))
            for i in range(3)
        ]
        await wait_until(lambda: lane.lock.waiting() == 3, timeout=10)
        queued.append(asyncio.create_task(_write(pacing, order, "reply", WritePriority.NORMAL)))
        queued.append(asyncio.create_task(_write(pacing, order, "post", WritePriority.NEW)))
        queued.append(asyncio.create_task(_write(pacing, order, "eyes", WritePriority.FIRST)))
        await wait_until(lambda: lane.lock.waiting() == 6, timeout=10)
        gate.set()
        await asyncio.gather(holder, *queued)
    finally:
        await pacing.aclose()
    assert order == ["holder", "eyes", "post", "reply", "edit0", "edit1", "edit2"]


async def test_a_held_turn_keeps_others_out_and_spaces_its_own_writes(dsn):
    pacing = SharedWritePacing(dsn, interval=0.2)
    order: list[str] = []
    times: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        async with pacing.hold(INSTALLATION):
            other = asyncio.create_task(_write(pacing, order, "other", WritePriority.FIRST))
            for name in ("first", "second"):
                async with pacing.turn(INSTALLATION):  # re-entered, not waited for
                    order.append(name)
                    times.append(loop.time())
        await other
    finally:
        await pacing.aclose()
    assert order == ["first", "second", "other"]
    assert times[1] - times[0] >= 0.2 - 0.01  # still spaced by the interval


async def test_a_held_turn_without_a_write_costs_no_spacing(dsn):
    pacing = SharedWritePacing(dsn, interval=30.0)
    try:
        async with pacing.hold(INSTALLATION):
            pass  # e.g. the comment lock was busy: nothing written
        assert pacing._lanes[INSTALLATION].last is None or pacing.backlog(INSTALLATION) < 30
        # The next write goes at once: a 30 s wait would time this out.
        await asyncio.wait_for(_write(pacing, [], "w", WritePriority.NORMAL), 10)
    finally:
        await pacing.aclose()


async def test_a_cancelled_waiter_passes_the_lock_on():
    lock = PriorityLock()
    await lock.acquire(WritePriority.NORMAL)
    cancelled = asyncio.create_task(lock.acquire(WritePriority.FIRST))
    later = asyncio.create_task(lock.acquire(WritePriority.EDIT))
    await asyncio.sleep(0)
    cancelled.cancel()
    lock.release()
    await asyncio.wait_for(later, 5)
    assert lock.locked()
    lock.release()
    assert not lock.locked()
