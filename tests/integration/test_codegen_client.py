"""CodegenClient against the fake Codegen on 127.0.0.1; SimulatedCodegen; run_state."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest

from app.codegen.client import CodegenClient
from app.codegen.runs import AgentRun, CodegenError, PullRequestRef, run_state
from app.codegen.simulated import SIM_HOST, SimulatedCodegen
from tests.fakes.codegen import FakeCodegen

KEY = "cg-secret-key-0123456789"
ORG = 314
RUN = r"/agent/run$"


@pytest.fixture
async def cg() -> AsyncIterator[FakeCodegen]:
    async with FakeCodegen(api_key=KEY, org_id=ORG) as fake:
        fake.add_repo("octo-org/widgets", repo_id=77)
        yield fake


def make_client(fake: FakeCodegen, **kwargs: object) -> CodegenClient:
    options: dict = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0, **kwargs}
    return CodegenClient(
        api_url=fake.url, api_key=options.pop("api_key", KEY), org_id=ORG, **options
    )


@pytest.fixture
async def client(cg: FakeCodegen) -> AsyncIterator[CodegenClient]:
    c = make_client(cg)
    yield c
    await c.aclose()


# ---------------------------------------------------------------------- happy paths


async def test_create_get_resume_send_the_right_requests(
    cg: FakeCodegen, client: CodegenClient
) -> None:
    cg.script_run(
        statuses=["ACTIVE", "COMPLETE"],
        pull_requests=[
            {
                "url": "https://github.com/octo-org/widgets/pull/9",
                "title": "Add a button",
                "head_branch_name": "codegen/add-button",
            }
        ],
        summary="Added the button",
    )
    meta = {"task_id": 5, "repository": "octo-org/widgets", "attempt": 1}
    run = await client.create_run("Add a button", metadata=meta, repo_id=77)
    assert isinstance(run, AgentRun)
    assert run.status == "ACTIVE" and run.metadata == meta and run.pull_requests == ()
    assert run.web_url and run.web_url.endswith(str(run.id))
    assert cg.created == [{"prompt": "Add a button", "metadata": meta, "repo_id": 77}]
    post = cg.calls("POST", RUN)[0]
    assert post.path == f"/v1/organizations/{ORG}/agent/run"
    assert post.headers["Authorization"] == f"Bearer {KEY}"
    assert post.headers["Content-Type"] == "application/json"

    assert run_state((await client.get_run(run.id)).status) == "running"
    done = await client.get_run(run.id)
    assert run_state(done.status) == "complete" and done.summary == "Added the button"
    assert done.pull_requests == (
        PullRequestRef(
            id=done.pull_requests[0].id,
            url="https://github.com/octo-org/widgets/pull/9",
            title="Add a button",
            head_branch="codegen/add-button",
        ),
    )
    assert (
        cg.calls("GET", r"/agent/run/\d+$")[0].path == f"/v1/organizations/{ORG}/agent/run/{run.id}"
    )

    resumed = await client.resume_run(run.id, "Also add tests")
    assert run_state(resumed.status) == "running"
    assert cg.resumed == [{"agent_run_id": run.id, "prompt": "Also add tests"}]
    assert all(r.status == 200 for r in cg.requests)


async def test_ban_and_unban_send_stop_agent_run_input(
    cg: FakeCodegen, client: CodegenClient
) -> None:
    run = await client.create_run("p", metadata={"task_id": 1})
    cg.fail_next("POST", r"/agent/run/ban$", 429, headers={"Retry-After": "0"})
    assert await client.ban_run(run.id) is None
    assert cg.banned == {run.id}
    await client.unban_run(run.id)
    assert cg.banned == set()
    assert cg.bans == [
        {"action": "ban", "agent_run_id": run.id},
        {"action": "unban", "agent_run_id": run.id},
    ]
    assert [c.status for c in cg.calls("POST", r"/agent/run/ban$")] == [429, 200]
    with pytest.raises(CodegenError) as info:
        await client.ban_run(run.id + 100)
    assert info.value.status == 404 and not info.value.retryable
    assert info.value.message == "Agent run not found."


async def test_create_without_repo_id_omits_it(cg: FakeCodegen, client: CodegenClient) -> None:
    await client.create_run("p", metadata={})
    assert cg.created == [{"prompt": "p", "metadata": {}}]


async def test_find_run_by_metadata(cg: FakeCodegen, client: CodegenClient) -> None:
    first = await client.create_run("p", metadata={"task_id": 1, "attempt": 1})
    await client.create_run("p", metadata={"task_id": 2, "attempt": 1})
    found = await client.find_run({"task_id": 1, "attempt": 1})
    assert found is not None and found.id == first.id
    assert await client.find_run({"task_id": 3}) is None


# ---------------------------------------------------------------------- errors and retries


async def test_wrong_key_is_401_and_not_retried(cg: FakeCodegen) -> None:
    c = make_client(cg, api_key="not-the-key")
    try:
        with pytest.raises(CodegenError) as info:
            await c.create_run("p", metadata={})
    finally:
        await c.aclose()
    assert info.value.status == 401 and not info.value.retryable
    assert info.value.message == "Invalid or missing API token"
    assert len(cg.calls("POST", RUN)) == 1 and cg.runs == {}


async def test_429_then_500_then_success_creates_one_run(
    cg: FakeCodegen, client: CodegenClient
) -> None:
    cg.fail_next("POST", RUN, 429, headers={"Retry-After": "0"})
    cg.fail_next("POST", RUN, 500)
    run = await client.create_run("p", metadata={"task_id": 9})
    posts = cg.calls("POST", RUN)
    assert [p.status for p in posts] == [429, 500, 200]
    assert len(cg.created) == 1 and list(cg.runs) == [run.id]


async def test_each_try_of_a_create_takes_its_own_place_in_the_pacing_window(
    cg: FakeCodegen,
) -> None:
    """The client paces creates so that a burst waits its turn instead of
    collecting 429s: a create's second and third tries are sends like the first,
    so each takes a place in the window."""
    c = make_client(cg, creates_per_minute=3, window_seconds=60)
    cg.fail_next("POST", RUN, 429, headers={"Retry-After": "0"}, times=2)
    try:
        await c.create_run("p", metadata={"task_id": 9})
        assert [p.status for p in cg.calls("POST", RUN)] == [429, 429, 200]
        assert await c.create_delay() > 50  # the window is full until the first try ages out
    finally:
        await c.aclose()


async def test_retry_after_is_honoured(cg: FakeCodegen, client: CodegenClient) -> None:
    run = await client.create_run("p", metadata={})
    cg.fail_next("GET", r"/agent/run/\d+$", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    await client.get_run(run.id)
    assert time.monotonic() - started >= 0.95
    assert [c.status for c in cg.calls("GET", r"/agent/run/\d+$")] == [429, 200]


async def test_retry_after_beyond_the_budget_gives_up_at_once(cg: FakeCodegen) -> None:
    c = make_client(cg, max_retry_seconds=5)
    cg.fail_next("POST", RUN, 429, headers={"Retry-After": "3600"})
    try:
        started = time.monotonic()
        with pytest.raises(CodegenError) as info:
            await c.create_run("p", metadata={})
        assert time.monotonic() - started < 1
    finally:
        await c.aclose()
    assert info.value.status == 429 and info.value.retryable
    assert info.value.message == "Rate limit exceeded. Please try again later."


async def test_5xx_retries_are_bounded(cg: FakeCodegen) -> None:
    c = make_client(cg, max_attempts=3)
    cg.fail_next("GET", r"/repos$", 503, times=10)
    try:
        with pytest.raises(CodegenError) as info:
            await c.repo_id("octo-org/widgets")
    finally:
        await c.aclose()
    assert info.value.status == 503 and info.value.retryable
    assert len(cg.calls("GET", r"/repos$")) == 3


async def test_402_raises_the_plan_message_after_one_attempt(
    cg: FakeCodegen, client: CodegenClient
) -> None:
    cg.fail_next("POST", RUN, 402)
    with pytest.raises(CodegenError) as info:
        await client.create_run("p", metadata={})
    assert info.value.status == 402 and not info.value.retryable
    assert info.value.message == (
        "Alloted agent runs for the current billing plan have been reached. "
        "Please upgrade your plan to continue."
    )
    assert len(cg.calls("POST", RUN)) == 1


@pytest.mark.parametrize(
    ("status", "path", "message"),
    [
        (403, RUN, "You do not have access to this organization."),
        (404, RUN, "No repos found in the organization. Please add some repos and try again."),
    ],
)
async def test_403_404_are_final(
    cg: FakeCodegen, client: CodegenClient, status: int, path: str, message: str
) -> None:
    cg.fail_next("POST", path, status)
    with pytest.raises(CodegenError) as info:
        await client.create_run("p", metadata={})
    assert (info.value.status, info.value.message, info.value.retryable) == (status, message, False)
    assert len(cg.calls("POST", RUN)) == 1


async def test_unknown_run_is_404(client: CodegenClient) -> None:
    with pytest.raises(CodegenError) as info:
        await client.get_run(123456)
    assert info.value.status == 404 and info.value.message == "Agent run not found."


async def test_422_gives_a_readable_message(cg: FakeCodegen, client: CodegenClient) -> None:
    cg.fail_next(
        "POST",
        RUN,
        422,
        body={
            "detail": [
                {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"},
                {
                    "loc": ["body", "repo_id"],
                    "msg": "Input should be a valid integer",
                    "type": "int_type",
                },
            ]
        },
    )
    with pytest.raises(CodegenError) as info:
        await client.create_run("p", metadata={})
    assert info.value.status == 422 and not info.value.retryable
    assert info.value.message == (
        "Invalid request: prompt: Field required; repo_id: Input should be a valid integer"
    )
    assert len(cg.calls("POST", RUN)) == 1


async def test_timeouts_are_retried(cg: FakeCodegen) -> None:
    c = make_client(cg, timeout=0.2)
    cg.fail_next("GET", r"/repos$", 500, delay=0.5)
    try:
        assert await c.repo_id("octo-org/widgets") == 77
    finally:
        await c.aclose()
    assert len(cg.calls("GET", r"/repos$")) == 2


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = CodegenClient(
        api_url=f"http://127.0.0.1:{port}",
        api_key=KEY,
        org_id=ORG,
        max_attempts=2,
        backoff_base=0.01,
    )
    try:
        with pytest.raises(CodegenError) as info:
            await c.get_run(1)
    finally:
        await c.aclose()
    assert info.value.retryable and info.value.status is None and not info.value.ambiguous


async def test_a_lost_create_answer_does_not_make_a_second_run(
    cg: FakeCodegen, client: CodegenClient
) -> None:
    meta = {"task_id": 12, "attempt": 1}
    # The run exists (made by an earlier attempt) but its answer was lost as a 502.
    earlier = await client.create_run("p", metadata=meta)
    cg.fail_next("POST", RUN, 502)
    again = await client.create_run("p", metadata=meta)
    assert again.id == earlier.id
    assert len(cg.runs) == 1 and [p.status for p in cg.calls("POST", RUN)] == [200, 502]


async def test_the_key_is_never_logged(cg: FakeCodegen, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = make_client(cg, max_attempts=2)
    cg.fail_next("*", r".", 500, times=2)
    try:
        with pytest.raises(CodegenError) as info:
            await c.get_run(1)
        await c.create_run("p", metadata={})
    finally:
        await c.aclose()
    assert caplog.records
    assert KEY not in caplog.text and KEY not in str(info.value) and KEY not in repr(c)


# ---------------------------------------------------------------------- limiter, repos


async def test_create_limiter_waits_instead_of_collecting_429s() -> None:
    # The server allows 10 per 1.5 s; the client keeps 10 per 2 s. The margin
    # absorbs the gap between a request leaving and arriving on a loaded machine
    # (0.1 s was not enough: the 11th create once landed 1.89 s after the 1st).
    async with FakeCodegen(
        api_key=KEY, org_id=ORG, creates_per_window=10, create_window_seconds=1.5
    ) as fake:
        fake.add_repo("o/r")
        c = make_client(fake, creates_per_minute=10, window_seconds=2)
        try:
            started = time.monotonic()
            for i in range(12):
                await c.create_run("p", metadata={"i": i})
            elapsed = time.monotonic() - started
        finally:
            await c.aclose()
        assert elapsed >= 2.0
        assert elapsed < 8.0
        assert len(fake.created) == 12
        assert [p.status for p in fake.calls("POST", RUN)] == [200] * 12


async def test_repo_id_pages_through_and_caches(cg: FakeCodegen, client: CodegenClient) -> None:
    for i in range(249):  # 250 with the fixture's repo: pages of 100, 100, 50
        cg.add_repo(f"octo-org/repo-{i}")
    target = cg.repos[-1]
    assert await client.repo_id("Octo-Org/Repo-248") == target["id"]
    listing = cg.calls("GET", r"/repos$")
    assert [(r.query["skip"], r.query["limit"]) for r in listing] == [
        ("0", "100"),
        ("100", "100"),
        ("200", "100"),
    ]
    seen = len(cg.requests)
    assert await client.repo_id("octo-org/widgets") == 77
    assert await client.repo_id("octo-org/not-there") is None
    assert len(cg.requests) == seen  # served from the cache


async def test_repo_id_uses_codegens_id_not_githubs(cg: FakeCodegen, client: CodegenClient) -> None:
    cg.add_repo("octo-org/gizmo", repo_id=5, github_id=123456)
    rid = await client.repo_id("octo-org/gizmo")
    assert rid == 5
    await client.create_run("p", metadata={}, repo_id=rid)
    assert cg.created[-1]["repo_id"] == 5


# ---------------------------------------------------------------------- run_state, simulator


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("PENDING", "running"),
        ("ACTIVE", "running"),
        ("running", "running"),
        ("COMPLETE", "complete"),
        ("complete", "complete"),
        ("FAILED", "failed"),
        ("Error", "failed"),
        ("CANCELLED", "cancelled"),
        ("stopped", "cancelled"),
        ("EVALUATION", "running"),
        ("", "running"),
        (None, "running"),
    ],
)
def test_run_state(status: str, state: str) -> None:
    assert run_state(status) == state


async def test_simulated_codegen_lifecycle(pool) -> None:
    sim = SimulatedCodegen(pool)
    meta = {"task_id": 17, "repository": "octo-org/widgets", "attempt": 1}
    repo_id = await sim.repo_id("octo-org/widgets")
    assert repo_id == await sim.repo_id("Octo-Org/Widgets") and isinstance(repo_id, int)
    run = await sim.create_run("Build it", metadata=meta, repo_id=repo_id)
    assert run.status == "PENDING" and run.web_url == f"{SIM_HOST}/runs/{run.id}"
    assert "codegen.invalid" in (run.web_url or "")
    # Runs are rows: another process's simulator (same database) follows the same run.
    other = SimulatedCodegen(pool)
    states = [run_state((await other.get_run(run.id)).status) for _ in range(3)]
    assert states == ["running", "running", "complete"]
    done = await sim.get_run(run.id)
    assert done.status == "COMPLETE" and "imulated" in (done.summary or "")
    # It opened nothing, so it reports nothing that could be taken for a real PR.
    assert done.pull_requests == ()
    assert "github.com" not in f"{done.summary} {done.result} {done.web_url}"
    assert (await other.find_run({"task_id": 17})) == done
    assert (await other.find_run({"task_id": 18})) is None
    assert (await other.find_run({})) is None

    resumed = await other.resume_run(run.id, "again")
    assert run_state(resumed.status) == "running" and resumed.pull_requests == ()
    assert await pool.fetchval("SELECT prompts FROM simulated_runs WHERE id = $1", run.id) == [
        "again"
    ]
    await other.ban_run(run.id)  # accepted, changes nothing
    await other.unban_run(run.id)
    assert run_state((await other.get_run(run.id)).status) == "running"
    with pytest.raises(CodegenError) as info:
        await sim.get_run(run.id + 1000)
    assert info.value.status == 404 and not info.value.retryable
    await sim.aclose()


def test_simulator_has_the_client_interface() -> None:
    public = {n for n in dir(CodegenClient) if not n.startswith("_")}
    assert public <= {n for n in dir(SimulatedCodegen) if not n.startswith("_")}


async def test_limiter_delay_tells_how_long_a_create_would_wait():
    import asyncio

    from app.codegen.pacing import SlidingWindowLimiter

    limiter = SlidingWindowLimiter(2, 0.5)
    assert limiter.delay() == 0.0
    await limiter.acquire()
    await limiter.acquire()
    assert 0.4 < limiter.delay() <= 0.5
    await asyncio.sleep(0.55)
    assert limiter.delay() == 0.0


async def test_a_lost_resume_answer_is_not_sent_again(cg: FakeCodegen) -> None:
    """A resume Codegen carried out whose answer was lost (a timeout, a 502)
    must not be sent again by the client: the agent would do the follow-up
    twice, paid twice. The caller learns it was ambiguous (and the follow-up
    job looks at the run before sending again)."""
    c = make_client(cg, timeout=0.3)
    cg.script_run(statuses=["COMPLETE"])
    try:
        run = await c.create_run("p", metadata={"task_id": 1})
        cg.hold_answer_next("POST", r"/agent/run/resume$", 1.0)
        with pytest.raises(CodegenError) as lost:
            await c.resume_run(run.id, "Also add tests")
        cg.fail_next("POST", r"/agent/run/resume$", 502)
        with pytest.raises(CodegenError) as failed:
            await c.resume_run(run.id, "And docs")
        cg.fail_next("POST", r"/agent/run/resume$", 429, headers={"Retry-After": "0"})
        await c.resume_run(run.id, "Then stop")  # refused before acting: sent again
    finally:
        await c.aclose()
    assert lost.value.retryable and lost.value.ambiguous
    assert failed.value.retryable and failed.value.ambiguous
    assert [r["prompt"] for r in cg.resumed] == ["Also add tests", "Then stop"]
    assert len(cg.calls("POST", r"/agent/run/resume$")) == 4


def test_client_and_simulation_both_provide_the_codegen_protocol() -> None:
    """Callers are typed against `Codegen`; both implementations must match it."""
    import inspect

    from app.codegen.protocol import Codegen
    from app.codegen.simulated import SimulatedCodegen

    members = [n for n, v in vars(Codegen).items() if callable(v) and not n.startswith("_")]
    assert "create_run" in members and "resume_run" in members
    for impl in (CodegenClient, SimulatedCodegen):
        for name in members:
            wanted, got = getattr(Codegen, name), getattr(impl, name)
            assert inspect.iscoroutinefunction(got) == inspect.iscoroutinefunction(wanted), name
            assert list(inspect.signature(got).parameters) == list(
                inspect.signature(wanted).parameters
            ), (impl.__name__, name)
