"""What the settings-file cache keeps, for how long, and what each kind of
change forgets (app/github/caches.py, app/repo_settings/changes.py)."""

from __future__ import annotations

from app.github.caches import (
    SETTINGS_ABSENT_SECONDS,
    SETTINGS_FOUND_SECONDS,
    ReadCaches,
    _settings_ttu,
)
from app.repo_settings.changes import forget_installation, forget_pushed, pushed_to_default_branch


def _filled() -> ReadCaches:
    caches = ReadCaches()
    for key in ("octo/.github", "octo/app", "octo/app:conf/base.yml", "other/.github"):
        caches.settings_files[key] = (None, None)
    return caches


def test_an_absent_file_is_kept_longer_than_a_found_one_and_both_are_bounded():
    assert _settings_ttu("k", (None, None), 0.0) == SETTINGS_ABSENT_SECONDS
    assert _settings_ttu("k", ("x: 1", "sha"), 0.0) == SETTINGS_FOUND_SECONDS
    assert SETTINGS_FOUND_SECONDS < SETTINGS_ABSENT_SECONDS <= 15 * 60


def test_a_push_to_the_default_branch_forgets_that_repositorys_files_only():
    caches = _filled()
    repo = {"full_name": "Octo/App", "default_branch": "main"}
    assert not forget_pushed(caches, {"ref": "refs/heads/feature", "repository": repo})
    assert not forget_pushed(caches, {"ref": "refs/tags/main", "repository": repo})
    assert len(caches.settings_files) == 4
    assert forget_pushed(caches, {"ref": "refs/heads/main", "repository": repo})
    assert sorted(caches.settings_files) == ["octo/.github", "other/.github"]
    assert not pushed_to_default_branch({"ref": "refs/heads/main", "repository": {}})


def test_an_installation_change_forgets_every_file_of_its_account():
    caches = _filled()
    forget_installation(caches, {"id": 1, "account": {"login": "OCTO"}})
    assert list(caches.settings_files) == ["other/.github"]
    forget_installation(caches, {"id": 2})  # no account: nothing to go by
    assert list(caches.settings_files) == ["other/.github"]


def test_a_moved_repository_forgets_its_extends_files_too():
    caches = _filled()
    caches.forget("octo/app")
    assert sorted(caches.settings_files) == ["octo/.github", "other/.github"]
