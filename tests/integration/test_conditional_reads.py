"""Conditional GETs against the fake GitHub: a read asked again carries the
ETag of its last answer and a 304 serves the kept body; kept per installation,
URL and Accept, only for the token it was read with, bounded in bytes; a token
GitHub refuses is dropped."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

import aiohttp
import gidgethub
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from app.config import Settings
from app.github.caches import ConditionalCache, credential_fingerprint
from app.github.client import GitHubApp, GitHubClient
from app.repo_settings.config import load_repo_config
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID

REPO = "octo-org/widgets"
OTHER = "other-org/gadgets"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def app(fake_github, session):
    fake_github.add_repo(REPO, installation_id=11)
    fake_github.add_repo(OTHER, installation_id=12)
    private_pem, _ = make_app_key()
    return GitHubApp(
        app_id=APP_ID,
        private_key=private_pem.decode(),
        api_url=fake_github.url,
        session=session,
        write_interval=0.0,
    )


def gets(fake, path_regex):
    return fake.calls("GET", path_regex)


async def test_a_read_asked_again_is_answered_304_and_served_from_memory(fake_github, app):
    fake_github.set_file(REPO, "README.md", "# Widgets\n")
    gh = await app.for_installation(11)
    first = await gh.getitem(f"/repos/{REPO}/contents/README.md")
    remaining = gh.rate_limit.remaining
    second = await gh.getitem(f"/repos/{REPO}/contents/README.md")
    assert second == first
    [a, b] = gets(fake_github, r"/contents/README.md$")
    assert a.status == 200 and "If-None-Match" not in a.headers
    assert b.status == 304 and b.headers["If-None-Match"].startswith('"')
    assert fake_github.not_modified == 1 and app.caches.conditional.not_modified == 1
    assert gh.rate_limit.remaining == remaining  # a 304 is not counted


async def test_a_changed_resource_gets_a_new_etag_and_its_new_body(fake_github, app):
    fake_github.set_file(REPO, "README.md", "# Widgets\n")
    gh = await app.for_installation(11)
    await gh.getitem(f"/repos/{REPO}/contents/README.md")
    fake_github.set_file(REPO, "README.md", "# Widgets, renamed\n")
    changed = await gh.getitem(f"/repos/{REPO}/contents/README.md")
    again = await gh.getitem(f"/repos/{REPO}/contents/README.md")
    assert changed == again and changed["size"] == len("# Widgets, renamed\n")
    statuses = [c.status for c in gets(fake_github, r"/contents/README.md$")]
    assert statuses == [200, 200, 304]


async def test_pages_and_accept_headers_are_kept_apart(fake_github, app):
    for n in range(3):
        fake_github.add_check_run(REPO, name=f"ci-{n}", head_sha="a" * 40, app_slug="ci")
    gh = await app.for_installation(11)
    url = f"/repos/{REPO}/commits/{'a' * 40}/check-runs?per_page=2"
    runs = [r async for r in gh.getiter(url, iterable_key="check_runs")]
    again = [r async for r in gh.getiter(url, iterable_key="check_runs")]
    assert runs == again and len(runs) == 3
    assert [c.status for c in gets(fake_github, r"/check-runs$")] == [200, 200, 304, 304]
    # Another media type is another answer: not revalidated with this one's ETag.
    await gh.getitem(f"/repos/{REPO}", accept="application/vnd.github.v3+json")
    await gh.getitem(f"/repos/{REPO}", accept="application/vnd.github+json")
    assert [c.status for c in gets(fake_github, rf"^/repos/{REPO}$")] == [200, 200]


async def test_a_list_grown_past_its_first_page_is_read_to_its_end(fake_github, app):
    # A new item on page 2 leaves page 1 (and its ETag) as it was, but its Link
    # now names a next page: a 304 must serve the Link it came with, not the
    # kept one, or the list ends early (and a review posted before is missed).
    fake_github.add_pull(REPO, 7, title="Export")
    for n in range(2):
        fake_github.add_review(REPO, 7, f"review {n}")
    gh = await app.for_installation(11)
    url = f"/repos/{REPO}/pulls/7/reviews?per_page=2"
    assert len([r async for r in gh.getiter(url)]) == 2
    fake_github.add_review(REPO, 7, "review 2")
    bodies = [r["body"] async for r in gh.getiter(url)]
    assert bodies == ["review 0", "review 1", "review 2"]
    assert [c.status for c in gets(fake_github, r"/pulls/7/reviews$")] == [200, 304, 200]


async def test_one_installations_answers_never_serve_another(fake_github, app):
    cache = ConditionalCache()
    cred = credential_fingerprint("token a")
    cache.put((11, "u", "json"), cred, {"etag": '"x"'}, b"secret of 11")
    assert cache.get((11, "u", "json"), cred) is not None
    assert cache.get((12, "u", "json"), cred) is None
    assert cache.get((11, "u", "json"), credential_fingerprint("token b")) is None
    # Through the client: each installation reads its own repository, with its token.
    gh11, gh12 = await app.for_installation(11), await app.for_installation(12)
    await gh11.getitem(f"/repos/{REPO}")
    await gh12.getitem(f"/repos/{OTHER}")
    await gh12.getitem(f"/repos/{OTHER}")
    assert {k[0] for k in app.caches.conditional._entries} == {11, 12}
    assert [c.status for c in gets(fake_github, rf"^/repos/{OTHER}$")] == [200, 304]


async def test_a_new_token_reads_again_without_a_stale_etag(fake_github, app):
    # GitHub's ETags are per token: after the hourly token, the old ETag is not sent.
    now = [time.time()]
    fake_github.clock = app.clock = lambda: now[0]
    gh = await app.for_installation(11)
    await gh.getitem(f"/repos/{REPO}")
    await gh.getitem(f"/repos/{REPO}")
    now[0] += 3600
    gh = await app.for_installation(11)
    await gh.getitem(f"/repos/{REPO}")
    await gh.getitem(f"/repos/{REPO}")
    calls = gets(fake_github, rf"^/repos/{REPO}$")
    assert [c.status for c in calls] == [200, 304, 200, 304]
    assert "If-None-Match" not in calls[2].headers
    assert app.tokens_minted == 2


async def test_answers_are_bounded_in_bytes():
    cache = ConditionalCache(max_bytes=10_000, max_entry_bytes=4_000)
    cred = credential_fingerprint("token a")
    for n in range(10):
        cache.put((1, f"u{n}", ""), cred, {"etag": f'"{n}"'}, b"x" * 3_000)
    assert cache.bytes <= 10_000 and len(cache) == 2
    assert cache.get((1, "u9", ""), cred) is not None  # the most recent stay
    cache.put((1, "big", ""), cred, {"etag": '"b"'}, b"x" * 5_000)
    assert cache.get((1, "big", ""), cred) is None
    cache.put((1, "u9", ""), cred, {}, b"no etag")  # an answer without ETag replaces none
    assert cache.get((1, "u9", ""), cred) is None


# What api.github.com sends with a small JSON answer (about 2 KB of headers).
GITHUB_HEADERS = {
    "Server": "github.com",
    "Date": "Mon, 30 Nov 2026 19:00:00 GMT",
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "private, max-age=60, s-maxage=60",
    "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP,Accept-Encoding, Accept, X-Requested-With",
    "Last-Modified": "Mon, 30 Nov 2026 18:00:00 GMT",
    "X-OAuth-Scopes": "",
    "X-Accepted-OAuth-Scopes": "repo",
    "github-authentication-token-expiration": "2026-12-01 00:00:00 UTC",
    "X-GitHub-Media-Type": "github.v3; format=json",
    "x-github-api-version-selected": "2022-11-28",
    "X-RateLimit-Limit": "5000",
    "X-RateLimit-Remaining": "4999",
    "X-RateLimit-Reset": "1790000000",
    "X-RateLimit-Used": "1",
    "x-ratelimit-resource": "core",
    "Access-Control-Expose-Headers": "ETag, Link, Location, Retry-After, X-GitHub-OTP, "
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Used, X-RateLimit-Resource, "
    "X-RateLimit-Reset, X-OAuth-Scopes, X-Accepted-OAuth-Scopes, X-Poll-Interval, "
    "X-GitHub-Media-Type, X-GitHub-SSO, X-GitHub-Request-Id, Deprecation, Sunset",
    "Access-Control-Allow-Origin": "*",
    "Strict-Transport-Security": "max-age=31536000; includeSubdomains; preload",
    "X-Frame-Options": "deny",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "0",
    "Referrer-Policy": "origin-when-cross-origin, strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'none'",
    "Content-Encoding": "gzip",
    "Transfer-Encoding": "chunked",
    "X-GitHub-Request-Id": "ABCD:1234:5678:9ABC:674B0000",
}


def github_answer_headers(n: int) -> CIMultiDictProxy[str]:
    """Fresh header strings, as each answer's are."""
    headers = CIMultiDict((k, (v + "~")[:-1]) for k, v in GITHUB_HEADERS.items())
    headers["ETag"] = f'W/"{n:064x}"'
    headers["Link"] = f'<https://api.github.com/repositories/1/issues?page={n + 1}>; rel="next"'
    return CIMultiDictProxy(headers)


def issue_url(n: int) -> str:
    return f"https://api.github.com/repos/octo-org/widgets/issues/{n}"


async def test_the_byte_bound_holds_what_is_really_kept():
    # Many small answers: what they take in memory (headers and all) stays
    # within the bound, not just what was counted of them.
    cache = ConditionalCache(max_bytes=1_000_000)
    cred = credential_fingerprint("token a")
    accept = "application/vnd.github.v3+json"
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(3_000):
            cache.put((11, issue_url(n), accept), cred, github_answer_headers(n), bytes(200))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.bytes <= 1_000_000 and held <= 1_100_000, (len(cache), held)
    # What a 304 serves still says how to decode the body and where the next page is.
    kept = cache.get((11, issue_url(2_999), accept), cred)
    assert kept is not None and kept.headers["content-type"].startswith("application/json")
    assert "page=3000" in kept.headers["link"]


async def test_an_etag_that_cannot_be_sent_back_is_not_kept(session):
    # A broken proxy before GitHub sends an ETag with a control character:
    # aiohttp reads it but refuses to send it back ("header injection"), so a
    # kept one would make every later read of the URL fail until evicted.
    answers = []

    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        answers.append(1)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b'ETag: "a\x01b"\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"id": 1}'
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        gh = GitHubClient(
            session, base_url=f"http://127.0.0.1:{port}", oauth_token="t", installation_id=1
        )
        assert await gh.getitem("/repos/o/r") == {"id": 1}
        assert await gh.getitem("/repos/o/r") == {"id": 1}
    assert len(answers) == 2 and len(gh.caches.conditional) == 0


async def test_a_refused_token_is_dropped_and_minted_again_once(fake_github, app):
    gh = await app.for_installation(11)
    await gh.getitem(f"/repos/{REPO}")
    fake_github._tokens.pop(fake_github.tokens_issued[0])  # revoked on GitHub's side
    assert await gh.getitem(f"/repos/{REPO}")  # asked once more, with a new token
    assert [c.status for c in gets(fake_github, rf"^/repos/{REPO}$")] == [200, 401, 200]
    assert app.tokens_minted == 2
    gh_again = await app.for_installation(11)
    await gh_again.getitem(f"/repos/{REPO}")
    assert app.tokens_minted == 2
    # No new token to be had (the App was uninstalled): GitHub's 401, asked once.
    fake_github._tokens.pop(fake_github.tokens_issued[1])
    del fake_github.installations[11]
    with pytest.raises(gidgethub.BadRequest) as info:
        await gh_again.getitem(f"/repos/{REPO}")
    assert info.value.status_code == 401
    statuses = [c.status for c in gets(fake_github, rf"^/repos/{REPO}$")]
    assert statuses == [200, 401, 200, 304, 401]


async def test_settings_read_again_after_their_cache_are_304(fake_github, app):
    fake_github.set_file(REPO, ".github/codegen.yml", "trigger_label: agent\n")
    gh = await app.for_installation(11)
    config, _, _ = await load_repo_config(gh, REPO, Settings())
    app.caches.settings_files.clear()  # its two minutes are over
    again, _, _ = await load_repo_config(gh, REPO, Settings())
    assert again == config and config.trigger_label == "agent"
    statuses = [c.status for c in gets(fake_github, rf"^/repos/{REPO}/contents/")]
    assert statuses == [200, 304]
