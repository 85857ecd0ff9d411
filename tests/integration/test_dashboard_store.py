"""The dashboard's task list at 100,000 tasks: keyset pages newest first with
no overlap and no gap, every filter as parameters, only the viewer's
repositories, and each page read through an index (no sort of the table)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from app.dashboard import filters, store

N = 100_000


async def _seed(pool) -> None:
    """100,000 tasks over 3 repositories, 4 requesters and 100 days; every
    1000th is `failed`, titles say their number."""
    await pool.execute(
        """INSERT INTO tasks (installation_id, repository, issue_number, issue_url,
                              issue_author, title, status, triggered_by, created_at)
           SELECT 1, (ARRAY['octo-org/widgets', 'octo-org/gadgets', 'other/secret'])[i % 3 + 1],
                  i, 'https://github.com/x/y/issues/' || i, 'rae',
                  'Task number ' || i || CASE WHEN i % 500 = 0 THEN ' 50%_off' ELSE '' END,
                  CASE WHEN i % 1000 = 0 THEN 'failed' ELSE 'merged' END,
                  (ARRAY['mia', 'dan', 'lee', 'kim'])[i % 4 + 1],
                  $1::timestamptz + (i * interval '86 seconds')
           FROM generate_series(1, $2) AS i""",
        datetime(2026, 8, 1, tzinfo=UTC),
        N,
    )
    await pool.execute("ANALYZE tasks")


async def _plan(pool, flt, visible) -> str:
    clause, params = filters.where(flt, visible)
    rows = await pool.fetch(
        f"EXPLAIN SELECT id FROM tasks {clause} ORDER BY id DESC LIMIT 51",  # noqa: S608
        *params,
    )
    return "\n".join(r[0] for r in rows)


async def test_keyset_pages_over_100000_tasks(pool):
    await _seed(pool)
    visible = ["octo-org/widgets", "octo-org/gadgets"]
    seen: list[int] = []
    flt = filters.parse({"status": "failed"})
    started = time.perf_counter()
    while True:
        rows = await store.list_tasks(pool, flt, visible)
        seen += [r.id for r in rows[: filters.PAGE_SIZE]]
        cursor = filters.next_cursor([r.id for r in rows])
        if cursor is None:
            break
        flt = filters.parse({"status": "failed", "before": str(cursor)})
    elapsed = time.perf_counter() - started
    expected = await pool.fetch(
        """SELECT id FROM tasks WHERE status = 'failed' AND repository <> 'other/secret'
           ORDER BY id DESC"""
    )
    assert seen == [r["id"] for r in expected] and len(seen) == 67
    assert elapsed < 5, elapsed

    # A page deep in the list costs what the first does.
    timings = {}
    for before in (None, 1_000):
        q = {"before": str(before)} if before else {}
        t0 = time.perf_counter()
        for _ in range(5):
            rows = await store.list_tasks(pool, filters.parse(q), visible)
        timings[before] = (time.perf_counter() - t0) / 5
        assert len(rows) == filters.PAGE_SIZE + 1
        assert all(r.repository != "other/secret" for r in rows)
    assert timings[1_000] < 0.5 and timings[None] < 0.5, timings

    # Filters: requester, dates, title search with the user's own % and _.
    day = datetime(2026, 8, 1, tzinfo=UTC) + timedelta(seconds=86 * 1000)
    rows = await store.list_tasks(
        pool,
        filters.parse(
            {"requester": "@MIA", "since": day.date().isoformat(), "until": day.date().isoformat()}
        ),
        None,
    )
    assert rows and all(r.triggered_by == "mia" for r in rows)
    assert all(r.created_at.date() == day.date() for r in rows)
    rows = await store.list_tasks(pool, filters.parse({"q": "50%_off"}), None, page_size=500)
    assert len(rows) == N // 500 and all("50%_off" in r.title for r in rows)
    assert await store.list_tasks(pool, filters.parse({"q": "50%x"}), None) == []

    # Each filter reads an index in id order: no sort of 100,000 rows.
    for query in (
        {},
        {"status": "failed"},
        {"repository": "octo-org/widgets"},
        {"requester": "mia"},
    ):
        plan = await _plan(pool, filters.parse(query), None)
        assert "Sort" not in plan and "Index" in plan, plan
