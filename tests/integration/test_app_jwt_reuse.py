"""The App's JWT (app/github/client.py): the PEM key is loaded once and a JWT is
used again for a minute, so an installation's first token costs no RSA key
check on the event loop; GitHub (the fake, checking the signature and the
claims) still accepts every mint, and a new App identity gets a new JWT."""

from __future__ import annotations

import time

import aiohttp
import jwt

from app.github.client import JWT_REUSE_SECONDS, GitHubApp
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID


def _app(private_pem: bytes) -> GitHubApp:
    """An App that only signs JWTs (no session: it calls nothing)."""
    return GitHubApp(
        app_id=APP_ID, private_key=private_pem.decode(), api_url="http://unused", session=None
    )  # type: ignore[arg-type]


def test_a_jwt_is_used_again_within_its_reuse_window():
    private_pem, public_pem = make_app_key()
    app = _app(private_pem)
    first = app.app_jwt()
    assert app.app_jwt() == first  # not signed again
    claims = jwt.decode(first, public_pem, algorithms=["RS256"])
    assert claims["iss"] == str(APP_ID)
    assert claims["exp"] - JWT_REUSE_SECONDS > claims["iat"] + 60  # valid well past its reuse
    app._jwt = (APP_ID, app._jwt[1] - JWT_REUSE_SECONDS - 1, first)  # a minute on
    app.app_jwt()
    assert time.time() - app._jwt[1] < 30  # made again (the same second signs alike)


def test_a_new_identity_gets_a_new_jwt():
    private_pem, _ = make_app_key()
    app = _app(private_pem)
    first = app.app_jwt()
    other_pem, other_public = make_app_key()
    app.reconfigure(app_id=APP_ID + 1, private_key=other_pem.decode(), app_slug=None)
    second = app.app_jwt()
    assert second != first
    assert jwt.decode(second, other_public, algorithms=["RS256"])["iss"] == str(APP_ID + 1)


async def test_tokens_for_many_installations_share_one_jwt(fake_github):
    for n in range(5):
        fake_github.add_repo(f"octo-org/r{n}", installation_id=100 + n)
    private_pem, _ = make_app_key()
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(
            app_id=APP_ID,
            private_key=private_pem.decode(),
            api_url=fake_github.url,
            session=session,
        )
        tokens = {await app.installation_token(100 + n) for n in range(5)}
        await app.aclose()
    assert len(tokens) == 5 and app.tokens_minted == 5  # each accepted by the fake
    mints = fake_github.calls("POST", r"^/app/installations/\d+/access_tokens$")
    assert len({c.headers.get("Authorization") for c in mints}) == 1
