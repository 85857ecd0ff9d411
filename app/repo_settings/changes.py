"""Which webhook events can change a settings file the bot has cached, and
forgetting it when one arrives, so a change (a file that appears, above all:
the organisation's `.github` defaults, usually absent) is used by the next
validation or task instead of after the cache's age.

A file is read from a repository's default branch, so it changes by a push to
that branch, by the default branch moving (`repository.edited`), and by the
repository appearing under its name (created, renamed, transferred). A file
the App could not read (a 404: the repository is outside the installation, or
it does not exist) becomes readable when the installation gains repositories
or permissions; GitHub sends no push for a repository outside the
installation, so those events forget all the owner's files."""

from __future__ import annotations

from typing import Any

from app.github.caches import ReadCaches


def pushed_to_default_branch(payload: dict[str, Any]) -> bool:
    """Whether a `push` moved the repository's default branch (where settings
    are read); a push to any other branch or a tag changes nothing read."""
    repository = payload.get("repository") or {}
    branch = repository.get("default_branch") or repository.get("master_branch")
    return isinstance(branch, str) and payload.get("ref") == f"refs/heads/{branch}"


def forget_pushed(caches: ReadCaches, payload: dict[str, Any]) -> bool:
    """A `push`: forget the repository's settings files if its default branch
    moved; whether it did."""
    if not pushed_to_default_branch(payload):
        return False
    caches.forget_settings(payload["repository"]["full_name"])
    return True


def forget_installation(caches: ReadCaches, installation: dict[str, Any]) -> None:
    """An installation created, given new permissions, unsuspended, or given
    repositories: every settings file of its account, absent ones included."""
    login = (installation.get("account") or {}).get("login")
    if isinstance(login, str) and login:
        caches.forget_owner_settings(login)
