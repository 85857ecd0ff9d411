"""The HTML of the registration pages. Pure: every value is escaped here, and
nothing is loaded from another host (no CDN, no web fonts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

_STYLE = (
    "body{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.4}"
    "form{margin:.5rem 0}button{font-size:1rem;padding:.4rem .9rem}"
    ".problem{border-left:4px solid #b00;padding-left:1rem}"
    ".ok{border-left:4px solid #080;padding-left:1rem}code{background:#f3f3f3}"
)


def page(title: str, body: str) -> str:
    """A whole page around `body` (already HTML)."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _manifest_form(action: str, manifest: dict[str, Any], label: str, form_id: str) -> str:
    return (
        f'<form id="{escape(form_id)}" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="manifest" value="{escape(json.dumps(manifest))}">'
        f'<button type="submit">{escape(label)}</button></form>'
    )


def offer_section(personal_action: str, manifest: dict[str, Any], hook_url: str) -> str:
    """The part of `/` that registers the App: one button for a personal account,
    and a field for an organization (its page carries on from there)."""
    return (
        "<h2>Register GitHub App</h2>"
        "<p>This server has no GitHub App yet. Register one from <code>app.yml</code>: "
        "GitHub asks you to name it, then sends you back here and the credentials "
        "are written to <code>.env</code>. GitHub will send webhooks to "
        f"<code>{escape(hook_url)}</code>.</p>"
        + _manifest_form(personal_action, manifest, "Register GitHub App", "register-personal")
        + '<form id="register-org" method="get" action="/setup/organization">'
        '<label>or for an organization: <input name="org" required maxlength="39" '
        'pattern="[A-Za-z0-9][A-Za-z0-9-]*" placeholder="organization"></label> '
        '<button type="submit">Register GitHub App for the organization</button></form>'
    )


def cannot_offer(reason: str) -> str:
    return (
        '<h2>Register GitHub App</h2><div class="problem">'
        f"<p>Registration cannot be offered: {escape(reason)}.</p></div>"
    )


def locked_section() -> str:
    """What `/` says to anyone but the operator: no form, no manifest, no URL."""
    return (
        "<h2>Register GitHub App</h2>"
        '<div class="problem" id="register-locked"><p>This server has no GitHub App '
        "yet. Only its operator can register one.</p><p><strong>What to do:</strong> "
        "open the set-up URL the server printed in its log at start-up (a WARNING line "
        "with <code>/setup?t=</code>), or open this page from the server's own "
        "machine.</p></div>"
    )


def not_operator(setup_hint: str) -> str:
    """The 403 page of every registration step for anyone but the operator."""
    return problem(
        "Registration is for the operator",
        "This server has no GitHub App yet, and only its operator may register one.",
        "Open the set-up URL this server printed in its log at start-up (a WARNING "
        f"line with {setup_hint}), or open the status page from the server's own machine.",
    )


def organization_page(org: str, action: str, manifest: dict[str, Any]) -> str:
    return page(
        "Register GitHub App",
        f"<p>Register the App on the organization <strong>{escape(org)}</strong>. "
        "You need to be an owner of it (or an App manager).</p>"
        + _manifest_form(action, manifest, f"Register GitHub App on {org}", "register-org-go")
        + '<p><a href="/">Back</a></p>',
    )


def problem(title: str, what: str, todo: str) -> str:
    """A page for something that went wrong: what happened, then what to do."""
    return page(
        title,
        f'<div class="problem"><p>{escape(what)}</p><p><strong>What to do:</strong> '
        f"{escape(todo)}</p></div>",
    )


def registered(
    name: str,
    slug: str,
    html_url: str,
    env_file: str,
    overridden: Sequence[str],
) -> str:
    install = html_url.rstrip("/") + "/installations/new"
    warning = ""
    if overridden:
        warning = (
            '<p class="problem">The environment of this process sets '
            f"{escape(', '.join(overridden))}, which win over <code>.env</code> at the "
            "next start: unset them before you restart.</p>"
        )
    return page(
        "GitHub App registered",
        f'<div class="ok"><p>Registered <strong>{escape(name)}</strong> '
        f"(<code>{escape(slug)}</code>). Its id, private key, webhook secret and client "
        f"credentials are in <code>{escape(env_file)}</code> (readable by its owner "
        "only); this server uses them already, no restart needed.</p></div>"
        + warning
        + f'<p>Next: <a id="install" href="{escape(install)}">install the App</a> on the '
        "repositories it should work on.</p>"
        '<p><a href="/">Status page</a></p>',
    )


def installed(
    account: str | None,
    repositories: Sequence[str],
    label: str,
    web_url: str,
    unnamed_private: int = 0,
) -> str:
    if account is None:
        return page(
            "Installation received",
            "<p>GitHub has not yet told this server about the installation (its "
            "<code>installation</code> webhook is on its way). Reload this page in a few "
            "seconds. If it never shows up, webhooks do not reach this server: check the "
            "App's webhook URL and <em>Recent Deliveries</em> in its settings on GitHub.</p>",
        )
    new_issue = "/issues/new?labels=" + quote(label)
    items = "".join(
        f'<li><a href="{escape(web_url.rstrip("/") + "/" + r + new_issue)}">{escape(r)}</a></li>'
        for r in repositories
    )
    listing = (
        f"<ul>{items}</ul>"
        if items or unnamed_private
        else "<p>It reaches no repository yet: add some in the installation's settings.</p>"
    )
    if unnamed_private:
        plural = "repository" if unnamed_private == 1 else "repositories"
        listing += (
            f"<p>and {unnamed_private} private {plural}, named on this page only in the "
            "first minutes after the install (anyone can open it).</p>"
        )
    return page(
        "Installed",
        f"<p>The App is installed on <strong>{escape(account)}</strong>, on these "
        f"repositories:</p>{listing}"
        "<h2>Your first task</h2><p>Open an issue in one of them that says what to build, "
        f"and add the label <code>{escape(label)}</code> (each link above opens a new issue "
        "with it). The bot reacts, posts a tracking comment and starts an agent run. Only "
        "people with write access to the repository can start one.</p>"
        '<p><a href="/">Status page</a></p>',
    )
