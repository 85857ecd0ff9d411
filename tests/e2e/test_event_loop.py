"""CPU-heavy work stays off the event loop: while the bot analyses a
3,000-file, 300,000-line pull request, `/health` and the webhook endpoint keep
answering (the loop that serves them also renews job leases). Real PostgreSQL,
the bot's real server and worker, the fake GitHub; and `app.cpu` itself, with
real worker processes."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import time

import pytest

from app import cpu
from app.validation import run as validation_run
from tests.support.bot import delivery_headers, running_bot
from tests.support.events import pull_request_event
from tests.support.flow import INSTALLATION, QUICK, REPO, WRITER, wait_until

NUMBER = 30
FILES = 3_000  # GitHub lists at most 3,000 files of a PR, 100 a page
LINES = 100  # added lines a file: 300,000 in all
ANSWER_SECONDS = 1.0  # generous: the point is "answers", not "fast"


def big_pull_files(files: int = FILES, lines: int = LINES) -> list[dict[str, str]]:
    """Ordinary new code (no finding on any line), `lines` lines in each of
    `files` files: the shape of benchmarks/loop_lag.py's pull request."""
    out = []
    for i in range(files):
        body = "\n".join(
            f"+    total_{j} = combine(rows[{j}], columns, offset={i})" for j in range(lines)
        )
        out.append(
            {
                "filename": f"widgets/part_{i // 100}/module_{i}.py",
                "status": "added",
                "patch": f"@@ -0,0 +1,{lines} @@\n{body}",
            }
        )
    return out


def file_pages(fake, status: int = 200) -> list:
    return [r for r in fake.calls("GET", rf"/pulls/{NUMBER}/files$") if r.status == status]


async def validation(bot) -> dict | None:
    row = await bot.runtime.pool.fetchrow("SELECT * FROM validations ORDER BY id DESC LIMIT 1")
    return dict(row) if row else None


async def analysing(bot, fake) -> bool:
    """Every page of files was served and no finding is stored yet: the diff is
    being analysed (the next step after the last page stores the findings)."""
    if len(file_pages(fake)) < FILES // 100:
        return False
    row = await validation(bot)  # read after the pages: both held in between
    return row is not None and row["findings"] is None


@pytest.fixture
def big_pull(flow_settings, seeded):
    seeded.set_file(REPO, ".github/codegen.yml", "validate: all\n" + QUICK)
    return seeded.add_pull(
        REPO, NUMBER, title="Big change", user=WRITER, head_ref="big", files=big_pull_files()
    )


def probe(url: str, delivery: bytes, stop: threading.Event) -> list[tuple[float, float, int]]:
    """From another thread (its own client, not the bot's loop): `GET /health`
    and a signed delivery in turn until `stop`; (sent, answered, status) each."""
    host, port = url.removeprefix("http://").split(":")
    answers = []
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        while not stop.is_set():
            for method, path, body, headers in (
                ("GET", "/health", None, {}),
                ("POST", "/api/github/webhooks", delivery, delivery_headers("issues", delivery)),
            ):
                sent = time.monotonic()
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                answers.append((sent, time.monotonic(), response.status))
                stop.wait(0.05)
    finally:
        connection.close()
    return answers


async def test_health_and_webhooks_answer_while_a_huge_pr_is_analysed(
    flow_settings, seeded, big_pull, example_payload
):
    issue = example_payload("issues", "opened")
    issue["installation"] = {"id": INSTALLATION}
    delivery = json.dumps(issue).encode()
    seen: list[tuple[float, bool]] = []  # (when, the analysis in progress)
    async with running_bot(flow_settings) as bot:
        event = pull_request_event(seeded, "opened", REPO, NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", event))[0] == 202
        stop = threading.Event()
        prober = asyncio.create_task(asyncio.to_thread(probe, bot.url, delivery, stop))
        try:
            while (row := await _concluded(bot)) is None:
                seen.append((time.monotonic(), await analysing(bot, seeded)))
                assert time.monotonic() - seen[0][0] < 180, "the validation did not finish"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            answers = await prober
    slowest = max(answered - sent for sent, answered, _ in answers)
    assert slowest < ANSWER_SECONDS, f"an answer took {slowest:.1f} s"
    assert {status for _, _, status in answers} == {200, 202}
    # Answered between two looks that both found the analysis in progress.
    starts = [when for when, busy in seen if busy]
    during = [
        status
        for sent, answered, status in answers
        if starts and starts[0] <= sent and any(when >= answered for when in starts)
    ]
    assert 200 in during and 202 in during, "no answer while the analysis was in progress"
    # Every file arrived, 100 a page, and all of them were analysed.
    assert len(file_pages(seeded)) == FILES // 100
    assert {r.query.get("per_page") for r in file_pages(seeded)} == {"100"}
    assert row["analysis"]["files_changed"] == FILES
    assert row["analysis"]["additions"] == FILES * LINES
    assert [f["rule"] for f in json.loads(row["findings"])] == ["review.no_tests"]


async def _concluded(bot) -> dict | None:
    row = await validation(bot)
    if row is None or row["conclusion"] is None:
        return None
    return {**row, "analysis": json.loads(row["analysis"])}


async def test_an_analysis_past_its_time_limit_reports_the_pr_not_analysed(
    flow_settings, seeded, big_pull, monkeypatch
):
    monkeypatch.setattr(validation_run, "ANALYSIS_SECONDS", 0.05, raising=False)
    async with running_bot(flow_settings) as bot:
        event = pull_request_event(seeded, "opened", REPO, NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", event))[0] == 202
        row = await wait_until(lambda: _concluded(bot), timeout=120)
        await bot.wait_idle()
    assert row["conclusion"] == "neutral"
    assert row["analysis"]["files_changed"] == FILES
    assert "not finished within 0.05 s" in row["analysis"]["not_analysed"]
    assert len(row["analysis"]["not_scanned"]) == FILES  # what holds back unscanned files
    findings = json.loads(row["findings"])
    assert [f["rule"] for f in findings] == ["analysis.not_analysed"]
    [run] = [r for r in seeded.check_runs_for(REPO, big_pull["head"]["sha"])]
    assert run["conclusion"] == "neutral"
    assert "Not analysed: too large or slow" in run["output"]["text"]


async def test_a_call_past_its_limit_is_stopped_and_the_next_call_runs():
    started = time.perf_counter()
    with pytest.raises(cpu.TooSlow, match=r"sleep did not finish within 0\.5 s"):
        await cpu.run(time.sleep, 60, seconds=0.5)
    assert time.perf_counter() - started < 30  # not the 60 s the call would have taken
    assert await cpu.run(pow, 2, 10) == 1024
    with pytest.raises(ValueError, match="invalid literal"):
        await cpu.run(int, "not a number")  # the function's own error, as it was raised


async def test_calls_run_in_parallel_processes_beside_the_loop():
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.gather(*(cpu.run(time.sleep, 0.5) for _ in range(cpu.WORKERS)))
    finally:
        ticker.cancel()
    assert ticks >= 10  # the loop kept running while the workers slept
    pids = await asyncio.gather(*(cpu.run(os.getpid) for _ in range(4)))
    assert len(set(pids)) <= cpu.WORKERS  # bounded, and never the service's own process
    assert os.getpid() not in pids
