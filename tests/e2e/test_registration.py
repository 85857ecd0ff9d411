"""Registering the App from app.yml (GitHub's manifest flow), end to end.

The fake GitHub plays both GitHub's web page ("Create GitHub App" for a posted
manifest, then a redirect with a one-time code) and the API
(`POST /app-manifests/{code}/conversions`). The main test drives it in a real
headless Chromium (Playwright) and keeps screenshots in tests/artifacts/."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import io
import json
import logging
import os
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import async_playwright

from app.config import ConfigError, load_settings
from app.observability.logs import redactor
from app.onboarding.env_file import merge_env, quote_value
from app.onboarding.gate import is_local, setup_url
from app.onboarding.manifest import ManifestError, build_manifest, load_app_yml, new_app_url
from app.onboarding.manifest import public_base_url as base_url
from tests.support.bot import running_bot
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
EXISTING_ENV = (
    "# the operator's own settings\n"
    "TRIGGER_LABEL=codegen\n"
    'NOTES="two\n'
    'lines"\n'
    "GITHUB_WEBHOOK_SECRET=stale-value\n"
)


@pytest.fixture
def unregistered(settings, fake_github, tmp_path) -> Any:
    """A server with no App yet, GitHub's web and API both the fake."""
    env_file = tmp_path / ".env"
    env_file.write_text(EXISTING_ENV)
    return dataclasses.replace(
        settings,
        github_webhook_secret=None,
        github_api_url=fake_github.url,
        github_web_url=fake_github.url,
        env_file=env_file,
    )


@pytest.fixture
async def new_bot(unregistered) -> AsyncIterator[Any]:
    async with running_bot(unregistered) as running:
        yield running


@pytest.fixture
async def browser_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies like a browser (also for 127.0.0.1)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def _form(page: str, form_id: str) -> tuple[str, dict[str, Any]]:
    """(action, manifest) of the form `form_id` on a page."""
    match = re.search(
        rf'<form id="{form_id}" method="post" action="([^"]*)">'
        r'<input type="hidden" name="manifest" value="([^"]*)">',
        page,
    )
    assert match, f"no form {form_id}"
    return html.unescape(match.group(1)), json.loads(html.unescape(match.group(2)))


async def _code_from_github(
    session: aiohttp.ClientSession,
    bot_url: str,
    path: str = "/",
    form_id: str = "register-personal",
) -> tuple[str, str]:
    """Open `path` on the bot, post its manifest to the fake's page, press
    "Create": GitHub's redirect to the callback, as (code, callback URL)."""
    async with session.get(bot_url + path) as response:
        action, manifest = _form(await response.text(), form_id)
    async with session.post(action, data={"manifest": json.dumps(manifest)}) as r:
        index = re.search(r'name="index" value="(\d+)"', await r.text()).group(1)  # type: ignore[union-attr]
    create = (
        action.split("/settings/")[0].split("/organizations/")[0] + "/settings/apps/fake-create"
    )
    async with session.post(create, data={"index": index}, allow_redirects=False) as r:
        assert r.status == 302
        location = r.headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0], location


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# --------------------------------------------------------------------------- in a browser


async def test_register_in_a_browser_then_webhooks_use_the_new_secret(
    new_bot, fake_github, unregistered, example_payload
):
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(new_bot.url + "/")
            await page.screenshot(path=ARTIFACTS / "registration-1-offer.png", full_page=True)
            assert "Register GitHub App" in await page.inner_text("body")
            await page.click("#register-personal button")
            await page.wait_for_selector("#create")  # GitHub's "Create GitHub App" page
            await page.screenshot(path=ARTIFACTS / "registration-2-github.png", full_page=True)
            await page.click("#create")
            await page.wait_for_selector("#install")
            await page.screenshot(path=ARTIFACTS / "registration-3-registered.png", full_page=True)
            assert "GitHub App registered" in await page.inner_text("h1")
            cookies = await page.context.cookies()
        finally:
            await browser.close()

    # GitHub received app.yml with this server's URLs.
    [posted] = fake_github.manifests
    manifest = posted["manifest"]
    assert posted["org"] is None
    assert manifest["name"] == "codegen-bot"
    assert manifest["hook_attributes"]["url"] == new_bot.url + "/api/github/webhooks"
    assert manifest["redirect_url"] == new_bot.url + "/setup/callback"
    assert manifest["setup_url"] == new_bot.url + "/setup/installed"
    assert manifest["default_permissions"]["issues"] == "write"
    [cookie] = [c for c in cookies if c["name"] == "codegen_bot_setup"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["value"] == posted["state"]

    # .env: written 0600, the credentials GitHub created, the operator's lines kept.
    [created] = fake_github.manifest_apps.values()
    env_file: Path = unregistered.env_file
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    text = env_file.read_text()
    assert text.startswith("# the operator's own settings\nTRIGGER_LABEL=codegen\n")
    assert 'NOTES="two\nlines"\n' in text and "stale-value" not in text
    loaded = load_settings(environ={}, dotenv=env_file)
    assert loaded.github_app_id == created["id"]
    assert loaded.github_app_slug == created["slug"]
    assert loaded.github_private_key == created["pem"].strip()
    assert loaded.github_webhook_secret == created["webhook_secret"]
    assert loaded.github_client_id == created["client_id"]
    assert loaded.github_client_secret == created["client_secret"]

    # The running server switched: the next delivery is checked with the new secret.
    hook = manifest["hook_attributes"]["url"]
    payload = example_payload("installation", "created")
    repo = payload["repositories"][0]
    fake_github.add_installation(payload["installation"]["id"], account="Codertocat")
    fake_github.add_repo(repo["full_name"], installation_id=payload["installation"]["id"])
    fake_github.repos[repo["full_name"]]["id"] = repo["id"]
    forged = await fake_github.send_webhook(hook, "installation", payload, secret="stale-value")
    assert forged["status_code"] == 401
    good = await fake_github.send_webhook(
        hook, "installation", payload, secret=created["webhook_secret"]
    )
    assert good["status_code"] == 202
    await new_bot.wait_idle()
    # ... and the GitHub client signs as the new App: its token made the label.
    assert "codegen" in fake_github.labels[repo["full_name"]]
    assert await new_bot.runtime.github.slug() == created["slug"]
    stored = await new_bot.runtime.pool.fetch("SELECT id, status FROM webhook_deliveries")
    assert [r["status"] for r in stored] == ["processed"]

    # The post-install page GitHub sends people to (setup_url).
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            installed = f"{manifest['setup_url']}?installation_id={payload['installation']['id']}"
            await page.goto(installed + "&setup_action=install")
            await page.screenshot(path=ARTIFACTS / "registration-4-installed.png", full_page=True)
            body = await page.inner_text("body")
        finally:
            await browser.close()
    assert repo["full_name"] in body and "Codertocat" in body
    assert "add the label codegen" in body
    link = f"{fake_github.url}/{repo['full_name']}/issues/new?labels=codegen"
    assert link in (await _page_links(installed))

    # `/` no longer offers to register.
    status, page_html = await _get(new_bot.session, new_bot.url + "/")
    assert status == 200 and "Register GitHub App" not in page_html


async def _page_links(url: str) -> list[str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', await response.text())]


# --------------------------------------------------------------------------- what goes wrong


async def test_a_state_that_is_not_this_browsers_is_refused(new_bot, fake_github, browser_session):
    code, callback = await _code_from_github(browser_session, new_bot.url)
    # Another browser (no cookie) follows the same link: refused, nothing spent.
    status, page = await _get(new_bot.session, callback)
    assert status == 403
    assert "What to do: Start again from the status page" in _text(page)
    # This browser, with a state it was never given: refused.
    status, page = await _get(browser_session, f"{new_bot.url}/setup/callback?code={code}&state=x")
    assert status == 403
    assert fake_github.spent_manifest_codes == set()
    assert not new_bot.runtime.github.configured
    # Missing parameters.
    status, page = await _get(browser_session, f"{new_bot.url}/setup/callback?code={code}")
    assert status == 400 and "What to do" in _text(page)


async def test_a_bad_code_is_explained(new_bot, fake_github, browser_session):
    _, callback = await _code_from_github(browser_session, new_bot.url)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    status, page = await _get(
        browser_session, f"{new_bot.url}/setup/callback?code=not-a-code&state={state}"
    )
    assert status == 400
    text = _text(page)
    assert "GitHub refused the registration code" in text and "What to do: Start again" in text
    assert not new_bot.runtime.github.configured


async def test_a_replayed_code_is_explained(new_bot, fake_github, browser_session, unregistered):
    code, callback = await _code_from_github(browser_session, new_bot.url)
    # Someone (another tab) traded the code already.
    async with new_bot.session.post(
        f"{fake_github.url}/app-manifests/{code}/conversions",
        headers={"Accept": "application/vnd.github+json"},
    ) as response:
        assert response.status == 201
    status, page = await _get(browser_session, callback)
    assert status == 400
    assert "used already" in _text(page)
    assert not new_bot.runtime.github.configured
    assert unregistered.env_file.read_text() == EXISTING_ENV


async def test_github_down_during_the_exchange_leaves_the_reload_it_advises(
    new_bot, fake_github, browser_session
):
    code, callback = await _code_from_github(browser_session, new_bot.url)
    fake_github.fail_next(
        "POST", r"^/app-manifests/.+/conversions$", 503, headers={"retry-after": "0"}, times=5
    )
    status, page = await _get(browser_session, callback)
    assert status == 502 and "Reload this page in a minute" in _text(page)
    assert fake_github.spent_manifest_codes == set()
    # The page said to reload: the reload goes through, not "not recognised".
    status, page = await _get(browser_session, callback)
    assert status == 200, _text(page)
    assert code in fake_github.spent_manifest_codes
    assert new_bot.runtime.github.configured


async def test_other_visitors_do_not_push_out_this_browsers_registration(
    new_bot, fake_github, browser_session
):
    """Every visit without the cookie is handed a state: an uptime check or a
    crawler opening the page while the operator is on GitHub must not make
    GitHub's answer "not recognised" (the App would exist, unsaved)."""
    _, callback = await _code_from_github(browser_session, new_bot.url)
    for _ in range(300):
        status, _page = await _get(new_bot.session, new_bot.url + "/setup/organization?org=x")
        assert status == 200
    status, page = await _get(browser_session, callback)
    assert status == 200, _text(page)
    assert new_bot.runtime.github.configured


async def test_the_offer_on_the_status_page_is_never_cached(new_bot, browser_session):
    """`/` carries this browser's state and a manifest built from the request's
    forwarded host: a shared cache must neither hand them to someone else nor
    keep a forged host's manifest for the operator."""
    async with browser_session.get(new_bot.url + "/") as response:
        assert "Register GitHub App" in await response.text()
        assert "no-store" in response.headers.get("Cache-Control", "")
        assert response.headers.get("Referrer-Policy") == "no-referrer"


async def test_the_one_time_code_is_never_logged(new_bot, fake_github, browser_session, caplog):
    """For its hour the code is as good as the App's private key: whoever
    trades it first gets the credentials. A failed exchange must not print it."""
    from app.observability.logs import JsonFormatter, TextFormatter

    caplog.set_level(logging.DEBUG)
    code, callback = await _code_from_github(browser_session, new_bot.url)
    fake_github.fail_next(
        "POST", r"^/app-manifests/.+/conversions$", 503, headers={"retry-after": "0"}, times=5
    )
    status, _ = await _get(browser_session, callback)
    assert status == 502
    assert any("app-manifests" in r.getMessage() for r in caplog.records)
    for formatter in (TextFormatter(), JsonFormatter()):
        assert all(code not in formatter.format(r) for r in caplog.records)


async def test_opening_the_status_page_again_keeps_the_registration_going(new_bot, browser_session):
    """While GitHub's page is open, the operator looks at / again (another tab,
    a reload): that browser's registration must still be recognised."""
    _, callback = await _code_from_github(browser_session, new_bot.url)
    status, page = await _get(browser_session, new_bot.url + "/")
    assert status == 200 and "Register GitHub App" in page
    status, page = await _get(browser_session, callback)
    assert status == 200, _text(page)
    assert new_bot.runtime.github.configured


async def test_a_reloaded_callback_after_success_is_refused(new_bot, browser_session):
    _, callback = await _code_from_github(browser_session, new_bot.url)
    status, _ = await _get(browser_session, callback)
    assert status == 200
    status, page = await _get(browser_session, callback)
    assert status == 409
    assert "already" in _text(page) and "What to do" in _text(page)


async def test_an_unwritable_env_file_is_explained_before_the_code_is_spent(
    settings, fake_github, tmp_path, browser_session
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    unwritable = dataclasses.replace(
        settings,
        github_webhook_secret=None,
        github_api_url=fake_github.url,
        github_web_url=fake_github.url,
        env_file=blocker / ".env",  # as root, only a file in the way stops a write
    )
    async with running_bot(unwritable, worker=False) as bot:
        code, callback = await _code_from_github(browser_session, bot.url)
        status, page = await _get(browser_session, callback)
        assert status == 500
        text = _text(page)
        assert "Cannot write the credentials" in text and "then reload this page" in text
        assert fake_github.spent_manifest_codes == set()  # the one-time code is still good
        # The operator fixes it and reloads: it goes through.
        blocker.unlink()
        blocker.mkdir()
        status, page = await _get(browser_session, callback)
        assert status == 200, _text(page)
        assert code in fake_github.spent_manifest_codes
        assert stat.S_IMODE((blocker / ".env").stat().st_mode) == 0o600
        assert bot.runtime.github.configured


async def test_an_organization_registers_on_its_own_page(new_bot, fake_github, browser_session):
    status, page = await _get(browser_session, new_bot.url + "/setup/organization?org=octo-org")
    assert status == 200
    action, _ = _form(page, "register-org-go")
    assert action.startswith(f"{fake_github.url}/organizations/octo-org/settings/apps/new?state=")
    _, callback = await _code_from_github(
        browser_session, new_bot.url, "/setup/organization?org=octo-org", "register-org-go"
    )
    assert fake_github.manifests[-1]["org"] == "octo-org"
    status, _ = await _get(browser_session, callback)
    assert status == 200
    status, page = await _get(browser_session, new_bot.url + "/setup/organization?org=x/../y")
    assert status == 409  # registered now: no second App


async def test_a_bad_organization_name_is_explained(new_bot, browser_session):
    status, page = await _get(browser_session, new_bot.url + "/setup/organization?org=-bad-")
    assert status == 400 and "What to do" in _text(page)


async def test_the_installed_page_before_the_webhook_arrives(new_bot):
    status, page = await _get(new_bot.session, new_bot.url + "/setup/installed?installation_id=5")
    assert status == 200 and "Reload this page" in _text(page)
    status, _ = await _get(new_bot.session, new_bot.url + "/setup/installed?installation_id=x")
    assert status == 400


async def test_the_installed_page_names_private_repositories_only_just_after_install(new_bot):
    """The page answers anyone who names an installation id (GitHub's ids are
    sequential): a private repository's name is shown only in the minutes after
    the install, when GitHub has just sent its installer here."""
    pool = new_bot.runtime.pool
    await pool.execute("INSERT INTO installations (id, account_login) VALUES (77, 'octo-org')")
    await pool.execute(
        """INSERT INTO repositories (id, installation_id, full_name, private)
           VALUES (1, 77, 'octo-org/open', false), (2, 77, 'octo-org/secret-plans', true)"""
    )
    url = new_bot.url + "/setup/installed?installation_id=77"
    status, page = await _get(new_bot.session, url)
    assert status == 200 and "octo-org/secret-plans" in page and "octo-org/open" in page
    await pool.execute("UPDATE installations SET created_at = now() - interval '2 hours'")
    status, page = await _get(new_bot.session, url)
    assert status == 200 and "octo-org/open" in page
    assert "secret-plans" not in page and "1 private repository" in _text(page)


async def test_pages_escape_what_they_show(new_bot, browser_session):
    status, page = await _get(
        browser_session, new_bot.url + "/setup/organization?org=<script>alert(1)</script>"
    )
    assert status == 400 and "<script>" not in page
    async with browser_session.get(
        new_bot.url + "/", headers={"X-Forwarded-Host": 'evil"><script>x</script>'}
    ) as response:
        page = await response.text()
    assert "<script>" not in page and "set PUBLIC_URL" in page


# --------------------------------------------------------------------------- pure parts


def test_the_manifest_is_app_yml_with_this_servers_urls():
    app_yml = load_app_yml()
    manifest = build_manifest(app_yml, "https://bot.example.com/")
    assert manifest["hook_attributes"] == {
        "url": "https://bot.example.com/api/github/webhooks",
        "active": True,
    }
    assert manifest["redirect_url"] == "https://bot.example.com/setup/callback"
    assert manifest["setup_url"] == "https://bot.example.com/setup/installed"
    assert manifest["url"] == app_yml["url"] and manifest["url"].startswith("https://")
    assert manifest["default_events"] == app_yml["default_events"]
    with pytest.raises(ManifestError):
        build_manifest(app_yml | {"hook_attributes_typo": 1}, "https://bot.example.com")


def test_app_yml_warns_that_editing_it_does_not_change_a_registered_app():
    text = (Path(__file__).resolve().parents[2] / "app.yml").read_text()
    assert "already registered keeps its settings" in text


def test_the_public_url():
    assert base_url("https://bot.example.com/", scheme="http", host="x") == (
        "https://bot.example.com"
    )
    assert base_url(None, scheme="http", host="127.0.0.1:3000") == "http://127.0.0.1:3000"
    assert (
        base_url(
            None,
            scheme="http",
            host="internal:3000",
            forwarded_proto="https, http",
            forwarded_host="bot.example.com",
        )
        == "https://bot.example.com"
    )
    for bad in ('a"b', "a/b", "", "a b"):
        with pytest.raises(ManifestError):
            base_url(None, scheme="http", host=bad)


def test_new_app_urls():
    assert new_app_url("https://github.com", "s t") == (
        "https://github.com/settings/apps/new?state=s%20t"
    )
    assert new_app_url("https://ghe.example.com/", "s", "octo-org") == (
        "https://ghe.example.com/organizations/octo-org/settings/apps/new?state=s"
    )
    with pytest.raises(ManifestError):
        new_app_url("https://github.com", "s", "../../evil")


def test_merge_env_replaces_in_place_and_keeps_everything_else():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\n"
    merged = merge_env(
        'A=1\nGITHUB_PRIVATE_KEY="old\nkey"\n# note\nB=2', {"GITHUB_PRIVATE_KEY": pem, "C": "x y"}
    )
    assert merged == (
        'A=1\nGITHUB_PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\\nAAA\\n'
        '-----END RSA PRIVATE KEY-----\\n"\n# note\nB=2\n\nC="x y"\n'
    )
    assert quote_value("abc-123") == "abc-123"
    with pytest.raises(ValueError):
        quote_value('a"b')


def test_env_file_round_trips_through_the_settings_loader(tmp_path):
    from app.onboarding.env_file import write_env
    from tests.fakes.keys import make_app_key

    pem = make_app_key()[0].decode()
    path = tmp_path / ".env"
    write_env(
        path, {"GITHUB_APP_ID": "7", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "s#1"}
    )
    write_env(path, {"GITHUB_WEBHOOK_SECRET": "s#2"})
    loaded = load_settings(environ={}, dotenv=path)
    assert (loaded.github_app_id, loaded.github_private_key) == (7, pem.strip())
    assert loaded.github_webhook_secret == "s#2"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left


async def test_the_success_page_warns_when_the_environment_overrides_env(
    new_bot, browser_session, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "from-the-environment")
    _, callback = await _code_from_github(browser_session, new_bot.url)
    status, page = await _get(browser_session, callback)
    assert status == 200
    assert "sets GITHUB_WEBHOOK_SECRET, which win over .env at the next start" in _text(page)
    # Nothing secret reached the log, and later log lines scrub the new secrets.
    creds = new_bot.runtime.settings
    assert creds.github_webhook_secret and creds.github_client_secret
    for secret in (creds.github_webhook_secret, creds.github_client_secret):
        assert secret not in caplog.text
        assert secret in redactor.secrets
    assert "PRIVATE KEY" not in caplog.text
    assert "GitHub App codegen-bot (id" in caplog.text


async def test_with_a_webhook_proxy_github_delivers_to_the_channel(
    unregistered, browser_session, fake_github
):
    channel = "https://smee.io/aBcDeF123"
    async with running_bot(
        dataclasses.replace(unregistered, webhook_proxy_url=channel), worker=False
    ) as bot:
        _, callback = await _code_from_github(browser_session, bot.url)
        async with browser_session.get(bot.url + "/") as response:
            shown = _text(await response.text())
    assert fake_github.manifests[-1]["manifest"]["hook_attributes"]["url"] == channel
    assert "the webhook proxy channel (WEBHOOK_PROXY_URL)" in shown
    assert channel not in shown  # only the form GitHub receives carries it
    assert callback.startswith(bot.url + "/setup/callback?")


def test_app_yml_is_loaded_and_checked(tmp_path):
    (tmp_path / "app.yml").write_text("name: x\nurl: https://example.com\n")
    assert load_app_yml(tmp_path / "app.yml")["name"] == "x"
    with pytest.raises(ManifestError):
        load_app_yml(tmp_path / "missing.yml")
    (tmp_path / "bad.yml").write_text("- a list\n")
    with pytest.raises(ManifestError):
        load_app_yml(tmp_path / "bad.yml")


def test_a_conversion_answer_is_checked_before_anything_is_written():
    from app.onboarding.credentials import parse_conversion
    from tests.fakes.keys import make_app_key, make_other_key

    good = {
        "id": 7,
        "slug": "s",
        "pem": make_app_key()[0].decode(),
        "webhook_secret": "w",
        "client_id": "c",
        "client_secret": "cs",
    }
    creds = parse_conversion(good)
    assert creds.env()["GITHUB_APP_ID"] == "7" and "cs" not in repr(creds)
    assert "GITHUB_WEBHOOK_SECRET" not in parse_conversion(good | {"webhook_secret": None}).env()
    for bad in ({"id": True}, {"pem": "not a key"}, {"slug": ""}, {"webhook_secret": 5}):
        with pytest.raises(ValueError):
            parse_conversion(good | bad)
    assert parse_conversion(good | {"pem": make_other_key()[0].decode()}).app_id == 7
    with pytest.raises(ValueError):
        parse_conversion([good])


# --------------------------------------------------------------------------- only the operator

ELSEWHERE = {"X-Forwarded-For": "203.0.113.7"}  # what a proxy in front of the server adds


@contextlib.asynccontextmanager
async def _visitor(headers: dict[str, str] = ELSEWHERE) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser on another machine: through a proxy, as on Fly, the peer is
    loopback but the proxy names the client."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as session:
        yield session


def _token_from_log(records: list[logging.LogRecord]) -> tuple[logging.LogRecord, str]:
    """The start-up line with the set-up URL, and the token in it."""
    [line] = [r for r in records if "/setup?t=" in r.getMessage()]
    token = re.search(r"/setup\?t=([A-Za-z0-9_-]+)", line.getMessage()).group(1)  # type: ignore[union-attr]
    return line, token


async def test_a_visitor_from_elsewhere_sees_no_form_and_every_step_refuses(
    unregistered, fake_github, browser_session
):
    channel = "https://smee.io/aBcDeF123"
    settings = dataclasses.replace(unregistered, webhook_proxy_url=channel)
    async with running_bot(settings, worker=False) as bot:
        for headers in (ELSEWHERE, {"Forwarded": "for=203.0.113.7"}, {"X-Real-IP": "10.1.2.3"}):
            async with _visitor(headers) as visitor:
                async with visitor.get(bot.url + "/") as response:
                    page = await response.text()
                    assert response.status == 200
                    assert "codegen_bot_setup" not in response.headers.get("Set-Cookie", "")
                text = _text(page)
                assert "Only its operator can register one" in text
                assert "open the set-up URL the server printed in its log" in text
                assert "<form" not in page and "manifest" not in page and channel not in page
                assert "smee" not in page and "/settings/apps/new" not in page
                status, page = await _get(visitor, bot.url + "/setup/organization?org=octo-org")
                assert status == 403 and "<form" not in page
                assert "What to do: Open the set-up URL" in _text(page)

        # The operator's browser, on this machine, started a registration and holds
        # its state cookie. The same browser through a proxy is refused at the
        # callback: the check is the server's, not the page's.
        code, callback = await _code_from_github(browser_session, bot.url)
        async with browser_session.get(callback, headers=ELSEWHERE) as response:
            assert response.status == 403
            assert "What to do: Open the set-up URL" in _text(await response.text())
        async with _visitor() as visitor:  # someone who made a manifest of their own
            status, _ = await _get(visitor, callback)
            assert status == 403
        assert fake_github.spent_manifest_codes == set()
        assert not bot.runtime.github.configured
        assert code not in unregistered.env_file.read_text()


async def test_a_wrong_token_is_refused(new_bot):
    async with _visitor() as visitor:
        for query in ("?t=not-the-token", "?t=", ""):
            async with visitor.get(
                new_bot.url + "/setup" + query, allow_redirects=False
            ) as response:
                assert response.status == 403
                assert "Set-Cookie" not in response.headers
                assert "What to do: Open the set-up URL" in _text(await response.text())
        status, _ = await _get(visitor, new_bot.url + "/setup/organization?org=octo-org")
        assert status == 403


async def test_with_the_token_from_the_log_the_operator_registers_from_elsewhere(
    unregistered, fake_github, caplog
):
    from app.observability.logs import JsonFormatter, TextFormatter

    caplog.set_level(logging.DEBUG)
    pages: list[str] = []
    # The log output the operator reads, in both formats, written as each line is logged.
    outputs = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(out) for out in outputs]
    for handler, formatter in zip(handlers, (TextFormatter(), JsonFormatter()), strict=True):
        handler.setFormatter(formatter)
        logging.getLogger().addHandler(handler)
    try:
        async with running_bot(unregistered, worker=False) as bot, _visitor() as visitor:
            line, token = _token_from_log(caplog.records)
            pages = await _register_from_elsewhere(bot, visitor, token, fake_github)
            assert "GITHUB_APP_ID=" in unregistered.env_file.read_text()
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
    assert line.levelno == logging.WARNING and len(token) >= 40
    assert "http://localhost:3000/setup?t=" in line.getMessage()
    for out in outputs:
        # Whole in its one line of the real output, and in no other.
        assert [x for x in out.getvalue().splitlines() if token in x] == [
            x for x in out.getvalue().splitlines() if "/setup?t=" in x
        ]
        assert out.getvalue().count(token) == 1
    # Nowhere else in any record or page; a later line would be scrubbed.
    assert [r for r in caplog.records if token in r.getMessage()] == [line]
    assert all(token not in page for page in pages)
    assert token not in redactor.scrub(f"someone logs {token}")


async def _register_from_elsewhere(
    bot: Any, visitor: aiohttp.ClientSession, token: str, fake_github: Any
) -> list[str]:
    """Trade the token, register end to end, check the token is then spent;
    every page seen, for the caller to search."""
    pages: list[str] = []
    async with visitor.get(f"{bot.url}/setup?t={token}", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        set_cookie = r.headers["Set-Cookie"]
    assert "codegen_bot_operator=" in set_cookie and token not in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    async with visitor.get(bot.url + "/") as response:
        pages.append(await response.text())
    assert "Register GitHub App" in pages[-1] and "<form" in pages[-1]
    code, callback = await _code_from_github(visitor, bot.url)
    async with visitor.get(callback) as response:
        pages.append(await response.text())
        assert response.status == 200, _text(pages[-1])
    assert code in fake_github.spent_manifest_codes
    assert bot.runtime.github.configured

    # Registered: the token buys nothing any more, from anywhere.
    for session in (visitor, bot.session):
        async with session.get(f"{bot.url}/setup?t={token}", allow_redirects=False) as r:
            pages.append(await r.text())
            assert r.status == 409 and "Set-Cookie" not in r.headers
    async with visitor.get(bot.url + "/") as response:
        pages.append(await response.text())
    assert "Register GitHub App" not in pages[-1]
    return pages


async def test_a_pinned_setup_token_works_and_is_never_printed(unregistered, caplog):
    pinned = "operator-chosen-setup-token-1234"
    caplog.set_level(logging.DEBUG)
    async with (
        running_bot(dataclasses.replace(unregistered, setup_token=pinned), worker=False) as bot,
        _visitor() as visitor,
    ):
        [line] = [r for r in caplog.records if "/setup?t=" in r.getMessage()]
        assert "/setup?t=<SETUP_TOKEN>" in line.getMessage()
        async with visitor.get(f"{bot.url}/setup?t={pinned}", allow_redirects=False) as r:
            assert r.status == 303 and "codegen_bot_operator=" in r.headers["Set-Cookie"]
        status, page = await _get(visitor, bot.url + "/setup/organization?org=octo-org")
        assert status == 200 and "register-org-go" in page
    assert all(pinned not in r.getMessage() for r in caplog.records)
    assert pinned in load_settings(environ={"SETUP_TOKEN": pinned}, dotenv=None).secrets
    with pytest.raises(ConfigError, match="SETUP_TOKEN"):
        load_settings(environ={"SETUP_TOKEN": "short"}, dotenv=None)


async def test_a_configured_server_has_no_setup_token(app_bot, caplog):
    status, page = await _get(app_bot.session, app_bot.url + "/setup?t=anything")
    assert status == 409 and "already registered" in page
    assert not any("/setup?t=" in r.getMessage() for r in caplog.get_records("setup"))


def test_only_a_loopback_peer_without_proxy_headers_is_local():
    assert is_local("127.0.0.1", {}) and is_local("::1", {}) and is_local("127.0.0.2", {})
    assert is_local("::ffff:127.0.0.1", {})
    for proxy_header in ("X-Forwarded-For", "Forwarded", "X-Real-IP", "Fly-Client-IP"):
        assert not is_local("127.0.0.1", {proxy_header: "127.0.0.1"})
    for remote in ("10.0.0.5", "172.16.0.1", "203.0.113.7", "::ffff:10.0.0.1", "", None, "x"):
        assert not is_local(remote, {})


def test_the_setup_url_printed_in_the_log():
    anywhere = "0.0.0.0"  # noqa: S104 - HOST's default, shown as localhost
    assert setup_url("https://bot.example.com/", anywhere, 8080, "T") == (
        "https://bot.example.com/setup?t=T"
    )
    assert setup_url(None, anywhere, 3000, "T") == "http://localhost:3000/setup?t=T"
    assert setup_url(None, "10.0.0.2", 3000, "T") == "http://10.0.0.2:3000/setup?t=T"
    assert setup_url(None, "::1", 3000, "T") == "http://[::1]:3000/setup?t=T"
