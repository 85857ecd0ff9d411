"""Installation events end to end: signed delivery → queue → handler → tables
and the trigger label created through the fake GitHub."""

from __future__ import annotations

import uuid

import pytest

from app.github import urls

INSTALLATION = 957387  # the id in @octokit/webhooks-examples


async def _rows(pool, sql, *args):
    return [dict(r) for r in await pool.fetch(sql, *args)]


def _seed(fake, *repos: str, installation_id: int = INSTALLATION):
    fake.add_installation(installation_id, account="Codertocat", account_type="User")
    for full_name in repos:
        fake.add_repo(full_name, installation_id=installation_id)


async def test_installation_created_records_it_and_creates_the_label(
    app_bot, fake_github, example_payload
):
    payload = example_payload("installation", "created")
    repo = payload["repositories"][0]
    _seed(fake_github, repo["full_name"])
    fake_github.repos[repo["full_name"]]["id"] = repo["id"]

    status, _ = await app_bot.deliver("installation", payload)
    assert status == 202
    await app_bot.wait_idle()

    pool = app_bot.runtime.pool
    [installation] = await _rows(pool, "SELECT * FROM installations")
    assert installation["id"] == INSTALLATION
    assert installation["account_login"] == "Codertocat"
    assert installation["deleted_at"] is None and installation["suspended_at"] is None
    [stored_repo] = await _rows(pool, "SELECT * FROM repositories")
    assert stored_repo["full_name"] == repo["full_name"]
    assert stored_repo["label_created_at"] is not None
    label = fake_github.labels[repo["full_name"]]["codegen"]
    assert label["name"] == "codegen"
    # The label was created with an installation token, not the JWT.
    [create] = fake_github.calls("POST", rf"^/repos/{repo['full_name']}/labels$")
    assert create.installation_id == INSTALLATION
    statuses = await _rows(pool, "SELECT status FROM webhook_deliveries")
    assert statuses == [{"status": "processed"}]


async def test_label_that_already_exists_is_fine(app_bot, fake_github, example_payload):
    payload = example_payload("installation", "created")
    full_name = payload["repositories"][0]["full_name"]
    _seed(fake_github, full_name)
    fake_github.add_label(full_name, "Codegen", color="000000")

    await app_bot.deliver("installation", payload)
    await app_bot.wait_idle()

    [create] = fake_github.calls("POST", r"/labels$")
    assert create.status == 422
    dead = await app_bot.runtime.pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'dead'")
    assert dead == 0
    assert await app_bot.runtime.pool.fetchval(
        "SELECT label_created_at IS NOT NULL FROM repositories"
    )


async def test_label_creation_is_retried_after_a_github_outage(
    app_bot, fake_github, example_payload
):
    payload = example_payload("installation", "created")
    full_name = payload["repositories"][0]["full_name"]
    _seed(fake_github, full_name)
    fake_github.fail_next("POST", r"/labels$", 502, times=6)  # beyond one call's retries

    await app_bot.deliver("installation", payload)
    await app_bot.wait_idle(timeout=40)
    import asyncio

    for _ in range(200):
        if "codegen" in fake_github.labels.get(full_name, {}):
            break
        await asyncio.sleep(0.1)
    assert "codegen" in fake_github.labels[full_name]
    job = await app_bot.runtime.pool.fetchrow("SELECT * FROM jobs WHERE kind = 'label.ensure'")
    assert job["status"] == "done" and job["attempts"] >= 2


async def test_repositories_added_and_removed(app_bot, fake_github, example_payload):
    created = example_payload("installation", "created")
    added = example_payload("installation_repositories", "added")
    _seed(fake_github, created["repositories"][0]["full_name"], "Codertocat/Space")
    await app_bot.deliver("installation", created)
    await app_bot.deliver("installation_repositories", added)
    await app_bot.wait_idle()
    pool = app_bot.runtime.pool
    names = {r["full_name"] for r in await _rows(pool, "SELECT * FROM repositories")}
    assert names == {"Codertocat/Hello-World", "Codertocat/Space"}
    assert "codegen" in fake_github.labels["Codertocat/Space"]

    removed = example_payload("installation_repositories", "removed")
    removed["installation"] = added["installation"]
    removed["repositories_removed"] = added["repositories_added"]
    await app_bot.deliver("installation_repositories", removed)
    await app_bot.wait_idle()
    rows = {r["full_name"]: r for r in await _rows(pool, "SELECT * FROM repositories")}
    assert rows["Codertocat/Space"]["removed_at"] is not None
    assert rows["Codertocat/Hello-World"]["removed_at"] is None


async def test_suspend_unsuspend_and_delete(app_bot, fake_github, example_payload):
    created = example_payload("installation", "created")
    _seed(fake_github, created["repositories"][0]["full_name"])
    await app_bot.deliver("installation", created)
    await app_bot.wait_idle()
    pool = app_bot.runtime.pool

    for action in ("suspend", "unsuspend"):
        event = example_payload("installation", action)
        event["installation"]["id"] = INSTALLATION
        await app_bot.deliver("installation", event)
        await app_bot.wait_idle()
        suspended = await pool.fetchval("SELECT suspended_at FROM installations")
        assert (suspended is not None) == (action == "suspend")

    deleted = example_payload("installation", "deleted")
    deleted["installation"]["id"] = INSTALLATION
    fake_github.remove_installation(INSTALLATION)  # GitHub would refuse a token now
    await app_bot.deliver("installation", deleted)
    await app_bot.wait_idle()
    assert await pool.fetchval("SELECT deleted_at IS NOT NULL FROM installations")
    assert await pool.fetchval("SELECT bool_and(removed_at IS NOT NULL) FROM repositories")
    statuses = {r["status"] for r in await _rows(pool, "SELECT status FROM webhook_deliveries")}
    assert statuses == {"processed"}


async def test_a_suspension_forgets_the_installation_token(app_bot, fake_github, example_payload):
    """GitHub revokes an installation's tokens when it is suspended: after the
    unsuspension the bot asks for a new token instead of using the one it held."""
    created = example_payload("installation", "created")
    full_name = created["repositories"][0]["full_name"]
    _seed(fake_github, full_name)
    await app_bot.deliver("installation", created)
    await app_bot.wait_idle()
    github = app_bot.runtime.github
    assert github.tokens_minted == 1  # the label was created with it

    fake_github.suspend_installation(INSTALLATION)
    fake_github.expire_tokens(INSTALLATION)
    for action in ("suspend", "unsuspend"):
        if action == "unsuspend":
            fake_github.suspend_installation(INSTALLATION, suspended=False)
        event = example_payload("installation", action)
        event["installation"]["id"] = INSTALLATION
        await app_bot.deliver("installation", event)
        await app_bot.wait_idle()

    gh = await github.for_installation(INSTALLATION)
    assert (await gh.getitem(urls.repo(full_name)))["full_name"] == full_name
    assert github.tokens_minted == 2


async def test_new_permissions_accepted_updates_permissions(app_bot, fake_github, example_payload):
    created = example_payload("installation", "created")
    _seed(fake_github, created["repositories"][0]["full_name"])
    await app_bot.deliver("installation", created)
    accepted = example_payload("installation", "new_permissions_accepted")
    accepted["installation"]["permissions"] = {"issues": "write", "checks": "write"}
    await app_bot.deliver("installation", accepted)
    await app_bot.wait_idle()
    import json

    permissions = await app_bot.runtime.pool.fetchval("SELECT permissions FROM installations")
    assert json.loads(permissions) == {"issues": "write", "checks": "write"}


async def test_events_from_our_own_bot_are_dropped(app_bot, fake_github, example_payload):
    payload = example_payload("installation_repositories", "added")
    payload["sender"] = {"login": "codegen-bot-test[bot]", "id": 1, "type": "Bot"}
    _seed(fake_github, "Codertocat/Space")
    guid = str(uuid.uuid4())
    await app_bot.deliver("installation_repositories", payload, guid)
    await app_bot.wait_idle()
    pool = app_bot.runtime.pool
    assert await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", guid) == (
        "dropped"
    )
    assert await pool.fetchval("SELECT count(*) FROM repositories") == 0
    assert fake_github.calls("POST", r"/labels$") == []


async def test_events_without_a_handler_are_ignored_not_failed(app_bot, example_payload):
    guid = str(uuid.uuid4())
    await app_bot.deliver("star", example_payload("star", "created"), guid)
    await app_bot.wait_idle()
    pool = app_bot.runtime.pool
    row = await pool.fetchrow("SELECT status, error FROM webhook_deliveries WHERE id = $1", guid)
    assert dict(row) == {"status": "ignored", "error": None}
    assert await pool.fetchval("SELECT status FROM jobs") == "done"


async def test_redelivered_guid_is_not_processed_again(app_bot, fake_github, example_payload):
    payload = example_payload("installation", "created")
    _seed(fake_github, payload["repositories"][0]["full_name"])
    guid = str(uuid.uuid4())
    assert (await app_bot.deliver("installation", payload, guid))[0] == 202
    await app_bot.wait_idle()
    assert (await app_bot.deliver("installation", payload, guid))[0] == 200
    await app_bot.wait_idle()
    assert len(fake_github.calls("POST", r"/labels$")) == 1
    assert (
        await app_bot.runtime.pool.fetchval("SELECT count(*) FROM jobs WHERE kind='delivery'") == 1
    )


async def test_an_older_delivery_handled_late_does_not_undo_a_newer_one(
    app_settings, fake_github, example_payload
):
    from tests.support.bot import running_bot

    created = example_payload("installation", "created")
    created["installation"]["permissions"] = {"issues": "read"}
    accepted = example_payload("installation", "new_permissions_accepted")
    accepted["installation"]["permissions"] = {"issues": "write"}
    _seed(fake_github, created["repositories"][0]["full_name"])
    async with running_bot(app_settings, worker=False) as intake:
        await intake.deliver("installation", created)
        await intake.deliver("installation", accepted)
        # Make the newer delivery's job run first, as a second worker might.
        await intake.runtime.pool.execute(
            """UPDATE jobs SET run_at = now() - interval '1 hour'
               WHERE payload->>'delivery_id' = (SELECT id FROM webhook_deliveries
                                                WHERE action = 'new_permissions_accepted')"""
        )
    async with running_bot(app_settings) as bot:
        await bot.wait_idle()
        import json

        permissions = await bot.runtime.pool.fetchval("SELECT permissions FROM installations")
        assert json.loads(permissions) == {"issues": "write"}
        # The repositories of the older "created" are still recorded and labeled.
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM repositories") == 1


@pytest.mark.parametrize(("older", "newer"), [("suspend", "unsuspend"), ("unsuspend", "suspend")])
async def test_an_older_suspension_change_handled_late_does_not_undo_a_newer_one(
    app_settings, fake_github, example_payload, older, newer
):
    """A suspension and its end can be handled in either order: the installation
    stays as the newer delivery left it."""
    from tests.support.bot import running_bot
    from tests.support.flow import wait_until

    created = example_payload("installation", "created")
    _seed(fake_github, created["repositories"][0]["full_name"])
    events = {}
    for action in (older, newer):
        events[action] = example_payload("installation", action)
        events[action]["installation"]["id"] = INSTALLATION
    async with running_bot(app_settings) as bot:
        await bot.deliver("installation", created)
        await bot.wait_idle()
    async with running_bot(app_settings, worker=False) as intake:
        for action in (older, newer):
            await intake.deliver("installation", events[action])
        # The newer delivery's job runs first, the older one's after it.
        await intake.runtime.pool.execute(
            """UPDATE jobs SET run_at = CASE d.action WHEN $1 THEN now() - interval '1 hour'
                                                      ELSE now() + interval '1 second' END
               FROM webhook_deliveries d
               WHERE jobs.payload->>'delivery_id' = d.id AND d.action IN ($1, $2)""",
            newer,
            older,
        )
    async with running_bot(app_settings) as bot:
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT count(*) = 3 FROM webhook_deliveries WHERE status = 'processed'"
            )
        )
        suspended = await bot.runtime.pool.fetchval("SELECT suspended_at FROM installations")
        handled = await bot.runtime.pool.fetch(
            "SELECT action FROM webhook_deliveries WHERE status = 'processed' ORDER BY processed_at"
        )
    assert [h["action"] for h in handled] == ["created", newer, older]
    assert (suspended is not None) == (newer == "suspend")
