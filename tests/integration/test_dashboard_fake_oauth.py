"""The GitHub fake's user authorization enforces what GitHub does: the client id
and secret, the registered callback, one use per code, the state passed
through; and a user token sees only the installations and repositories the
person has explicit access to, with GitHub's permission booleans."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.support.flow import INSTALLATION, READER, REPO, WRITER

CALLBACK = "http://127.0.0.1:9/login/callback"


async def _authorize(session, fake, login, state="s-1", redirect_uri=CALLBACK):
    fake.web_user = login
    async with session.get(
        f"{fake.url}/login/oauth/authorize",
        params={"client_id": fake.client_id, "redirect_uri": redirect_uri, "state": state},
    ) as page:
        assert page.status == 200 and login in await page.text()
    async with session.post(
        f"{fake.url}/login/oauth/fake-authorize",
        data={"client_id": fake.client_id, "redirect_uri": redirect_uri, "state": state},
        allow_redirects=False,
    ) as r:
        location = r.headers["Location"]
    assert location.startswith(redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0]


async def _token(session, fake, code, secret=None, redirect_uri=CALLBACK):
    async with session.post(
        f"{fake.url}/login/oauth/access_token",
        data={
            "client_id": fake.client_id,
            "client_secret": secret or fake.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        },
        headers={"Accept": "application/json"},
    ) as r:
        assert r.status == 200
        return await r.json()


async def _get(session, fake, path, token):
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    async with session.get(fake.url + path, headers=headers) as r:
        return r.status, await r.json()


async def test_the_web_flow_as_github_enforces_it(seeded):
    seeded.oauth_callback_urls = ["http://127.0.0.1:9/login"]
    async with aiohttp.ClientSession() as session:
        code = await _authorize(session, seeded, WRITER)
        assert (await _token(session, seeded, code, secret="wrong"))["error"] == (
            "incorrect_client_credentials"
        )
        other = await _token(session, seeded, code, redirect_uri="http://127.0.0.1:9/else")
        assert other["error"] == "redirect_uri_mismatch"
        good = await _token(session, seeded, code)
        assert good["access_token"].startswith("ghu_") and good["token_type"] == "bearer"
        again = await _token(session, seeded, code)
        assert again["error"] == "bad_verification_code"
        # A callback that is not the App's is refused at the authorize page.
        async with session.get(
            f"{seeded.url}/login/oauth/authorize",
            params={"client_id": seeded.client_id, "redirect_uri": "http://evil.example/cb"},
        ) as r:
            assert r.status == 400
        async with session.get(
            f"{seeded.url}/login/oauth/authorize", params={"client_id": "Iv1.unknown"}
        ) as r:
            assert r.status == 404

        # What the token sees.
        status, user = await _get(session, seeded, "/user", good["access_token"])
        assert status == 200 and user["login"] == WRITER
        status, found = await _get(session, seeded, "/user/installations", good["access_token"])
        assert [i["id"] for i in found["installations"]] == [INSTALLATION]
        status, repos = await _get(
            session,
            seeded,
            f"/user/installations/{INSTALLATION}/repositories",
            good["access_token"],
        )
        [repo] = repos["repositories"]
        assert repo["full_name"] == REPO and repo["permissions"]["push"] is True
        assert (await _get(session, seeded, "/user", "ghu_forged"))[0] == 401

        # A reader: the repository, without push.
        reader = await _token(session, seeded, await _authorize(session, seeded, READER))
        status, repos = await _get(
            session,
            seeded,
            f"/user/installations/{INSTALLATION}/repositories",
            reader["access_token"],
        )
        assert repos["repositories"][0]["permissions"] == {
            "admin": False,
            "maintain": False,
            "push": False,
            "triage": False,
            "pull": True,
        }
        # Someone with no access: no installation at all.
        stranger = await _token(session, seeded, await _authorize(session, seeded, "stranger"))
        status, found = await _get(session, seeded, "/user/installations", stranger["access_token"])
        assert found == {"total_count": 0, "installations": []}
        status, _ = await _get(
            session,
            seeded,
            f"/user/installations/{INSTALLATION}/repositories",
            stranger["access_token"],
        )
        assert status == 404
