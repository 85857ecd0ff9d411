"""A repository's `.github/codegen.yml` whose YAML is well formed but holds a
value the loader cannot build: a problem to post, never an exception (every
job that loads the settings of that repository would fail until it died)."""

from __future__ import annotations

import pytest

from app.repo_settings.config import RepoConfig, parse_config


@pytest.mark.parametrize(
    "text",
    [
        "trigger_label: x\nwhen: 2001-13-01\n",  # a timestamp with no 13th month
        "trigger_label: x\nwhen: 2001-02-30 10:00:00\n",
        "max_files: " + "9" * 5000 + "\n",  # past Python's int digit limit
        "when: 2001-02-29\n",  # not a leap year
    ],
)
def test_a_value_the_loader_cannot_build_is_a_problem(text):
    config, problems = parse_config(text, RepoConfig())
    assert config == RepoConfig()
    assert len(problems) == 1 and "not valid YAML" in problems[0]
