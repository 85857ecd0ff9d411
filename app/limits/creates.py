"""Codegen creates per organization, counted in PostgreSQL so that however many
workers run, no window of `window` seconds sees more than `limit` creates.

Taking a place is one statement (`take_window_place`, migrations 009 and 017):
it locks the window's row, forgets the creates that left the window and
records this one when there is room, or answers how long until there is. Once
the create is answered its place is settled to that moment, since Codegen
counts a create when it arrives. Waiters in this
process queue behind one asyncio lock (first come, first served) so only the
head of the queue asks the database."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import asyncpg

from app.codegen.pacing import MIN_RETRY_WAIT, lock_before
from app.limits import store


def create_window_key(org_id: int) -> str:
    """The row that counts one Codegen organization's creates."""
    return f"codegen-creates:{int(org_id)}"


class SharedWindow:
    """A sliding window of at most `limit` acquisitions in any `window` seconds,
    shared by every process on the database (the `CreateLimiter` protocol of
    app/codegen/pacing.py)."""

    def __init__(self, pool: asyncpg.Pool, key: str, *, limit: int, window: float) -> None:
        self._pool = pool
        self.key = key
        self.limit = max(1, int(limit))
        self.window = float(window)
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SharedWindow({self.key!r}, limit={self.limit}, window={self.window:g})"

    async def wait_seconds(self) -> float:
        """Seconds until an acquisition would not wait, from the shared state."""
        return await store.window_delay(self._pool, self.key, self.limit, self.window)

    async def acquire(self, max_wait: float | None = None) -> float:
        """Take a place (0.0), waiting for one; see `take`."""
        return (await self.take(max_wait))[0]

    async def take(self, max_wait: float | None = None) -> tuple[float, datetime | None]:
        """Wait for a place in the window and take it: (0.0, when it was taken by
        the database's clock): one round trip when one is free, and one more each
        time the wait it was told about has passed. With `max_wait`, give up when
        the place is further off, taking nothing, and answer (the seconds until
        one is expected, None)."""
        give_up_at = None if max_wait is None else time.monotonic() + max_wait
        if not await lock_before(self._lock, give_up_at):
            return max(MIN_RETRY_WAIT, await self.wait_seconds()), None
        try:
            while True:
                wait, taken_at = await store.take_window_place(
                    self._pool, self.key, self.limit, self.window
                )
                if wait <= 0:
                    return 0.0, taken_at
                if give_up_at is not None and time.monotonic() + wait > give_up_at:
                    return wait, None
                await asyncio.sleep(wait)
        finally:
            self._lock.release()

    async def settle(self, place: object) -> None:
        """The create the place was taken for has its answer: the window counts
        it from now (migration 017 says why)."""
        assert isinstance(place, datetime)
        await store.settle_window_place(self._pool, self.key, place)
