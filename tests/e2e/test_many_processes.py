"""Two web and two worker processes (`codegen-bot serve --role ...`, real
subprocesses) on one PostgreSQL, against the fakes of GitHub and Codegen in
this process: 5,000 signed deliveries spread over both web processes, 200 of
them `issues.labeled` from 20 installations, the rest a mix the bot handles
cheaply (issues opened, plain comments, commit statuses); one worker is
SIGKILLed midway, while it holds jobs, and a new one started in its place.

The run happens once for the module (`fleet_run`); each test below checks one
property of what it left behind, so a failure names the property that broke.
The Codegen create limit and GitHub's write spacing are scaled down from a
minute and a second (10 creates per CREATE_WINDOW seconds, writes WRITE_INTERVAL
apart) through the settings, and the fake Codegen refuses past the same limit
(counted over a slightly shorter window, for the time a request takes to
arrive), as the real API does."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest

from tests.fakes.codegen import FakeCodegen
from tests.fakes.github import FakeGitHub
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID, APP_SLUG
from tests.support.events import issue_comment_event, issue_event, status_event
from tests.support.processes import (
    CODEGEN_KEY,
    ORG_ID,
    Delivery,
    Fleet,
    Outcome,
    busy_jobs,
    creates_asked_in,
    delivery,
    env_for,
    post_deliveries,
    scaled_limits,
    scratch_database,
)

INSTALLATIONS = 20
ISSUES_PER_REPO = 10  # labeled: 20 x 10 = 200 tasks
DELIVERIES = 5_000
CREATE_LIMIT = 10
CREATE_WINDOW = 2.0  # seconds, for Codegen's 60: the bot's window
# Codegen counts creates when they arrive; the bot counts each from its answer
# (a settled place, migration 017), but a create still in flight counts from
# when its place was taken, so the API's window (the fake's, and the one the
# check uses) is a little shorter than the bot's, as in the client's own test.
API_WINDOW = 0.9 * CREATE_WINDOW
WRITE_INTERVAL = 0.05  # seconds between one installation's writes, for GitHub's 1
WRITER = "maintainer-mia"
TRACKING_MARK = "codegen-bot:task:"
SETTLE_SECONDS = 150.0  # with shared limits it takes about 60 s on 2 loaded cores


@dataclasses.dataclass
class FleetRun:
    """What the run left: the database, the fakes, what each post got, and the
    processes with their exit codes."""

    dsn: str
    github: FakeGitHub
    codegen: FakeCodegen
    posted: list[Outcome]
    labeled: set[str]  # the GUIDs of the 200 labeled deliveries
    held_at_kill: list[int]  # the jobs the killed worker was running
    exit_codes: dict[str, int]
    settled: bool
    seconds: dict[str, float]  # how long posting and settling took
    logs: str
    errors: list[str]

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


def repo_of(i: int) -> str:
    return f"org-{i:02d}/service"


def seed(github: FakeGitHub, codegen: FakeCodegen) -> None:
    """20 installations, one repository each with 10 issues a writer may label,
    and an 11th issue for the cheap events."""
    for i in range(INSTALLATIONS):
        repo = repo_of(i)
        github.add_installation(8000 + i, account=f"org-{i:02d}")
        github.add_repo(repo, installation_id=8000 + i)
        github.set_file(repo, "README.md", f"# Service {i}\nA small service.\n")
        github.set_languages(repo, {"Python": 9000})
        github.set_permission(repo, WRITER, "write")
        for number in range(1, ISSUES_PER_REPO + 2):
            github.add_issue(
                repo,
                number,
                title=f"Add endpoint {number}",
                body="Add a `/ping` endpoint.\n\n## Acceptance criteria\n- [ ] it answers 200\n",
                user="reporter-rae",
            )
        codegen.add_repo(repo)


def workload(github: FakeGitHub, seed_value: int = 12) -> tuple[list[Delivery], set[str]]:
    """5,000 deliveries in a shuffled order; the 200 labeled ones' GUIDs."""
    labeled = [
        delivery(
            str(uuid.uuid4()),
            "issues",
            issue_event(github, "labeled", repo_of(i), n, sender=WRITER, label="codegen"),
        )
        for i in range(INSTALLATIONS)
        for n in range(1, ISSUES_PER_REPO + 1)
    ]
    cheap_kinds = []  # per repository: one payload of each cheap kind, reused
    for i in range(INSTALLATIONS):
        repo, other = repo_of(i), ISSUES_PER_REPO + 1
        sha = f"{i:02d}" + "a" * 38
        cheap_kinds.append(
            [
                ("issues", issue_event(github, "opened", repo, other, sender="reporter-rae")),
                (
                    "issue_comment",
                    issue_comment_event(
                        github, "created", repo, other, "Same here, thanks!", user="drive-by-dan"
                    ),
                ),
                ("status", status_event(github, repo, sha, context="ci/build", state="pending")),
                ("status", status_event(github, repo, sha, context="ci/build", state="success")),
            ]
        )
    cheap = []
    for k in range(DELIVERIES - len(labeled)):
        event, payload = cheap_kinds[k % INSTALLATIONS][(k // INSTALLATIONS) % 4]
        cheap.append(delivery(str(uuid.uuid4()), event, payload))
    everything = labeled + cheap
    random.Random(seed_value).shuffle(everything)
    return everything, {d.guid for d in labeled}


async def settled(dsn: str, codegen: FakeCodegen) -> bool:
    """Every delivery finished, nothing ready or running, 200 runs made (the
    runs' polls are scheduled an hour out and do not count)."""
    conn = await asyncpg.connect(dsn)
    try:
        unfinished = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status NOT IN ('processed', 'ignored')"
        )
    finally:
        await conn.close()
    return (
        unfinished == 0
        and await busy_jobs(dsn) == 0
        and len(codegen.created) >= INSTALLATIONS * ISSUES_PER_REPO
    )


async def jobs_held_by(dsn: str, pid: int) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM jobs WHERE status = 'running' AND lease_owner LIKE $1", f"%:{pid}:%"
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


@pytest.fixture(scope="module")
async def fleet_run(postgres, tmp_path_factory) -> Any:
    """The whole run, once: seed, start, post, kill, restart, post, wait, stop."""
    _, public_pem = make_app_key()
    github = FakeGitHub(app_id=APP_ID, public_key_pem=public_pem, app_slug=APP_SLUG)
    github.latency = 0.01  # every answer takes a moment, as over a network
    codegen = FakeCodegen(
        api_key=CODEGEN_KEY,
        org_id=ORG_ID,
        creates_per_window=CREATE_LIMIT,
        create_window_seconds=API_WINDOW,
    )
    await github.start()
    await codegen.start()
    log_dir = tmp_path_factory.mktemp("fleet")
    try:
        async with scratch_database(postgres) as dsn:
            seed(github, codegen)
            deliveries, labeled = workload(github)
            env = env_for(
                dsn,
                github.url,
                codegen.url,
                MAX_CONCURRENT_WORKFLOWS="8",
                # No budget in the way: the runs stay ACTIVE, 10 at once per
                # repository (budgets have their own test).
                BUDGET_RUNS_PER_DAY="0",
                BUDGET_CONCURRENT_RUNS="0",
                BUDGET_REPO_RUNS_PER_DAY="0",
                BUDGET_REPO_CONCURRENT_RUNS="0",
                # Runs stay ACTIVE: their polls come after the test.
                RUN_POLL_FIRST_SECONDS="3600",
                RUN_POLL_MAX_SECONDS="3600",
                **scaled_limits(CREATE_LIMIT, CREATE_WINDOW, WRITE_INTERVAL),
            )
            async with Fleet(env, log_dir) as fleet:
                await fleet.start(webs=2, workers=2)
                began = time.monotonic()
                half = len(deliveries) // 2
                posted = await post_deliveries(fleet.web_urls, deliveries[:half])
                victim = fleet.workers[0]
                deadline = time.monotonic() + 30
                held: list[int] = []
                while not held and time.monotonic() < deadline:
                    held = await jobs_held_by(dsn, victim.pid)
                await fleet.kill(victim)  # mid-job: it holds leases it will never finish
                await fleet.start_one("worker")  # restarted (a new process, as a platform does)
                posted += await post_deliveries(fleet.web_urls, deliveries[half:])
                all_posted = time.monotonic()
                deadline = time.monotonic() + SETTLE_SECONDS
                done = False
                while time.monotonic() < deadline:
                    if done := await settled(dsn, codegen):
                        break
                    await asyncio.sleep(0.5)
                seconds = {
                    "posting": all_posted - began,
                    "settling": time.monotonic() - all_posted,
                }
                await fleet.stop_all()
                exit_codes = {m.name: m.process.returncode for m in fleet.members}
                run = FleetRun(
                    dsn=dsn,
                    github=github,
                    codegen=codegen,
                    posted=posted,
                    labeled=labeled,
                    held_at_kill=held,
                    exit_codes=exit_codes,
                    settled=done,
                    seconds=seconds,
                    logs=fleet.logs(lines=12),
                    errors=fleet.errors(),
                )
            yield run
    finally:
        await codegen.close()
        await github.close()


# ------------------------------------------------------------------ the properties


async def test_every_delivery_is_acknowledged_and_stored_once(fleet_run):
    refused = [(o.status, o.error) for o in fleet_run.posted if not o.acknowledged]
    assert refused == [], refused[:5]
    assert len({o.url for o in fleet_run.posted}) == 2, "both web processes took deliveries"
    rows = await fleet_run.fetch("SELECT id FROM webhook_deliveries")
    assert len(rows) == DELIVERIES
    assert {r["id"] for r in rows} == {o.delivery.guid for o in fleet_run.posted}


async def test_every_delivery_is_processed_once(fleet_run):
    assert fleet_run.settled, (
        f"not finished within {SETTLE_SECONDS}s {fleet_run.seconds}\n{fleet_run.logs}"
    )
    rows = await fleet_run.fetch(
        """SELECT d.id, d.status, count(j.id) AS jobs, bool_and(j.status = 'done') AS done
           FROM webhook_deliveries d
           LEFT JOIN jobs j ON j.kind = 'delivery' AND j.payload->>'delivery_id' = d.id
           GROUP BY d.id, d.status"""
    )
    assert len(rows) == DELIVERIES
    not_once = [dict(r) for r in rows if r["jobs"] != 1 or not r["done"]]
    assert not_once == [], not_once[:5]
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) <= {"processed", "ignored"}, statuses
    labeled = {r["id"]: r["status"] for r in rows if r["id"] in fleet_run.labeled}
    assert set(labeled.values()) == {"processed"}, Counter(labeled.values())
    dead = await fleet_run.fetch("SELECT kind, last_error FROM jobs WHERE status = 'dead'")
    assert [dict(r) for r in dead] == []


async def test_one_task_and_one_tracking_comment_per_labeled_issue(fleet_run):
    tasks = await fleet_run.fetch("SELECT repository, issue_number FROM tasks")
    expected = {
        (repo_of(i), n) for i in range(INSTALLATIONS) for n in range(1, ISSUES_PER_REPO + 1)
    }
    assert Counter((t["repository"], t["issue_number"]) for t in tasks) == Counter(expected)
    comments = {
        key: [
            c
            for c in fleet_run.github.comments_on(*key)
            if c["user"]["type"] == "Bot" and TRACKING_MARK in c["body"]
        ]
        for key in expected
    }
    not_one = {key: len(found) for key, found in comments.items() if len(found) != 1}
    assert not_one == {}


async def test_exactly_one_agent_run_per_task(fleet_run):
    created = fleet_run.codegen.created
    per_task = Counter(body["metadata"]["task_id"] for body in created)
    assert len(per_task) == INSTALLATIONS * ISSUES_PER_REPO, (
        f"{len(per_task)} tasks got a run\n{fleet_run.logs}"
    )
    assert [t for t, n in per_task.items() if n != 1] == []
    assert len(created) == INSTALLATIONS * ISSUES_PER_REPO


async def test_creates_never_exceed_the_limit_in_any_window(fleet_run):
    """What the bot asked for, 429s included: with each process pacing alone,
    two workers ask for twice the limit."""
    asked = creates_asked_in(fleet_run.codegen.requests, API_WINDOW)
    assert asked <= CREATE_LIMIT, f"{asked} creates asked within {API_WINDOW:.1f}s"
    assert fleet_run.codegen.max_creates_in(API_WINDOW) <= CREATE_LIMIT


async def test_no_two_github_writes_at_once_for_one_installation(fleet_run):
    overlaps = fleet_run.github.write_overlaps()
    summary = [
        (a.installation_id, f"{a.method} {a.path}", f"{b.method} {b.path}") for a, b in overlaps
    ]
    assert overlaps == [], f"{len(overlaps)} overlapping writes, e.g. {summary[:5]}"


async def test_the_killed_worker_held_jobs_that_another_process_finished(fleet_run):
    """The SIGKILL hit work in flight: the jobs the killed worker was running
    were claimed again once their leases expired, and finished."""
    assert fleet_run.held_at_kill, "the killed worker held no job"
    rows = await fleet_run.fetch(
        "SELECT id, kind, status, attempts FROM jobs WHERE id = ANY($1::bigint[])",
        fleet_run.held_at_kill,
    )
    assert {r["status"] for r in rows} == {"done"}, [dict(r) for r in rows]
    assert any(r["attempts"] > 1 for r in rows), [dict(r) for r in rows]


async def test_every_process_left_stops_cleanly_on_sigterm(fleet_run):
    codes = dict(fleet_run.exit_codes)
    killed = [name for name, code in codes.items() if code == -9]
    assert len(killed) == 1, codes
    del codes[killed[0]]
    assert codes == dict.fromkeys(codes, 0), f"{codes}\n{fleet_run.logs}"
    assert fleet_run.errors == [], fleet_run.errors[:10]


def test_creates_asked_in_counts_every_create_in_any_window():
    """The check above counts refused creates too, over a sliding window."""
    from types import SimpleNamespace as R

    def create(at: float, status: int = 200) -> R:
        return R(method="POST", path="/v1/organizations/7/agent/run", started_at=at, status=status)

    requests = [create(0.0), create(0.5, 429), create(1.0), create(2.9), create(3.0, 429)]
    requests.append(R(method="GET", path="/v1/organizations/7/agent/run/1", started_at=0.1))
    assert creates_asked_in(requests, 1.5) == 3  # 0.0, 0.5 (refused) and 1.0
    assert creates_asked_in(requests, 1.0) == 2  # a window is half-open: 0.0 leaves at 1.0
    assert creates_asked_in(requests, 0.05) == 1
    assert creates_asked_in([], 60) == 0
