"""Settings in layers against the fake GitHub: a repository's
`.github/codegen.yml` over its organisation's (`<owner>/.github`) or over the
file its `_extends` names, key by key, with each problem named by its file."""

from __future__ import annotations

import aiohttp
import pytest

from app.config import Settings
from app.github.client import GitHubApp
from app.repo_settings.config import RepoConfig, load_repo_config
from app.repo_settings.layers import Source, extends_target, merge
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID

REPO = "octo-org/widgets"
ORG = "octo-org/.github"
SHARED = "octo-org/bot-settings"
SETTINGS = Settings(github_webhook_secret="unused")
PATH = ".github/codegen.yml"


@pytest.fixture
async def gh(fake_github):
    for repo in (REPO, ORG, SHARED):
        fake_github.add_repo(repo, installation_id=11)
    fake_github.add_repo("other-org/settings", installation_id=12)
    async with aiohttp.ClientSession() as session:
        private_pem, _ = make_app_key()
        app = GitHubApp(
            app_id=APP_ID,
            private_key=private_pem.decode(),
            api_url=fake_github.url,
            session=session,
            write_interval=0.0,
        )
        yield await app.for_installation(11)


def test_extends_names_a_repository_of_the_same_owner():
    assert extends_target("bot-settings", REPO) == (Source(SHARED), None)
    assert extends_target("octo-org/bot-settings:ci/codegen.yml", REPO) == (
        Source(SHARED, "ci/codegen.yml"),
        None,
    )
    for value, problem in [
        ("other-org/settings", "belongs to another owner"),
        ("bot-settings:../../x", "is not `name` or `name:path`"),
        ("a b", "is not `name` or `name:path`"),
        (3, "must name a repository"),
    ]:
        source, said = extends_target(value, REPO)
        assert source is None and problem in said, said


def test_merge_is_key_by_key_the_later_layer_winning():
    merged = merge(
        [
            {"retries": 1, "label": "ai", "validation": {"review": False}},
            {"_extends": "x", "trigger_label": "agent", "validation": {"warnings": "success"}},
        ]
    )
    assert merged == {
        "retries": 1,
        "label": "ai",
        "trigger_label": "agent",
        "validation": {"warnings": "success"},
    }
    assert list(merged)[-2:] == ["trigger_label", "validation"]  # an alias set later wins


async def test_the_organisation_file_gives_defaults_the_repository_overrides(fake_github, gh):
    fake_github.set_file(ORG, PATH, "retries: 4\ntrigger_label: ai\npermission: maintain\n")
    fake_github.set_file(REPO, PATH, "trigger_label: agent\n")
    config, problems, sha = await load_repo_config(gh, REPO, SETTINGS)
    assert problems == []
    assert (config.max_retries, config.trigger_label, config.permission) == (4, "agent", "maintain")
    assert sha is not None and sha.count("+") == 1  # both files' blobs: a new one re-reports


async def test_without_a_file_of_its_own_the_organisations_applies(fake_github, gh):
    fake_github.set_file(ORG, PATH, "trigger_label: ai\n")
    config, problems, _ = await load_repo_config(gh, REPO, SETTINGS)
    assert (config.trigger_label, problems) == ("ai", [])


async def test_extends_replaces_the_organisation_as_the_base(fake_github, gh):
    fake_github.set_file(ORG, PATH, "retries: 4\n")
    fake_github.set_file(SHARED, "ci/codegen.yml", "retries: 0\ntrigger_label: shared\n")
    fake_github.set_file(REPO, PATH, "_extends: bot-settings:ci/codegen.yml\nretries: 3\n")
    config, problems, _ = await load_repo_config(gh, REPO, SETTINGS)
    assert problems == []
    assert (config.max_retries, config.trigger_label) == (3, "shared")
    assert not fake_github.calls("GET", rf"^/repos/{ORG}/")  # not read: the file chose


async def test_problems_are_named_by_their_file_and_the_rest_applies(fake_github, gh):
    fake_github.set_file(ORG, PATH, "retries: 99\ntrigger_label: ai\n")
    fake_github.set_file(REPO, PATH, "permission: read\n")
    config, problems, _ = await load_repo_config(gh, REPO, SETTINGS)
    assert config.trigger_label == "ai"
    assert any(p.startswith(f"`{ORG}:{PATH}`: `retries`") for p in problems), problems
    assert any(p.startswith("`permission` must be one of") for p in problems), problems


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (
            {REPO: "_extends: missing-repo\n"},
            "`octo-org/missing-repo:.github/codegen.yml` does not exist",
        ),
        ({REPO: "_extends: other-org/settings\n"}, "belongs to another owner"),
        ({REPO: "_extends: bot-settings\n", SHARED: "_extends: widgets\n"}, "would make a loop"),
        ({REPO: "_extends: bot-settings\n", SHARED: "trigger_label: [\n"}, f"`{SHARED}:{PATH}`: "),
    ],
)
async def test_a_base_that_cannot_be_used_is_said_and_adds_nothing(fake_github, gh, files, problem):
    for repo, text in files.items():
        fake_github.set_file(repo, PATH, text)
    config, problems, _ = await load_repo_config(gh, REPO, SETTINGS)
    assert any(problem in p for p in problems), problems
    assert config.trigger_label == SETTINGS.trigger_label
    assert not fake_github.calls("GET", r"^/repos/other-org/")  # never read


async def test_a_chain_is_followed_at_most_three_files_deep(fake_github, gh):
    for i in range(5):
        fake_github.add_repo(f"octo-org/s{i}", installation_id=11)
        fake_github.set_file(f"octo-org/s{i}", PATH, f"_extends: s{i + 1}\nretries: {i}\n")
    fake_github.set_file(REPO, PATH, "_extends: s0\n")
    config, problems, _ = await load_repo_config(gh, REPO, SETTINGS)
    assert config.max_retries == 0
    assert len(fake_github.calls("GET", r"^/repos/octo-org/s\d/contents/")) == 3
    assert any("longer than 3 files" in p for p in problems), problems


@pytest.mark.parametrize("name", ["..", "."])
async def test_extends_cannot_leave_the_owner_by_a_dot_segment(fake_github, gh, name):
    """The HTTP client resolves `..` in a URL: `/repos/octo-org/../contents/x/...`
    is `/repos/contents/x/...`, another owner's repository (a public one is
    readable by any token). No repository is named `.` or `..`."""
    fake_github.add_repo("contents/x", installation_id=11)
    fake_github.set_file("contents/x", PATH, "trigger_label: theirs\n")
    fake_github.add_repo("octo-org/contents", installation_id=11)
    fake_github.set_file("octo-org/contents", "x/contents/.github/codegen.yml", "retries: 5\n")
    fake_github.set_file(REPO, PATH, f"_extends: '{name}:x/contents/{PATH}'\n")
    config, problems, _ = await load_repo_config(gh, REPO, SETTINGS)
    assert (config.trigger_label, config.max_retries) == (
        SETTINGS.trigger_label,
        RepoConfig.defaults(SETTINGS).max_retries,
    )
    assert not fake_github.calls("GET", r"^/repos/contents/")
    assert not fake_github.calls("GET", r"^/repos/octo-org/contents/")
    assert any("is not `name` or `name:path`" in p for p in problems), problems
