"""The GitHub client against the fake GitHub: auth, token cache, retries, pacing."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import gidgethub
import jwt
import pytest

from app.config import Settings
from app.github.client import TOKEN_REFRESH_MARGIN, GitHubApp, make_app_jwt, retry_delay
from app.github.permissions import permission_of
from app.observability import metrics
from app.repo_settings.config import load_repo_config
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID, APP_SLUG

REPO = "octo-org/widgets"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def make_app(fake, session, **options) -> GitHubApp:
    private_pem, _ = make_app_key()
    return GitHubApp(
        app_id=APP_ID,
        private_key=private_pem.decode(),
        api_url=fake.url,
        session=session,
        write_interval=options.pop("write_interval", 0.0),
        clock=options.pop("clock", time.time),
        retry_options={"max_single_wait": 5.0, "max_retry_seconds": 20.0, **options},
    )


def test_app_jwt_claims():
    private_pem, public_pem = make_app_key()
    now = 1_700_000_000
    token = make_app_jwt(APP_ID, private_pem.decode(), now=now)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, public_pem, algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == str(APP_ID)
    assert claims["iat"] == now - 60
    assert 0 < claims["exp"] - claims["iat"] <= 600


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {}, b"", None),
        (404, {}, b"", None),
        (422, {}, b"", None),
        (403, {}, b'{"message": "Resource not accessible by integration"}', None),
        (403, {"retry-after": "7"}, b"", 7.0),
        (429, {"retry-after": "3"}, b"", 3.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}, b"", 31.0),
        (403, {}, b'{"message": "You have exceeded a secondary rate limit"}', 60.0),
        (502, {}, b"", 0.0),
    ],
)
def test_retry_delay_follows_githubs_rules(status, headers, body, expected):
    assert retry_delay(status, headers, body, now=1000.0) == expected


async def test_installation_token_is_minted_once_and_reused(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    results = await asyncio.gather(*[_get_repo(app, 11) for _ in range(10)])
    assert all(r["full_name"] == REPO for r in results)
    mints = fake_github.calls("POST", r"^/app/installations/11/access_tokens$")
    assert len(mints) == 1 and app.tokens_minted == 1
    repo_calls = fake_github.calls("GET", rf"^/repos/{REPO}$")
    assert {c.headers["Authorization"] for c in repo_calls} == {
        f"token {fake_github.tokens_issued[0]}"
    }


async def _get_repo(app: GitHubApp, installation_id: int):
    gh = await app.for_installation(installation_id)
    return await gh.getitem(f"/repos/{REPO}")


async def test_token_is_refreshed_before_it_expires(fake_github, session):
    # The cache keeps a token until TOKEN_REFRESH_MARGIN before it expires (an hour).
    now = [time.time()]
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session, clock=lambda: now[0])
    await _get_repo(app, 11)
    await _get_repo(app, 11)
    assert app.tokens_minted == 1
    now[0] += 3600 - TOKEN_REFRESH_MARGIN - 1
    await _get_repo(app, 11)
    assert app.tokens_minted == 1
    now[0] += 2
    await _get_repo(app, 11)
    assert app.tokens_minted == 2
    assert len(set(fake_github.tokens_issued)) == 2


async def test_slug_comes_from_the_app_endpoint_with_the_jwt(fake_github, session):
    app = make_app(fake_github, session)
    assert await app.slug() == APP_SLUG
    assert await app.slug() == APP_SLUG
    calls = fake_github.calls("GET", r"^/app$")
    assert len(calls) == 1
    assert calls[0].headers["Authorization"].lower().startswith("bearer ey")


async def test_api_url_is_honoured_for_enterprise_server(fake_github, session):
    # A GHES root has a path (/api/v3); every call must keep it.
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    app.api_url = f"{fake_github.url}/api/v3"
    with pytest.raises(gidgethub.BadRequest) as info:
        await app.installation_token(11)
    assert info.value.status_code == 404
    assert fake_github.requests[-1].path == "/api/v3/app/installations/11/access_tokens"


async def test_server_errors_are_retried_then_succeed(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    await app.installation_token(11)
    fake_github.fail_next("GET", rf"^/repos/{REPO}$", 502, times=2)
    before = metrics.GITHUB_CALLS.labels(method="GET", status="502")._value.get()
    repo = await _get_repo(app, 11)
    assert repo["full_name"] == REPO
    assert [c.status for c in fake_github.calls("GET", rf"^/repos/{REPO}$")] == [502, 502, 200]
    after = metrics.GITHUB_CALLS.labels(method="GET", status="502")._value.get()
    assert after - before == 2


async def test_retries_are_bounded(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session, max_attempts=3)
    await app.installation_token(11)
    fake_github.fail_next("GET", rf"^/repos/{REPO}$", 503, times=10)
    with pytest.raises(gidgethub.GitHubBroken):
        await _get_repo(app, 11)
    assert len(fake_github.calls("GET", rf"^/repos/{REPO}$")) == 3


async def test_a_post_that_may_have_been_done_is_not_asked_again(fake_github, session):
    """A 502 to a POST may come after GitHub made the comment: asked again, it
    would be made twice. The error goes to the job (which looks before posting
    again); a PATCH, which sets the same state twice, is still retried, and a
    POST GitHub answered "later" (`retry-after`) had not been done."""
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    gh = await app.for_installation(11)
    fake_github.fail_next("POST", rf"^/repos/{REPO}/labels$", 502)
    with pytest.raises(gidgethub.GitHubBroken):
        await gh.post(f"/repos/{REPO}/labels", data={"name": "a", "color": "5319e7"})
    assert [c.status for c in fake_github.calls("POST", r"/labels$")] == [502]
    fake_github.fail_next("POST", rf"^/repos/{REPO}/labels$", 503, headers={"retry-after": "0"})
    await gh.post(f"/repos/{REPO}/labels", data={"name": "b", "color": "5319e7"})
    assert [c.status for c in fake_github.calls("POST", r"/labels$")] == [502, 503, 201]
    fake_github.add_issue(REPO, 7)
    comment = await gh.post(f"/repos/{REPO}/issues/7/comments", data={"body": "one"})
    edit = f"/repos/{REPO}/issues/comments/{comment['id']}"
    fake_github.fail_next("PATCH", f"^{edit}$", 502)
    await gh.patch(edit, data={"body": "two"})
    assert [c.status for c in fake_github.calls("PATCH", f"^{edit}$")] == [502, 200]


async def test_a_post_whose_connection_dropped_is_not_asked_again(fake_github, session):
    """A connection closed before the answer (GitHub may have done the POST) is
    the job's to handle; a connection never made is asked again."""
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    gh = await app.for_installation(11)
    fake_github.drop_next("POST", rf"^/repos/{REPO}/labels$")
    with pytest.raises(aiohttp.ClientConnectionError):
        await gh.post(f"/repos/{REPO}/labels", data={"name": "a", "color": "5319e7"})
    assert len(fake_github.calls("POST", r"/labels$")) == 1


class _ConnectTimesOutOnce(aiohttp.TCPConnector):
    """The network between the bot and GitHub: the first connection for a POST
    to a path ending in `suffix` is not made in time (aiohttp raises
    ConnectionTimeoutError, as when a SYN goes unanswered)."""

    def __init__(self, suffix: str) -> None:
        super().__init__()
        self.suffix = suffix
        self.timed_out = 0

    async def connect(self, req, traces, timeout):
        if not self.timed_out and req.method == "POST" and req.url.path.endswith(self.suffix):
            self.timed_out += 1
            raise TimeoutError
        return await super().connect(req, traces, timeout)


async def test_a_post_whose_connection_was_never_made_in_time_is_asked_again(fake_github):
    """A connect timeout means the request never left: a POST is asked again at
    once, not failed to its job (whose retry would wait its backoff)."""
    fake_github.add_repo(REPO, installation_id=11)
    connector = _ConnectTimesOutOnce("/labels")
    async with aiohttp.ClientSession(connector=connector) as session:
        gh = await make_app(fake_github, session).for_installation(11)
        await gh.post(f"/repos/{REPO}/labels", data={"name": "a", "color": "5319e7"})
    assert connector.timed_out == 1
    assert [c.status for c in fake_github.calls("POST", r"/labels$")] == [201]


async def test_a_token_mint_is_asked_again_after_a_5xx_or_a_dropped_connection(
    fake_github, session
):
    """Minting an installation token makes nothing a second ask would make
    twice (another token; the first stays good): a 502 or a dropped connection
    is asked again, as before, not handed to every job, API request and
    dashboard page of the installation as an error."""
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    fake_github.fail_next("POST", r"/installations/11/access_tokens$", 502)
    fake_github.drop_next("POST", r"/installations/11/access_tokens$")
    assert (await _get_repo(app, 11))["full_name"] == REPO
    mints = fake_github.calls("POST", r"/installations/11/access_tokens$")
    assert len(mints) == 3 and app.tokens_minted == 1


async def test_secondary_rate_limit_waits_retry_after(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    await app.installation_token(11)
    fake_github.secondary_rate_limit_next("POST", rf"^/repos/{REPO}/labels$", retry_after=1)
    gh = await app.for_installation(11)
    started = time.monotonic()
    label = await gh.post(f"/repos/{REPO}/labels", data={"name": "codegen", "color": "5319e7"})
    assert label["name"] == "codegen"
    assert time.monotonic() - started >= 0.95
    assert [c.status for c in fake_github.calls("POST", r"/labels$")] == [403, 201]


async def test_primary_rate_limit_waits_for_reset(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    await app.installation_token(11)
    fake_github.primary_rate_limit_next("GET", rf"^/repos/{REPO}$", reset_in=1)
    started = time.monotonic()
    await _get_repo(app, 11)
    assert time.monotonic() - started >= 0.9
    assert [c.status for c in fake_github.calls("GET", rf"^/repos/{REPO}$")] == [403, 200]


async def test_rate_limit_longer_than_the_bound_is_not_waited_for(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)  # waits at most 5 s per retry here
    await app.installation_token(11)
    fake_github.secondary_rate_limit_next("GET", rf"^/repos/{REPO}$", retry_after=3600)
    started = time.monotonic()
    with pytest.raises(gidgethub.BadRequest) as info:
        await _get_repo(app, 11)
    assert info.value.status_code == 403
    assert time.monotonic() - started < 2  # failed fast; the job queue retries later


async def test_forbidden_is_not_retried(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    await app.installation_token(11)
    fake_github.fail_next(
        "GET",
        rf"^/repos/{REPO}$",
        403,
        body={"message": "Resource not accessible by integration"},
    )
    with pytest.raises(gidgethub.BadRequest):
        await _get_repo(app, 11)
    assert len(fake_github.calls("GET", rf"^/repos/{REPO}$")) == 1


async def test_writes_to_one_installation_are_paced_not_parallel(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session, write_interval=0.2)
    gh = await app.for_installation(11)
    fake_github.delay_next("POST", r"/labels$", 0.1, times=4)

    async def create(n: int):
        other = await app.for_installation(11)  # separate clients share the pacing
        return await other.post(f"/repos/{REPO}/labels", data={"name": f"l{n}", "color": "ffffff"})

    await asyncio.gather(*(create(n) for n in range(4)), gh.getitem(f"/repos/{REPO}"))
    posts = fake_github.calls("POST", r"/labels$")
    assert len(posts) == 4
    spans = sorted((c.started_at, c.finished_at) for c in posts)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # never two at once
        assert start - end >= 0.15  # and spaced by the write interval


async def test_write_backlog_tells_a_job_how_long_its_writes_would_wait(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.add_repo("octo-org/other", installation_id=12)
    app = make_app(fake_github, session, write_interval=0.5)
    gh = await app.for_installation(11)
    idle = await app.for_installation(12)
    assert gh.write_backlog() == 0.0

    async def create(n: int):
        return await gh.post(f"/repos/{REPO}/labels", data={"name": f"b{n}", "color": "ffffff"})

    writes = [asyncio.create_task(create(n)) for n in range(4)]
    await asyncio.sleep(0.2)  # one written, one waiting its turn, two queued
    assert 1.6 <= gh.write_backlog() <= 2.0  # the 5th write would start at ~2.0 s
    assert idle.write_backlog() == 0.0  # another installation's queue is its own
    await asyncio.gather(*writes)
    assert gh.write_backlog() <= 0.5


async def test_rate_limit_remaining_is_exported(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    app = make_app(fake_github, session)
    await _get_repo(app, 11)
    gauge = metrics.GITHUB_RATE_REMAINING.labels(installation="11")._value.get()
    assert 0 < gauge < 5000


async def test_every_client_of_an_app_reads_through_its_caches(fake_github, session):
    """A delivery or a job builds its own client: the answers cached for one
    (a person's access a minute, .github/codegen.yml two) serve the next, and
    they are the App's, so a repository move forgets them for all."""
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.set_permission(REPO, "mia", "write")
    fake_github.set_file(REPO, ".github/codegen.yml", "max_retries: 1\n")
    app = make_app(fake_github, session)
    settings = Settings(github_webhook_secret="unused")
    for _ in range(3):
        gh = await app.for_installation(11)
        assert await permission_of(gh, REPO, "Mia") == "write"
        config, problems, _ = await load_repo_config(gh, REPO, settings)
        assert config.max_retries == 1 and problems == []
    assert len(fake_github.calls("GET", r"(?i)/collaborators/mia/permission$")) == 1
    assert len(fake_github.calls("GET", rf"^/repos/{REPO}/contents/\.github/codegen\.yml$")) == 1
    assert ("octo-org/widgets", "mia") in app.caches.permissions


def test_read_caches_are_per_app_and_forget_a_moved_repository():
    """Caches are injected, not module globals: two Apps never share answers."""
    from app.github.caches import ReadCaches

    caches = ReadCaches()
    caches.permissions[("octo/a", "mia")] = "write"
    caches.permissions[("octo/b", "mia")] = "read"
    caches.settings_files["octo/a"] = ("x: 1", "sha")
    caches.repo_contexts[("octo/a", "tree")] = object()
    caches.forget("Octo/A")
    assert dict(caches.permissions) == {("octo/b", "mia"): "read"}
    assert not caches.settings_files and not caches.repo_contexts
    assert ReadCaches().permissions is not ReadCaches().permissions


async def test_a_client_used_past_its_tokens_expiry_renews_the_token_once(fake_github, session):
    # A client built in the token's last kept minute whose job runs on (a large
    # diff analysed for two minutes): GitHub refuses the expired token; the
    # request is made again with a new one instead of failing the job.
    now = [time.time()]
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.clock = lambda: now[0]
    app = make_app(fake_github, session, clock=lambda: now[0])
    await _get_repo(app, 11)
    now[0] += 3600 - TOKEN_REFRESH_MARGIN - 1
    gh = await app.for_installation(11)
    now[0] += 120
    assert (await gh.getitem(f"/repos/{REPO}"))["full_name"] == REPO
    assert (await gh.getitem(f"/repos/{REPO}"))["full_name"] == REPO
    assert app.tokens_minted == 2
    assert [c.status for c in fake_github.calls("GET", rf"^/repos/{REPO}$")] == [200, 401, 200, 304]


async def test_a_clock_behind_githubs_does_not_fail_requests(fake_github, session):
    # Our clock two minutes behind GitHub's: the token is kept past GitHub's expiry.
    now = [time.time()]
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.clock = lambda: now[0]
    fake_github.add_issue(REPO, 1, title="Export", body="As CSV.")
    app = make_app(fake_github, session, clock=lambda: now[0] - 120)
    await _get_repo(app, 11)
    now[0] += 3600 + 30  # 30 s past GitHub's expiry, 90 s before ours
    assert (await _get_repo(app, 11))["full_name"] == REPO
    gh = await app.for_installation(11)
    await gh.post(f"/repos/{REPO}/issues/1/comments", data={"body": "still writes"})
    assert app.tokens_minted == 2


async def test_requests_refused_at_once_mint_one_new_token(fake_github, session):
    # Ten requests of a long job, all refused with the expired token: the first
    # refusal drops it, the others find the new one kept and do not drop it.
    now = [time.time()]
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.clock = lambda: now[0]
    app = make_app(fake_github, session, clock=lambda: now[0])
    gh = await app.for_installation(11)
    now[0] += 3600 + 1
    results = await asyncio.gather(*[gh.getitem(f"/repos/{REPO}") for _ in range(10)])
    assert {r["full_name"] for r in results} == {REPO}
    assert app.tokens_minted == 2
    assert (await app.for_installation(11)).oauth_token == fake_github.tokens_issued[1]
