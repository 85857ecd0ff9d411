"""Codegen creates per organization, counted in PostgreSQL so that however many
workers run, no window of `window` seconds sees more than `limit` creates.

Taking a place is one statement (`take_window_slot`, migration 009): it locks
the window's row, forgets the creates that left the window and records this
one when there is room, or answers how long until there is. Waiters in this
process queue behind one asyncio lock (first come, first served) so only the
head of the queue asks the database."""

from __future__ import annotations

import asyncio

import asyncpg

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

    async def acquire(self) -> None:
        """Wait for a place in the window and take it: one round trip when one is
        free, and one more each time the wait it was told about has passed."""
        async with self._lock:
            while True:
                wait = await store.take_window_slot(self._pool, self.key, self.limit, self.window)
                if wait <= 0:
                    return
                await asyncio.sleep(wait)
