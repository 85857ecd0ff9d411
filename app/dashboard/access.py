"""Who sees what on the dashboard, and who may press which button.

An operator (ADMIN_TOKEN, or a login in DASHBOARD_ADMINS) sees everything. Any
other signed-in person sees the tasks of the repositories GitHub said, at their
sign-in, they can write to. A button does what a slash command does, so it
asks what the command would: the person's permission on the repository now
(GitHub's collaborator permission, as `app.commands` reads it) against the
repository's configured minimum for that verb."""

from __future__ import annotations

from dataclasses import dataclass

from app.commands import decide
from app.dashboard import store
from app.dashboard.sessions import Session
from app.github.permissions import meets, permission_of
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import Runtime


@dataclass(frozen=True)
class Viewer:
    login: str
    admin: bool
    visible: tuple[str, ...] | None  # lower-case owner/name; None: every repository
    github: bool = True  # signed in with GitHub (False: the operator key)

    def mention(self) -> str:
        """How texts on GitHub name who acted: `@login`, never `@operator` (a
        GitHub account of that name would be notified)."""
        return f"@{self.login}" if self.github else "the operator (ADMIN_TOKEN)"

    def sees(self, repository: str) -> bool:
        return self.visible is None or repository.lower() in self.visible


async def viewer_for(runtime: Runtime, session: Session) -> Viewer:
    if session.admin:  # the operator key
        return Viewer(session.login, True, None, github=False)
    if session.login.lower() in runtime.settings.dashboard_admins:
        return Viewer(session.login, True, None)
    visible = await store.access_of(runtime.pool, session.login)
    return Viewer(session.login, False, tuple(visible))


async def may_act(
    runtime: Runtime, viewer: Viewer, installation_id: int, repository: str, verb: str
) -> tuple[bool, RepoConfig | None]:
    """(allowed, the repository's settings) for `verb` (a slash command's: retry,
    cancel, validate). An operator may; anyone else as the command would let them."""
    gh = await runtime.github.for_installation(installation_id)
    config, _problems, _sha = await load_repo_config(gh, repository, runtime.settings)
    if viewer.admin:
        return True, config
    if not viewer.sees(repository):
        return False, config
    level = await permission_of(gh, repository, viewer.login)
    return meets(level, decide.minimum(verb, config)), config
